//! Use cases: what a caller (an HTTP handler, the command line, a background worker) asks the
//! service to do. Each owns its transaction, its audit rows and its emails, and fails with one
//! [`Error`]. No HTTP here; persistence is `crate::db`, rules are `crate::domain`.

pub mod accounts;
pub mod applications;
pub mod data_rights;
pub mod payments;
pub mod retention;
pub mod staff_reads;

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
    /// Staff cannot review an application whose fee is not paid.
    #[error("{0}")]
    PaymentRequired(String),
    /// The payment provider could not be reached or failed on its side: nothing was written.
    #[error("the payment provider is unavailable")]
    ProviderUnavailable(#[source] anyhow::Error),
    /// The payment provider answered, and refused.
    #[error("{0}")]
    ProviderRefused(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}
