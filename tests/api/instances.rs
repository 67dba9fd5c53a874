//! Several instances over one database, the production shape: limits and sessions hold across
//! them, background work happens once, and neither a rolling restart nor a crash loses or
//! half-writes anything.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use mynorfolk::domain::account::Role;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, SmtpSink, TestApp, assert_problem, spawn_app, spawn_app_with};

/// `count` requests at once, alternating between `addresses`; returns their statuses.
async fn sign_ins_across(
    app: &TestApp,
    addresses: &[String],
    count: usize,
    email: &str,
    password: &str,
    client_ip: &str,
) -> Vec<u16> {
    let requests = (0..count).map(|n| {
        app.client
            .post(format!(
                "{}/api/v1/sessions",
                addresses[n % addresses.len()]
            ))
            .header("x-forwarded-for", client_ip)
            .json(&json!({"email": email, "password": password}))
            .send()
    });
    join_all(requests)
        .await
        .into_iter()
        .map(|response| response.expect("answered").status().as_u16())
        .collect()
}

fn tally(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn a_rate_limit_is_one_limit_across_instances_even_under_parallel_requests() {
    let app = spawn_app_with(|s| {
        s.limits.sign_in_per_minute = 5;
        s.server.trust_forwarded_for = true;
    })
    .await;
    let other = app.start_another_instance(|_| {}).await;
    let both = [app.address.clone(), other];
    // A fresh client (and address, so the back-off stays out of it) each round.
    for round in 0..5 {
        let statuses = sign_ins_across(
            &app,
            &both,
            20,
            &format!("nobody{round}@example.org"),
            PASSWORD,
            &format!("198.51.100.{round}"),
        )
        .await;
        assert_eq!(tally(&statuses, 401), 5, "round {round}: {statuses:?}");
        assert_eq!(tally(&statuses, 429), 15, "round {round}: {statuses:?}");
    }
}

#[tokio::test]
async fn failed_sign_ins_through_one_instance_lock_the_address_on_the_other() {
    let app = spawn_app_with(|s| s.limits.failed_sign_ins_before_backoff = 3).await;
    let other = app.start_another_instance(|_| {}).await;
    let both = [app.address.clone(), other.clone()];
    app.verified_resident("guessed@example.org").await;
    for round in 0..3 {
        let statuses = sign_ins_across(
            &app,
            &both,
            20,
            "guessed@example.org",
            "not the password",
            "127.0.0.1",
        )
        .await;
        if round == 0 {
            // Three free failures and the one that locks are checked; the rest wait.
            assert_eq!(tally(&statuses, 401), 4, "{statuses:?}");
            assert_eq!(tally(&statuses, 429), 16, "{statuses:?}");
        } else {
            assert_eq!(tally(&statuses, 429), 20, "still locked: {statuses:?}");
        }
    }
    // Even the right password waits, on either instance.
    let right = app
        .client
        .post(format!("{other}/api/v1/sessions"))
        .json(&json!({"email": "guessed@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_problem(right, 429, "rate-limited").await;
}

#[tokio::test]
async fn a_session_signed_out_on_one_instance_is_refused_on_the_other_at_once() {
    let app = spawn_app_with(|_| {}).await;
    let other = app.start_another_instance(|_| {}).await;
    for n in 0..5 {
        let tokens = app
            .verified_resident(&format!("resident{n}@example.org"))
            .await;
        let me = app
            .client
            .get(format!("{other}/api/v1/me"))
            .bearer_auth(&tokens.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        let signed_out = app
            .delete_authed("/api/v1/sessions/current", &tokens.access_token)
            .await;
        assert_eq!(signed_out.status(), 204);
        let refused = app
            .client
            .get(format!("{other}/api/v1/me"))
            .bearer_auth(&tokens.access_token)
            .send()
            .await
            .unwrap();
        assert_problem(refused, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn emails_queued_through_two_instances_are_each_delivered_once() {
    let sink = SmtpSink::start(0, Duration::ZERO).await;
    let app = spawn_app_with(|s| s.email.smtp_url = Some(sink.url.clone().into())).await;
    let other = app.start_another_instance(|_| {}).await;
    let both = [app.address.clone(), other];

    // 200 sign-ups, 16 at a time, alternating instances: 200 verification emails.
    let sign_ups = futures_util::stream::iter(0..200).map(|n| {
        let url = format!("{}/api/v1/accounts", both[n % 2]);
        let client = app.client.clone();
        async move {
            let body = json!({"name": "Resident", "email": format!("r{n}@example.org"),
                              "password": PASSWORD, "accept_terms": true});
            client.post(url).json(&body).send().await.unwrap().status()
        }
    });
    let statuses: Vec<_> = sign_ups.buffer_unordered(16).collect().await;
    assert!(statuses.iter().all(|s| s.as_u16() == 202), "{statuses:?}");

    // Both workers deliver; wait until the outbox has nothing left to send.
    app.wait_for_count("email_outbox WHERE status <> 'sent'", 0)
        .await;
    assert_eq!(app.count("email_outbox WHERE status = 'sent'").await, 200);
    let messages = sink.messages();
    assert_eq!(messages.len(), 200, "each email once");
    let recipients: HashSet<String> = messages
        .iter()
        .map(|m| header(m, "To").to_owned())
        .collect();
    assert_eq!(recipients.len(), 200, "one to each address");
    // Each Message-ID names its outbox row, so a resend after a crash is the same message.
    let message_ids: HashSet<String> = messages
        .iter()
        .map(|m| header(m, "Message-ID").to_owned())
        .collect();
    let mut conn = app.db().await;
    let rows: Vec<OutboxId> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT id FROM email_outbox"),
        &mut conn,
    )
    .await
    .unwrap();
    let expected: HashSet<String> = rows
        .iter()
        .map(|row| format!("<{}@mynorfolk.norfolk.gov.uk>", row.id))
        .collect();
    assert_eq!(message_ids, expected);
}

#[tokio::test]
async fn an_email_cut_off_by_a_crash_is_resent_with_the_same_message_id() {
    // The first message is received but never acknowledged.
    let sink = SmtpSink::start(1, Duration::ZERO).await;
    // The harness's own instance polls once at start, then not for an hour: the processes send.
    let app = spawn_app_with(|s| s.email.poll_interval_ms = 3_600_000).await;
    let mailer = [("SMTP_URL", sink.url.as_str())];
    let first = app.start_process(&mailer).await;
    let signed_up = app
        .client
        .post(first.url("/api/v1/accounts"))
        .json(&json!({"name": "Resident", "email": "once@example.org",
                      "password": PASSWORD, "accept_terms": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 202);
    sink.wait_for(1).await;
    assert_eq!(
        sink.messages().len(),
        1,
        "the first attempt reached the server"
    );
    // Crashed mid-send: the email stays leased; once the lease runs out another instance sends.
    first.kill();
    drop(first);
    assert_eq!(app.count("email_outbox WHERE status = 'pending'").await, 1);
    app.sql("UPDATE email_outbox SET next_attempt_at = now()")
        .await;
    let _second = app.start_process(&mailer).await;
    app.wait_for_count("email_outbox WHERE status = 'sent'", 1)
        .await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "sent twice: at least once");
    assert_eq!(
        header(&messages[0], "Message-ID"),
        header(&messages[1], "Message-ID"),
        "the receiver can tell the second is the first again"
    );
}

#[tokio::test]
async fn sigterm_hands_back_the_emails_it_had_not_sent_yet() {
    // A slow server: each message takes a second to be acknowledged.
    let sink = SmtpSink::start(0, Duration::from_secs(1)).await;
    // The harness's own instance polls once at start, then not for an hour: the process sends.
    let app = spawn_app_with(|s| s.email.poll_interval_ms = 3_600_000).await;
    for n in 0..3 {
        let body = json!({"name": "Resident", "email": format!("slow{n}@example.org"),
                          "password": PASSWORD, "accept_terms": true});
        assert_eq!(app.post_json("/api/v1/accounts", &body).await.status(), 202);
    }
    let mut instance = app
        .start_process(&[
            ("SMTP_URL", sink.url.as_str()),
            ("APP_EMAIL__POLL_INTERVAL_MS", "50"),
        ])
        .await;
    // It has leased all three and is sending the first.
    sink.wait_for(1).await;
    instance.terminate();
    let status = instance.exited(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    // The one being sent finished and is marked; the two it had not started are due again now,
    // not when the lease runs out in five minutes.
    assert_eq!(app.count("email_outbox WHERE status = 'sent'").await, 1);
    assert_eq!(
        app.count("email_outbox WHERE status = 'pending' AND next_attempt_at <= now()")
            .await,
        2
    );
}

#[derive(diesel::QueryableByName)]
struct OutboxId {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: uuid::Uuid,
}

/// A header's value in a message as the SMTP sink received it.
fn header<'m>(message: &'m str, name: &str) -> &'m str {
    message
        .lines()
        .find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then_some(value.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {message}"))
}

#[tokio::test]
async fn background_work_is_claimed_by_one_instance_per_period() {
    let app = spawn_app_with(|_| {}).await;
    // A job of the test's own: the app's own sweeper is claiming the retention sweep meanwhile.
    app.sql("INSERT INTO background_runs (job) VALUES ('test-job')")
        .await;
    for round in 0..5 {
        // Twenty instances' sweepers asking at the same moment, each on its own connection.
        let claims = join_all((0..20).map(|_| async {
            let mut conn = app.db().await;
            mynorfolk::db::retention::claim_run(&mut conn, "test-job", Duration::from_secs(3600))
                .await
                .unwrap()
        }))
        .await;
        let expected = usize::from(round == 0);
        assert_eq!(
            claims.iter().filter(|c| **c).count(),
            expected,
            "round {round}: one claim per period, and the period has not passed"
        );
    }
    app.sql(
        "UPDATE background_runs SET last_started_at = now() - interval '2 hours' WHERE job = 'test-job'",
    )
    .await;
    let claims = join_all((0..20).map(|_| async {
        let mut conn = app.db().await;
        mynorfolk::db::retention::claim_run(&mut conn, "test-job", Duration::from_secs(3600))
            .await
            .unwrap()
    }))
    .await;
    assert_eq!(claims.iter().filter(|c| **c).count(), 1, "the next period");
}

/// What the rolling-restart client saw.
#[derive(Default)]
struct Counts {
    sent: AtomicUsize,
    answered: AtomicUsize,
    server_errors: AtomicUsize,
    /// Connections refused (an instance that has closed its listener): not accepted, so the
    /// client sends the request to the other instance, as a load balancer would.
    refused: AtomicUsize,
    /// A request accepted and then cut off: a reset, an early close, a timeout.
    resets: AtomicUsize,
}

/// A client that behaves like a load balancer in front of two instances: it sends only to those
/// whose readiness says 200 (probed every 50 ms), and sends a request refused at connect time to
/// the other.
struct Balancer {
    addresses: Mutex<[String; 2]>,
    up: [AtomicBool; 2],
    saw_draining: [AtomicBool; 2],
    stop: AtomicBool,
    counts: Counts,
}

impl Balancer {
    fn address(&self, n: usize) -> String {
        self.addresses.lock().unwrap()[n].clone()
    }

    async fn probe(self: Arc<Self>) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(250))
            .build()
            .unwrap();
        let check = async |n: usize| {
            let ready = client
                .get(format!("{}/health/ready", self.address(n)))
                .send()
                .await;
            let status = ready.map(|r| r.status().as_u16()).unwrap_or(0);
            if status == 503 {
                self.saw_draining[n].store(true, Ordering::Relaxed);
            }
            self.up[n].store(status == 200, Ordering::Relaxed);
        };
        while !self.stop.load(Ordering::Relaxed) {
            tokio::join!(check(0), check(1));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn send(self: Arc<Self>, token: String, submission: serde_json::Value) {
        let client = reqwest::Client::new();
        let mut turn = 0usize;
        while !self.stop.load(Ordering::Relaxed) {
            turn += 1;
            self.counts.sent.fetch_add(1, Ordering::Relaxed);
            let mut target = turn % 2;
            loop {
                if !self.up[target].load(Ordering::Relaxed) {
                    target = 1 - target;
                }
                let base = self.address(target);
                let request = if turn.is_multiple_of(4) {
                    client
                        .post(format!("{base}/api/v1/applications"))
                        .json(&submission)
                } else {
                    client.get(format!("{base}/api/v1/applications?limit=5"))
                };
                match request.bearer_auth(&token).send().await {
                    Ok(response) => {
                        self.counts.answered.fetch_add(1, Ordering::Relaxed);
                        if response.status().is_server_error() {
                            self.counts.server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        // The whole body, or the connection was cut mid-answer.
                        if response.bytes().await.is_err() {
                            self.counts.resets.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                    Err(error) if error.is_connect() => {
                        self.counts.refused.fetch_add(1, Ordering::Relaxed);
                        self.up[target].store(false, Ordering::Relaxed);
                        target = 1 - target;
                    }
                    Err(error) => {
                        eprintln!("cut off: {error:?}");
                        self.counts.resets.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }

    /// Until `more` further requests have been answered.
    async fn progress(&self, more: usize) {
        let target = self.counts.answered.load(Ordering::Relaxed) + more;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.counts.answered.load(Ordering::Relaxed) < target {
            assert!(std::time::Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn until_up(&self, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !self.up[n].load(Ordering::Relaxed) {
            assert!(
                std::time::Instant::now() < deadline,
                "instance {n} never ready"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Several probe intervals, so the balancer has moved away before the listener closes.
const DRAIN: [(&str, &str); 1] = [("APP_SERVER__DRAIN_SECS", "2")];

#[tokio::test]
async fn a_rolling_restart_under_load_answers_every_accepted_request() {
    let app = spawn_app_with(|_| {}).await;
    let token = app.verified_resident("busy@example.org").await.access_token;
    let submission =
        json!({"service": "skip-permit", "details": app.details_example("skip-permit").await});
    let mut instances = [
        app.start_process(&DRAIN).await,
        app.start_process(&DRAIN).await,
    ];
    let balancer = Arc::new(Balancer {
        addresses: Mutex::new([instances[0].address.clone(), instances[1].address.clone()]),
        up: [AtomicBool::new(false), AtomicBool::new(false)],
        saw_draining: [AtomicBool::new(false), AtomicBool::new(false)],
        stop: AtomicBool::new(false),
        counts: Counts::default(),
    });
    let prober = tokio::spawn(balancer.clone().probe());
    balancer.until_up(0).await;
    balancer.until_up(1).await;
    let senders: Vec<_> = (0..8)
        .map(|_| tokio::spawn(balancer.clone().send(token.clone(), submission.clone())))
        .collect();
    balancer.progress(200).await;

    for (n, instance) in instances.iter_mut().enumerate() {
        instance.terminate();
        let status = instance.exited(Duration::from_secs(30)).await;
        assert!(status.success(), "instance {n} exited with {status}");
        assert!(
            balancer.saw_draining[n].load(Ordering::Relaxed),
            "instance {n} said it was not ready while it drained"
        );
        balancer.progress(100).await;
        *instance = app.start_process(&DRAIN).await;
        balancer.addresses.lock().unwrap()[n] = instance.address.clone();
        balancer.until_up(n).await;
        balancer.progress(200).await;
    }

    balancer.stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    prober.await.unwrap();
    let counts = &balancer.counts;
    let [sent, answered, server_errors, refused, resets] = [
        &counts.sent,
        &counts.answered,
        &counts.server_errors,
        &counts.refused,
        &counts.resets,
    ]
    .map(|c| c.load(Ordering::Relaxed));
    println!(
        "rolling restart: {sent} requests sent, {answered} answered, {server_errors} 5xx, \
         {resets} cut off; {refused} connections refused by a stopped instance (sent on to the other)"
    );
    assert_eq!(server_errors, 0);
    assert_eq!(resets, 0);
    assert_eq!(answered, sent, "every request was answered");
}

#[tokio::test]
async fn a_crash_in_the_middle_of_submits_leaves_each_application_whole_or_absent() {
    // Beside the submits, sign-ins (a session and its refresh token) and data requests (the
    // request, its audit row and its receipt) are in flight too.
    let app = spawn_app_with(|_| {}).await;
    let token = app
        .verified_resident("crash@example.org")
        .await
        .access_token;
    let submission =
        json!({"service": "skip-permit", "details": app.details_example("skip-permit").await});
    let mut created = Vec::new();
    // Killed once 1 answer came, once 25 had, and (sign-ins hash at the lowest priority, so they
    // finish last) once 2 sign-ins had succeeded.
    for (kill_after, kill_after_sign_ins) in [(1, 0), (25, 0), (0, 2)] {
        // A killed sign-in was counted as a failure and never cleared: not this test's subject.
        app.sql("DELETE FROM sign_in_backoff").await;
        let instance = app.start_process(&[]).await;
        let answered = Arc::new(AtomicUsize::new(0));
        let signed_in = Arc::new(AtomicUsize::new(0));
        let submits: Vec<_> = (0..70)
            .map(|n| {
                // A client each: 70 connections, 70 requests in flight at once.
                let client = reqwest::Client::new();
                let request = match n % 7 {
                    5 => client
                        .post(instance.url("/api/v1/sessions"))
                        .json(&json!({"email": "crash@example.org", "password": PASSWORD})),
                    6 => client
                        .post(instance.url("/api/v1/me/data-requests"))
                        .bearer_auth(&token)
                        .json(&json!({"type": "access"})),
                    _ => client
                        .post(instance.url("/api/v1/applications"))
                        .bearer_auth(&token)
                        .json(&submission),
                };
                let (answered, signed_in) = (answered.clone(), signed_in.clone());
                tokio::spawn(async move {
                    let response = request.send().await.ok()?;
                    let status = response.status().as_u16();
                    let body: serde_json::Value = response.json().await.ok()?;
                    answered.fetch_add(1, Ordering::Relaxed);
                    if body["refresh_token"].is_string() {
                        signed_in.fetch_add(1, Ordering::Relaxed);
                    }
                    (status == 201 && body["reference"].is_string())
                        .then(|| body["id"].as_str().unwrap().to_owned())
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while answered.load(Ordering::Relaxed) < kill_after
            || signed_in.load(Ordering::Relaxed) < kill_after_sign_ins
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no answers from the instance"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        instance.kill();
        for submit in submits {
            created.extend(submit.await.unwrap());
        }
        drop(instance);
    }
    let applications = app.count("applications").await;
    assert!(applications >= created.len() as i64);
    println!(
        "crash mid-submit: {} answered 201 before the kill, {applications} applications stored",
        created.len()
    );
    // Every stored application is whole: its event and its audit row, and its email below.
    for (what, incomplete) in [
        (
            "an event",
            "applications a WHERE NOT EXISTS (SELECT 1 FROM application_events e WHERE e.application_id = a.id)",
        ),
        (
            "an audit row",
            "applications a WHERE NOT EXISTS (SELECT 1 FROM audit_events e \
             WHERE e.target_id = a.id AND e.action = 'application.submitted')",
        ),
    ] {
        assert_eq!(
            app.count(incomplete).await,
            0,
            "every application has {what}"
        );
    }
    assert_eq!(
        app.count("application_events").await,
        applications,
        "one event each"
    );
    // The emails carry no application id (and a sent one keeps no body): count them instead.
    assert_eq!(
        app.count("email_outbox WHERE template = 'application_received'")
            .await,
        applications,
        "one receipt each"
    );
    // Every session has its refresh token; every data request its audit row and its receipt.
    let sessions_without_token = "sessions s WHERE NOT EXISTS \
        (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id)";
    assert_eq!(app.count(sessions_without_token).await, 0);
    let requests_without_audit = "data_requests d WHERE NOT EXISTS (SELECT 1 FROM audit_events e \
        WHERE e.target_id = d.id AND e.action = 'data_request.received')";
    assert_eq!(app.count(requests_without_audit).await, 0);
    assert_eq!(
        app.count("email_outbox WHERE template = 'data_request_received'")
            .await,
        app.count("data_requests").await
    );
    let (requests, sessions) = (
        app.count("data_requests").await,
        app.count("sessions").await,
    );
    assert!(
        requests > 0 && sessions > 1,
        "{requests} data requests, {sessions} sessions"
    );
    // And every application the client was told about is there.
    for id in &created {
        assert_eq!(
            app.count(&format!("applications WHERE id = '{id}'")).await,
            1
        );
    }
}

/// A resident's list is served from an instance's memory only while nothing has changed: every
/// change made through the other instance (or straight in the database, as the retention sweep
/// does) shows at once, and a signed-out session gets nothing.
#[tokio::test]
async fn a_list_kept_by_one_instance_shows_every_change_made_through_the_other() {
    let app = spawn_app().await;
    let other = app.start_another_instance(|_| {}).await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let token = &resident.access_token;
    let list = async || {
        let page = app.get_json("/api/v1/applications?limit=5", token).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["reference"].clone(),
                    a["status"].clone(),
                    a["payment"]["status"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(list().await.is_empty());
    assert!(list().await.is_empty());
    let first = app.submit_example(token, "skip-permit").await;
    let id = first["id"].as_str().unwrap();
    assert_eq!(list().await.len(), 1);
    assert_eq!(list().await, list().await);

    // Through the other instance: the payment, then staff moving it.
    let on_other = |path: &str| format!("{other}{path}");
    let started: Value = app
        .client
        .post(on_other(&format!("/api/v1/applications/{id}/payments")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.choose_on_pay_page(&started, "pay").await;
    assert_eq!(list().await[0].2, "paid");
    let moved = app
        .client
        .post(on_other(&format!(
            "/api/v1/admin/applications/{id}/transitions"
        )))
        .bearer_auth(&staff.access_token)
        .json(&json!({"to": "under_review"}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    assert_eq!(list().await[0].1, "under_review");
    // A second page of the same list (another query) and a filter are kept apart.
    let second = app.submit_example(token, "vehicle-crossing").await;
    assert_eq!(list().await.len(), 2);
    let filtered = app
        .get_json("/api/v1/applications?status=submitted", token)
        .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["items"][0]["id"], second["id"]);
    // Straight in the database, as the retention sweep anonymises: gone from the list.
    app.sql(&format!(
        "UPDATE applications SET account_id = NULL WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(list().await.len(), 1);

    // Signed out on the other instance: nothing, not even the kept page.
    let signed_out = app
        .client
        .delete(on_other("/api/v1/sessions/current"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
    let after = app.get_authed("/api/v1/applications?limit=5", token).await;
    assert_problem(after, 401, "unauthorized").await;
}
