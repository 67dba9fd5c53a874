//! The OpenAPI document is generated from the code and lists every route the app serves.

use serde_json::Value;

use crate::helpers::spawn_app;

/// Every path of the product contract (`shared/API.md`), with the methods it names.
const CONTRACT: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/health/ready"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("post", "/api/v1/accounts"),
    ("post", "/api/v1/accounts/verify"),
    ("post", "/api/v1/sessions"),
    ("post", "/api/v1/sessions/refresh"),
    ("delete", "/api/v1/sessions/current"),
    ("post", "/api/v1/password-resets"),
    ("post", "/api/v1/password-resets/confirm"),
    ("get", "/api/v1/me"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/me/email"),
    ("get", "/api/v1/me/preferences"),
    ("put", "/api/v1/me/preferences"),
    ("get", "/api/v1/me/sessions"),
    ("delete", "/api/v1/me/sessions/{id}"),
    ("get", "/api/v1/services"),
    ("get", "/api/v1/services/{code}"),
    ("post", "/api/v1/applications"),
    ("get", "/api/v1/applications"),
    ("get", "/api/v1/applications/{id}"),
    ("get", "/api/v1/applications/{id}/events"),
    ("post", "/api/v1/applications/{id}/withdraw"),
    ("patch", "/api/v1/applications/{id}"),
    ("post", "/api/v1/me/data-requests"),
    ("get", "/api/v1/me/data-requests"),
    ("get", "/api/v1/me/data-requests/{id}"),
    ("get", "/api/v1/me/export"),
    ("get", "/api/v1/admin/applications"),
    ("get", "/api/v1/admin/applications/{id}"),
    ("post", "/api/v1/admin/applications/{id}/transitions"),
    ("post", "/api/v1/admin/applications/{id}/assign"),
    ("get", "/api/v1/admin/data-requests"),
    ("post", "/api/v1/admin/data-requests/{id}/decisions"),
    ("get", "/api/v1/admin/accounts"),
    ("get", "/api/v1/admin/audit-events"),
    ("post", "/api/v1/admin/staff"),
];

async fn document(app: &crate::helpers::TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "0b7e6d4e-8f5c-4a8e-9d7e-1c2b3a4d5e6f")
        .replace("{code}", "skip-permit")
}

/// True when the router has no route for this method and path (our default 404 or a 405).
async fn unrouted(app: &crate::helpers::TestApp, method: &str, path: &str) -> bool {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = app.client.request(method.clone(), app.url(&concrete(path)));
    if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    let response = request.send().await.unwrap();
    match response.status().as_u16() {
        405 => true,
        404 => {
            let body: Value = response.json().await.unwrap_or_default();
            body["detail"] == "there is nothing at this address"
        }
        _ => false,
    }
}

#[tokio::test]
async fn document_is_openapi_3_1_with_problem_schema() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
}

#[tokio::test]
async fn operations_have_unique_ids_and_every_response_a_description() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut ids = std::collections::BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(
                ids.insert(id.to_owned()),
                "operationId {id} repeats ({method} {path})"
            );
            for (status, response) in operation["responses"].as_object().unwrap() {
                // A shared response is described once, under components.
                let response = match response["$ref"].as_str() {
                    Some(reference) => {
                        let name = reference.trim_start_matches("#/components/responses/");
                        &doc["components"]["responses"][name]
                    }
                    None => response,
                };
                let described = response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty());
                assert!(described, "{method} {path} {status} has no description");
            }
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            assert!(
                !unrouted(&app, method, path).await,
                "documented but not served: {method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn every_served_contract_route_is_documented() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut served = 0;
    for (method, path) in CONTRACT {
        if unrouted(&app, method, path).await {
            continue;
        }
        served += 1;
        assert!(
            doc["paths"][path][method].is_object(),
            "served but not documented: {method} {path}"
        );
    }
    assert_eq!(
        served,
        CONTRACT.len(),
        "every route of the contract is served"
    );
}

#[tokio::test]
async fn docs_page_works_offline_from_our_own_assets() {
    let app = spawn_app().await;
    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet is relative (served by us), and is there.
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        assert!(
            html.contains(&format!("./{asset}")) || html.contains(asset),
            "{asset} linked"
        );
        let response = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no remote assets"
    );
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
}

/// The throttled operations, and only they, document 429 and the rate-limit fields on every
/// answer (the live answers carry them: `sessions::throttled_operations_tell_the_client_its_budget`).
#[tokio::test]
async fn throttled_operations_document_their_rate_limit_fields() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut throttled = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            if !responses.contains_key("429") {
                continue;
            }
            throttled.push(format!("{method} {path}"));
            for (status, response) in responses {
                for header in ["RateLimit-Policy", "RateLimit"] {
                    assert!(
                        response["headers"].get(header).is_some(),
                        "{method} {path} {status} lacks {header}"
                    );
                }
            }
            assert!(responses["429"]["headers"].get("Retry-After").is_some());
        }
    }
    throttled.sort();
    assert_eq!(
        throttled,
        [
            "post /api/v1/accounts",
            "post /api/v1/me/email",
            "post /api/v1/password-resets",
            "post /api/v1/password-resets/confirm",
            "post /api/v1/sessions",
        ]
    );
}
