//! One-click unsubscribe (RFC 8058): the headers on a real delivered status email, the POST a
//! mail client makes, forged tokens, and transactional emails left without a link.

use mynorfolk::domain::account::Role;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn a_status_email_unsubscribes_in_one_click_and_only_status_emails_offer_it() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let token = &resident.access_token;
    let on = app
        .put_authed(
            "/api/v1/me/preferences",
            token,
            &json!({"status_update_emails": true}),
        )
        .await;
    assert_eq!(on.status(), 200);
    let application = app.submit_paid_example(token, "skip-permit").await;
    let id = application["id"].as_str().unwrap();
    let reference = application["reference"].as_str().unwrap();
    let transition = async |to: &str| {
        let response = app.transition(&staff.access_token, id, to).await;
        assert_eq!(response.status(), 200, "{to}");
    };
    transition("under_review").await;
    let email = app
        .wait_for_email(
            "sian@example.org",
            &format!("Your application {reference} is now"),
            1,
        )
        .await;
    let header = email.list_unsubscribe.clone().expect("List-Unsubscribe");
    assert!(header.starts_with('<') && header.ends_with('>'), "{header}");
    let link = &header[1..header.len() - 1];
    assert!(
        link.starts_with(&format!(
            "{}/api/v1/unsubscribe?token=",
            app.settings.app.public_url
        )),
        "{link}"
    );
    assert_eq!(
        email.list_unsubscribe_post.as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    // Transactional emails (the verification link, receipts) carry no unsubscribe.
    let transactional: Vec<_> = app
        .emails_to("sian@example.org", "")
        .into_iter()
        .filter(|e| !e.subject.starts_with("Your application"))
        .collect();
    assert!(transactional.len() >= 3, "{transactional:?}");
    assert!(
        transactional
            .iter()
            .all(|e| e.list_unsubscribe.is_none() && e.list_unsubscribe_post.is_none())
    );

    // What a mail client does with the headers: POST the body RFC 8058 names to the link.
    let unsubscribe_token = link.split("token=").nth(1).unwrap();
    let path = format!("/api/v1/unsubscribe?token={unsubscribe_token}");
    let one_click = || {
        app.client
            .post(app.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
    };
    // A few at once, as mail clients and scanners may fire, and again later: all the same.
    let answers = futures_util::future::join_all((0..5).map(|_| one_click())).await;
    for answer in answers.into_iter().chain([one_click().await]) {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.json::<Value>().await.unwrap(),
            json!({"status_update_emails": false})
        );
    }
    let preferences = app.get_json("/api/v1/me/preferences", token).await;
    assert_eq!(preferences["status_update_emails"], false);
    assert!(
        app.count("audit_events WHERE action = 'account.unsubscribed'")
            .await
            >= 1
    );

    // No more status emails; the next change is only on the API.
    transition("more_information_required").await;
    let status_emails = app
        .count("email_outbox WHERE template = 'status_changed'")
        .await;
    assert_eq!(status_emails, 1);

    // A forged or altered token is not found, and changes nothing.
    let mut altered = unsubscribe_token.to_owned().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let forged_for_someone_else =
        format!("{}{}", "AAAAAAAAAAAAAAAAAAAAAA", &unsubscribe_token[22..]);
    for bad in [altered.as_str(), forged_for_someone_else.as_str(), "x"] {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/unsubscribe?token={bad}")))
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "not-found").await;
    }
}
