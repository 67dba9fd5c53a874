//! Issued permits: the PDF the holder keeps on site, and the check an officer makes with its code.

use mynorfolk::domain::account::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Tokens, assert_problem, spawn_app};

/// Takes a new `service` application of `resident`'s through payment, documents, review,
/// approval and issue; returns it as issued.
async fn issued(app: &TestApp, resident: &Tokens, staff: &Tokens, service: &str) -> Value {
    let application = app
        .submit_paid_example(&resident.access_token, service)
        .await;
    app.attach_required(&resident.access_token, &application)
        .await;
    let id = application["id"].as_str().unwrap();
    let mut moved = Value::Null;
    for to in ["under_review", "approved", "issued"] {
        let response = app.transition(&staff.access_token, id, to).await;
        assert_eq!(response.status(), 200, "{to}");
        moved = response.json().await.unwrap();
    }
    moved
}

/// The text of every page of a PDF, as a PDF reader extracts it.
fn pdf_text(bytes: &[u8]) -> String {
    let document = lopdf::Document::load_mem(bytes).expect("a PDF");
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    assert_eq!(pages.len(), 1);
    document.extract_text(&pages).expect("its text")
}

fn code_in(text: &str) -> String {
    let start = text.find("Verification code: ").expect("a code") + "Verification code: ".len();
    text[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

#[tokio::test]
async fn an_issued_permit_downloads_as_a_pdf_that_an_officer_can_check_by_its_code() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let application = app
        .submit_example(&resident.access_token, "skip-permit")
        .await;
    let id = application["id"].as_str().unwrap();
    // Not issued yet: no permit.
    let early = app
        .get_authed(
            &format!("/api/v1/applications/{id}/permit"),
            &resident.access_token,
        )
        .await;
    assert_problem(early, 409, "conflict").await;

    let permit = issued(&app, &resident, &staff, "skip-permit").await;
    let id = permit["id"].as_str().unwrap();
    let reference = permit["reference"].as_str().unwrap();
    let response = app
        .get_authed(
            &format!("/api/v1/applications/{id}/permit"),
            &resident.access_token,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let text = pdf_text(&response.bytes().await.unwrap());
    for expected in [
        "Norfolk County Council",
        reference,
        "Skip permit",
        "1 Market Place",
        "Valid from",
        "Conditions",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} is not in the permit:\n{text}"
        );
    }
    let code = code_in(&text);
    assert_eq!(code.len(), 10, "{text}");

    let checked = app
        .get(&format!("/api/v1/permits/{reference}?code={code}"))
        .await;
    assert_eq!(checked.status(), 200);
    let checked: Value = checked.json().await.unwrap();
    assert_eq!(
        checked,
        json!({
            "reference": reference,
            "service": "skip-permit",
            "status": "issued",
            "valid_from": permit["details"]["start_date"],
            "valid_to": permit["licence_expires_on"],
            "site_postcode": "NR2 1NH",
        })
    );
    // As an officer might type it.
    let typed = format!("{}-{}", &code[..5], &code[5..]).to_lowercase();
    let again = app
        .get(&format!("/api/v1/permits/{reference}?code={typed}"))
        .await;
    assert_eq!(again.status(), 200);

    // A wrong code, another permit's code, an unknown reference: all the same 404.
    let other = issued(&app, &resident, &staff, "vehicle-crossing").await;
    let other_reference = other["reference"].as_str().unwrap();
    let other_text = pdf_text(
        &app.get_authed(
            &format!(
                "/api/v1/applications/{}/permit",
                other["id"].as_str().unwrap()
            ),
            &resident.access_token,
        )
        .await
        .bytes()
        .await
        .unwrap(),
    );
    let other_code = code_in(&other_text);
    assert_ne!(other_code, code);
    let mut wrong = code.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    for path in [
        format!("/api/v1/permits/{reference}?code={wrong}"),
        format!("/api/v1/permits/{reference}?code={other_code}"),
        format!("/api/v1/permits/{other_reference}?code={code}"),
        format!("/api/v1/permits/SKP-2026-999999?code={code}"),
        format!(
            "/api/v1/permits/{}?code={code}",
            application["reference"].as_str().unwrap()
        ),
    ] {
        assert_problem(app.get(&path).await, 404, "not-found").await;
    }

    // Someone else's permit is not found.
    let stranger = app.verified_resident("other@example.org").await;
    let theirs = app
        .get_authed(
            &format!("/api/v1/applications/{id}/permit"),
            &stranger.access_token,
        )
        .await;
    assert_problem(theirs, 404, "not-found").await;
}
