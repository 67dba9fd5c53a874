//! Sign-up, verification, password reset, and what bad input gets back.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, spawn_app, spawn_app_with};

const SIAN: &str = "Siân O'Brien-Ng";

#[tokio::test]
async fn sign_up_verify_then_sign_in() {
    let app = spawn_app().await;
    let response = app.sign_up(SIAN, "Sian@Example.org", PASSWORD).await;
    assert_eq!(response.status(), 202);

    // Before verifying, a correct password gets 403 email-not-verified.
    assert_problem(
        app.sign_in("sian@example.org", PASSWORD).await,
        403,
        "email-not-verified",
    )
    .await;

    let email = app
        .wait_for_email("Sian@Example.org", "Confirm your email", 1)
        .await;
    // The address has not yet shown it wants our email: no name a caller typed goes to it.
    assert!(!email.body.contains(SIAN), "{}", email.body);
    assert!(
        email
            .body
            .contains("http://localhost:3000/verify-email?token="),
        "{}",
        email.body
    );
    let verified = app
        .post_json("/api/v1/accounts/verify", &json!({"token": email.token()}))
        .await;
    assert_eq!(verified.status(), 200);

    // The address compares case-insensitively.
    let tokens = app.sign_in_ok("SIAN@example.ORG", PASSWORD).await;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    let me: Value = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["name"], SIAN);
    assert_eq!(me["email"], "Sian@Example.org");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["lawful_basis"], "contract");
    assert_eq!(me["terms_version"], "2026-01");
    assert_eq!(me["roles"], json!(["resident"]));
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));

    // Verification links work once.
    let again = app
        .post_json("/api/v1/accounts/verify", &json!({"token": email.token()}))
        .await;
    assert_problem(again, 404, "link-invalid").await;
    assert_eq!(
        app.count("audit_events WHERE action = 'account.created'")
            .await,
        1
    );
}

#[tokio::test]
async fn signing_up_again_answers_the_same_and_emails_the_owner() {
    let app = spawn_app().await;
    let first = app.sign_up(SIAN, "sian@example.org", PASSWORD).await;
    let (first_status, first_body) = (first.status(), first.text().await.unwrap());
    let token = app
        .wait_for_email("sian@example.org", "Confirm your email", 1)
        .await
        .token();
    app.post_json("/api/v1/accounts/verify", &json!({"token": token}))
        .await;

    let second = app
        .sign_up(
            "Someone Else",
            "SIAN@example.org",
            "another good passphrase",
        )
        .await;
    assert_eq!(second.status(), first_status);
    assert_eq!(
        second.text().await.unwrap(),
        first_body,
        "no account enumeration"
    );
    let notice = app
        .wait_for_email(
            "sian@example.org",
            "You already have a MyNorfolk account",
            1,
        )
        .await;
    assert!(notice.body.contains("/forgot-password"), "{}", notice.body);
    assert_eq!(app.count("accounts").await, 1);
    // The existing password still works; the newcomer's does not.
    app.sign_in_ok("sian@example.org", PASSWORD).await;
    assert_problem(
        app.sign_in("sian@example.org", "another good passphrase")
            .await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn signing_up_again_before_verifying_lets_only_the_mailbox_choose_the_password() {
    let app = spawn_app().await;
    app.sign_up(SIAN, "sian@example.org", PASSWORD).await;
    let first = app
        .wait_for_email("sian@example.org", "Confirm your email", 1)
        .await;
    app.sign_up(SIAN, "sian@example.org", "a second passphrase")
        .await;
    let finish = app
        .wait_for_email(
            "sian@example.org",
            "Finish opening your MyNorfolk account",
            1,
        )
        .await;
    assert!(
        finish.body.contains("/reset-password?token="),
        "{}",
        finish.body
    );
    // The earlier link is void and neither password given so far opens the account.
    let stale = app
        .post_json("/api/v1/accounts/verify", &json!({"token": first.token()}))
        .await;
    assert_problem(stale, 404, "link-invalid").await;
    for password in [PASSWORD, "a second passphrase"] {
        assert_problem(
            app.sign_in("sian@example.org", password).await,
            401,
            "unauthorized",
        )
        .await;
    }
    let chosen = app
        .confirm_reset(&finish.token(), "chosen from the mailbox")
        .await;
    assert_eq!(chosen.status(), 200);
    app.sign_in_ok("sian@example.org", "chosen from the mailbox")
        .await;
}

#[tokio::test]
async fn sign_up_takes_only_name_email_password_and_terms() {
    let app = spawn_app().await;
    for extra in ["phone", "address", "date_of_birth", "role"] {
        let mut body = json!({"name": SIAN, "email": "sian@example.org", "password": PASSWORD, "accept_terms": true});
        body[extra] = json!("x");
        let problem = assert_problem(
            app.post_json("/api/v1/accounts", &body).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], extra, "{problem}");
    }
    assert_eq!(app.count("accounts").await, 0);
    assert_eq!(app.count("email_outbox").await, 0);
}

#[tokio::test]
async fn invalid_sign_ups_list_every_problem_and_store_nothing() {
    let app = spawn_app().await;
    let body = json!({"name": "\u{0007}", "email": "not-an-email", "password": "short", "accept_terms": false});
    let problem = assert_problem(
        app.post_json("/api/v1/accounts", &body).await,
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
    assert_eq!(fields, ["name", "email", "password", "accept_terms"]);
    // A common password is refused too.
    let body = json!({"name": SIAN, "email": "sian@example.org", "password": "password1234", "accept_terms": true});
    let problem = assert_problem(
        app.post_json("/api/v1/accounts", &body).await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "password");
    assert_eq!(app.count("accounts").await, 0);
    assert_eq!(app.count("email_outbox").await, 0);
}

#[tokio::test]
async fn body_errors_are_problems_with_the_right_status() {
    let app = spawn_app().await;
    let post = |content_type: &'static str, body: String| {
        app.client
            .post(app.url("/api/v1/accounts"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // 400: not JSON at all.
    assert_problem(
        post("application/json", "{\"name\": ".into())
            .await
            .unwrap(),
        400,
        "malformed-request",
    )
    .await;
    // 415: not sent as JSON.
    assert_problem(
        post("text/plain", "{}".into()).await.unwrap(),
        415,
        "unsupported-media-type",
    )
    .await;
    // 413: larger than the limit (64 KiB).
    let huge = json!({"name": "a".repeat(70_000), "email": "x@example.org", "password": PASSWORD, "accept_terms": true});
    assert_problem(
        post("application/json", huge.to_string()).await.unwrap(),
        413,
        "payload-too-large",
    )
    .await;
    // 422: well-formed but the wrong type, and a missing field.
    let wrong_type = json!({"name": SIAN, "email": "x@example.org", "password": PASSWORD, "accept_terms": "yes"});
    let problem = assert_problem(
        post("application/json", wrong_type.to_string())
            .await
            .unwrap(),
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "accept_terms");
    let missing = json!({"name": SIAN, "email": "x@example.org", "password": PASSWORD});
    let problem = assert_problem(
        post("application/json", missing.to_string()).await.unwrap(),
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "accept_terms");
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn unknown_and_garbage_verification_tokens_are_refused() {
    let app = spawn_app().await;
    for token in ["", "nope", &"A".repeat(43)] {
        let response = app
            .post_json("/api/v1/accounts/verify", &json!({"token": token}))
            .await;
        assert_problem(response, 404, "link-invalid").await;
    }
}

#[tokio::test]
async fn password_reset_flow() {
    let app = spawn_app().await;
    let old = app.verified_resident("sian@example.org").await;

    // Unknown addresses get the same answer and no email.
    let unknown = app
        .post_json(
            "/api/v1/password-resets",
            &json!({"email": "nobody@example.org"}),
        )
        .await;
    let known = app
        .post_json(
            "/api/v1/password-resets",
            &json!({"email": "sian@example.org"}),
        )
        .await;
    assert_eq!(unknown.status(), 202);
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.text().await.unwrap(), known.text().await.unwrap());
    let email = app
        .wait_for_email("sian@example.org", "Reset your MyNorfolk password", 1)
        .await;
    assert!(
        email
            .body
            .contains("http://localhost:3000/reset-password?token="),
        "{}",
        email.body
    );
    assert!(app.emails_to("nobody@example.org", "").is_empty());

    // A weak new password is refused and spends nothing.
    let weak = app.confirm_reset(&email.token(), "short").await;
    let problem = assert_problem(weak, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["field"], "new_password");

    let new_password = "a brand new passphrase";
    let done = app
        .post_json(
            "/api/v1/password-resets/confirm",
            &json!({"token": email.token(), "new_password": new_password}),
        )
        .await;
    assert_eq!(done.status(), 200);
    // Every session was signed out; only the new password works; the link was single-use.
    assert_problem(
        app.get_authed("/api/v1/me", &old.access_token).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.sign_in("sian@example.org", PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;
    app.sign_in_ok("sian@example.org", new_password).await;
    let reused = app
        .confirm_reset(&email.token(), "yet another passphrase")
        .await;
    assert_problem(reused, 404, "link-invalid").await;
    app.wait_for_email("sian@example.org", "Your MyNorfolk password was changed", 1)
        .await;
}

#[tokio::test]
async fn expired_links_do_not_work() {
    let app = spawn_app().await;
    app.sign_up(SIAN, "sian@example.org", PASSWORD).await;
    let email = app
        .wait_for_email("sian@example.org", "Confirm your email", 1)
        .await;
    app.sql("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
        .await;
    let response = app
        .post_json("/api/v1/accounts/verify", &json!({"token": email.token()}))
        .await;
    assert_problem(response, 404, "link-invalid").await;
}

#[tokio::test]
async fn signing_up_first_with_someone_elses_address_takes_nothing_over() {
    let app = spawn_app().await;
    // The victim signs up; before they follow their link, an attacker signs up with the victim's
    // address and a password of their own (the pre-hijacking attack).
    assert_eq!(
        app.sign_up("Victoria Owner", "victim@example.org", PASSWORD)
            .await
            .status(),
        202
    );
    let victims_link = app
        .wait_for_email("victim@example.org", "Confirm your email", 1)
        .await;
    assert_eq!(
        app.sign_up(
            "Mallory Refunds",
            "victim@example.org",
            "attacker passphrase 1"
        )
        .await
        .status(),
        202
    );
    let finish = app
        .wait_for_email("victim@example.org", "Finish opening", 1)
        .await;
    assert!(!finish.body.contains("Mallory"), "{}", finish.body);
    // The victim's (now stale) link and the attacker's password both lead nowhere.
    let stale = app
        .post_json(
            "/api/v1/accounts/verify",
            &json!({"token": victims_link.token()}),
        )
        .await;
    assert_problem(stale, 404, "link-invalid").await;
    assert_problem(
        app.sign_in("victim@example.org", "attacker passphrase 1")
            .await,
        401,
        "unauthorized",
    )
    .await;
    // Only the mailbox's reader chooses the password; the attacker's never works.
    let chosen = app
        .confirm_reset(&finish.token(), "the real owner's passphrase")
        .await;
    assert_eq!(chosen.status(), 200);
    app.sign_in_ok("victim@example.org", "the real owner's passphrase")
        .await;
    assert_problem(
        app.sign_in("victim@example.org", "attacker passphrase 1")
            .await,
        401,
        "unauthorized",
    )
    .await;
}

/// Text an anonymous caller chose (the name given at sign-up) never reaches an address that has
/// not proved it wants our email: not in the confirmation, not in a reset link asked for it.
#[tokio::test]
async fn a_sign_up_name_is_not_mailed_to_an_unverified_address() {
    let app = spawn_app().await;
    let lure = "Claim your refund at https://refunds.example";
    assert_eq!(
        app.sign_up(lure, "target@example.org", PASSWORD)
            .await
            .status(),
        202
    );
    let confirm = app
        .wait_for_email("target@example.org", "Confirm your email", 1)
        .await;
    assert!(
        !confirm.body.contains("refunds.example"),
        "{}",
        confirm.body
    );
    app.post_json(
        "/api/v1/password-resets",
        &json!({"email": "target@example.org"}),
    )
    .await;
    let reset = app
        .wait_for_email("target@example.org", "Reset your", 1)
        .await;
    assert!(!reset.body.contains("refunds.example"), "{}", reset.body);
}

/// Elsewhere free text still reaches emails (a verified person's own name, a staff note), but
/// never as something a mail client would turn into a link.
#[tokio::test]
async fn free_text_in_emails_never_becomes_a_link() {
    use mynorfolk::domain::account::Role;
    let app = spawn_app().await;
    let resident = app.verified_resident("named@example.org").await;
    let renamed = app
        .patch_authed(
            "/api/v1/me",
            &resident.access_token,
            &json!({"name": "Refunds at https://refunds.example/claim or www.refunds.example"}),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    app.put_authed(
        "/api/v1/me/preferences",
        &resident.access_token,
        &json!({"status_update_emails": true}),
    )
    .await;
    let submitted = app
        .submit_paid_example(&resident.access_token, "skip-permit")
        .await;
    let officer = app.staff("notes@norfolk.gov.uk", Role::Staff).await;
    let moved = app
        .post_authed(
            &format!("/api/v1/admin/applications/{}/transitions", submitted["id"].as_str().unwrap()),
            &officer.access_token,
            &json!({"to": "under_review", "public_note": "Pay the fee at pay.evil.example or mail fees@evil.example"}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let update = app.wait_for_email("named@example.org", "is now", 1).await;
    app.post_json(
        "/api/v1/password-resets",
        &json!({"email": "named@example.org"}),
    )
    .await;
    let reset = app
        .wait_for_email("named@example.org", "Reset your", 1)
        .await;
    for email in [&update, &reset] {
        for linkable in [
            "https://refunds",
            "www.refunds",
            "refunds.example",
            "pay.evil.example",
            "fees@evil",
            "evil.example",
        ] {
            assert!(
                !email.body.contains(linkable),
                "{linkable} in {}",
                email.body
            );
        }
    }
    // Still readable: the words are there, defanged.
    assert!(
        update.body.contains("pay[.]evil[.]example"),
        "{}",
        update.body
    );
    assert!(reset.body.contains("Refunds at"), "{}", reset.body);
}

/// Links outlive nothing they were for: a completed reset voids the account's other reset
/// links, and a completed email change voids reset links sent to the old address and the other
/// address-change links (so the account cannot be moved back to a stale address).
#[tokio::test]
async fn completed_resets_and_email_changes_void_the_other_links() {
    let app = &spawn_app().await;
    app.verified_resident("sian@example.org").await;
    let ask = || async move {
        let body = json!({"email": "sian@example.org"});
        app.post_json("/api/v1/password-resets", &body).await
    };
    ask().await;
    let first = app
        .wait_for_email("sian@example.org", "Reset your", 1)
        .await;
    ask().await;
    let second = app
        .wait_for_email("sian@example.org", "Reset your", 2)
        .await;
    let confirm = |token: String, password: &'static str| async move {
        let body = json!({"token": token, "new_password": password});
        app.post_json("/api/v1/password-resets/confirm", &body)
            .await
    };
    assert_eq!(
        confirm(second.token(), "the second new passphrase")
            .await
            .status(),
        200
    );
    assert_problem(
        confirm(first.token(), "the first new passphrase").await,
        404,
        "link-invalid",
    )
    .await;

    // An email change: a reset link to the old address and an earlier change link go stale.
    let tokens = app
        .sign_in_ok("sian@example.org", "the second new passphrase")
        .await;
    ask().await;
    let old_reset = app
        .wait_for_email("sian@example.org", "Reset your", 3)
        .await;
    let access = &tokens.access_token;
    let change = |to: &'static str| async move {
        let body = json!({"new_email": to, "password": "the second new passphrase"});
        app.post_authed("/api/v1/me/email", access, &body).await
    };
    assert_eq!(change("stale@example.org").await.status(), 202);
    let stale_link = app
        .wait_for_email("stale@example.org", "Confirm your", 1)
        .await;
    assert_eq!(change("new@example.org").await.status(), 202);
    let new_link = app
        .wait_for_email("new@example.org", "Confirm your", 1)
        .await;
    let verify = |token: String| async move {
        let body = json!({"token": token});
        app.post_json("/api/v1/accounts/verify", &body).await
    };
    assert_eq!(verify(new_link.token()).await.status(), 200);
    assert_problem(verify(stale_link.token()).await, 404, "link-invalid").await;
    assert_problem(
        confirm(old_reset.token(), "a passphrase for the old address").await,
        404,
        "link-invalid",
    )
    .await;
    let me = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["email"], "new@example.org");
}

/// An unknown reset token is refused before the new password is hashed: many of them at once
/// take far less time than one hash (here made deliberately slow), so no one can keep the
/// hashing pool busy without a real link.
#[tokio::test]
async fn unknown_reset_links_cost_no_hashing() {
    let app = spawn_app_with(|s| {
        s.auth.hash_cost.memory_kib = 8192;
        s.auth.hash_cost.iterations = 40;
        s.auth.hash_max_concurrent = 1;
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(
        app.sign_up("Sian Jones", "sian@example.org", PASSWORD)
            .await
            .status(),
        202
    );
    let one_hash = started.elapsed();
    let started = std::time::Instant::now();
    let app = &app;
    let attempts = (0..8).map(|n| async move {
        let body =
            json!({"token": format!("{n:0>43}"), "new_password": "an attacker's passphrase"});
        app.post_json("/api/v1/password-resets/confirm", &body)
            .await
    });
    for response in futures_util::future::join_all(attempts).await {
        assert_problem(response, 404, "link-invalid").await;
    }
    let eight_refusals = started.elapsed();
    assert!(
        eight_refusals * 2 < one_hash,
        "8 unknown links took {eight_refusals:?}; one sign-up's hash {one_hash:?}"
    );
}

/// A reset request that was answered is durable: the instance that answered it can crash at
/// once, and another instance over the same database still sends the link.
#[tokio::test]
async fn an_answered_reset_request_survives_a_crash_of_the_instance() {
    for round in 0..5 {
        // This instance's workers look once at start-up and then sleep: whatever it answered is
        // left for the next instance, unless it was lost.
        let app = spawn_app_with(|s| s.email.poll_interval_ms = 3_600_000).await;
        let email = format!("durable.{round}@example.org");
        assert_eq!(
            app.sign_up("Dee Rable", &email, PASSWORD).await.status(),
            202
        );
        let answered = app
            .post_json("/api/v1/password-resets", &json!({"email": email}))
            .await;
        assert_eq!(answered.status(), 202);
        app.crash().await;
        app.start_another_instance(|s| s.email.poll_interval_ms = 50)
            .await;
        let reset = app
            .wait_for_email(&email, "Reset your MyNorfolk password", 1)
            .await;
        assert!(
            reset.body.contains("/reset-password?token="),
            "round {round}"
        );
    }
}

/// However many clients ask, one mailbox gets at most three reset links in a quarter of an hour
/// (and requests that arrive together get one).
#[tokio::test]
async fn reset_requests_cannot_flood_a_mailbox() {
    let app = spawn_app_with(|s| s.limits.reset_links_per_address = 3).await;
    let address = "flood@example.org";
    assert_eq!(app.sign_up("Flo Od", address, PASSWORD).await.status(), 202);
    let body = json!({"email": address});
    let ask = || app.post_json("/api/v1/password-resets", &body);
    for sent in 1..=3 {
        assert_eq!(ask().await.status(), 202);
        app.wait_for_email(address, "Reset your", sent).await;
    }
    for _ in 0..5 {
        assert_eq!(ask().await.status(), 202);
    }
    // Wait until every request has been worked through and every email sent.
    for _ in 0..200 {
        let pending = app.count("password_reset_requests").await
            + app.count("email_outbox WHERE status = 'pending'").await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.count("password_reset_requests").await, 0);
    assert_eq!(app.emails_to(address, "Reset your").len(), 3);
}
