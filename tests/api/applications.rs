//! Highway service applications: the catalogue, journeys through the status machine, ownership,
//! idempotency, concurrency, and the staff queue.

use mynorfolk::domain::account::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Tokens, assert_problem, spawn_app};

const SERVICES: [&str; 4] = [
    "skip-permit",
    "scaffold-licence",
    "vehicle-crossing",
    "ev-cable-channel",
];

async fn submit(app: &TestApp, who: &Tokens, service: &str, details: &Value) -> reqwest::Response {
    app.post_authed(
        "/api/v1/applications",
        &who.access_token,
        &json!({"service": service, "details": details}),
    )
    .await
}

async fn move_to(
    app: &TestApp,
    staff: &Tokens,
    id: &str,
    to: &str,
    public_note: Option<&str>,
) -> reqwest::Response {
    app.post_authed(
        &format!("/api/v1/admin/applications/{id}/transitions"),
        &staff.access_token,
        &json!({"to": to, "public_note": public_note, "internal_note": "checked on site"}),
    )
    .await
}

async fn queue(app: &TestApp, staff: &Tokens, query: &str) -> Value {
    let url = format!("/api/v1/admin/applications?{query}");
    app.get_json(&url, &staff.access_token).await
}

#[tokio::test]
async fn the_catalogue_describes_every_service_with_a_schema_and_an_example() {
    let app = spawn_app().await;
    let list: Value = app.get("/api/v1/services").await.json().await.unwrap();
    let codes: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 4);
    for code in SERVICES {
        assert!(codes.contains(&code), "{code}");
        let service: Value = app
            .get(&format!("/api/v1/services/{code}"))
            .await
            .json()
            .await
            .unwrap();
        assert!(service["fee_pence"].as_i64().unwrap() > 0);
        assert!(
            service["name"].is_string()
                && service["description"].is_string()
                && service["audience"].is_string()
        );
        assert_eq!(
            service["details_schema"]["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert!(service["details_example"].is_object());
    }
    let ev: Value = app
        .get("/api/v1/services/ev-cable-channel")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ev["audience"], "businesses");
    assert_problem(
        app.get("/api/v1/services/space-elevator").await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn a_full_journey_for_every_service_with_events_and_emails() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let put = app
        .put_authed(
            "/api/v1/me/preferences",
            &resident.access_token,
            &json!({"status_update_emails": true}),
        )
        .await;
    assert_eq!(put.status(), 200);
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;

    for (n, service) in SERVICES.into_iter().enumerate() {
        let details = app.details_example(service).await;
        let created = submit(&app, &resident, service, &details).await;
        assert_eq!(created.status(), 201, "{service}");
        assert!(
            created.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/api/v1/applications/")
        );
        let application: Value = created.json().await.unwrap();
        let id = application["id"].as_str().unwrap().to_owned();
        let reference = application["reference"].as_str().unwrap().to_owned();
        assert_eq!(application["status"], "submitted");
        assert_eq!(application["service"], service);
        assert!(application["fee_pence"].as_i64().unwrap() > 0);
        assert!(application["expected_decision_by"].is_string());
        assert_eq!(
            application["payment"],
            json!({"status": "due", "amount_pence": application["fee_pence"]})
        );
        // The fee before review.
        assert_problem(
            move_to(&app, &staff, &id, "under_review", None).await,
            409,
            "payment-required",
        )
        .await;
        app.pay_fee(&resident.access_token, &id).await;
        app.attach_required(&resident.access_token, &application)
            .await;
        let prefix = &reference[..4];
        assert!(
            ["SKP-", "SCF-", "VXC-", "EVC-"].contains(&prefix),
            "{reference}"
        );

        let steps = [
            ("under_review", None),
            (
                "more_information_required",
                Some("Please confirm the site postcode."),
            ),
        ];
        for (to, note) in steps {
            assert_eq!(
                move_to(&app, &staff, &id, to, note).await.status(),
                200,
                "{service} → {to}"
            );
        }
        // The resident answers by updating the details: back to submitted.
        let mut updated = details.clone();
        let address_field = ["site", "site", "property", "installation"][n];
        updated[address_field]["line1"] = json!("2 Market Place");
        let patched = app
            .patch_authed(
                &format!("/api/v1/applications/{id}"),
                &resident.access_token,
                &json!({"details": updated}),
            )
            .await;
        assert_eq!(patched.status(), 200, "{service}");
        let patched: Value = patched.json().await.unwrap();
        assert_eq!(patched["status"], "submitted");
        assert_eq!(patched["details"][address_field]["line1"], "2 Market Place");

        for to in ["under_review", "approved", "issued", "closed"] {
            let note = (to == "approved").then_some("Approved with standard conditions.");
            let moved = move_to(&app, &staff, &id, to, note).await;
            assert_eq!(moved.status(), 200, "{service} → {to}");
            let moved: Value = moved.json().await.unwrap();
            assert_eq!(moved["status"], to);
            if to == "issued" && service == "ev-cable-channel" {
                let issued = chrono::Utc::now().date_naive();
                let expected = issued.checked_add_months(chrono::Months::new(24)).unwrap();
                assert_eq!(moved["licence_expires_on"], json!(expected.to_string()));
            }
        }

        let events: Value = app
            .get_json(
                &format!("/api/v1/applications/{id}/events"),
                &resident.access_token,
            )
            .await;
        let trail: Vec<(Value, Value)> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["from"].clone(), e["to"].clone()))
            .collect();
        let expected = [
            (Value::Null, "submitted"),
            (json!("submitted"), "under_review"),
            (json!("under_review"), "more_information_required"),
            (json!("more_information_required"), "submitted"),
            (json!("submitted"), "under_review"),
            (json!("under_review"), "approved"),
            (json!("approved"), "issued"),
            (json!("issued"), "closed"),
        ];
        let expected: Vec<(Value, Value)> =
            expected.into_iter().map(|(f, t)| (f, json!(t))).collect();
        assert_eq!(trail, expected, "{service}");
        let items = events["items"].as_array().unwrap();
        assert_eq!(items[2]["public_note"], "Please confirm the site postcode.");
        assert_eq!(items[2]["actor_role"], "staff");
        assert_eq!(items[3]["actor_role"], "resident");
        assert!(
            items.iter().all(|e| e.get("internal_note").is_none()),
            "internal notes stay internal"
        );

        // A receipt, one for the fee, then one email per staff change of status, with the
        // reference, the status and the note.
        app.wait_for_email("sian@example.org", &reference, 8).await;
        let (receipts, emails): (Vec<_>, Vec<_>) = app
            .emails_to("sian@example.org", &reference)
            .into_iter()
            .partition(|e| {
                e.subject.starts_with("We have received your application")
                    || e.subject.starts_with("Payment received")
            });
        assert_eq!(receipts.len(), 2, "{service}: {receipts:?}");
        assert!(
            receipts[0].body.contains("We aim to decide it by")
                || receipts[1].body.contains("We aim to decide it by")
        );
        assert!(
            receipts
                .iter()
                .any(|r| r.body.contains("This email is your receipt"))
        );
        assert_eq!(
            emails.len(),
            6,
            "{service}: one per staff change, none for the resident's own"
        );
        assert!(
            emails
                .iter()
                .any(|e| e.subject.contains("waiting for more information")
                    && e.body.contains("Please confirm the site postcode.")),
            "{service}: {emails:?}"
        );
        assert!(emails.iter().any(
            |e| e.subject.contains("is now approved") && e.body.contains("standard conditions")
        ));
        assert!(emails.iter().any(|e| e.subject.contains("is now closed")));
    }
}

#[tokio::test]
async fn without_the_preference_no_status_emails_are_sent() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let details = app.details_example("skip-permit").await;
    let application: Value = submit(&app, &resident, "skip-permit", &details)
        .await
        .json()
        .await
        .unwrap();
    let id = application["id"].as_str().unwrap();
    app.pay_fee(&resident.access_token, id).await;
    assert_eq!(
        move_to(&app, &staff, id, "under_review", None)
            .await
            .status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.count("email_outbox WHERE template = 'status_changed'")
            .await,
        0
    );
}

#[tokio::test]
async fn transitions_outside_the_status_machine_are_409_and_change_nothing() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let details = app.details_example("skip-permit").await;
    let application: Value = submit(&app, &resident, "skip-permit", &details)
        .await
        .json()
        .await
        .unwrap();
    let id = application["id"].as_str().unwrap();

    for to in [
        "approved",
        "rejected",
        "issued",
        "closed",
        "more_information_required",
        "submitted",
    ] {
        assert_problem(move_to(&app, &staff, id, to, None).await, 409, "conflict").await;
    }
    // Details can only change while more information is wanted.
    let patched = app
        .patch_authed(
            &format!("/api/v1/applications/{id}"),
            &resident.access_token,
            &json!({"details": details}),
        )
        .await;
    assert_problem(patched, 409, "conflict").await;
    // An unknown status is a validation error, not a conflict.
    assert_problem(
        move_to(&app, &staff, id, "lost", None).await,
        422,
        "validation-failed",
    )
    .await;

    app.pay_fee(&resident.access_token, id).await;
    app.attach_required(&resident.access_token, &application)
        .await;
    for to in ["under_review", "approved"] {
        assert_eq!(move_to(&app, &staff, id, to, None).await.status(), 200);
    }
    // Decided: too late to withdraw.
    let withdraw = app
        .post_authed_empty(
            &format!("/api/v1/applications/{id}/withdraw"),
            &resident.access_token,
        )
        .await;
    assert_problem(withdraw, 409, "conflict").await;
    assert_problem(
        move_to(&app, &staff, id, "under_review", None).await,
        409,
        "conflict",
    )
    .await;
    let now: Value = app
        .get_json(
            &format!("/api/v1/applications/{id}"),
            &resident.access_token,
        )
        .await;
    assert_eq!(now["status"], "approved");
    assert_eq!(app.count("application_events").await, 3);
}

#[tokio::test]
async fn withdrawing_an_open_application() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let details = app.details_example("vehicle-crossing").await;
    let application: Value = submit(&app, &resident, "vehicle-crossing", &details)
        .await
        .json()
        .await
        .unwrap();
    let id = application["id"].as_str().unwrap();
    let withdraw = || {
        app.client
            .post(app.url(&format!("/api/v1/applications/{id}/withdraw")))
            .bearer_auth(&resident.access_token)
            .send()
    };
    let withdrawn: Value = withdraw().await.unwrap().json().await.unwrap();
    assert_eq!(withdrawn["status"], "withdrawn");
    assert_problem(withdraw().await.unwrap(), 409, "conflict").await;
}

#[tokio::test]
async fn someone_elses_application_is_not_found() {
    let app = spawn_app().await;
    let owner = app.verified_resident("owner@example.org").await;
    let other = app.verified_resident("other@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let details = app.details_example("skip-permit").await;
    let application: Value = submit(&app, &owner, "skip-permit", &details)
        .await
        .json()
        .await
        .unwrap();
    let id = application["id"].as_str().unwrap();
    app.pay_fee(&owner.access_token, id).await;
    for to in ["under_review", "more_information_required"] {
        move_to(&app, &staff, id, to, None).await;
    }

    assert_problem(
        app.get_authed(&format!("/api/v1/applications/{id}"), &other.access_token)
            .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.get_authed(
            &format!("/api/v1/applications/{id}/events"),
            &other.access_token,
        )
        .await,
        404,
        "not-found",
    )
    .await;
    let withdraw = app
        .post_authed_empty(
            &format!("/api/v1/applications/{id}/withdraw"),
            &other.access_token,
        )
        .await;
    assert_problem(withdraw, 404, "not-found").await;
    let patch = app
        .patch_authed(
            &format!("/api/v1/applications/{id}"),
            &other.access_token,
            &json!({"details": details}),
        )
        .await;
    assert_problem(patch, 404, "not-found").await;
    let list: Value = app
        .get_json("/api/v1/applications", &other.access_token)
        .await;
    assert_eq!(list["items"], json!([]));
    // Nothing changed for the owner.
    let mine: Value = app
        .get_json(&format!("/api/v1/applications/{id}"), &owner.access_token)
        .await;
    assert_eq!(mine["status"], "more_information_required");
    // A made-up id and a malformed one are 404 too.
    let made_up = uuid::Uuid::new_v4();
    assert_problem(
        app.get_authed(
            &format!("/api/v1/applications/{made_up}"),
            &owner.access_token,
        )
        .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.get_authed("/api/v1/applications/not-a-uuid", &owner.access_token)
            .await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn residents_get_403_on_every_admin_path() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let mut checked = 0;
    // Every admin operation in the document, so a new one cannot be forgotten here.
    for (path, operations) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/admin/") {
            continue;
        }
        for method in operations.as_object().unwrap().keys() {
            let url = app.url(&path.replace("{id}", &id));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .client
                .request(method, url)
                .bearer_auth(&resident.access_token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_problem(response, 403, "forbidden").await;
            checked += 1;
        }
    }
    assert_eq!(checked, 11, "the contract's eleven admin operations");
}

#[tokio::test]
async fn bad_submissions_are_422_with_field_paths_and_store_nothing() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let details = app.details_example("skip-permit").await;

    let unknown = assert_problem(
        submit(&app, &resident, "space-elevator", &details).await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "service");

    let mut extra = details.clone();
    extra["applicant_date_of_birth"] = json!("1980-01-01");
    let problem = assert_problem(
        submit(&app, &resident, "skip-permit", &extra).await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(
        problem["errors"][0]["field"],
        "details.applicant_date_of_birth"
    );

    let mut bad = details.clone();
    bad["start_date"] = json!("2020-01-01");
    bad["insurance"]["cover_pence"] = json!(100_000);
    bad["site"]["postcode"] = json!("SW1");
    let problem = assert_problem(
        submit(&app, &resident, "skip-permit", &bad).await,
        422,
        "validation-failed",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "details.start_date",
        "details.insurance.cover_pence",
        "details.site.postcode",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    // Details of one service sent for another.
    let problem = assert_problem(
        submit(&app, &resident, "vehicle-crossing", &details).await,
        422,
        "validation-failed",
    )
    .await;
    assert!(
        problem["errors"][0]["field"]
            .as_str()
            .unwrap()
            .starts_with("details.")
    );

    let anonymous = app
        .post_json(
            "/api/v1/applications",
            &json!({"service": "skip-permit", "details": details}),
        )
        .await;
    assert_problem(anonymous, 401, "unauthorized").await;
    assert_eq!(app.count("applications").await, 0);
}

#[tokio::test]
async fn a_retried_submission_with_the_same_key_creates_exactly_one_application() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let details = app.details_example("skip-permit").await;
    let post = |key: &'static str, details: Value| {
        app.client
            .post(app.url("/api/v1/applications"))
            .bearer_auth(&resident.access_token)
            .header("Idempotency-Key", key)
            .json(&json!({"service": "skip-permit", "details": details}))
            .send()
    };
    let (first, second) = tokio::join!(
        post("retry-1", details.clone()),
        post("retry-1", details.clone())
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.status(), 201);
    assert_eq!(second.status(), 201);
    let (first, second): (Value, Value) =
        (first.json().await.unwrap(), second.json().await.unwrap());
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["reference"], second["reference"]);
    assert_eq!(app.count("applications").await, 1);

    let mut different = details.clone();
    different["skip_size_cubic_yards"] = json!(8);
    assert_problem(post("retry-1", different).await.unwrap(), 409, "conflict").await;
    assert_eq!(post("retry-2", details).await.unwrap().status(), 201);
    assert_eq!(app.count("applications").await, 2);
}

#[tokio::test]
async fn fifty_concurrent_submissions_get_fifty_distinct_references() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let details = app.details_example("skip-permit").await;
    let submissions = (0..50).map(|_| submit(&app, &resident, "skip-permit", &details));
    let responses = futures_util::future::join_all(submissions).await;
    let mut references = std::collections::HashSet::new();
    for response in responses {
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        references.insert(body["reference"].as_str().unwrap().to_owned());
    }
    assert_eq!(references.len(), 50);
    assert_eq!(app.count("applications").await, 50);
}

#[tokio::test]
async fn lists_are_paginated_and_filtered() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let skip = app.details_example("skip-permit").await;
    let crossing = app.details_example("vehicle-crossing").await;
    let mut ids = Vec::new();
    for n in 0..25 {
        let (service, details) = if n % 5 == 0 {
            ("vehicle-crossing", &crossing)
        } else {
            ("skip-permit", &skip)
        };
        let created: Value = submit(&app, &resident, service, details)
            .await
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }

    // The resident's list: 20 + 5, newest first, no repeats.
    let first: Value = app
        .get_json("/api/v1/applications", &resident.access_token)
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 20);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get_json(
            &format!("/api/v1/applications?cursor={cursor}"),
            &resident.access_token,
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 5);
    assert_eq!(second["next_cursor"], Value::Null);
    let seen: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).rev().collect();
    assert_eq!(seen.len(), 25);
    expected.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expected);

    let crossings: Value = app
        .get_json(
            "/api/v1/applications?service=vehicle-crossing&limit=100",
            &resident.access_token,
        )
        .await;
    assert_eq!(crossings["items"].as_array().unwrap().len(), 5);
    for bad in [
        "limit=0",
        "limit=101",
        "cursor=garbage",
        "status=lost",
        "colour=red",
    ] {
        let response = app
            .get_authed(
                &format!("/api/v1/applications?{bad}"),
                &resident.access_token,
            )
            .await;
        assert_problem(response, 400, "malformed-request").await;
    }

    // The staff queue: filters and search by reference, no personal data in the rows.
    app.pay_fee(&resident.access_token, &ids[3]).await;
    move_to(&app, &staff, &ids[3], "under_review", None).await;
    let reviewing = queue(&app, &staff, "status=under_review").await;
    assert_eq!(reviewing["items"].as_array().unwrap().len(), 1);
    assert_eq!(reviewing["items"][0]["id"], json!(ids[3]));
    assert!(
        reviewing["items"][0].get("details").is_none()
            && reviewing["items"][0].get("applicant").is_none()
    );
    assert_eq!(
        queue(&app, &staff, "service=vehicle-crossing").await["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let reference = reviewing["items"][0]["reference"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert_eq!(
        queue(&app, &staff, &format!("q={reference}")).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let today = chrono::Utc::now().date_naive();
    assert_eq!(
        queue(
            &app,
            &staff,
            &format!("submitted_from={today}&submitted_to={today}&limit=100")
        )
        .await["items"]
            .as_array()
            .unwrap()
            .len(),
        25
    );
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(
        queue(&app, &staff, &format!("submitted_from={tomorrow}")).await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let me: Value = app.get_json("/api/v1/me", &staff.access_token).await;
    let staff_id = me["id"].as_str().unwrap();
    let assign = app
        .post_authed(
            &format!("/api/v1/admin/applications/{}/assign", ids[7]),
            &staff.access_token,
            &json!({"staff_id": staff_id}),
        )
        .await;
    assert_eq!(assign.status(), 200);
    let mine = queue(&app, &staff, &format!("assigned_to={staff_id}")).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["id"], json!(ids[7]));
    // Only staff can be assigned.
    let resident_me: Value = app.get_json("/api/v1/me", &resident.access_token).await;
    let to_resident = app
        .post_authed(
            &format!("/api/v1/admin/applications/{}/assign", ids[7]),
            &staff.access_token,
            &json!({"staff_id": resident_me["id"]}),
        )
        .await;
    assert_problem(to_resident, 409, "conflict").await;
}

#[tokio::test]
async fn opening_an_application_shows_everything_to_staff_and_is_audited() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let details = app.details_example("scaffold-licence").await;
    let application: Value = submit(&app, &resident, "scaffold-licence", &details)
        .await
        .json()
        .await
        .unwrap();
    let id = application["id"].as_str().unwrap();
    app.pay_fee(&resident.access_token, id).await;
    move_to(&app, &staff, id, "under_review", Some("Looking at it.")).await;

    assert_eq!(
        app.count("audit_events WHERE action = 'application.viewed'")
            .await,
        0
    );
    let full: Value = app
        .get_json(
            &format!("/api/v1/admin/applications/{id}"),
            &staff.access_token,
        )
        .await;
    assert_eq!(full["reference"], application["reference"]);
    assert_eq!(full["applicant"]["email"], "sian@example.org");
    assert_eq!(full["details"], details);
    assert_eq!(full["events"][1]["internal_note"], "checked on site");
    assert_eq!(full["events"][1]["public_note"], "Looking at it.");
    assert_eq!(
        app.count("audit_events WHERE action = 'application.viewed'")
            .await,
        1
    );
    assert_eq!(
        app.count("audit_events WHERE action = 'application.status_changed'")
            .await,
        1
    );
}
