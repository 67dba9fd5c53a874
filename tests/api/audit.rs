//! The audit log is append-only in the database itself.

use diesel_async::{AsyncConnection, SimpleAsyncConnection};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_rows() {
    let app = spawn_app().await;
    app.verified_resident("sian@example.org").await;
    let before = app.count("audit_events").await;
    assert!(before >= 2, "sign-up and sign-in were audited");

    let mut conn = app.db().await;
    for sql in [
        "UPDATE audit_events SET action = 'account.nothing_happened'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let refused = conn.batch_execute(sql).await;
        let error = refused.expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(app.count("audit_events").await, before);

    // Only a transaction that declares itself the retention sweep may remove rows.
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        conn.batch_execute("SET LOCAL mynorfolk.retention = 'on'; DELETE FROM audit_events WHERE action = 'session.created'")
            .await
    })
    .await
    .unwrap();
    assert_eq!(app.count("audit_events").await, before - 1);
    // The permission ended with that transaction.
    assert!(
        conn.batch_execute("DELETE FROM audit_events")
            .await
            .is_err()
    );
}

/// Reading the audit log is itself audited: who read it, about whom, in the same transaction.
#[tokio::test]
async fn reading_the_audit_log_is_audited() {
    use mynorfolk::domain::account::Role;
    let app = spawn_app().await;
    app.verified_resident("sian@example.org").await;
    let officer = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let me: serde_json::Value = app.get_json("/api/v1/me", &officer.access_token).await;
    let before = app
        .count("audit_events WHERE action = 'audit_log.viewed'")
        .await;
    let page: serde_json::Value = app
        .get_json("/api/v1/admin/audit-events?limit=5", &officer.access_token)
        .await;
    assert!(!page["items"].as_array().unwrap().is_empty());
    let officer_id = me["id"].as_str().unwrap();
    let recorded =
        format!("audit_events WHERE action = 'audit_log.viewed' AND actor_id = '{officer_id}'");
    assert_eq!(app.count(&recorded).await, before + 1);
}
