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

/// Every documented operation, sent values PostgreSQL cannot store (NUL) or that no field allows
/// (far too long), in its path, its query and every property of its body: each answer is a 4xx
/// problem, never a 5xx, and nothing reaches the database.
#[tokio::test]
async fn hostile_values_in_every_operation_get_a_4xx_problem() {
    use mynorfolk::domain::account::Role;
    let app = spawn_app().await;
    let admin = app.staff("admin@norfolk.gov.uk", Role::Admin).await;
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let long = "x".repeat(5000);
    let mut sent = 0;
    for (template, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let params = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let in_place = |place: &str| -> Vec<String> {
                params
                    .iter()
                    .filter(|p| p["in"] == place)
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect()
            };
            let body_props: Vec<String> = body_schema(&doc, operation)
                .and_then(|s| s["properties"].as_object().cloned())
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            let mut cases: Vec<(String, Option<serde_json::Value>)> = Vec::new();
            for bad in ["%00", "a%00b", long.as_str()] {
                if !in_place("path").is_empty() {
                    let mut path = template.clone();
                    for name in in_place("path") {
                        path = path.replace(&format!("{{{name}}}"), bad);
                    }
                    cases.push((path, None));
                }
                for name in in_place("query") {
                    cases.push((format!("{template}?{name}={bad}"), None));
                }
            }
            for bad in ["\u{0}", "a\u{0}b", long.as_str()] {
                for prop in &body_props {
                    cases.push((template.clone(), Some(serde_json::json!({ prop: bad }))));
                }
            }
            for (path, body) in cases {
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let mut request = app
                    .client
                    .request(method.clone(), app.url(&path))
                    .bearer_auth(&admin.access_token);
                if let Some(body) = &body {
                    request = request.json(body);
                } else if operation.get("requestBody").is_some() {
                    request = request.json(&serde_json::json!({}));
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                assert!(
                    (400..500).contains(&status),
                    "{method} {path} {body:?} answered {status}"
                );
                let content_type = response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                assert_eq!(content_type, "application/problem+json", "{method} {path}");
                sent += 1;
            }
        }
    }
    assert!(sent > 150, "only {sent} hostile requests were sent");
    // The only account is the admin's: nothing was created along the way.
    assert_eq!(app.count("accounts").await, 1);
    assert_eq!(app.count("applications").await, 0);
}

/// The request body's schema, following a `$ref` into components.
fn body_schema<'a>(
    doc: &'a serde_json::Value,
    operation: &'a serde_json::Value,
) -> Option<&'a serde_json::Value> {
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            Some(&doc["components"]["schemas"][name])
        }
        None => schema.is_object().then_some(schema),
    }
}
