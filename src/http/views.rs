//! Response bodies more than one area of handlers answers with (a resident's and a member of
//! staff's view of the same record), so handler modules never import each other.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::accounts::Account;
use crate::db::applications::Application;
use crate::db::attachments::Attachment;
use crate::db::data_requests::DataRequest;
use crate::db::payments::{Payment, Refund};
use crate::domain::account::Role;
use crate::domain::application::Status;
use crate::domain::attachment::AttachmentKind;
use crate::domain::data_request::{RequestKind, RequestStatus};
use crate::domain::payment::{PaymentState, PaymentStatus, RefundStatus};
use crate::http::schemas;

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    #[schema(schema_with = schemas::account_name)]
    pub name: String,
    #[schema(schema_with = schemas::email)]
    pub email: String,
    pub email_verified: bool,
    #[schema(example = "contract")]
    #[schema(max_length = 20)]
    pub lawful_basis: String,
    #[schema(max_length = 50)]
    pub terms_version: String,
    pub terms_accepted_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    #[schema(min_items = 1, max_items = 1)]
    pub roles: Vec<Role>,
}

impl Me {
    pub fn from_account(account: Account) -> Me {
        Me {
            id: account.id.into(),
            email_verified: account.email_verified_at.is_some(),
            roles: vec![account.role],
            name: account.name,
            email: account.email,
            lawful_basis: account.lawful_basis,
            terms_version: account.terms_version,
            terms_accepted_at: account.terms_accepted_at,
            created_at: account.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: Uuid,
    #[schema(example = "SKP-2026-000042")]
    #[schema(schema_with = schemas::reference)]
    pub reference: String,
    #[schema(schema_with = schemas::service_code)]
    pub service: String,
    pub status: Status,
    #[schema(value_type = Object)]
    pub details: Box<serde_json::value::RawValue>,
    pub fee_pence: i32,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When a decision is expected (the service's target time from submission).
    pub expected_decision_by: NaiveDate,
    pub decided_at: Option<DateTime<Utc>>,
    pub issued_at: Option<DateTime<Utc>>,
    pub licence_expires_on: Option<NaiveDate>,
    pub closed_at: Option<DateTime<Utc>>,
    pub payment: PaymentSummary,
}

/// Where the application's fee stands.
#[derive(Serialize, ToSchema)]
pub struct PaymentSummary {
    pub status: PaymentStatus,
    /// The fee.
    #[schema(minimum = 0)]
    pub amount_pence: i32,
}

impl From<Application> for ApplicationView {
    fn from(a: Application) -> Self {
        ApplicationView {
            id: a.id.into(),
            reference: a.reference,
            service: a.service_code,
            status: a.status,
            details: a.details.0,
            fee_pence: a.fee_pence,
            submitted_at: a.submitted_at,
            updated_at: a.updated_at,
            expected_decision_by: a.expected_decision_by,
            decided_at: a.decided_at,
            issued_at: a.issued_at,
            licence_expires_on: a.licence_expires_on,
            closed_at: a.closed_at,
            payment: PaymentSummary {
                status: a.payment_status,
                amount_pence: a.fee_pence,
            },
        }
    }
}

/// A payment of an application's fee.
#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    /// The provider's state (GOV.UK Pay's `state.status`).
    pub status: PaymentState,
    #[schema(minimum = 1)]
    pub amount_pence: i32,
    /// Where to pay, while the payment is in progress (the provider's page).
    #[schema(max_length = 2000)]
    pub next_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    // A handful at most: each takes some of what is left.
    #[schema(max_items = 1000)]
    pub refunds: Vec<RefundView>,
}

impl PaymentView {
    pub fn new(payment: Payment, refunds: Vec<Refund>) -> PaymentView {
        PaymentView {
            id: payment.id,
            status: payment.state,
            amount_pence: payment.amount_pence,
            next_url: payment.next_url,
            created_at: payment.created_at,
            finished_at: payment.finished_at,
            refunds: refunds.into_iter().map(RefundView::from).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RefundView {
    pub id: Uuid,
    #[schema(minimum = 1)]
    pub amount_pence: i32,
    /// `requested`: owed, and retried until the provider takes it.
    pub status: RefundStatus,
    #[schema(max_length = 2000)]
    pub reason: String,
    pub requested_at: DateTime<Utc>,
}

impl From<Refund> for RefundView {
    fn from(r: Refund) -> Self {
        RefundView {
            id: r.id,
            amount_pence: r.amount_pence,
            status: r.status,
            reason: r.reason,
            requested_at: r.requested_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DataRequestView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: RequestKind,
    pub status: RequestStatus,
    #[schema(max_length = 2000)]
    pub details: Option<String>,
    pub received_at: DateTime<Utc>,
    /// When the council must answer: one calendar month, or up to two months more if extended.
    pub due_by: NaiveDate,
    #[schema(max_length = 2000)]
    pub extension_reason: Option<String>,
    /// Why it was refused, or what an erasure kept and why.
    #[schema(max_length = 20000)]
    pub decision_reason: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// For a completed access request: the export of your data.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub export: Option<serde_json::Value>,
}

impl From<DataRequest> for DataRequestView {
    fn from(r: DataRequest) -> Self {
        DataRequestView {
            id: r.id.into(),
            kind: r.kind,
            status: r.status,
            details: r.details,
            received_at: r.received_at,
            due_by: r.due_by,
            extension_reason: r.extension_reason,
            decision_reason: r.decision_reason,
            decided_at: r.decided_at,
            export: None,
        }
    }
}

/// A document attached to an application.
#[derive(Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: Uuid,
    pub kind: AttachmentKind,
    /// The uploader's name for the file, cleaned, with the extension of its real type.
    #[schema(max_length = 100, example = "site plan.pdf")]
    pub filename: String,
    /// Judged from the file's content.
    #[schema(schema_with = schemas::attachment_content_type)]
    pub content_type: String,
    #[schema(minimum = 1, maximum = 1073741824)]
    pub size_bytes: i64,
    /// Hex SHA-256 of the file's bytes.
    #[schema(pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)]
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

impl From<Attachment> for AttachmentView {
    fn from(a: Attachment) -> Self {
        AttachmentView {
            id: a.id.into(),
            kind: a.kind,
            filename: a.filename,
            content_type: a.content_type,
            size_bytes: a.size_bytes,
            sha256: a.sha256,
            created_at: a.created_at,
        }
    }
}

/// The answer that downloads a stored file: its stored type and size, offered as an attachment
/// under its stored name (never shown inline; the security headers add `nosniff`).
pub fn file_download(
    attachment: &Attachment,
    body: futures_util::stream::BoxStream<
        'static,
        Result<bytes::Bytes, crate::storage::StorageError>,
    >,
) -> actix_web::HttpResponse {
    use actix_web::http::header::{
        Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
    };
    use futures_util::TryStreamExt;
    let ascii: String = attachment
        .filename
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: attachment.filename.clone().into_bytes(),
            }),
        ],
    };
    actix_web::HttpResponse::Ok()
        .content_type(attachment.content_type.as_str())
        .insert_header(disposition)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(attachment.size_bytes as u64)
        .streaming(body.map_err(actix_web::error::ErrorServiceUnavailable))
}

/// A downloaded file's bytes: the document's schema of a download (an attachment, a permit).
pub struct FileBody;

impl utoipa::PartialSchema for FileBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::http::schemas::file_bytes().into()
    }
}

impl utoipa::ToSchema for FileBody {}

/// The zip export's bytes: the document's schema of it.
pub struct ArchiveBody;

impl utoipa::PartialSchema for ArchiveBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::http::schemas::archive_bytes().into()
    }
}

impl utoipa::ToSchema for ArchiveBody {}
