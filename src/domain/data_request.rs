//! Requests under data-protection law (UK GDPR Articles 15–17): what a person can ask for, and
//! where a request stands.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A copy of everything held about you (Article 15).
    Access,
    /// Erase your data (Article 17).
    Erasure,
    /// Correct your data (Article 16).
    Rectification,
}

impl RequestKind {
    pub const ALL: [RequestKind; 3] = [
        RequestKind::Access,
        RequestKind::Erasure,
        RequestKind::Rectification,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Erasure => "erasure",
            RequestKind::Rectification => "rectification",
        }
    }

    pub fn parse(raw: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

super::parsed_from_text!(RequestKind, "data request kind");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Received,
    /// The deadline was extended (by up to two further months), with a reason.
    Extended,
    Completed,
    Refused,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 4] = [
        RequestStatus::Received,
        RequestStatus::Extended,
        RequestStatus::Completed,
        RequestStatus::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Received => "received",
            RequestStatus::Extended => "extended",
            RequestStatus::Completed => "completed",
            RequestStatus::Refused => "refused",
        }
    }

    pub fn parse(raw: &str) -> Option<RequestStatus> {
        RequestStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Still waiting for a decision (and so can become overdue).
    pub fn is_open(self) -> bool {
        matches!(self, RequestStatus::Received | RequestStatus::Extended)
    }
}

super::parsed_from_text!(RequestStatus, "data request status");

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
