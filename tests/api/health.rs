use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn health_is_ok_and_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id");
    assert!(uuid::Uuid::parse_str(request_id.to_str().unwrap()).is_ok());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_is_200_while_the_database_answers() {
    let app = spawn_app().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn ready_turns_503_when_the_database_is_unreachable_and_recovers() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    let db = &app.db_name;
    app.admin_sql(&format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS false"))
        .await;
    app.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .await;
    let body = assert_problem(app.get("/health/ready").await, 503, "service-unavailable").await;
    assert!(
        !body.to_string().contains(db.as_str()),
        "no internals in the problem: {body}"
    );
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health").await.status(), 200);

    app.admin_sql(&format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true"))
        .await;
    assert_eq!(app.get("/health/ready").await.status(), 200);
}
