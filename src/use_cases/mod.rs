//! Use cases: what a caller (an HTTP handler, the command line, a background worker) asks the
//! service to do. Each owns its transaction, its audit rows and its emails, and fails with one
//! [`Error`]. No HTTP here; persistence is `crate::db`, rules are `crate::domain`.

pub mod accounts;
pub mod applications;
pub mod attachments;
pub mod data_rights;
pub mod payments;
pub mod permits;
pub mod retention;
pub mod staff_reads;

use diesel_async::AsyncPgConnection;

use crate::db::accounts as account_store;
use crate::db::applications::{self as application_store, Application};
use crate::db::ids::ApplicationId;
use crate::domain::application::TransitionError;

/// Why a use case did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// The state forbids it (already decided, already taken, changed meanwhile).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A value the caller gave breaks a rule only the use case can check.
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// An emailed link that is unknown, used or expired.
    #[error("is invalid, has been used, or has expired")]
    InvalidToken,
    /// The account was erased while the request was under way.
    #[error("the account no longer exists")]
    Erased,
    /// The password changed (a reset) after it was checked and before the request could act.
    #[error("the password changed while this request was under way")]
    PasswordChanged,
    /// Staff cannot approve an application that lacks a document its service requires.
    #[error("{0}")]
    AttachmentsMissing(String),
    /// Staff cannot review an application whose fee is not paid.
    #[error("{0}")]
    PaymentRequired(String),
    /// The payment provider could not be reached or failed on its side: nothing was written.
    #[error("the payment provider is unavailable")]
    ProviderUnavailable(#[source] anyhow::Error),
    /// The payment provider answered, and refused.
    #[error("{0}")]
    ProviderRefused(String),
    /// File storage could not be reached or failed.
    #[error("file storage is unavailable")]
    StorageUnavailable(#[source] anyhow::Error),
    /// Too many attempts for this address: it may try again after this long.
    #[error("too many attempts")]
    RateLimited(std::time::Duration),
    /// The email address or the password is not right; the caller is not told which.
    #[error("the email address or password is not right")]
    WrongCredentials,
    /// The password was right, but the email address is not confirmed yet.
    #[error("the email address is not confirmed yet")]
    EmailNotVerified,
    /// No database connection could be had: none came free in time, or the database could not be
    /// reached.
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[from] crate::db::PoolError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// `owner`'s application `id`, read without a lock; anyone else's is not found (404, never 403:
/// whether it exists is no one else's business).
pub(crate) async fn owned_application(
    conn: &mut AsyncPgConnection,
    owner: crate::db::ids::AccountId,
    id: ApplicationId,
) -> Result<Application, Error> {
    application_store::find(conn, id, false)
        .await?
        .filter(|a| a.account_id == Some(owner))
        .ok_or(Error::NotFound)
}

/// Locks the application's account (the lock order of `db::accounts`) and then the application;
/// says whether the account is live (not erased).
pub(crate) async fn lock_application(
    conn: &mut AsyncPgConnection,
    id: ApplicationId,
) -> Result<(Application, bool), Error> {
    let owner = application_store::find(conn, id, false)
        .await?
        .ok_or(Error::NotFound)?
        .account_id;
    let live = match owner {
        Some(owner) => account_store::lock_active(conn, owner).await?,
        None => false,
    };
    let application = application_store::find(conn, id, true)
        .await?
        .ok_or(Error::NotFound)?;
    let live = live && application.account_id == owner;
    Ok((application, live))
}
