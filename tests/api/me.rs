//! The resident's own account: rectification, preferences, email change, retention.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

#[tokio::test]
async fn name_can_be_corrected_and_is_validated() {
    let app = spawn_app().await;
    let tokens = app.verified_resident("sian@example.org").await;
    let patch = |body: Value| {
        app.client
            .patch(app.url("/api/v1/me"))
            .bearer_auth(&tokens.access_token)
            .json(&body)
            .send()
    };

    let updated: Value = patch(json!({"name": "  Siân   Jones "}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["name"], "Siân Jones");
    let me: Value = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["name"], "Siân Jones");

    assert_problem(
        patch(json!({"name": ""})).await.unwrap(),
        422,
        "validation-failed",
    )
    .await;
    let problem = assert_problem(
        patch(json!({"name": "X", "email": "x@example.org"}))
            .await
            .unwrap(),
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "email");
    let me: Value = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["name"], "Siân Jones", "a refused change changes nothing");
    assert_eq!(
        app.count("audit_events WHERE action = 'account.rectified'")
            .await,
        1
    );
}

#[tokio::test]
async fn status_update_emails_are_opt_in() {
    let app = spawn_app().await;
    let tokens = app.verified_resident("sian@example.org").await;
    let prefs: Value = app
        .get_json("/api/v1/me/preferences", &tokens.access_token)
        .await;
    assert_eq!(prefs, json!({"status_update_emails": false}));

    let put = |body: Value| {
        app.client
            .put(app.url("/api/v1/me/preferences"))
            .bearer_auth(&tokens.access_token)
            .json(&body)
            .send()
    };
    assert_eq!(
        put(json!({"status_update_emails": true}))
            .await
            .unwrap()
            .status(),
        200
    );
    let prefs: Value = app
        .get_json("/api/v1/me/preferences", &tokens.access_token)
        .await;
    assert_eq!(prefs, json!({"status_update_emails": true}));
    assert_problem(
        put(json!({"status_update_emails": "yes"})).await.unwrap(),
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        put(json!({"marketing": true, "status_update_emails": true}))
            .await
            .unwrap(),
        422,
        "validation-failed",
    )
    .await;
}

#[tokio::test]
async fn email_change_takes_effect_when_the_new_address_is_verified() {
    let app = spawn_app().await;
    let tokens = app.verified_resident("old@example.org").await;
    let change = |body: Value| {
        app.client
            .post(app.url("/api/v1/me/email"))
            .bearer_auth(&tokens.access_token)
            .json(&body)
            .send()
    };

    let wrong = change(json!({"new_email": "new@example.org", "password": "not my password"}))
        .await
        .unwrap();
    assert_problem(wrong, 403, "wrong-password").await;
    let invalid = change(json!({"new_email": "nope", "password": PASSWORD}))
        .await
        .unwrap();
    assert_problem(invalid, 422, "validation-failed").await;

    assert_eq!(
        change(json!({"new_email": "new@example.org", "password": PASSWORD}))
            .await
            .unwrap()
            .status(),
        202
    );
    let confirm = app
        .wait_for_email("new@example.org", "Confirm your new email", 1)
        .await;
    let me: Value = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["email"], "old@example.org", "not before verification");

    let verified = app
        .post_json(
            "/api/v1/accounts/verify",
            &json!({"token": confirm.token()}),
        )
        .await;
    assert_eq!(verified.status(), 200);
    let me: Value = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["email"], "new@example.org");
    let notice = app
        .wait_for_email("old@example.org", "email address was changed", 1)
        .await;
    // Masked, and defanged like all text a person chose.
    assert!(
        notice.body.contains("n***@example[.]org"),
        "{}",
        notice.body
    );
    app.sign_in_ok("new@example.org", PASSWORD).await;
    assert_problem(
        app.sign_in("old@example.org", PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn changing_to_an_address_in_use_reveals_nothing_and_changes_nothing() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("Tamsin Owner", "taken@example.org", PASSWORD)
            .await
            .status(),
        202
    );
    let link = app
        .wait_for_email("taken@example.org", "Confirm your email", 1)
        .await;
    app.post_json("/api/v1/accounts/verify", &json!({"token": link.token()}))
        .await;
    let tokens = app.verified_resident("sian@example.org").await;
    let response = app
        .post_authed(
            "/api/v1/me/email",
            &tokens.access_token,
            &json!({"new_email": "TAKEN@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 202);
    // The owner of the address is told, by their own name, in an email of their own account.
    let notice = app
        .wait_for_email(
            "taken@example.org",
            "You already have a MyNorfolk account",
            1,
        )
        .await;
    assert!(
        notice.body.contains("Hello Tamsin Owner"),
        "{}",
        notice.body
    );
    assert!(!notice.body.contains("Test Resident"), "{}", notice.body);
    let owned = "email_outbox o JOIN accounts a ON a.id = o.account_id \
                 WHERE o.template = 'already_registered' AND a.email = 'taken@example.org'";
    assert_eq!(app.count(owned).await, 1);
    let me: Value = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["email"], "sian@example.org");
}

#[tokio::test]
async fn the_retention_sweep_deletes_old_unverified_accounts_only() {
    let app = spawn_app().await;
    app.sign_up("Old Unverified", "old@example.org", PASSWORD)
        .await;
    app.sign_up("New Unverified", "new@example.org", PASSWORD)
        .await;
    app.verified_resident("verified@example.org").await;
    app.sql("UPDATE accounts SET created_at = now() - interval '8 days' WHERE email <> 'new@example.org'").await;

    let pool = mynorfolk::db::build_pool(
        &app.db_url,
        &mynorfolk::db::PoolOptions::from_settings(&app.settings.database),
    )
    .unwrap();
    let report = mynorfolk::use_cases::retention::sweep(&pool, &app.settings)
        .await
        .unwrap();
    assert_eq!(report.unverified_accounts, 1);
    assert_eq!(
        app.count("accounts WHERE email = 'old@example.org'").await,
        0
    );
    assert_eq!(app.count("accounts").await, 2);
    // Idempotent.
    let again = mynorfolk::use_cases::retention::sweep(&pool, &app.settings)
        .await
        .unwrap();
    assert_eq!(again.unverified_accounts, 0);
}

/// Every list of a person's own data pages the same way: `limit`, an opaque `next_cursor`, and
/// following it yields the rest, each item once.
#[tokio::test]
async fn personal_lists_are_paginated() {
    use mynorfolk::domain::account::Role;
    let app = spawn_app().await;
    let resident = app.verified_resident("pages@example.org").await;
    for _ in 0..2 {
        app.sign_in_ok("pages@example.org", PASSWORD).await;
    }
    for details in ["one", "two", "three"] {
        let opened = app
            .post_authed(
                "/api/v1/me/data-requests",
                &resident.access_token,
                &json!({"type": "rectification", "details": details}),
            )
            .await;
        assert_eq!(opened.status(), 202);
    }
    let submitted = app
        .submit_paid_example(&resident.access_token, "skip-permit")
        .await;
    let id = submitted["id"].as_str().unwrap();
    let officer = app.staff("pager@norfolk.gov.uk", Role::Staff).await;
    for to in ["under_review", "more_information_required"] {
        let moved = app
            .post_authed(
                &format!("/api/v1/admin/applications/{id}/transitions"),
                &officer.access_token,
                &json!({"to": to}),
            )
            .await;
        assert_eq!(moved.status(), 200);
    }

    for (list, total) in [
        ("/api/v1/me/sessions".to_owned(), 3),
        ("/api/v1/me/data-requests".to_owned(), 3),
        (format!("/api/v1/applications/{id}/events"), 3),
    ] {
        let mut seen = Vec::new();
        let mut path = format!("{list}?limit=2");
        loop {
            let page = app.get_json(&path, &resident.access_token).await;
            let items = page["items"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: {page}"));
            assert!(items.len() <= 2, "{path}: {page}");
            seen.extend(items.iter().map(|i| i.to_string()));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("{list}?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
        assert_eq!(
            (seen.len(), distinct.len()),
            (total, total),
            "{list}: {seen:?}"
        );
    }
    assert_problem(
        app.get_authed("/api/v1/me/sessions?limit=101", &resident.access_token)
            .await,
        400,
        "malformed-request",
    )
    .await;
}
