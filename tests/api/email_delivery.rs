//! The outbox survives an SMTP outage: nothing is lost, everything goes once the server is back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::helpers::{PASSWORD, smtp_sink, spawn_app_with};

#[derive(diesel::QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
}

async fn outbox_state(app: &crate::helpers::TestApp) -> Row {
    let mut conn = app.db().await;
    diesel_async::RunQueryDsl::get_result(
        diesel::sql_query("SELECT status, attempts FROM email_outbox"),
        &mut conn,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn emails_queued_while_smtp_is_down_are_sent_when_it_returns() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app =
        spawn_app_with(|s| s.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into()))
            .await;
    assert_eq!(
        app.sign_up("Siân Jones", "sian@example.org", PASSWORD)
            .await
            .status(),
        202
    );

    // SMTP is down: the email stays queued and is retried.
    let mut state = outbox_state(&app).await;
    for _ in 0..100 {
        if state.attempts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = outbox_state(&app).await;
    }
    assert_eq!(state.status, "pending");
    assert!(state.attempts >= 2, "{state:?}");

    // SMTP comes back: the email goes, once.
    let received = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(smtp_sink(listener, received.clone()));
    for _ in 0..200 {
        if outbox_state(&app).await.status == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outbox_state(&app).await.status, "sent");
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("To: sian@example.org"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("Subject: Confirm your email address for MyNorfolk"),
        "{}",
        messages[0]
    );
}

#[tokio::test]
async fn an_undeliverable_email_to_an_erased_person_is_deleted_not_kept() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(|s| {
        s.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        s.email.max_attempts = 2;
    })
    .await;
    let farewell = mynorfolk::email::templates::Template::AccountErased {
        id: "r-1".into(),
        kept: "nothing".into(),
    };
    let ordinary = mynorfolk::email::templates::Template::PasswordChanged {
        name: "A".into(),
        reset_link: "x".into(),
    };
    let conn = app.db().await;
    mynorfolk::db::outbox::enqueue_ephemeral(&conn, "gone@example.org", &farewell.email())
        .await
        .unwrap();
    mynorfolk::db::outbox::enqueue(&conn, None, "kept@example.org", &ordinary.email())
        .await
        .unwrap();
    for _ in 0..200 {
        if app.count("email_outbox WHERE status = 'pending'").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count("email_outbox WHERE to_address = 'gone@example.org'")
            .await,
        0
    );
    assert_eq!(
        app.count("email_outbox WHERE to_address = 'kept@example.org' AND status = 'failed'")
            .await,
        1
    );
}
