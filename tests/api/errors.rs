//! Every error answer is problem+json, whoever produced it. (Body errors — 400, 413, 415, 422 —
//! are exercised against the sign-up endpoint in `accounts`.)

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn unknown_route_is_a_problem_404() {
    let app = spawn_app().await;
    let response = app.get("/no/such/place?email=someone@example.com").await;
    assert!(response.headers().contains_key("x-request-id"));
    let body = assert_problem(response, 404, "not-found").await;
    assert!(!body.to_string().contains("someone"), "{body}");
}

#[tokio::test]
async fn wrong_method_is_a_problem_not_plain_text() {
    let app = spawn_app().await;
    let response = app.client.delete(app.url("/health")).send().await.unwrap();
    let status = response.status().as_u16();
    assert!(status == 404 || status == 405, "{status}");
    assert_problem(
        response,
        status,
        if status == 404 {
            "not-found"
        } else {
            "method-not-allowed"
        },
    )
    .await;
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = spawn_app().await;
    for path in ["/health", "/nowhere"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }
}

#[tokio::test]
async fn cors_allows_the_configured_frontend_only() {
    let app = spawn_app_with_origin("https://frontend.example").await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/health"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://frontend.example").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://frontend.example"
    );

    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

async fn spawn_app_with_origin(origin: &str) -> crate::helpers::TestApp {
    let origin = origin.to_owned();
    crate::helpers::spawn_app_with(move |s| s.server.cors_allowed_origins = vec![origin]).await
}
