//! The audit log is append-only in the database itself.

use diesel_async::{AsyncConnection, SimpleAsyncConnection};

use crate::helpers::spawn_app;

/// The role the running service connects as, asked of the database (not of the harness).
async fn service_role(app: &crate::helpers::TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct Role {
        #[diesel(sql_type = diesel::sql_types::Text)]
        usename: String,
    }
    app.get("/health/ready").await;
    let mut conn = app.db().await;
    let found: Role = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(
            "SELECT usename::text FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'mynorfolk' LIMIT 1",
        ),
        &mut conn,
    )
    .await
    .expect("the service holds a connection");
    found.usename
}

/// A connection to the test's database acting as the service's role, and that role's name.
async fn as_service_role(
    app: &crate::helpers::TestApp,
) -> (String, diesel_async::AsyncPgConnection) {
    let role = service_role(app).await;
    let mut conn = app.db().await;
    conn.batch_execute(&format!(
        "SET ROLE {}",
        mynorfolk::db::quote_identifier(&role)
    ))
    .await
    .expect("acting as the service's role");
    (role, conn)
}

/// Append-only by privilege: the role the service runs as cannot change, delete or truncate audit
/// rows, whatever switches it sets, nor disable the trigger or take the table over.
#[tokio::test]
async fn the_service_role_cannot_change_or_delete_audit_rows() {
    let app = spawn_app().await;
    app.verified_resident("sian@example.org").await;
    let before = app.count("audit_events").await;
    assert!(before >= 2, "sign-up and sign-in were audited");

    let (role, mut conn) = as_service_role(&app).await;
    for sql in [
        "UPDATE audit_events SET action = 'account.nothing_happened'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "SET LOCAL mynorfolk.retention = 'on'; DELETE FROM audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER USER",
        "SET session_replication_role = replica; DELETE FROM audit_events",
        "ALTER TABLE audit_events OWNER TO CURRENT_USER",
        "DROP TABLE audit_events",
    ] {
        let outcome = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| conn.batch_execute(sql).await)
            .await;
        let error = outcome.expect_err(sql).to_string();
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{role}: {sql}: {error}"
        );
    }
    assert_eq!(app.count("audit_events").await, before);
    // What it may do: read and append.
    conn.batch_execute("SELECT count(*) FROM audit_events")
        .await
        .unwrap();
}

/// The owner-run functions trust nothing the caller controls: a temporary table named like the
/// audit log is not what they change, a live person's reasons cannot be removed, and nothing
/// younger than six years can be deleted.
#[tokio::test]
async fn the_audit_functions_cannot_be_turned_against_the_log() {
    let app = spawn_app().await;
    let resident = app.verified_resident("live@example.org").await;
    let me: serde_json::Value = app.get_json("/api/v1/me", &resident.access_token).await;
    let live = me["id"].as_str().unwrap().to_owned();
    app.sql(&format!(
        "INSERT INTO audit_events (actor_role, action, target_type, subject_id, reason) \
         VALUES ('staff', 'account.looked_up', 'account', '{live}', 'kept reason')"
    ))
    .await;
    let (_, mut conn) = as_service_role(&app).await;

    let refused = conn
        .batch_execute(&format!("SELECT audit_events_erase_subject('{live}')"))
        .await
        .expect_err("a live person's reasons stay");
    assert!(refused.to_string().contains("erased"), "{refused}");
    let refused = conn
        .batch_execute("SELECT audit_events_delete_expired(now(), 100)")
        .await
        .expect_err("young rows stay");
    assert!(refused.to_string().contains("six years"), "{refused}");

    // A look-alike table in the caller's own schema is not what the function touches.
    app.sql(&format!(
        "UPDATE accounts SET erased_at = now() WHERE id = '{live}'"
    ))
    .await;
    conn.batch_execute(&format!(
        "CREATE TEMP TABLE audit_events (subject_id UUID, reason TEXT); \
         INSERT INTO pg_temp.audit_events VALUES ('{live}', 'decoy'); \
         SELECT audit_events_erase_subject('{live}')"
    ))
    .await
    .unwrap();
    let decoy = app.count("audit_events WHERE reason = 'kept reason'").await;
    assert_eq!(decoy, 0, "the real log's reason was removed");
    conn.batch_execute(
        "DO $$ BEGIN IF (SELECT reason FROM pg_temp.audit_events) <> 'decoy' THEN \
         RAISE EXCEPTION 'the function wrote to the caller''s table'; END IF; END $$",
    )
    .await
    .unwrap();
}

/// The owner's own sessions are guarded too: the trigger refuses a change that does not go
/// through the retention and erasure functions.
#[tokio::test]
async fn even_the_owner_cannot_change_audit_rows_by_accident() {
    let app = spawn_app().await;
    app.verified_resident("sian@example.org").await;
    let before = app.count("audit_events").await;
    let mut conn = app.db().await;
    for sql in [
        "UPDATE audit_events SET action = 'account.nothing_happened'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let error = conn.batch_execute(sql).await.expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(app.count("audit_events").await, before);
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
