//! Signing in and out, tokens, devices, throttling, roles.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use mynorfolk::domain::account::Role;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = spawn_app().await;
    app.verified_resident("sian@example.org").await;
    let wrong_password = app
        .sign_in("sian@example.org", "not the password at all")
        .await;
    let unknown_email = app.sign_in("nobody@example.org", PASSWORD).await;
    let a = assert_problem(wrong_password, 401, "unauthorized").await;
    let b = assert_problem(unknown_email, 401, "unauthorized").await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let app = spawn_app().await;
    let first = app.verified_resident("sian@example.org").await;

    let rotated = app
        .post_json(
            "/api/v1/sessions/refresh",
            &json!({"refresh_token": first.refresh_token}),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let second: Value = rotated.json().await.unwrap();
    assert_ne!(second["refresh_token"], json!(first.refresh_token));
    let second_access = second["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_authed("/api/v1/me", second_access).await.status(),
        200
    );

    // The spent token again: the whole session is revoked, new tokens included.
    let reuse = app
        .post_json(
            "/api/v1/sessions/refresh",
            &json!({"refresh_token": first.refresh_token}),
        )
        .await;
    assert_problem(reuse, 401, "unauthorized").await;
    assert_problem(
        app.get_authed("/api/v1/me", second_access).await,
        401,
        "unauthorized",
    )
    .await;
    let after = app
        .post_json(
            "/api/v1/sessions/refresh",
            &json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_problem(after, 401, "unauthorized").await;

    let garbage = app
        .post_json(
            "/api/v1/sessions/refresh",
            &json!({"refresh_token": "garbage"}),
        )
        .await;
    assert_problem(garbage, 401, "unauthorized").await;
}

#[tokio::test]
async fn sign_out_revokes_the_access_token_at_once() {
    let app = spawn_app().await;
    let tokens = app.verified_resident("sian@example.org").await;
    app.submit_example(&tokens.access_token, "skip-permit")
        .await;
    let listed = app
        .get_json("/api/v1/applications", &tokens.access_token)
        .await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let out = app
        .delete_authed("/api/v1/sessions/current", &tokens.access_token)
        .await;
    assert_eq!(out.status(), 204);
    assert_problem(
        app.get_authed("/api/v1/me", &tokens.access_token).await,
        401,
        "unauthorized",
    )
    .await;
    // The list checks the session live too: still refused, no rows.
    let body = assert_problem(
        app.get_authed("/api/v1/applications", &tokens.access_token)
            .await,
        401,
        "unauthorized",
    )
    .await;
    assert!(body.get("items").is_none(), "{body}");
    let refresh = app
        .post_json(
            "/api/v1/sessions/refresh",
            &json!({"refresh_token": tokens.refresh_token}),
        )
        .await;
    assert_problem(refresh, 401, "unauthorized").await;
}

#[tokio::test]
async fn devices_can_be_listed_and_signed_out() {
    let app = spawn_app().await;
    let laptop = app.verified_resident("sian@example.org").await;
    let phone = app.sign_in_ok("sian@example.org", PASSWORD).await;

    let list: Value = app
        .get_json("/api/v1/me/sessions", &laptop.access_token)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_session = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let revoke = app
        .delete_authed(
            &format!("/api/v1/me/sessions/{phone_session}"),
            &laptop.access_token,
        )
        .await;
    assert_eq!(revoke.status(), 204);
    assert_problem(
        app.get_authed("/api/v1/me", &phone.access_token).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        app.get_authed("/api/v1/me", &laptop.access_token)
            .await
            .status(),
        200
    );

    // Someone else's session is 404, as is one already revoked.
    let other = app.verified_resident("other@example.org").await;
    let theirs: Value = app
        .get_json("/api/v1/me/sessions", &other.access_token)
        .await;
    let theirs = theirs["items"][0]["id"].as_str().unwrap();
    for id in [theirs, phone_session.as_str()] {
        let response = app
            .delete_authed(&format!("/api/v1/me/sessions/{id}"), &laptop.access_token)
            .await;
        assert_problem(response, 404, "not-found").await;
    }
    assert_eq!(
        app.get_authed("/api/v1/me", &other.access_token)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_401() {
    let app = spawn_app().await;
    let good = app.verified_resident("sian@example.org").await;
    let payload: Value = {
        use base64::Engine;
        let part = good.access_token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    let secret = app
        .settings
        .auth
        .jwt_secret
        .expose_secret()
        .as_bytes()
        .to_vec();
    let sign = |claims: &Value, key: &[u8]| {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();

    let mut expired = payload.clone();
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let mut wrong_audience = payload.clone();
    wrong_audience["aud"] = json!("some-other-api");
    let mut wrong_issuer = payload.clone();
    wrong_issuer["iss"] = json!("https://evil.example");
    let mut escalated = payload.clone();
    escalated["roles"] = json!(["admin"]);
    let tampered = {
        use base64::Engine;
        let mut parts: Vec<String> = good.access_token.split('.').map(str::to_owned).collect();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(escalated.to_string());
        parts.join(".")
    };
    let alg_none = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            engine.encode(r#"{"alg":"none","typ":"JWT"}"#),
            engine.encode(payload.to_string())
        )
    };

    let cases = [
        ("expired", sign(&expired, &secret)),
        ("wrong audience", sign(&wrong_audience, &secret)),
        ("wrong issuer", sign(&wrong_issuer, &secret)),
        (
            "wrong key",
            sign(&payload, b"some-other-key-of-enough-length!!"),
        ),
        ("tampered", tampered),
        ("alg none", alg_none),
        ("not a jwt", "abc".into()),
    ];
    for (what, token) in cases {
        let response = app.get_authed("/api/v1/me", &token).await;
        assert_eq!(response.status(), 401, "{what}");
        assert_problem(response, 401, "unauthorized").await;
    }
    let no_token = app.get("/api/v1/me").await;
    assert_eq!(no_token.headers()["www-authenticate"], "Bearer");
    assert_problem(no_token, 401, "unauthorized").await;
    assert_eq!(
        app.get_authed("/api/v1/me", &good.access_token)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn roles_are_enforced_on_admin_paths() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let admin = app.staff("admin@norfolk.gov.uk", Role::Admin).await;
    let new_staff =
        json!({"name": "New Officer", "email": "new.officer@norfolk.gov.uk", "role": "staff"});
    let create = |token: String| {
        app.client
            .post(app.url("/api/v1/admin/staff"))
            .bearer_auth(token)
            .json(&new_staff)
            .send()
    };
    assert_problem(
        create(resident.access_token.clone()).await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        create(staff.access_token.clone()).await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let created = create(admin.access_token.clone()).await.unwrap();
    assert_eq!(created.status(), 201);
    assert_problem(
        create(admin.access_token.clone()).await.unwrap(),
        409,
        "conflict",
    )
    .await;

    // The new colleague chooses a password from the emailed link, then signs in as staff.
    let welcome = app
        .wait_for_email("new.officer@norfolk.gov.uk", "staff account", 1)
        .await;
    let set = app
        .post_json(
            "/api/v1/password-resets/confirm",
            &json!({"token": welcome.token(), "new_password": "officer passphrase 1"}),
        )
        .await;
    assert_eq!(set.status(), 200);
    let tokens = app
        .sign_in_ok("new.officer@norfolk.gov.uk", "officer passphrase 1")
        .await;
    let me: Value = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["roles"], json!(["staff"]));

    let as_resident = app
        .post_authed(
            "/api/v1/admin/staff",
            &admin.access_token,
            &json!({"name": "X Y", "email": "x@norfolk.gov.uk", "role": "resident"}),
        )
        .await;
    assert_problem(as_resident, 422, "validation-failed").await;
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_client() {
    let app = spawn_app_with(|s| s.limits.sign_in_per_minute = 3).await;
    for _ in 0..3 {
        assert_eq!(
            app.sign_in("nobody@example.org", PASSWORD).await.status(),
            401
        );
    }
    let limited = app.sign_in("nobody@example.org", PASSWORD).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_problem(limited, 429, "rate-limited").await;
}

#[tokio::test]
async fn sign_up_and_reset_are_rate_limited_per_client() {
    let app = spawn_app_with(|s| {
        s.limits.sign_up_per_minute = 1;
        s.limits.password_reset_per_minute = 1;
    })
    .await;
    assert_eq!(
        app.sign_up("A Person", "a@example.org", PASSWORD)
            .await
            .status(),
        202
    );
    assert_problem(
        app.sign_up("B Person", "b@example.org", PASSWORD).await,
        429,
        "rate-limited",
    )
    .await;
    let body = json!({"email": "a@example.org"});
    assert_eq!(
        app.post_json("/api/v1/password-resets", &body)
            .await
            .status(),
        202
    );
    assert_problem(
        app.post_json("/api/v1/password-resets", &body).await,
        429,
        "rate-limited",
    )
    .await;
    assert_eq!(app.count("accounts").await, 1);
}

/// A client cannot buy itself fresh limits by naming other addresses in `Forwarded` or
/// `X-Forwarded-For`; only behind a proxy (`server.trust_forwarded_for`) are those believed.
#[tokio::test]
async fn forwarded_headers_count_only_behind_a_trusted_proxy() {
    for trusted in [false, true] {
        let app = spawn_app_with(|s| {
            s.limits.password_reset_per_minute = 1;
            s.server.trust_forwarded_for = trusted;
        })
        .await;
        let mut statuses = Vec::new();
        for n in 1..=3 {
            let response = app
                .client
                .post(app.url("/api/v1/password-resets"))
                .header("Forwarded", format!("for=203.0.113.{n}"))
                .header("X-Forwarded-For", format!("203.0.113.{n}"))
                .json(&json!({"email": "someone@example.org"}))
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        let expected = match trusted {
            true => [202, 202, 202],
            false => [202, 429, 429],
        };
        assert_eq!(statuses, expected, "trust_forwarded_for = {trusted}");
    }
}

#[tokio::test]
async fn repeated_failures_back_off_for_that_address_even_with_the_right_password() {
    let app = spawn_app_with(|s| s.limits.failed_sign_ins_before_backoff = 2).await;
    app.verified_resident("sian@example.org").await;
    for _ in 0..3 {
        assert_eq!(
            app.sign_in("sian@example.org", "wrong wrong wrong")
                .await
                .status(),
            401
        );
    }
    let locked = app.sign_in("sian@example.org", PASSWORD).await;
    assert!(locked.headers().contains_key("retry-after"));
    assert_problem(locked, 429, "rate-limited").await;
    // Another address is unaffected, and unknown addresses back off the same way (no enumeration).
    app.verified_resident("other@example.org").await;
    for _ in 0..3 {
        app.sign_in("nobody@example.org", "wrong wrong wrong").await;
    }
    assert_problem(
        app.sign_in("nobody@example.org", PASSWORD).await,
        429,
        "rate-limited",
    )
    .await;
}

#[tokio::test]
async fn a_right_password_clears_the_address_failures_whether_or_not_it_is_verified() {
    let app = spawn_app_with(|s| s.limits.failed_sign_ins_before_backoff = 2).await;
    app.verified_resident("sian@example.org").await;
    app.sign_up("Rhys Evans", "rhys@example.org", PASSWORD)
        .await;
    for (email, right) in [("sian@example.org", 200), ("rhys@example.org", 403)] {
        // Each attempt counts before its password is checked: the third would lock the next one
        // out, unless the right password clears the count.
        for round in 0..2 {
            for _ in 0..2 {
                let wrong = app.sign_in(email, "wrong wrong wrong").await;
                assert_eq!(wrong.status(), 401, "{email}, round {round}");
            }
            let status = app.sign_in(email, PASSWORD).await.status();
            assert_eq!(status, right, "{email}, round {round}");
        }
    }
}

/// The session's one statement failing (here waiting for the account lock, held by another
/// connection, until the statement timeout) fails that sign-in cleanly and writes nothing; the
/// pooled connections it ran on serve the next sign-ins.
#[tokio::test]
async fn a_sign_in_whose_session_statements_fail_leaves_its_connections_fit_for_use() {
    use diesel_async::SimpleAsyncConnection;
    let app = spawn_app_with(|s| {
        s.database.statement_timeout_ms = 300;
        s.database.pool_max_size = 2;
        s.limits.failed_sign_ins_before_backoff = 100;
    })
    .await;
    let resident = app.verified_resident("sian@example.org").await;
    let account = app.claims(&resident.access_token).sub;
    let sessions_before = app.count("sessions").await;
    let lock = format!("hashtextextended('{account}', 0)");
    let four_sign_ins = || {
        futures_util::future::join_all((0..4).map(|_| app.sign_in("sian@example.org", PASSWORD)))
    };
    let mut holder = app.db().await;
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({lock})"))
        .await
        .unwrap();
    for response in four_sign_ins().await {
        // A statement timeout is a 500 for now: diesel gives no SQLSTATE to tell it apart.
        assert_problem(response, 500, "internal-error").await;
    }
    assert_eq!(
        app.count("sessions").await,
        sessions_before,
        "nothing half-written"
    );
    holder
        .batch_execute(&format!("SELECT pg_advisory_unlock({lock})"))
        .await
        .unwrap();
    for response in four_sign_ins().await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.count("sessions").await, sessions_before + 4);
}

/// The session is audited with the rest of its statement: who opened which session, on which
/// request.
#[tokio::test]
async fn a_sign_in_is_audited_as_its_resident_opening_that_session() {
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    use mynorfolk::schema::audit_events;

    let app = spawn_app().await;
    app.verified_resident("sian@example.org").await;
    let response = app.sign_in("sian@example.org", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let request_id = header(&response, "x-request-id");
    let tokens: crate::helpers::Tokens = response.json().await.unwrap();
    let claims = app.claims(&tokens.access_token);
    type Audited = (
        Option<uuid::Uuid>,
        String,
        String,
        Option<uuid::Uuid>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Audited> = audit_events::table
        .filter(audit_events::action.eq("session.created"))
        .filter(audit_events::target_id.eq(claims.sid))
        .select((
            audit_events::actor_id,
            audit_events::actor_role,
            audit_events::target_type,
            audit_events::subject_id,
            audit_events::reason,
            audit_events::request_id,
        ))
        .load(&mut app.db().await)
        .await
        .unwrap();
    assert_eq!(
        rows,
        [(
            Some(claims.sub),
            "resident".to_owned(),
            "session".to_owned(),
            Some(claims.sub),
            None,
            Some(request_id),
        )]
    );
}

/// A reset or an erasure that commits while a sign-in's statement waits for the account row opens
/// no session: the statement's snapshot is older, and the row is checked again as committed
/// (PostgreSQL's read-committed re-check), whichever of its columns changed.
#[tokio::test]
async fn a_sign_in_waiting_on_a_reset_or_an_erasure_opens_no_session() {
    use diesel_async::SimpleAsyncConnection;
    for change in ["password_hash = password_hash || 'x'", "erased_at = now()"] {
        let app = spawn_app().await;
        let resident = app.verified_resident("sian@example.org").await;
        let account = app.claims(&resident.access_token).sub;
        let sessions_before = app.count("sessions").await;
        let mut holder = app.db().await;
        holder
            .batch_execute(&format!(
                "BEGIN; UPDATE accounts SET {change} WHERE id = '{account}'"
            ))
            .await
            .unwrap();
        let committed_once_the_sign_in_waits = async {
            let waiting = "pg_stat_activity WHERE wait_event_type = 'Lock' \
                           AND datname = current_database()";
            // Bounded, so that a sign-in that does not wait fails the assertions below instead.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while app.count(waiting).await == 0 {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            holder.batch_execute("COMMIT").await.unwrap();
        };
        let (response, ()) = tokio::join!(
            app.sign_in("sian@example.org", PASSWORD),
            committed_once_the_sign_in_waits
        );
        assert_problem(response, 401, "unauthorized").await;
        assert_eq!(app.count("sessions").await, sessions_before, "{change}");
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn throttled_operations_tell_the_client_its_budget() {
    let app = spawn_app_with(|s| s.limits.sign_in_per_minute = 3).await;
    for remaining in [2, 1, 0] {
        let response = app.sign_in("nobody@example.org", PASSWORD).await;
        assert_eq!(
            header(&response, "ratelimit-policy"),
            "\"sign-in\";q=3;w=60"
        );
        let used = 3 - remaining;
        assert_eq!(
            header(&response, "ratelimit"),
            format!("\"sign-in\";r={remaining};t={}", used * 20)
        );
    }
    let limited = app.sign_in("nobody@example.org", PASSWORD).await;
    assert!(header(&limited, "ratelimit").starts_with("\"sign-in\";r=0;"));
    // One request is replenished every 20 s; the first was a moment ago.
    assert_eq!(header(&limited, "retry-after"), "20");
    assert_problem(limited, 429, "rate-limited").await;

    // Every answer of a throttled operation carries the fields, a refused body too; others none.
    let bad_body = app.post_json("/api/v1/accounts", &json!({"name": 1})).await;
    assert_eq!(bad_body.status(), 422);
    assert_eq!(
        header(&bad_body, "ratelimit-policy"),
        "\"sign-up\";q=10000;w=60"
    );
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert!(!health.headers().contains_key("ratelimit"));
}

#[tokio::test]
async fn a_polite_client_is_never_refused_twice_in_a_row() {
    // 28 a minute: one request every 2.14 s once the burst is spent.
    let app = spawn_app_with(|s| s.limits.sign_up_per_minute = 28).await;
    let mut refusals = 0;
    for n in 0..30 {
        let email = format!("polite{n}@example.org");
        let mut refused_last_time = false;
        loop {
            let response = app.sign_up("Polite Person", &email, PASSWORD).await;
            if response.status() == 202 {
                break;
            }
            assert_eq!(response.status(), 429);
            assert!(!refused_last_time, "sign-up {n} refused twice in a row");
            refused_last_time = true;
            refusals += 1;
            let wait: u64 = header(&response, "retry-after").parse().unwrap();
            assert!(wait <= 3, "{wait}");
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        }
    }
    assert!(
        refusals >= 1,
        "the burst of 28 is spent, then the client waits"
    );
    assert_eq!(app.count("accounts").await, 30);
}

#[tokio::test]
async fn using_a_reset_link_counts_against_the_reset_limit() {
    let app = spawn_app_with(|s| s.limits.password_reset_per_minute = 1).await;
    let body = json!({"token": "not-a-real-token", "new_password": "a brand new passphrase"});
    let first = app
        .post_json("/api/v1/password-resets/confirm", &body)
        .await;
    assert_problem(first, 404, "link-invalid").await;
    assert_problem(
        app.post_json("/api/v1/password-resets/confirm", &body)
            .await,
        429,
        "rate-limited",
    )
    .await;
}

/// The role is the account's as stored, read in the per-request session check: a token minted
/// with the signing key and an `admin` claim for a resident's own session gets nothing, and a
/// member of staff whose role is taken away loses the staff area at once.
#[tokio::test]
async fn the_role_comes_from_the_database_not_the_token() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let claims = app.claims(&resident.access_token);
    let forged = app.minted_token(claims.sub, claims.sid, Role::Admin);
    assert_problem(
        app.get_authed("/api/v1/admin/applications", &forged).await,
        403,
        "forbidden",
    )
    .await;
    let me = app.get_json("/api/v1/me", &forged).await;
    assert_eq!(me["roles"], json!(["resident"]));

    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let queue = app
        .get_authed("/api/v1/admin/applications", &staff.access_token)
        .await;
    assert_eq!(queue.status(), 200);
    use diesel_async::SimpleAsyncConnection;
    app.db()
        .await
        .batch_execute(
            "UPDATE accounts SET role = 'resident' WHERE email = 'officer@norfolk.gov.uk'",
        )
        .await
        .unwrap();
    assert_problem(
        app.get_authed("/api/v1/admin/applications", &staff.access_token)
            .await,
        403,
        "forbidden",
    )
    .await;
}

/// Requests that arrive together share one session-check statement: each still gets the answer
/// for its own token. In every round, parallel requests from two live residents, a signed-out one
/// and a well-signed token pairing one resident's session with another's account are mixed; only
/// the live residents are served, each with their own list and profile.
#[tokio::test]
async fn requests_checked_together_each_get_their_own_answer() {
    let app = spawn_app().await;
    let sian = app.verified_resident("sian@example.org").await;
    let bea = app.verified_resident("bea@example.org").await;
    let gone = app.verified_resident("gone@example.org").await;
    app.submit_example(&sian.access_token, "skip-permit").await;
    for _ in 0..2 {
        app.submit_example(&bea.access_token, "skip-permit").await;
    }
    let out = app
        .delete_authed("/api/v1/sessions/current", &gone.access_token)
        .await;
    assert_eq!(out.status(), 204);
    let crossed = app.minted_token(
        app.claims(&bea.access_token).sub,
        app.claims(&sian.access_token).sid,
        Role::Resident,
    );
    // (token, path, what a live caller sees: the list's length or the profile's email)
    let cases = [
        (
            sian.access_token.as_str(),
            "/api/v1/applications",
            Some(json!(1)),
        ),
        (
            bea.access_token.as_str(),
            "/api/v1/applications",
            Some(json!(2)),
        ),
        (gone.access_token.as_str(), "/api/v1/applications", None),
        (crossed.as_str(), "/api/v1/applications", None),
        (
            sian.access_token.as_str(),
            "/api/v1/me",
            Some(json!("sian@example.org")),
        ),
        (
            bea.access_token.as_str(),
            "/api/v1/me",
            Some(json!("bea@example.org")),
        ),
        (gone.access_token.as_str(), "/api/v1/me", None),
        (crossed.as_str(), "/api/v1/me", None),
    ];
    let unauthorized = format!("{}unauthorized", mynorfolk::http::error::PROBLEM_TYPE_BASE);
    let app = &app;
    for _ in 0..5 {
        let requests = cases
            .iter()
            .cycle()
            .take(64)
            .map(|(token, path, seen)| async move {
                let response = app.get_authed(path, token).await;
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body, path, seen)
            });
        for (status, body, path, seen) in futures_util::future::join_all(requests).await {
            match seen {
                Some(seen) if *path == "/api/v1/me" => {
                    assert_eq!((status, &body["email"]), (200, seen), "{body}")
                }
                Some(seen) => assert_eq!(
                    (status, json!(body["items"].as_array().map(Vec::len))),
                    (200, seen.clone()),
                    "{body}"
                ),
                None => assert_eq!(
                    (status, &body["type"]),
                    (401, &json!(unauthorized)),
                    "{body}"
                ),
            }
        }
    }
}

/// Given `auth.hash_cgroup`, the service puts its hashing threads there at start, one id per
/// write (here a directory with a `tasks` file, as a cgroup v1 directory has), and signs in as ever.
#[tokio::test]
async fn hashing_threads_join_the_configured_cgroup() {
    let cgroup = tempfile::tempdir().unwrap();
    let tasks = cgroup.path().join("tasks");
    std::fs::write(&tasks, "").unwrap();
    let app = spawn_app_with(|s| {
        s.auth.hash_max_concurrent = 2;
        s.auth.hash_cgroup = Some(cgroup.path().to_owned());
    })
    .await;
    let written = std::fs::read_to_string(&tasks).unwrap();
    let ids: Vec<&str> = written.lines().collect();
    assert_eq!(ids.len(), 2, "{written:?}");
    for id in ids {
        let name = std::fs::read_to_string(format!("/proc/self/task/{id}/comm")).unwrap();
        assert!(name.starts_with("argon2-"), "{id} is {name:?}");
    }
    let tokens = app.verified_resident("sian@example.org").await;
    let me = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["email"], "sian@example.org");
}

/// A sign-in whose password check started before a reset and finished after it opens nothing:
/// in every round of parallel sign-ins racing a reset, each token obtained with the old password
/// is refused once the reset has answered.
#[tokio::test]
async fn sign_ins_racing_a_reset_leave_no_session_for_the_old_password() {
    let app = &spawn_app_with(|s| {
        s.auth.hash_cost.memory_kib = 4096;
        s.auth.hash_cost.iterations = 20;
        s.auth.hash_max_concurrent = 4;
    })
    .await;
    app.verified_resident("sian@example.org").await;
    let mut password = PASSWORD.to_owned();
    let mut spent = std::collections::HashSet::new();
    for round in 0..5 {
        app.post_json(
            "/api/v1/password-resets",
            &json!({"email": "sian@example.org"}),
        )
        .await;
        app.wait_for_email("sian@example.org", "Reset your", round + 1)
            .await;
        let link = app
            .emails_to("sian@example.org", "Reset your")
            .into_iter()
            .find(|e| !spent.contains(&e.token()))
            .unwrap();
        spent.insert(link.token());
        let next = format!("round {round} new passphrase");
        let sign_ins = (0..6).map(|_| {
            let password = password.clone();
            async move { app.sign_in("sian@example.org", &password).await }
        });
        let body = json!({"token": link.token(), "new_password": next});
        let reset = app.post_json("/api/v1/password-resets/confirm", &body);
        let (responses, reset) = tokio::join!(futures_util::future::join_all(sign_ins), reset);
        assert_eq!(reset.status(), 200);
        for response in responses {
            if response.status() == 200 {
                let tokens: crate::helpers::Tokens = response.json().await.unwrap();
                let me = app.get_authed("/api/v1/me", &tokens.access_token).await;
                assert_eq!(
                    me.status(),
                    401,
                    "round {round}: a session for the old password outlived the reset"
                );
            }
        }
        password = next;
    }
}

/// After the hashing parameters change, a sign-in rehashes the password it checked. Parallel
/// sign-ins with the right password all open a session: one whose rehash finds the hash already
/// rehashed by another checks the password against that hash instead of answering 401. Repeated,
/// from the old hash each time.
#[tokio::test]
async fn parallel_sign_ins_while_the_password_is_rehashed_all_open_a_session() {
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    use mynorfolk::schema::accounts;

    let app = &spawn_app_with(|s| s.auth.hash_max_concurrent = 4).await;
    app.verified_resident("sian@example.org").await;
    let current = app.settings.auth.hash_cost;
    let older = mynorfolk::configuration::HashCost {
        memory_kib: current.memory_kib * 2,
        ..current
    };
    let old_hash = mynorfolk::auth::password::PasswordHasher::new(older, 1)
        .unwrap()
        .hash(PASSWORD)
        .await
        .unwrap();
    for round in 0..5 {
        app.sql(&format!(
            "UPDATE accounts SET password_hash = '{old_hash}' \
             WHERE email_normalized = 'sian@example.org'"
        ))
        .await;
        let sign_ins = (0..6).map(|_| async { app.sign_in("sian@example.org", PASSWORD).await });
        let statuses: Vec<_> = futures_util::future::join_all(sign_ins)
            .await
            .iter()
            .map(|response| response.status().as_u16())
            .collect();
        assert_eq!(statuses, [200; 6], "round {round}");
        let rehashed: Option<String> = accounts::table
            .filter(accounts::email_normalized.eq("sian@example.org"))
            .select(accounts::password_hash)
            .first(&mut app.db().await)
            .await
            .unwrap();
        let rehashed = rehashed.unwrap();
        assert!(
            rehashed.contains(&format!("m={},", current.memory_kib)),
            "round {round}: not rehashed with the current parameters: {rehashed}"
        );
    }
}

/// Parallel wrong guesses all count: each is counted before its (slow) password check, so of 12
/// sent at once only the free ones and the one that locks are checked; the rest are 429. Repeated
/// on fresh addresses.
#[tokio::test]
async fn parallel_wrong_guesses_cannot_outrun_the_back_off() {
    let app = &spawn_app_with(|s| {
        s.limits.failed_sign_ins_before_backoff = 5;
        s.auth.hash_max_concurrent = 4;
    })
    .await;
    for round in 0..3 {
        let email = format!("target{round}@example.org");
        app.verified_resident(&email).await;
        let guesses = (0..12).map(|n| {
            let email = email.clone();
            async move {
                app.sign_in(&email, &format!("wrong guess number {n}"))
                    .await
            }
        });
        let statuses: Vec<u16> = futures_util::future::join_all(guesses)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        let checked = statuses.iter().filter(|s| **s == 401).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((checked, refused), (6, 6), "round {round}: {statuses:?}");
        assert_problem(app.sign_in(&email, PASSWORD).await, 429, "rate-limited").await;
    }
}
