//! The life of an application: its statuses, who may move it between them, and the dates that
//! follow from them. Plain Rust, exhaustively tested: the HTTP layer only asks.
//!
//! ```text
//! submitted → under_review → more_information_required ⇄ submitted
//! under_review → approved | rejected;  approved → issued → closed
//! submitted | under_review | more_information_required → withdrawn
//! ```

use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Submitted,
    UnderReview,
    MoreInformationRequired,
    Approved,
    Rejected,
    Issued,
    Closed,
    Withdrawn,
}

super::parsed_from_text!(Status, "application status");

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// The applicant: may withdraw, and resubmit after being asked for more information.
    Applicant,
    /// Council staff: move applications through review and decision.
    Staff,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("an application cannot go from {from} to {to}")]
    NotAllowed { from: Status, to: Status },
    #[error("only council staff can move an application from {from} to {to}")]
    StaffOnly { from: Status, to: Status },
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Submitted,
        Status::UnderReview,
        Status::MoreInformationRequired,
        Status::Approved,
        Status::Rejected,
        Status::Issued,
        Status::Closed,
        Status::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::UnderReview => "under_review",
            Status::MoreInformationRequired => "more_information_required",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Issued => "issued",
            Status::Closed => "closed",
            Status::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Not yet decided: the applicant can still withdraw.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::Submitted | Status::UnderReview | Status::MoreInformationRequired
        )
    }

    /// The applicant may still add or remove documents: before review, or when the council has
    /// asked for more information.
    pub fn takes_documents(self) -> bool {
        matches!(self, Status::Submitted | Status::MoreInformationRequired)
    }

    /// Words for a resident, used in status emails.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::UnderReview => "under review",
            Status::MoreInformationRequired => "waiting for more information from you",
            Status::Approved => "approved",
            Status::Rejected => "refused",
            Status::Issued => "issued",
            Status::Closed => "closed",
            Status::Withdrawn => "withdrawn",
        }
    }

    /// Checks that `mover` may move an application from `self` to `to`.
    pub fn transition(self, to: Status, mover: Mover) -> Result<Status, TransitionError> {
        use Status::*;
        let staff_only = matches!(
            (self, to),
            (Submitted, UnderReview)
                | (UnderReview, MoreInformationRequired)
                | (UnderReview, Approved)
                | (UnderReview, Rejected)
                | (Approved, Issued)
                | (Issued, Closed)
        );
        let anyone = matches!((self, to), (MoreInformationRequired, Submitted))
            || (self.is_open() && to == Withdrawn);
        match (staff_only, anyone, mover) {
            (_, true, _) | (true, _, Mover::Staff) => Ok(to),
            (true, _, Mover::Applicant) => Err(TransitionError::StaffOnly { from: self, to }),
            _ => Err(TransitionError::NotAllowed { from: self, to }),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a decision is expected: the service's target time counted from the day of submission
/// (Open311's `expected_datetime`).
pub fn expected_decision_by(submitted_on: NaiveDate, target_days: u32) -> NaiveDate {
    submitted_on + Days::new(u64::from(target_days))
}

/// When a licence issued on `issued_on` stops being valid, for services whose licence runs for a
/// fixed number of calendar months (an EV cable-channel licence: 24).
pub fn licence_expires_on(issued_on: NaiveDate, validity_months: Option<u32>) -> Option<NaiveDate> {
    validity_months.and_then(|months| issued_on.checked_add_months(Months::new(months)))
}

/// What `reference` produces: a three-letter prefix, the year, a number of six or more digits.
pub const REFERENCE_PATTERN: &str = "^[A-Z]{3}-[0-9]{4}-[0-9]{6,12}$";

/// A human reference such as `SKP-2026-000042`: the service's prefix, the year, and a number
/// from a database sequence (unique, and gaps are fine).
pub fn reference(prefix: &str, year: i32, number: i64) -> String {
    format!("{prefix}-{year}-{number:06}")
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    /// The contract's transitions, and who may make them. Everything else must be refused.
    const ALLOWED: &[(Status, Status, &[Mover])] = &[
        (Submitted, UnderReview, &[Mover::Staff]),
        (UnderReview, MoreInformationRequired, &[Mover::Staff]),
        (
            MoreInformationRequired,
            Submitted,
            &[Mover::Applicant, Mover::Staff],
        ),
        (UnderReview, Approved, &[Mover::Staff]),
        (UnderReview, Rejected, &[Mover::Staff]),
        (Approved, Issued, &[Mover::Staff]),
        (Issued, Closed, &[Mover::Staff]),
        (Submitted, Withdrawn, &[Mover::Applicant, Mover::Staff]),
        (UnderReview, Withdrawn, &[Mover::Applicant, Mover::Staff]),
        (
            MoreInformationRequired,
            Withdrawn,
            &[Mover::Applicant, Mover::Staff],
        ),
    ];

    #[test]
    fn every_pair_of_statuses_for_every_mover() {
        for from in Status::ALL {
            for to in Status::ALL {
                for mover in [Mover::Applicant, Mover::Staff] {
                    let allowed = ALLOWED
                        .iter()
                        .any(|(f, t, who)| *f == from && *t == to && who.contains(&mover));
                    let outcome = from.transition(to, mover);
                    assert_eq!(
                        outcome.is_ok(),
                        allowed,
                        "{from} → {to} by {mover:?}: {outcome:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn applicants_are_told_when_only_staff_can_do_it() {
        assert_eq!(
            Submitted.transition(UnderReview, Mover::Applicant),
            Err(TransitionError::StaffOnly {
                from: Submitted,
                to: UnderReview
            })
        );
        assert_eq!(
            Closed.transition(Submitted, Mover::Staff),
            Err(TransitionError::NotAllowed {
                from: Closed,
                to: Submitted
            })
        );
    }

    #[test]
    fn decided_and_finished_applications_cannot_be_withdrawn() {
        for status in [Approved, Rejected, Issued, Closed, Withdrawn] {
            assert!(
                status.transition(Withdrawn, Mover::Applicant).is_err(),
                "{status}"
            );
        }
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(Status::parse("pending"), None);
    }

    #[test]
    fn dates_and_references() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            expected_decision_by(day, 28),
            NaiveDate::from_ymd_opt(2026, 12, 21).unwrap()
        );
        assert_eq!(
            licence_expires_on(day, Some(24)),
            NaiveDate::from_ymd_opt(2028, 11, 23)
        );
        let leap = NaiveDate::from_ymd_opt(2028, 2, 29).unwrap();
        assert_eq!(
            licence_expires_on(leap, Some(24)),
            NaiveDate::from_ymd_opt(2030, 2, 28)
        );
        assert_eq!(licence_expires_on(day, None), None);
        assert_eq!(reference("SKP", 2026, 42), "SKP-2026-000042");
        assert_eq!(reference("EVC", 2027, 1_234_567), "EVC-2027-1234567");
    }
}
