//! Documents on applications: uploads judged by content, the size limit, downloads, deletion, the
//! approval rule, staff downloads (audited), and that files and rows never disagree.

use mynorfolk::domain::account::Role;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{JPEG, PDF, PNG, TestApp, assert_problem, spawn_app};

const MIB: usize = 1024 * 1024;

/// `head` followed by zeros, `size` bytes in all.
fn file_of(head: &[u8], size: usize) -> Vec<u8> {
    let mut bytes = head.to_vec();
    bytes.resize(size, 0);
    bytes
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TestApp {
    /// Every file in this app's storage folder (staging files of unfinished uploads included).
    pub fn stored_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.settings.storage.local_dir, &mut found);
        found
    }

    /// Waits (up to a minute) until storage holds `expected` files (the sweeper removes files
    /// in the background); fails the test if it never does.
    pub async fn wait_for_stored_files(&self, expected: usize) {
        for _ in 0..1200 {
            if self.stored_files().len() == expected {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            self.stored_files().len(),
            expected,
            "{:?}",
            self.stored_files()
        );
    }
}

#[tokio::test]
async fn a_document_is_uploaded_listed_downloaded_as_it_was_and_deleted() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let application = app
        .submit_example(&resident.access_token, "skip-permit")
        .await;
    let id = application["id"].as_str().unwrap();
    let bytes = file_of(PDF, 300_000);

    let uploaded = app
        .upload(
            &resident.access_token,
            id,
            "insurance_certificate",
            "Insurance 2026.pdf",
            bytes.clone(),
        )
        .await;
    assert_eq!(uploaded.status(), 201);
    let location = uploaded.headers()["location"].to_str().unwrap().to_owned();
    let attachment: Value = uploaded.json().await.unwrap();
    assert_eq!(attachment["kind"], "insurance_certificate");
    assert_eq!(attachment["filename"], "Insurance 2026.pdf");
    assert_eq!(attachment["content_type"], "application/pdf");
    assert_eq!(attachment["size_bytes"], 300_000);
    assert_eq!(attachment["sha256"], hex_sha256(&bytes));
    let attachment_id = attachment["id"].as_str().unwrap();
    assert_eq!(
        location,
        format!("/api/v1/applications/{id}/attachments/{attachment_id}")
    );

    let listed = app
        .get_json(
            &format!("/api/v1/applications/{id}/attachments"),
            &resident.access_token,
        )
        .await;
    assert_eq!(listed, json!({"items": [attachment], "next_cursor": null}));

    let download = app.get_authed(&location, &resident.access_token).await;
    assert_eq!(download.status(), 200);
    let headers = download.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["content-length"], "300000");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename=\"Insurance 2026.pdf\""),
        "{disposition}"
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(app.stored_files().len(), 1);

    // Someone else's application is not found, whatever they ask.
    let other = app.verified_resident("other@example.org").await;
    for response in [
        app.get_authed(&location, &other.access_token).await,
        app.get_authed(
            &format!("/api/v1/applications/{id}/attachments"),
            &other.access_token,
        )
        .await,
        app.delete_authed(&location, &other.access_token).await,
        app.upload(
            &other.access_token,
            id,
            "site_plan",
            "plan.pdf",
            PDF.to_vec(),
        )
        .await,
    ] {
        assert_problem(response, 404, "not-found").await;
    }

    let deleted = app.delete_authed(&location, &resident.access_token).await;
    assert_eq!(deleted.status(), 204);
    assert_problem(
        app.get_authed(&location, &resident.access_token).await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(app.count("attachments").await, 0);
    app.wait_for_stored_files(0).await;
    assert_eq!(app.count("storage_cleanup").await, 0);
    assert_eq!(
        app.count("audit_events WHERE action IN ('attachment.added', 'attachment.deleted')")
            .await,
        2
    );
}

#[tokio::test]
async fn the_type_is_judged_by_content_and_the_name_gets_the_real_extension() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let application = app
        .submit_example(&resident.access_token, "skip-permit")
        .await;
    let id = application["id"].as_str().unwrap();
    let token = &resident.access_token;

    let cases = [
        (PNG, "plan.pdf", "image/png", "plan.png"),
        (PDF, "scan.png", "application/pdf", "scan.pdf"),
        (JPEG, "../../photo", "image/jpeg", "photo.jpg"),
    ];
    for (bytes, name, content_type, stored_name) in cases {
        let response = app
            .upload(token, id, "site_plan", name, bytes.to_vec())
            .await;
        assert_eq!(response.status(), 201, "{name}");
        let attachment: Value = response.json().await.unwrap();
        assert_eq!(attachment["content_type"], content_type, "{name}");
        assert_eq!(attachment["filename"], stored_name, "{name}");
        let download = app
            .get_authed(
                &format!(
                    "/api/v1/applications/{id}/attachments/{}",
                    attachment["id"].as_str().unwrap()
                ),
                token,
            )
            .await;
        assert_eq!(download.headers()["content-type"], content_type);
        assert_eq!(download.bytes().await.unwrap().as_ref(), bytes);
    }

    // A renamed executable, a script, an empty file: refused, and nothing kept.
    let executable = file_of(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff", 4096);
    for (bytes, name) in [
        (executable, "insurance.pdf"),
        (b"<script>alert(1)</script>".to_vec(), "plan.png"),
    ] {
        assert_problem(
            app.upload(token, id, "site_plan", name, bytes).await,
            415,
            "unsupported-file-type",
        )
        .await;
    }
    assert_problem(
        app.upload(token, id, "site_plan", "empty.pdf", Vec::new())
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(app.count("attachments").await, 3);
    assert_eq!(app.stored_files().len(), 3);
    assert_eq!(app.count("storage_cleanup").await, 0);
}

#[tokio::test]
async fn ten_mib_is_taken_and_one_byte_more_is_413_with_nothing_kept() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let application = app
        .submit_example(&resident.access_token, "skip-permit")
        .await;
    let id = application["id"].as_str().unwrap();
    let token = &resident.access_token;

    let too_large = app
        .upload(
            token,
            id,
            "site_plan",
            "big.pdf",
            file_of(PDF, 10 * MIB + 1),
        )
        .await;
    assert_problem(too_large, 413, "payload-too-large").await;
    assert_eq!(app.count("attachments").await, 0);
    assert_eq!(app.count("storage_cleanup").await, 0);
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());

    let exactly = file_of(PDF, 10 * MIB);
    let response = app
        .upload(token, id, "site_plan", "big.pdf", exactly.clone())
        .await;
    assert_eq!(response.status(), 201);
    let attachment: Value = response.json().await.unwrap();
    assert_eq!(attachment["size_bytes"], 10 * MIB);
    assert_eq!(attachment["sha256"], hex_sha256(&exactly));
    assert_eq!(app.stored_files().len(), 1);
}

#[tokio::test]
async fn a_form_without_a_kind_or_with_other_fields_is_refused_and_keeps_no_file() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let application = app
        .submit_example(&resident.access_token, "skip-permit")
        .await;
    let id = application["id"].as_str().unwrap();
    let url = app.url(&format!("/api/v1/applications/{id}/attachments"));
    let file = || reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("a.pdf");
    let forms = [
        reqwest::multipart::Form::new().part("file", file()),
        reqwest::multipart::Form::new()
            .text("kind", "passport")
            .part("file", file()),
        // The file first, then an unknown field: the stored file is removed again.
        reqwest::multipart::Form::new()
            .part("file", file())
            .text("kind", "site_plan")
            .text("date_of_birth", "1980-01-01"),
        reqwest::multipart::Form::new().text("kind", "site_plan"),
    ];
    for form in forms {
        let response = app
            .client
            .post(&url)
            .bearer_auth(&resident.access_token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, "validation-failed").await;
    }
    let not_a_form = app
        .post_authed(
            &format!("/api/v1/applications/{id}/attachments"),
            &resident.access_token,
            &json!({}),
        )
        .await;
    assert_problem(not_a_form, 400, "malformed-request").await;
    assert_eq!(app.count("attachments").await, 0);
    assert_eq!(app.count("storage_cleanup").await, 0);
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
}

#[tokio::test]
async fn parallel_uploads_stop_at_twenty_with_a_file_for_each_row() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let application = app
        .submit_example(&resident.access_token, "skip-permit")
        .await;
    let id = application["id"].as_str().unwrap();
    for round in 0..2 {
        let uploads = (0..15).map(|n| {
            let bytes = file_of(PNG, 50_000 + n);
            app.upload(&resident.access_token, id, "site_plan", "plan.png", bytes)
        });
        let statuses: Vec<u16> = futures_util::future::join_all(uploads)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        let created = statuses.iter().filter(|s| **s == 201).count();
        let refused = statuses.iter().filter(|s| **s == 409).count();
        assert_eq!(created + refused, 15, "round {round}: {statuses:?}");
        assert_eq!(created, [15, 5][round], "round {round}: {statuses:?}");
    }
    assert_eq!(app.count("attachments").await, 20);
    // Every row has its file, and no file is without its row.
    let mut keys: Vec<String> = app
        .stored_files()
        .iter()
        .map(|p| format!("attachments/{}", p.file_name().unwrap().to_str().unwrap()))
        .collect();
    keys.sort();
    let rows = app
        .count(&format!(
            "attachments WHERE storage_key IN ('{}')",
            keys.join("','")
        ))
        .await;
    assert_eq!((keys.len(), rows), (20, 20));
    assert_eq!(app.count("storage_cleanup").await, 0);
}

#[tokio::test]
async fn approval_needs_every_required_document_and_documents_freeze_under_review() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let service: Value = app
        .get("/api/v1/services/skip-permit")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        service["required_attachments"],
        json!(["insurance_certificate", "waste_carrier_licence"])
    );
    let application = app
        .submit_paid_example(&resident.access_token, "skip-permit")
        .await;
    let id = application["id"].as_str().unwrap();
    let token = &resident.access_token;
    let insurance: Value = app
        .upload(
            token,
            id,
            "insurance_certificate",
            "insurance.pdf",
            PDF.to_vec(),
        )
        .await
        .json()
        .await
        .unwrap();

    let transition = async |to: &str| app.transition(&staff.access_token, id, to).await;
    assert_eq!(transition("under_review").await.status(), 200);
    // Under review, the documents stay as they are.
    assert_problem(
        app.upload(
            token,
            id,
            "waste_carrier_licence",
            "licence.pdf",
            PDF.to_vec(),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let delete = app
        .delete_authed(
            &format!(
                "/api/v1/applications/{id}/attachments/{}",
                insurance["id"].as_str().unwrap()
            ),
            token,
        )
        .await;
    assert_problem(delete, 409, "conflict").await;

    let refused = transition("approved").await;
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/attachments-missing"),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("waste_carrier_licence"),
        "{problem}"
    );

    // Asked for more information, the resident adds the licence; then it can be approved.
    assert_eq!(transition("more_information_required").await.status(), 200);
    let licence = app
        .upload(
            token,
            id,
            "waste_carrier_licence",
            "licence.pdf",
            PDF.to_vec(),
        )
        .await;
    assert_eq!(licence.status(), 201);
    let resubmitted = app
        .patch_authed(
            &format!("/api/v1/applications/{id}"),
            token,
            &json!({"details": application["details"]}),
        )
        .await;
    assert_eq!(resubmitted.status(), 200);
    assert_eq!(transition("under_review").await.status(), 200);
    assert_eq!(transition("approved").await.status(), 200);
}

#[tokio::test]
async fn staff_see_and_download_documents_and_every_download_is_audited() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let application = app
        .submit_example(&resident.access_token, "vehicle-crossing")
        .await;
    let id = application["id"].as_str().unwrap();
    let bytes = file_of(JPEG, 20_000);
    let attachment: Value = app
        .upload(
            &resident.access_token,
            id,
            "site_plan",
            "drive.jpeg",
            bytes.clone(),
        )
        .await
        .json()
        .await
        .unwrap();
    let attachment_id = attachment["id"].as_str().unwrap();

    let case = app
        .get_json(
            &format!("/api/v1/admin/applications/{id}"),
            &staff.access_token,
        )
        .await;
    assert_eq!(case["attachments"], json!([attachment]));

    let path = format!("/api/v1/admin/applications/{id}/attachments/{attachment_id}");
    for _ in 0..2 {
        let download = app.get_authed(&path, &staff.access_token).await;
        assert_eq!(download.status(), 200);
        assert_eq!(download.headers()["content-type"], "image/jpeg");
        assert_eq!(download.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    let audited = format!(
        "audit_events WHERE action = 'attachment.downloaded' AND target_id = '{attachment_id}' \
         AND subject_id = (SELECT id FROM accounts WHERE email = 'sian@example.org')"
    );
    assert_eq!(app.count(&audited).await, 2);
    // Residents cannot use the staff path.
    assert_problem(
        app.get_authed(&path, &resident.access_token).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_zip_export_holds_every_file_as_uploaded_and_erasure_removes_them_from_storage() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Admin).await;
    let token = &resident.access_token;
    let mut uploaded = Vec::new();
    for (service, kind, head, name) in [
        ("skip-permit", "insurance_certificate", PDF, "cover.pdf"),
        ("vehicle-crossing", "site_plan", PNG, "drive.png"),
    ] {
        let application = app.submit_example(token, service).await;
        let bytes = file_of(head, 70_000);
        let response = app
            .upload(
                token,
                application["id"].as_str().unwrap(),
                kind,
                name,
                bytes.clone(),
            )
            .await;
        assert_eq!(response.status(), 201);
        uploaded.push((response.json::<Value>().await.unwrap(), bytes));
    }

    let response = app
        .client
        .get(app.url("/api/v1/me/export"))
        .bearer_auth(token)
        .header("accept", "application/zip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let body = response.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body.to_vec())).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    names.sort();
    let mut expected = vec!["export.json".to_owned()];
    for (attachment, _) in &uploaded {
        expected.push(format!(
            "attachments/{}-{}",
            attachment["id"].as_str().unwrap(),
            attachment["filename"].as_str().unwrap()
        ));
    }
    expected.sort();
    assert_eq!(names, expected);
    let read = |archive: &mut zip::ZipArchive<_>, name: &str| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut bytes).unwrap();
        bytes
    };
    let document: Value = serde_json::from_slice(&read(&mut archive, "export.json")).unwrap();
    let listed = document["data"]["attachments"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for (attachment, bytes) in &uploaded {
        let name = format!(
            "attachments/{}-{}",
            attachment["id"].as_str().unwrap(),
            attachment["filename"].as_str().unwrap()
        );
        assert_eq!(&read(&mut archive, &name), bytes, "{name}");
        assert!(listed.iter().any(|l| l["sha256"] == attachment["sha256"]));
    }
    // Without the Accept header, the same export as JSON.
    let json: Value = app.get_json("/api/v1/me/export", token).await;
    assert_eq!(json["data"]["attachments"].as_array().unwrap().len(), 2);

    assert_eq!(app.stored_files().len(), 2);
    let erasure = app.open_data_request(token, "erasure", None).await;
    let decided = app
        .post_authed(
            &format!(
                "/api/v1/admin/data-requests/{}/decisions",
                erasure["id"].as_str().unwrap()
            ),
            &staff.access_token,
            &json!({"decision": "complete"}),
        )
        .await;
    assert_eq!(decided.status(), 200);
    let decided: Value = decided.json().await.unwrap();
    assert!(
        decided["decision_reason"]
            .as_str()
            .is_some_and(|r| r.contains("documents you attached")),
        "{decided}"
    );
    assert_eq!(app.count("attachments").await, 0);
    app.wait_for_stored_files(0).await;
    app.wait_for_count("storage_cleanup", 0).await;
}

#[tokio::test]
async fn a_leased_upload_cannot_be_given_a_row_however_late_it_is() {
    use mynorfolk::db::attachments as store;
    let app = spawn_app().await;
    let mut conn = app.db().await;
    let due = chrono::Utc::now() + chrono::Duration::minutes(60);
    let due = chrono::SubsecRound::trunc_subsecs(due, 6);
    store::schedule_cleanup(&mut conn, "attachments/a", due)
        .await
        .unwrap();
    store::schedule_cleanup(&mut conn, "attachments/b", due)
        .await
        .unwrap();
    // A sweeper leases `a` (as it does once an upload has outlived its grace)…
    app.sql("UPDATE storage_cleanup SET due_at = now() - interval '1 second' WHERE storage_key = 'attachments/a'")
        .await;
    assert_eq!(
        store::lease_due_cleanups(&mut conn, 10, 300).await.unwrap(),
        ["attachments/a"]
    );
    // …so the upload's own cancellation fails, though the lease moved `due_at` into the future.
    assert!(
        !store::cancel_cleanup(&mut conn, "attachments/a", due)
            .await
            .unwrap()
    );
    assert!(
        store::cancel_cleanup(&mut conn, "attachments/b", due)
            .await
            .unwrap()
    );
    assert_eq!(app.count("storage_cleanup").await, 1);
}

#[tokio::test]
async fn a_file_gone_from_storage_is_named_in_the_zip_export_not_a_failure() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    let application = app
        .submit_example(&resident.access_token, "skip-permit")
        .await;
    let id = application["id"].as_str().unwrap();
    let kept: Value = app
        .upload(
            &resident.access_token,
            id,
            "site_plan",
            "plan.pdf",
            PDF.to_vec(),
        )
        .await
        .json()
        .await
        .unwrap();
    let lost: Value = app
        .upload(
            &resident.access_token,
            id,
            "insurance_certificate",
            "cover.pdf",
            PDF.to_vec(),
        )
        .await
        .json()
        .await
        .unwrap();
    let lost_key = format!("attachments WHERE id = '{}'", lost["id"].as_str().unwrap());
    assert_eq!(app.count(&lost_key).await, 1);
    let mut conn = app.db().await;
    #[derive(diesel::QueryableByName)]
    struct Key {
        #[diesel(sql_type = diesel::sql_types::Text)]
        storage_key: String,
    }
    let key: Key = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(format!(
            "SELECT storage_key FROM attachments WHERE id = '{}'",
            lost["id"].as_str().unwrap()
        )),
        &mut conn,
    )
    .await
    .unwrap();
    std::fs::remove_file(app.settings.storage.local_dir.join(&key.storage_key)).unwrap();

    let response = app
        .client
        .get(app.url("/api/v1/me/export"))
        .bearer_auth(&resident.access_token)
        .header("accept", "application/json;q=0.5, application/zip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let vary = response.headers()["vary"].to_str().unwrap().to_owned();
    assert!(vary.split(", ").any(|v| v == "Accept"), "{vary}");
    let body = response.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body.to_vec())).unwrap();
    assert_eq!(archive.len(), 2);
    let mut json = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("export.json").unwrap(), &mut json).unwrap();
    let document: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(document["files_not_included"], json!([lost["id"]]));
    let kept_name = format!("attachments/{}-plan.pdf", kept["id"].as_str().unwrap());
    assert!(archive.by_name(&kept_name).is_ok());
    // A zip refused (q=0) is not sent.
    let refused = app
        .client
        .get(app.url("/api/v1/me/export"))
        .bearer_auth(&resident.access_token)
        .header("accept", "application/zip;q=0, application/json")
        .send()
        .await
        .unwrap();
    assert!(
        refused.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}
