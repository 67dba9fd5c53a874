//! Data-subject rights: the registry against the live schema, the export, erasure down to the
//! bytes of a pg_dump, request deadlines and decisions, staff look-ups, retention.

use std::collections::BTreeSet;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use mynorfolk::domain::account::Role;
use mynorfolk::privacy::registry::{Export, Owner, REGISTRY, TOOLING_TABLES};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, PDF, TestApp, Tokens, assert_problem, spawn_app};

#[derive(diesel::QueryableByName)]
struct SchemaColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

/// (columns in the database but not in the registry, columns in the registry but not the database)
async fn registry_drift(conn: &mut AsyncPgConnection) -> (Vec<String>, Vec<String>) {
    let live: Vec<SchemaColumn> = diesel::sql_query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .load(conn)
    .await
    .unwrap();
    let live: BTreeSet<String> = live
        .into_iter()
        .filter(|c| !TOOLING_TABLES.contains(&c.table_name.as_str()))
        .map(|c| format!("{}.{}", c.table_name, c.column_name))
        .collect();
    let registered: BTreeSet<String> = REGISTRY
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .map(move |c| format!("{}.{}", t.name, c.name))
        })
        .collect();
    (
        live.difference(&registered).cloned().collect(),
        registered.difference(&live).cloned().collect(),
    )
}

#[tokio::test]
async fn every_column_of_the_live_schema_is_classified() {
    let app = spawn_app().await;
    let (unclassified, stale) = registry_drift(&mut app.db().await).await;
    assert!(
        unclassified.is_empty(),
        "columns missing from privacy::registry: {unclassified:?}"
    );
    assert!(
        stale.is_empty(),
        "registry columns that no longer exist: {stale:?}"
    );
}

#[tokio::test]
async fn a_new_unclassified_column_is_caught() {
    let app = spawn_app().await;
    app.sql("ALTER TABLE accounts ADD COLUMN phone TEXT").await;
    let (unclassified, _) = registry_drift(&mut app.db().await).await;
    assert_eq!(unclassified, ["accounts.phone"]);
}

async fn staff(app: &TestApp) -> Tokens {
    app.staff("dpo@norfolk.gov.uk", Role::Staff).await
}

async fn submit(
    app: &TestApp,
    who: &Tokens,
    service: &str,
    details: &Value,
    key: Option<&str>,
) -> Value {
    let mut request = app
        .client
        .post(app.url("/api/v1/applications"))
        .bearer_auth(&who.access_token)
        .json(&json!({"service": service, "details": details}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn move_to(app: &TestApp, staff: &Tokens, id: &Value, to: &str, note: &str) {
    let response = app
        .post_authed(
            &format!(
                "/api/v1/admin/applications/{}/transitions",
                id.as_str().unwrap()
            ),
            &staff.access_token,
            &json!({"to": to, "public_note": note, "internal_note": note}),
        )
        .await;
    assert_eq!(response.status(), 200, "→ {to}");
}

/// Refunds part of an application's fee as `staff` (the simulated provider takes it: 201).
async fn refund(app: &TestApp, staff: &Tokens, id: &str, amount_pence: i32, reason: &str) {
    let response = app
        .post_authed(
            &format!("/api/v1/admin/applications/{id}/refunds"),
            &staff.access_token,
            &json!({"amount_pence": amount_pence, "reason": reason}),
        )
        .await;
    assert_eq!(response.status(), 201, "refund");
}

async fn request(app: &TestApp, who: &Tokens, kind: &str, details: Option<&str>) -> Value {
    app.open_data_request(&who.access_token, kind, details)
        .await
}

async fn decide(app: &TestApp, staff: &Tokens, id: &Value, body: Value) -> reqwest::Response {
    app.post_authed(
        &format!(
            "/api/v1/admin/data-requests/{}/decisions",
            id.as_str().unwrap()
        ),
        &staff.access_token,
        &body,
    )
    .await
}

#[tokio::test]
async fn the_export_holds_every_exported_column_of_every_table_with_the_callers_data() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let officer = staff(&app).await;
    // Data in every table: an email change in flight (token), an application with events and an
    // idempotency key, a data request, staff reads (audit), emails (outbox).
    let change = app
        .post_authed(
            "/api/v1/me/email",
            &resident.access_token,
            &json!({"new_email": "new@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(change.status(), 202);
    let details = app.details_example("skip-permit").await;
    let application = submit(&app, &resident, "skip-permit", &details, Some("key-1")).await;
    let id = application["id"].as_str().unwrap();
    app.pay_fee(&resident.access_token, id).await;
    let upload = app
        .upload(
            &resident.access_token,
            id,
            "site_plan",
            "plan.pdf",
            PDF.to_vec(),
        )
        .await;
    assert_eq!(upload.status(), 201);
    move_to(&app, &officer, &application["id"], "under_review", "On it.").await;
    refund(
        &app,
        &officer,
        id,
        500,
        "The skip was only needed for half the time.",
    )
    .await;
    request(
        &app,
        &resident,
        "rectification",
        Some("My name is spelt wrong."),
    )
    .await;
    let refresh = app
        .post_json(
            "/api/v1/sessions/refresh",
            &json!({"refresh_token": resident.refresh_token}),
        )
        .await;
    let tokens: Tokens = refresh.json().await.unwrap();

    let response = app
        .get_authed("/api/v1/me/export", &tokens.access_token)
        .await;
    assert_eq!(response.status(), 200);
    let export: Value = response.json().await.unwrap();
    for table in REGISTRY.iter().filter(|t| t.owner != Owner::Nobody) {
        let exported: Vec<&str> = table
            .columns
            .iter()
            .filter(|c| c.export == Export::Yes)
            .map(|c| c.name)
            .collect();
        let rows = export["data"][table.name]
            .as_array()
            .unwrap_or_else(|| panic!("{} missing from the export", table.name));
        assert!(
            !rows.is_empty(),
            "{}: the caller has rows there",
            table.name
        );
        for column in exported {
            assert!(
                rows[0].get(column).is_some(),
                "{}.{column} missing from the export",
                table.name
            );
        }
        for hidden in table.columns.iter().filter(|c| c.export != Export::Yes) {
            assert!(
                rows[0].get(hidden.name).is_none(),
                "{}.{} must not be exported",
                table.name,
                hidden.name
            );
        }
    }
    assert_eq!(export["data"]["accounts"][0]["name"], "Test Resident");
    assert_eq!(export["data"]["accounts"][0]["lawful_basis"], "contract");
    assert!(export["data"]["applications"][0]["details"]["site"].is_object());
    let about = &export["about_this_data"];
    for key in [
        "purposes_and_retention",
        "lawful_basis",
        "recipients",
        "source",
    ] {
        assert!(!about[key].is_null(), "Article 15: {key}");
    }
    // The staff member's read of the application shows up as an audit event about the caller.
    let staff_view = app
        .get_authed(
            &format!(
                "/api/v1/admin/applications/{}",
                application["id"].as_str().unwrap()
            ),
            &officer.access_token,
        )
        .await;
    assert_eq!(staff_view.status(), 200);
    let export: Value = app
        .get_json("/api/v1/me/export", &tokens.access_token)
        .await;
    let actions: Vec<&str> = export["data"]["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"application.viewed"), "{actions:?}");
}

#[tokio::test]
async fn erasure_leaves_nothing_of_the_person_in_a_pg_dump() {
    let app = spawn_app().await;
    let name = "Zephyrine Quillfeather";
    let email = "zephyrine.q@example.org";
    assert_eq!(app.sign_up(name, email, PASSWORD).await.status(), 202);
    let verification = app.wait_for_email(email, "Confirm your email", 1).await;
    app.post_json(
        "/api/v1/accounts/verify",
        &json!({"token": verification.token()}),
    )
    .await;
    let resident = app.sign_in_ok(email, PASSWORD).await;
    let officer = staff(&app).await;
    app.put_authed(
        "/api/v1/me/preferences",
        &resident.access_token,
        &json!({"status_update_emails": true}),
    )
    .await;

    // Applications in several states, with free text only this person wrote.
    let free_text = [
        "Flat 7 Marmalade Yard",
        "Quillfeather Skips Ltd",
        "Zebra Hoarding Partners",
        "zq-policy-991",
    ];
    let mut skip = app.details_example("skip-permit").await;
    skip["site"]["line1"] = json!(free_text[0]);
    skip["operator"]["name"] = json!(free_text[1]);
    skip["insurance"]["policy_number"] = json!(free_text[3]);
    let mut scaffold = app.details_example("scaffold-licence").await;
    scaffold["contractor"]["name"] = json!(free_text[2]);
    let issued = submit(&app, &resident, "skip-permit", &skip, Some("zq-key")).await;
    let issued_id = issued["id"].as_str().unwrap();
    app.pay_fee(&resident.access_token, issued_id).await;
    app.attach_required(&resident.access_token, &issued).await;
    refund(
        &app,
        &officer,
        issued_id,
        100,
        &format!("Goodwill refund for {name}"),
    )
    .await;
    for to in ["under_review", "approved", "issued"] {
        move_to(
            &app,
            &officer,
            &issued["id"],
            to,
            &format!("Note for {name}"),
        )
        .await;
    }
    let withdrawn = submit(&app, &resident, "scaffold-licence", &scaffold, None).await;
    app.pay_fee(&resident.access_token, withdrawn["id"].as_str().unwrap())
        .await;
    app.post_authed_empty(
        &format!(
            "/api/v1/applications/{}/withdraw",
            withdrawn["id"].as_str().unwrap()
        ),
        &resident.access_token,
    )
    .await;
    let waiting = submit(&app, &resident, "skip-permit", &skip, None).await;
    app.pay_fee(&resident.access_token, waiting["id"].as_str().unwrap())
        .await;
    for to in ["under_review", "more_information_required"] {
        move_to(&app, &officer, &waiting["id"], to, "Which skip company?").await;
    }
    submit(
        &app,
        &resident,
        "vehicle-crossing",
        &app.details_example("vehicle-crossing").await,
        None,
    )
    .await;

    // An earlier rectification, refused with a reason that names the person.
    let rectification = request(&app, &resident, "rectification", Some("Spell it Zephyrina")).await;
    let refusal = json!({"decision": "refuse", "reason": "Zephyrine Quillfeather matches the passport seen."});
    assert_eq!(
        decide(&app, &officer, &rectification["id"], refusal)
            .await
            .status(),
        200
    );

    // A staff look-up and the erasure request itself.
    let lookup = app
        .get_authed(
            &format!("/api/v1/admin/accounts?email={email}&reason=phoned%20about%20erasure"),
            &officer.access_token,
        )
        .await;
    assert_eq!(lookup.status(), 200);
    let erasure = request(
        &app,
        &resident,
        "erasure",
        Some("Please erase Zephyrine's account"),
    )
    .await;
    assert!(
        app.pg_dump().contains(name),
        "the dump sees the person before erasure"
    );

    let decided = decide(
        &app,
        &officer,
        &erasure["id"],
        json!({"decision": "complete", "reason": "Identity checked."}),
    )
    .await;
    assert_eq!(decided.status(), 200);
    let decided: Value = decided.json().await.unwrap();
    assert_eq!(decided["status"], "completed");
    let statement = decided["decision_reason"].as_str().unwrap();
    assert!(
        statement.contains(issued["reference"].as_str().unwrap()),
        "the permit in force is named: {statement}"
    );
    assert!(statement.contains("Article 17(3)"), "{statement}");

    // The person is told (once), then the outbox keeps nothing of them.
    let farewell = app.wait_for_email(email, "has been erased", 1).await;
    assert!(
        farewell
            .body
            .contains(issued["reference"].as_str().unwrap())
    );
    for _ in 0..100 {
        if app.count("email_outbox").await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_problem(app.sign_in(email, PASSWORD).await, 401, "unauthorized").await;
    assert_problem(
        app.get_authed("/api/v1/me", &resident.access_token).await,
        401,
        "unauthorized",
    )
    .await;

    let dump = app.pg_dump();
    let mut needles = vec![
        name.to_owned(),
        "Zephyrine".to_owned(),
        "Quillfeather".to_owned(),
        email.to_owned(),
    ];
    needles.extend(free_text.iter().map(|s| s.to_string()));
    needles.push("Please erase".to_owned());
    needles.push("Spell it".to_owned());
    needles.push("passport seen".to_owned());
    needles.push("Which skip company?".to_owned());
    for needle in &needles {
        let hits = dump.matches(needle.as_str()).count()
            + dump.to_lowercase().matches(&needle.to_lowercase()).count();
        assert_eq!(hits, 0, "{needle:?} is still in the database dump");
    }
    // The council's records remain, anonymised.
    let kept: Value = app
        .get_json(
            &format!(
                "/api/v1/admin/applications/{}",
                issued["id"].as_str().unwrap()
            ),
            &officer.access_token,
        )
        .await;
    assert_eq!(kept["status"], "issued");
    assert_eq!(kept["applicant"], Value::Null);
    assert_eq!(kept["details"], json!({"erased": true}));
    assert_eq!(app.count("applications").await, 4);
    assert_eq!(
        app.count("audit_events WHERE action = 'account.erased'")
            .await,
        1
    );
    assert_eq!(
        app.count("sessions").await,
        1,
        "only the officer's session is left"
    );
}

#[tokio::test]
async fn requests_have_deadlines_and_staff_decisions_are_emailed_and_final() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let officer = staff(&app).await;

    let created = request(
        &app,
        &resident,
        "rectification",
        Some("My surname is Jones."),
    )
    .await;
    assert_eq!(created["status"], "received");
    // One calendar month on, moved to a working day (the exact arithmetic is unit-tested).
    let today = chrono::Utc::now().date_naive();
    let due: chrono::NaiveDate = created["due_by"].as_str().unwrap().parse().unwrap();
    let days = (due - today).num_days();
    assert!((27..=36).contains(&days), "{due} is {days} days away");
    assert!(!matches!(
        chrono::Datelike::weekday(&due),
        chrono::Weekday::Sat | chrono::Weekday::Sun
    ));
    assert!(!app.settings.data_rights.bank_holidays.contains(&due));
    app.wait_for_email(
        "sian@example.org",
        "We have received your rectification request",
        1,
    )
    .await;

    for (body, field) in [
        (json!({"decision": "extend"}), "reason"),
        (json!({"decision": "refuse", "reason": "  "}), "reason"),
        (
            json!({"decision": "extend", "reason": "Complex", "months": 3}),
            "months",
        ),
        (json!({"decision": "complete", "months": 1}), "months"),
    ] {
        let problem = assert_problem(
            decide(&app, &officer, &created["id"], body).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let extended: Value = decide(
        &app,
        &officer,
        &created["id"],
        json!({"decision": "extend", "reason": "We need records from archive.", "months": 1}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(extended["status"], "extended");
    let one_more = mynorfolk::domain::deadlines::extended_due_by(
        today,
        1,
        &app.settings.data_rights.bank_holidays,
    )
    .unwrap();
    assert_eq!(extended["due_by"], json!(one_more.to_string()));
    let email = app
        .wait_for_email("sian@example.org", "We need more time", 1)
        .await;
    assert!(
        email.body.contains("records from archive"),
        "{}",
        email.body
    );
    // Extending to the same length again changes nothing; up to two months is fine.
    assert_problem(
        decide(
            &app,
            &officer,
            &created["id"],
            json!({"decision": "extend", "reason": "Again", "months": 1}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let refused = decide(
        &app,
        &officer,
        &created["id"],
        json!({"decision": "refuse", "reason": "The name on file matches your ID."}),
    )
    .await;
    assert_eq!(refused.status(), 200);
    let email = app
        .wait_for_email("sian@example.org", "We cannot do what you asked", 1)
        .await;
    assert!(email.body.contains("matches your ID"));
    assert_problem(
        decide(
            &app,
            &officer,
            &created["id"],
            json!({"decision": "complete"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;

    // An access request is fulfilled with the export itself.
    let access = request(&app, &resident, "access", None).await;
    assert_eq!(
        decide(
            &app,
            &officer,
            &access["id"],
            json!({"decision": "complete"})
        )
        .await
        .status(),
        200
    );
    let done: Value = app
        .get_json(
            &format!(
                "/api/v1/me/data-requests/{}",
                access["id"].as_str().unwrap()
            ),
            &resident.access_token,
        )
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["export"]["data"]["accounts"][0]["email"],
        "sian@example.org"
    );
    let list: Value = app
        .get_json("/api/v1/me/data-requests", &resident.access_token)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // Someone else's request is 404; residents cannot decide.
    let other = app.verified_resident("other@example.org").await;
    let theirs = app
        .get_authed(
            &format!(
                "/api/v1/me/data-requests/{}",
                access["id"].as_str().unwrap()
            ),
            &other.access_token,
        )
        .await;
    assert_problem(theirs, 404, "not-found").await;
    assert_problem(
        decide(&app, &other, &access["id"], json!({"decision": "complete"})).await,
        403,
        "forbidden",
    )
    .await;
    let bad = app
        .post_json("/api/v1/me/data-requests", &json!({"type": "portability"}))
        .await;
    assert_problem(bad, 401, "unauthorized").await;
    let bad = app
        .post_authed(
            "/api/v1/me/data-requests",
            &other.access_token,
            &json!({"type": "portability"}),
        )
        .await;
    assert_problem(bad, 422, "validation-failed").await;
}

#[tokio::test]
async fn the_staff_queue_finds_overdue_requests() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let officer = staff(&app).await;
    let late = request(&app, &resident, "access", None).await;
    request(&app, &resident, "erasure", None).await;
    app.sql(&format!(
        "UPDATE data_requests SET received_at = now() - interval '40 days', due_by = current_date - 5 WHERE id = '{}'",
        late["id"].as_str().unwrap()
    ))
    .await;
    let overdue: Value = app
        .get_json(
            "/api/v1/admin/data-requests?overdue=true",
            &officer.access_token,
        )
        .await;
    let items = overdue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], late["id"]);
    assert_eq!(items[0]["overdue"], true);
    let erasures: Value = app
        .get_json(
            "/api/v1/admin/data-requests?type=erasure",
            &officer.access_token,
        )
        .await;
    assert_eq!(erasures["items"].as_array().unwrap().len(), 1);
    assert_problem(
        app.get_authed("/api/v1/admin/data-requests", &resident.access_token)
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn staff_look_ups_need_a_reason_and_are_audited() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let officer = staff(&app).await;
    let no_reason = app
        .get_authed(
            "/api/v1/admin/accounts?email=sian@example.org&reason=",
            &officer.access_token,
        )
        .await;
    assert_problem(no_reason, 422, "validation-failed").await;
    let missing = app
        .get_authed(
            "/api/v1/admin/accounts?email=sian@example.org",
            &officer.access_token,
        )
        .await;
    assert_problem(missing, 400, "malformed-request").await;
    let found: Value = app.get_json("/api/v1/admin/accounts?email=SIAN@example.org&reason=resident%20phoned%20the%20contact%20centre", &officer.access_token).await;
    assert_eq!(found["email"], "sian@example.org");
    let nobody = app
        .get_authed(
            "/api/v1/admin/accounts?email=nobody@example.org&reason=checking%20a%20letter",
            &officer.access_token,
        )
        .await;
    assert_problem(nobody, 404, "not-found").await;
    assert_problem(
        app.get_authed(
            "/api/v1/admin/accounts?email=sian@example.org&reason=curious%20me",
            &resident.access_token,
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    let id = found["id"].as_str().unwrap();
    let audit: Value = app
        .get_json(
            &format!("/api/v1/admin/audit-events?account_id={id}&action=account.looked_up"),
            &officer.access_token,
        )
        .await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["reason"], "resident phoned the contact centre");
    assert_eq!(
        app.count("audit_events WHERE action = 'account.looked_up'")
            .await,
        2,
        "the miss is audited too"
    );
    // Paging through the whole log by cursor visits every event once.
    let total = app.count("audit_events").await as usize;
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/admin/audit-events?limit=2&cursor={c}"),
            None => "/api/v1/admin/audit-events?limit=2".to_owned(),
        };
        let page: Value = app.get_json(&url, &officer.access_token).await;
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(item["id"].as_i64().unwrap()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
}

#[tokio::test]
async fn retention_applies_every_period() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let officer = staff(&app).await;
    let details = app.details_example("vehicle-crossing").await;
    let old = submit(
        &app,
        &resident,
        "vehicle-crossing",
        &details,
        Some("old-key"),
    )
    .await;
    // With a document; paid, then withdrawn by staff before review: a refund is owed with it.
    let plan = app
        .upload(
            &resident.access_token,
            old["id"].as_str().unwrap(),
            "site_plan",
            "plan.pdf",
            PDF.to_vec(),
        )
        .await;
    assert_eq!(plan.status(), 201);
    app.pay_fee(&resident.access_token, old["id"].as_str().unwrap())
        .await;
    move_to(
        &app,
        &officer,
        &old["id"],
        "withdrawn",
        "Withdrawn by phone",
    )
    .await;
    let recent = submit(&app, &resident, "vehicle-crossing", &details, None).await;
    let recent_plan = app
        .upload(
            &resident.access_token,
            recent["id"].as_str().unwrap(),
            "site_plan",
            "plan.pdf",
            PDF.to_vec(),
        )
        .await;
    assert_eq!(recent_plan.status(), 201);
    app.wait_for_email("sian@example.org", "Confirm your email", 1)
        .await;
    // Every email delivered before the clock is turned back, the refund's too: the refund worker
    // writes that one in the background, after the withdrawal has answered.
    app.wait_for_email("sian@example.org", "Refund of", 1).await;
    app.wait_for_count("email_outbox WHERE status = 'pending'", 0)
        .await;
    let old_id = old["id"].as_str().unwrap();
    app.sql(&format!(
        "UPDATE applications SET updated_at = now() - interval '7 years' WHERE id = '{old_id}'"
    ))
    .await;
    app.sql("UPDATE email_outbox SET created_at = now() - interval '100 days'")
        .await;
    app.sql("UPDATE idempotency_keys SET created_at = now() - interval '8 days'")
        .await;
    let mut conn = app.db().await;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        conn.batch_execute(
            "SET LOCAL mynorfolk.retention = 'on'; \
             UPDATE audit_events SET occurred_at = now() - interval '8 years' WHERE action = 'account.created'",
        )
        .await
    })
    .await
    .unwrap();

    let pool = mynorfolk::db::build_pool(
        &app.db_url,
        &mynorfolk::db::PoolOptions::from_settings(&app.settings.database),
    )
    .unwrap();
    let report = mynorfolk::use_cases::retention::sweep(&pool, &app.settings)
        .await
        .unwrap();
    assert_eq!(report.anonymised_applications, 1);
    assert!(report.old_emails >= 1);
    assert_eq!(report.old_idempotency_keys, 1);
    assert_eq!(report.old_audit_events, 1);
    assert_eq!(app.count(&format!("applications WHERE id = '{old_id}' AND account_id IS NULL AND details = '{{\"erased\": true}}'")).await, 1);
    // Its payment and refund stay, as financial records, without the payer or the reason.
    let paid = format!("payments WHERE application_id = '{old_id}'");
    assert_eq!(app.count(&paid).await, 1);
    assert_eq!(
        app.count(&format!("{paid} AND account_id IS NULL")).await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "refunds WHERE reason = 'erased' AND payment_id IN (SELECT id FROM {paid})"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "application_events WHERE application_id = '{old_id}' AND public_note IS NOT NULL"
        ))
        .await,
        0
    );
    let recent_id = recent["id"].as_str().unwrap();
    assert_eq!(
        app.count(&format!(
            "applications WHERE id = '{recent_id}' AND account_id IS NOT NULL"
        ))
        .await,
        1
    );
    // The anonymised application's document goes, row and file; the recent one's stays.
    assert_eq!(
        app.count(&format!("attachments WHERE application_id = '{old_id}'"))
            .await,
        0
    );
    assert_eq!(
        app.count(&format!("attachments WHERE application_id = '{recent_id}'"))
            .await,
        1
    );
    app.wait_for_stored_files(1).await;
    // Idempotent: a second sweep finds nothing more.
    let again = mynorfolk::use_cases::retention::sweep(&pool, &app.settings)
        .await
        .unwrap();
    assert_eq!(
        again,
        mynorfolk::use_cases::retention::SweepReport::default()
    );
}

/// A member of staff cannot decide a request about themselves (an erasure of their own account,
/// say): a colleague must.
#[tokio::test]
async fn staff_cannot_decide_their_own_requests() {
    let app = spawn_app().await;
    let officer = staff(&app).await;
    let own = request(&app, &officer, "erasure", None).await;
    let response = decide(&app, &officer, &own["id"], json!({"decision": "complete"})).await;
    assert_problem(response, 409, "conflict").await;
    let colleague = app.staff("colleague@norfolk.gov.uk", Role::Staff).await;
    let response = decide(
        &app,
        &colleague,
        &own["id"],
        json!({"decision": "refuse", "reason": "Staff records are kept while employed."}),
    )
    .await;
    assert_eq!(response.status(), 200);
}
