//! What a test does through the app: HTTP requests with and without a token, the account flows
//! (sign-up, verification, sign-in, staff), and checks on the test's own database.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use super::TestApp;

impl TestApp {
    /// The claims of an access token the service issued.
    pub fn claims(&self, token: &str) -> mynorfolk::auth::jwt::Claims {
        mynorfolk::auth::jwt::JwtKeys::from_settings(&self.settings.auth)
            .verify(token)
            .expect("a token the service issued")
    }

    /// A well-signed access token with the claims a test chooses: what someone able to mint
    /// tokens would send (the service trusts the signature, never the claims alone).
    pub fn minted_token(
        &self,
        account: uuid::Uuid,
        session: uuid::Uuid,
        role: mynorfolk::domain::account::Role,
    ) -> String {
        mynorfolk::auth::jwt::JwtKeys::from_settings(&self.settings.auth)
            .issue(account, session, role, chrono::Utc::now().timestamp())
            .unwrap()
    }

    /// A connection to this test's database, for checks an HTTP client cannot make.
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.db_url).await.unwrap()
    }

    /// Runs SQL on this test's database (to age a token, for example).
    pub async fn sql(&self, sql: &str) {
        self.db().await.batch_execute(sql).await.unwrap();
    }

    /// Number of rows in `table` (of this test's database).
    pub async fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db().await;
        let row: Count = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")),
            &mut conn,
        )
        .await
        .unwrap();
        row.n
    }

    /// Waits (up to a minute) until `count(table)` is `expected`, for work done in the background
    /// (email delivery); fails the test if it never is.
    pub async fn wait_for_count(&self, table: &str, expected: i64) {
        for _ in 0..1200 {
            if self.count(table).await == expected {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(self.count(table).await, expected, "{table}");
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A request with a bearer token and a JSON body.
    async fn send_authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    pub async fn post_authed(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.send_authed(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// A POST without a body (withdraw).
    pub async fn post_authed_empty(&self, path: &str, token: &str) -> reqwest::Response {
        self.send_authed(reqwest::Method::POST, path, token, None)
            .await
    }

    pub async fn put_authed(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.send_authed(reqwest::Method::PUT, path, token, Some(body))
            .await
    }

    pub async fn patch_authed(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.send_authed(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn delete_authed(&self, path: &str, token: &str) -> reqwest::Response {
        self.send_authed(reqwest::Method::DELETE, path, token, None)
            .await
    }

    /// The catalogue's example details for `service`: a valid application body to start from.
    pub async fn details_example(&self, service: &str) -> serde_json::Value {
        let body: serde_json::Value = self
            .get(&format!("/api/v1/services/{service}"))
            .await
            .json()
            .await
            .unwrap();
        body["details_example"].clone()
    }

    /// Everything this test's database holds, as `pg_dump` writes it.
    pub fn pg_dump(&self) -> String {
        let bin = mynorfolk::db::embedded_postgres::find_bin_dir()
            .map(|d| d.join("pg_dump"))
            .ok()
            .filter(|p| p.is_file())
            .unwrap_or_else(|| "pg_dump".into());
        let output = std::process::Command::new(bin)
            .args(["--no-owner", "--dbname", &self.db_url])
            .output()
            .expect("pg_dump");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Submits `service`'s catalogue example as the holder of `token` (201), returning the view.
    pub async fn submit_example(&self, token: &str, service: &str) -> serde_json::Value {
        let details = self.details_example(service).await;
        let body = serde_json::json!({"service": service, "details": details});
        let response = self.post_authed("/api/v1/applications", token, &body).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Pays an application's fee on the simulated provider's page, as the resident's browser
    /// would. Returns the application, paid.
    pub async fn pay_fee(&self, token: &str, application_id: &str) -> serde_json::Value {
        let started = self
            .post_authed_empty(
                &format!("/api/v1/applications/{application_id}/payments"),
                token,
            )
            .await;
        assert_eq!(started.status(), 201, "starting a payment");
        let payment: serde_json::Value = started.json().await.unwrap();
        self.choose_on_pay_page(&payment, "pay").await;
        // The page tells the service by webhook before it sends the payer back.
        let application = self
            .get_json(&format!("/api/v1/applications/{application_id}"), token)
            .await;
        assert_eq!(application["payment"]["status"], "paid", "{application}");
        application
    }

    /// On the simulated provider's page of `payment` (as `POST …/payments` answered it), opens the
    /// page and presses `choice` (pay, decline or cancel); returns where the page sends the payer.
    pub async fn choose_on_pay_page(&self, payment: &serde_json::Value, choice: &str) -> String {
        let next_url = payment["next_url"].as_str().expect("a next_url");
        let page = self.client.get(next_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Simulated payment"));
        let chosen = self
            .client
            .post(format!("{next_url}/{choice}"))
            .send()
            .await
            .unwrap();
        assert_eq!(chosen.status(), 303);
        chosen.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Submits `service`'s catalogue example and pays its fee: ready for review.
    pub async fn submit_paid_example(&self, token: &str, service: &str) -> serde_json::Value {
        let submitted = self.submit_example(token, service).await;
        self.pay_fee(token, submitted["id"].as_str().unwrap()).await
    }

    /// Opens a data request as the holder of `token` (202), returning it.
    pub async fn open_data_request(
        &self,
        token: &str,
        kind: &str,
        details: Option<&str>,
    ) -> serde_json::Value {
        let body = serde_json::json!({"type": kind, "details": details});
        let response = self
            .post_authed("/api/v1/me/data-requests", token, &body)
            .await;
        assert_eq!(response.status(), 202);
        response.json().await.unwrap()
    }

    /// GET with a token, expecting JSON back.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        self.get_authed(path, token).await.json().await.unwrap()
    }

    pub async fn get_authed(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_up(&self, name: &str, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/accounts",
            &serde_json::json!({"name": name, "email": email, "password": password, "accept_terms": true}),
        )
        .await
    }

    /// Follows a reset link (or a finish-your-sign-up link) with a new password.
    pub async fn confirm_reset(&self, token: &str, new_password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/password-resets/confirm",
            &serde_json::json!({"token": token, "new_password": new_password}),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/sessions",
            &serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs up, follows the verification email, signs in; returns the token pair.
    pub async fn verified_resident(&self, email: &str) -> Tokens {
        assert_eq!(
            self.sign_up("Test Resident", email, PASSWORD)
                .await
                .status(),
            202
        );
        let verification = self.wait_for_email(email, "Confirm your email", 1).await;
        let verified = self
            .post_json(
                "/api/v1/accounts/verify",
                &serde_json::json!({"token": verification.token()}),
            )
            .await;
        assert_eq!(verified.status(), 200);
        self.sign_in_ok(email, PASSWORD).await
    }

    pub async fn sign_in_ok(&self, email: &str, password: &str) -> Tokens {
        let response = self.sign_in(email, password).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Creates a staff or admin account directly (as `mynorfolk staff create` does) and signs it in.
    pub async fn staff(&self, email: &str, role: mynorfolk::domain::account::Role) -> Tokens {
        use mynorfolk::domain::account::{AccountName, EmailAddress};
        let hasher =
            mynorfolk::auth::password::PasswordHasher::new(self.settings.auth.hash_cost, 1)
                .unwrap();
        let hash = hasher.hash(PASSWORD).await.unwrap();
        let mut conn = self.db().await;
        mynorfolk::use_cases::accounts::create_staff(
            &mut conn,
            &self.settings.app,
            &mynorfolk::db::audit::Actor::system(),
            &AccountName::parse("Council Officer").unwrap(),
            &EmailAddress::parse(email).unwrap(),
            role,
            Some(&hash),
        )
        .await
        .unwrap();
        self.sign_in_ok(email, PASSWORD).await
    }
}

pub const PASSWORD: &str = "a long enough passphrase";

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// The start of a real PDF, PNG and JPEG (enough for their type to be judged from the content).
pub const PDF: &[u8] =
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde";
pub const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";

impl TestApp {
    /// Uploads `bytes` as `filename` of `kind` to an application, as a browser's form would.
    pub async fn upload(
        &self,
        token: &str,
        application_id: &str,
        kind: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .text("kind", kind.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
            );
        self.client
            .post(self.url(&format!(
                "/api/v1/applications/{application_id}/attachments"
            )))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Attaches a PDF of every kind the application's service requires (201 each).
    pub async fn attach_required(&self, token: &str, application: &serde_json::Value) {
        let service = self
            .get(&format!(
                "/api/v1/services/{}",
                application["service"].as_str().unwrap()
            ))
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap();
        let id = application["id"].as_str().unwrap();
        for kind in service["required_attachments"].as_array().unwrap() {
            let kind = kind.as_str().unwrap();
            let response = self
                .upload(token, id, kind, &format!("{kind}.pdf"), PDF.to_vec())
                .await;
            assert_eq!(response.status(), 201, "attaching {kind}");
        }
    }
}

impl TestApp {
    /// Staff move application `id` to `to` (the response, whatever it is).
    pub async fn transition(&self, staff_token: &str, id: &str, to: &str) -> reqwest::Response {
        self.post_authed(
            &format!("/api/v1/admin/applications/{id}/transitions"),
            staff_token,
            &serde_json::json!({"to": to}),
        )
        .await
    }
}
