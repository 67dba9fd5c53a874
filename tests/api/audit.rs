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
