//! Documents on applications: a resident uploads (multipart, streamed to storage), lists,
//! downloads and deletes them; staff download them, audited.

use actix_multipart::{Field, Multipart};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use futures_util::{StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::db::ids::{ApplicationId, AttachmentId};
use crate::domain::attachment::AttachmentKind;
use crate::http::ApiError;
use crate::http::auth::{Authenticated, Staff};
use crate::http::error::Problem;
use crate::http::pagination::Page;
use crate::http::views::{AttachmentView, FileBody, file_download};
use crate::state::AppState;
use crate::use_cases::attachments::{self, StoredFile, UploadError};

/// The form of an upload (`multipart/form-data`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the document's schema of the form; the handler reads the parts as they stream
pub struct AttachmentUpload {
    kind: AttachmentKind,
    #[schema(schema_with = crate::http::schemas::upload_file)]
    file: Vec<u8>,
}

/// The parts of a multipart body, remembering when they have ended (polling them again would
/// panic).
struct Form {
    parts: Multipart,
    finished: bool,
}

impl Form {
    async fn next(&mut self) -> Result<Option<Field>, actix_multipart::MultipartError> {
        if self.finished {
            return Ok(None);
        }
        let next = self.parts.try_next().await;
        self.finished = !matches!(next, Ok(Some(_)));
        next
    }
}

/// Room for the form around the file (boundaries, part headers, `kind`).
const FORM_OVERHEAD_BYTES: u64 = 64 * 1024;
/// How long a refused upload's remaining body is read for before the connection is dropped.
const DRAIN_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Bytes of the `kind` part read at most.
const KIND_BYTES: usize = 64;

/// Attaches a document to one of your applications, while it is `submitted` or
/// `more_information_required`: a PDF, PNG or JPEG (judged by its content, whatever its name),
/// of at most 10 MiB, up to 20 per application. Its name is cleaned and given the extension of
/// its real type.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body(content = AttachmentUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = AttachmentView),
        (status = 400, description = "The form could not be read as multipart/form-data", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The application no longer takes documents, or has 20 already", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is larger than 10 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The file's content is not a PDF, PNG or JPEG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`kind` or `file` is missing or invalid, or the form has another field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "File storage (or the database) is unavailable; nothing was kept", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/applications/{id}/attachments")]
pub async fn upload_attachment(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // The whole body is capped (the file, plus room for the form around it): no request reads
    // more than this, however it is sent.
    let mut left = state.settings.storage.max_upload_bytes + FORM_OVERHEAD_BYTES;
    let capped = payload.map(move |chunk| {
        let chunk = chunk?;
        left = left
            .checked_sub(chunk.len() as u64)
            .ok_or(actix_web::error::PayloadError::Overflow)?;
        Ok(chunk)
    });
    let mut form = Form {
        parts: Multipart::new(req.headers(), capped),
        finished: false,
    };
    let answer = upload(&state, &caller, ApplicationId(*id), &mut form).await;
    // The client gets its answer even if it is still sending: what is left of a refused body is
    // read, within the cap and a time limit, rather than the connection reset under it.
    let _ = tokio::time::timeout(DRAIN_TIME_LIMIT, drain(&mut form)).await;
    let attachment = answer?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/applications/{}/attachments/{}", *id, attachment.id),
        ))
        .json(attachment))
}

async fn upload(
    state: &AppState,
    caller: &Authenticated,
    application: ApplicationId,
    form: &mut Form,
) -> Result<AttachmentView, ApiError> {
    attachments::check_open(
        &mut *state.pool.get().await?,
        caller.account_id,
        application,
    )
    .await?;
    let (kind, file) = receive(state, form).await?;
    let Some((file, name)) = file else {
        return Err(ApiError::invalid("file", "attach a file"));
    };
    let kind = match kind.as_deref().map(AttachmentKind::parse) {
        Some(Some(kind)) => kind,
        missing_or_unknown => {
            attachments::discard(&state.pool, &state.files, file).await;
            let message = match missing_or_unknown {
                None => "is required",
                Some(_) => {
                    "must be one of insurance_certificate, site_plan, waste_carrier_licence, traffic_management_plan"
                }
            };
            return Err(ApiError::invalid("kind", message));
        }
    };
    let attached = match state.pool.get().await {
        Ok(mut conn) => {
            let actor = caller.actor();
            attachments::attach(
                &mut conn,
                &actor,
                caller.account_id,
                application,
                kind,
                &name,
                &file,
            )
            .await
            .map_err(ApiError::from)
        }
        Err(unavailable) => Err(unavailable.into()),
    };
    // The connection is back in the pool before `discard` takes one.
    match attached {
        Ok(attachment) => Ok(attachment.into()),
        Err(error) => {
            attachments::discard(&state.pool, &state.files, file).await;
            Err(error)
        }
    }
}

/// Reads the form's parts in whatever order they come: `kind` as text, `file` streamed to
/// storage. Anything else is refused; a file already stored is then removed.
async fn receive(
    state: &AppState,
    form: &mut Form,
) -> Result<(Option<String>, Option<(StoredFile, String)>), ApiError> {
    let mut kind = None;
    let mut file: Option<(StoredFile, String)> = None;
    let refused = loop {
        let field = match form.next().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok((kind, file)),
            Err(error) => break malformed(error),
        };
        match field.name() {
            Some("kind") if kind.is_none() => match read_text(field).await {
                Ok(text) => kind = Some(text),
                Err(error) => break error,
            },
            Some("file") if file.is_none() => {
                let name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or_default()
                    .to_owned();
                let limit = state.settings.storage.max_upload_bytes;
                match attachments::store_file(&state.pool, &state.files, field, limit).await {
                    Ok(stored) => file = Some((stored, name)),
                    Err(error) => break upload_refused(error),
                }
            }
            Some(name @ ("kind" | "file")) => {
                break ApiError::invalid(name, "send it once");
            }
            other => {
                let name = other
                    .unwrap_or_default()
                    .chars()
                    .take(50)
                    .collect::<String>();
                break ApiError::invalid(name, "is not a field of this form (kind, file)");
            }
        }
    };
    if let Some((stored, _)) = file {
        attachments::discard(&state.pool, &state.files, stored).await;
    }
    Err(refused)
}

async fn read_text(mut field: Field) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.try_next().await.map_err(malformed)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > KIND_BYTES {
            return Err(ApiError::invalid("kind", "is not a kind of document"));
        }
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid("kind", "is not a kind of document"))
}

fn malformed(error: actix_multipart::MultipartError) -> ApiError {
    ApiError::MalformedRequest(format!(
        "send the upload as multipart/form-data with the fields kind and file ({error})"
    ))
}

fn upload_refused(error: UploadError) -> ApiError {
    match error {
        UploadError::TooLarge { limit } => ApiError::PayloadTooLarge {
            limit: limit as usize,
        },
        UploadError::UnsupportedType => ApiError::UnsupportedFileType,
        UploadError::Empty => ApiError::invalid("file", "is empty"),
        UploadError::TooSlow => {
            ApiError::MalformedRequest("the upload took longer than 10 minutes".into())
        }
        UploadError::Interrupted(why) => {
            ApiError::MalformedRequest(format!("the upload broke off: {why}"))
        }
        UploadError::Storage(cause) => ApiError::Unavailable(cause.into()),
        UploadError::Pool(cause) => cause.into(),
        UploadError::Database(cause) => cause.into(),
    }
}

/// Reads and drops what is left of the form (the body's cap bounds it).
async fn drain(form: &mut Form) {
    while let Ok(Some(mut field)) = form.next().await {
        while let Ok(Some(_)) = field.try_next().await {}
    }
}

/// The documents attached to one of your applications, oldest first (all of them: at most 20).
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Page<AttachmentView>), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/api/v1/applications/{id}/attachments")]
pub async fn list_attachments(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let items = attachments::list(&mut conn, caller.account_id, ApplicationId(*id)).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: items.into_iter().map(AttachmentView::from).collect(),
        next_cursor: None,
    }))
}

/// Downloads one of your documents, as it was uploaded, with its stored type.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The file, offered as an attachment under its stored name", content(
            (FileBody = "application/pdf"),
            (FileBody = "image/png"),
            (FileBody = "image/jpeg"),
        )),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/applications/{id}/attachments/{attachment_id}")]
pub async fn download_attachment(
    state: web::Data<AppState>,
    caller: Authenticated,
    ids: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (application, id) = ids.into_inner();
    let mut conn = state.pool.get().await?;
    let attachment = attachments::own(
        &mut conn,
        caller.account_id,
        ApplicationId(application),
        AttachmentId(id),
    )
    .await?;
    drop(conn);
    send_file(&state, &attachment).await
}

/// Deletes one of your documents, while the application still takes changes (`submitted` or
/// `more_information_required`); its file is removed from storage.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The application no longer takes changes", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/applications/{id}/attachments/{attachment_id}")]
pub async fn delete_attachment(
    state: web::Data<AppState>,
    caller: Authenticated,
    ids: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (application, id) = ids.into_inner();
    let removed = attachments::delete(
        &mut *state.pool.get().await?,
        &caller.actor(),
        caller.account_id,
        ApplicationId(application),
        AttachmentId(id),
    )
    .await?;
    // The file goes now rather than at the sweeper's next tick (which catches it if this fails).
    attachments::remove_file(&state.pool, &state.files, &removed).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Downloads a document attached to an application (staff). Every download is audited.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The file, offered as an attachment under its stored name", content(
            (FileBody = "application/pdf"),
            (FileBody = "image/png"),
            (FileBody = "image/jpeg"),
        )),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/applications/{id}/attachments/{attachment_id}")]
pub async fn staff_download_attachment(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    ids: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (application, id) = ids.into_inner();
    let mut conn = state.pool.get().await?;
    let attachment = attachments::open_for_staff(
        &mut conn,
        &caller.actor(),
        ApplicationId(application),
        AttachmentId(id),
    )
    .await?;
    drop(conn);
    send_file(&state, &attachment).await
}

async fn send_file(
    state: &AppState,
    attachment: &crate::db::attachments::Attachment,
) -> Result<HttpResponse, ApiError> {
    let body = state
        .files
        .read(&attachment.storage_key)
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?;
    Ok(file_download(attachment, body))
}
