//! Erasure raced by the person's own requests and by staff working their case: whatever commits
//! around it, nothing the person wrote (or staff wrote about them) survives in a `pg_dump`, and
//! nothing can be written for the account afterwards. Real parallel requests, several rounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mynorfolk::domain::account::Role;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::{PASSWORD, TestApp, Tokens, spawn_app_with};

/// Every piece of text written for the person carries this word, so one search of the dump finds
/// whatever survived.
const MARK: &str = "Quokkaton";
const WRITERS: usize = 20;
/// Writes that must have succeeded before the erasure is decided, so it lands mid-stream.
const WRITES_BEFORE_ERASURE: usize = 30;

struct Round {
    app: Arc<TestApp>,
    resident: Tokens,
    officer: Tokens,
    email: String,
    erased: AtomicBool,
    writes: AtomicUsize,
    enough_written: Notify,
    /// Applications and data requests prepared for the staff writers, one each.
    cases: Vec<String>,
    requests: Vec<String>,
}

#[tokio::test]
async fn erasure_raced_by_twenty_writers_leaves_nothing_of_the_person() {
    let app = Arc::new(
        spawn_app_with(|s| {
            // Every writer gets a connection: the race is about locks, not about the pool.
            s.database.pool_max_size = 32;
        })
        .await,
    );
    let officer = app.staff("caseworker@norfolk.gov.uk", Role::Staff).await;
    for number in 0..3 {
        let email = format!("quokka.{number}@example.org");
        let resident = app.verified_resident(&email).await;
        rename(&app, &resident, &format!("{MARK} Resident")).await;
        let mut cases = Vec::new();
        let mut requests = Vec::new();
        for writer in 0..WRITERS {
            cases.push(submit(&app, &resident, &format!("{MARK} case {writer}")).await);
            let details = format!("{MARK} request {writer}");
            let opened = app
                .open_data_request(&resident.access_token, "rectification", Some(&details))
                .await;
            requests.push(opened["id"].as_str().unwrap().to_owned());
        }
        let erasure = app
            .open_data_request(&resident.access_token, "erasure", None)
            .await;
        let erasure = erasure["id"].as_str().unwrap().to_owned();
        let round = Arc::new(Round {
            app: app.clone(),
            resident,
            officer: officer.clone(),
            email: email.clone(),
            erased: AtomicBool::new(false),
            writes: AtomicUsize::new(0),
            enough_written: Notify::new(),
            cases,
            requests,
        });

        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| tokio::spawn(write_until_erased(round.clone(), writer)))
            .collect();
        round.enough_written.notified().await;
        let decided = app
            .post_authed(
                &format!("/api/v1/admin/data-requests/{erasure}/decisions"),
                &officer.access_token,
                &json!({"decision": "complete"}),
            )
            .await;
        assert_eq!(decided.status(), 200, "round {number}");
        round.erased.store(true, Ordering::SeqCst);
        for writer in writers {
            writer.await.expect("a writer panicked");
        }

        wait_for_queues_to_forget(&app, &email).await;
        let dump = app.pg_dump().to_lowercase();
        for needle in [MARK, &email] {
            let needle = needle.to_lowercase();
            let mut table = "";
            let mut hits = Vec::new();
            for line in dump.lines() {
                if line.starts_with("copy ") {
                    table = line;
                } else if line.contains(&needle) {
                    hits.push(format!("{table}: {line}"));
                }
            }
            assert!(
                hits.is_empty(),
                "round {number}: {needle:?} is still in the dump:\n{}",
                hits.join("\n")
            );
        }
    }
}

/// One writer: the person's own requests (submit, idempotent submit, rename, data requests, email
/// change, sign-in, password reset) or staff working the case (notes on transitions, refusals), until the erasure
/// has been decided; then each of the person's writers tries once more, and must be refused.
async fn write_until_erased(round: Arc<Round>, writer: usize) {
    let mut attempt = 0;
    loop {
        let erased = round.erased.load(Ordering::SeqCst);
        let staff_writer = writer % 10 >= 8;
        if erased && staff_writer {
            return;
        }
        let status = write_once(&round, writer, attempt).await;
        assert!(
            status < 500,
            "writer {writer}, attempt {attempt}: answered {status}"
        );
        if erased {
            // The person's sessions are gone and nothing may be written for them any more.
            assert!(
                !(200..300).contains(&status) || writer % 10 == 6,
                "writer {writer} wrote after the erasure ({status})"
            );
            return;
        }
        if (200..300).contains(&status)
            && round.writes.fetch_add(1, Ordering::SeqCst) + 1 == WRITES_BEFORE_ERASURE
        {
            round.enough_written.notify_one();
        }
        attempt += 1;
    }
}

async fn write_once(round: &Round, writer: usize, attempt: usize) -> u16 {
    let app = &round.app;
    let token = &round.resident.access_token;
    let text = format!("{MARK} w{writer} a{attempt}");
    let response = match writer % 10 {
        0 | 1 => {
            let mut details = app.details_example("skip-permit").await;
            details["site"]["line1"] = json!(text);
            app.post_authed(
                "/api/v1/applications",
                token,
                &json!({"service": "skip-permit", "details": details}),
            )
            .await
        }
        2 => {
            app.patch_authed("/api/v1/me", token, &json!({"name": text}))
                .await
        }
        3 => {
            app.post_authed(
                "/api/v1/me/data-requests",
                token,
                &json!({"type": "rectification", "details": text}),
            )
            .await
        }
        4 => {
            let new_email = format!("{MARK}.w{writer}.a{attempt}@example.org");
            app.post_authed(
                "/api/v1/me/email",
                token,
                &json!({"new_email": new_email, "password": PASSWORD}),
            )
            .await
        }
        5 => app
            .client
            .post(app.url("/api/v1/sessions"))
            .header("User-Agent", format!("{text} browser"))
            .json(&json!({"email": round.email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        // Anonymous requests naming the address: refused or not, they answer alike.
        6 => {
            app.post_json("/api/v1/password-resets", &json!({"email": round.email}))
                .await
        }
        7 => {
            // An idempotent submission: the key is the person's text too.
            let mut details = app.details_example("skip-permit").await;
            details["site"]["line1"] = json!(text);
            app.client
                .post(app.url("/api/v1/applications"))
                .bearer_auth(token)
                .header("Idempotency-Key", text.replace(' ', "-"))
                .json(&json!({"service": "skip-permit", "details": details}))
                .send()
                .await
                .unwrap()
        }
        8 => {
            // Staff move the case round submitted → under review → more information → submitted.
            let case = &round.cases[writer];
            let to = ["under_review", "more_information_required", "submitted"][attempt % 3];
            app.post_authed(
                &format!("/api/v1/admin/applications/{case}/transitions"),
                &round.officer.access_token,
                &json!({"to": to, "public_note": text, "internal_note": text}),
            )
            .await
        }
        _ => {
            // Staff refuse the person's rectification requests, giving reasons.
            let request = &round.requests[(attempt * 2 + writer / 10) % WRITERS];
            app.post_authed(
                &format!("/api/v1/admin/data-requests/{request}/decisions"),
                &round.officer.access_token,
                &json!({"decision": "refuse", "reason": text}),
            )
            .await
        }
    };
    response.status().as_u16()
}

async fn rename(app: &TestApp, who: &Tokens, name: &str) {
    let response = app
        .patch_authed("/api/v1/me", &who.access_token, &json!({"name": name}))
        .await;
    assert_eq!(response.status(), 200);
}

async fn submit(app: &TestApp, who: &Tokens, site: &str) -> String {
    let mut details = app.details_example("skip-permit").await;
    details["site"]["line1"] = json!(site);
    let response = app
        .post_authed(
            "/api/v1/applications",
            &who.access_token,
            &json!({"service": "skip-permit", "details": details}),
        )
        .await;
    assert_eq!(response.status(), 201);
    id_of(response).await
}

async fn id_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Queues hold the address for seconds: the farewell email's row until it is sent, a reset request
/// (anyone may ask, before or after the erasure) until the worker finds no account for it.
async fn wait_for_queues_to_forget(app: &TestApp, email: &str) {
    for _ in 0..200 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = app.db().await;
        let left: Count = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(
                "SELECT (SELECT count(*) FROM email_outbox WHERE lower(to_address) = lower($1)) \
                 + (SELECT count(*) FROM password_reset_requests WHERE email_normalized = lower($1)) AS n",
            )
            .bind::<diesel::sql_types::Text, _>(email),
            &mut conn,
        )
        .await
        .unwrap();
        if left.n == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the queues still hold {email}");
}
