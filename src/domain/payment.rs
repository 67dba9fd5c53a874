//! Fees: what a payment provider reports about a payment, what an application's payment stands
//! at, and what may be refunded. Plain Rust: the provider's reports arrive more than once and in
//! any order, so every rule here is about what a report may still change.
//!
//! ```text
//! payment (GOV.UK Pay's state.status): created → started → submitted → capturable → success
//!                                      any of those → failed | cancelled | error  (finished: final)
//! application: not_required (no fee) | due → pending → paid → partially_refunded → refunded
//!                                            pending → due again when the payment fails
//! ```

use serde::{Deserialize, Serialize};

/// Where an application's fee stands, as residents and staff see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The service charges no fee.
    NotRequired,
    Due,
    /// A payment is under way at the provider.
    Pending,
    Paid,
    Refunded,
    PartiallyRefunded,
}

super::parsed_from_text!(PaymentStatus, "payment status");

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::NotRequired,
        PaymentStatus::Due,
        PaymentStatus::Pending,
        PaymentStatus::Paid,
        PaymentStatus::Refunded,
        PaymentStatus::PartiallyRefunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::NotRequired => "not_required",
            PaymentStatus::Due => "due",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
        }
    }

    pub fn parse(raw: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// What a new application owes: its fee, or nothing.
    pub fn at_submission(fee_pence: i32) -> PaymentStatus {
        if fee_pence > 0 {
            PaymentStatus::Due
        } else {
            PaymentStatus::NotRequired
        }
    }

    /// Whether staff may start reviewing: the fee is settled (a partial refund leaves it paid).
    pub fn allows_review(self) -> bool {
        matches!(
            self,
            PaymentStatus::NotRequired | PaymentStatus::Paid | PaymentStatus::PartiallyRefunded
        )
    }
}

/// A payment's state at the provider (GOV.UK Pay's `state.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    Created,
    Started,
    Submitted,
    Capturable,
    Success,
    Failed,
    Cancelled,
    Error,
}

super::parsed_from_text!(PaymentState, "payment state");

impl PaymentState {
    pub const ALL: [PaymentState; 8] = [
        PaymentState::Created,
        PaymentState::Started,
        PaymentState::Submitted,
        PaymentState::Capturable,
        PaymentState::Success,
        PaymentState::Failed,
        PaymentState::Cancelled,
        PaymentState::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Created => "created",
            PaymentState::Started => "started",
            PaymentState::Submitted => "submitted",
            PaymentState::Capturable => "capturable",
            PaymentState::Success => "success",
            PaymentState::Failed => "failed",
            PaymentState::Cancelled => "cancelled",
            PaymentState::Error => "error",
        }
    }

    pub fn parse(raw: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Finished states are final at the provider.
    pub fn is_finished(self) -> bool {
        self.step() == FINISHED
    }

    fn step(self) -> u8 {
        match self {
            PaymentState::Created => 0,
            PaymentState::Started => 1,
            PaymentState::Submitted => 2,
            PaymentState::Capturable => 3,
            PaymentState::Success
            | PaymentState::Failed
            | PaymentState::Cancelled
            | PaymentState::Error => FINISHED,
        }
    }

    /// Whether a report that the payment is now `reported` moves it on from `self`. A late or
    /// repeated report (an older state, the same state, anything after a finish) changes nothing.
    pub fn moves_on_to(self, reported: PaymentState) -> bool {
        !self.is_finished() && reported.step() > self.step()
    }
}

const FINISHED: u8 = 4;

/// A refund's life: owed (`requested`) until the provider takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Owed: the provider has not taken it yet (it is retried until it does).
    Requested,
    Submitted,
    Success,
    /// The provider refused it: nothing was refunded.
    Failed,
}

super::parsed_from_text!(RefundStatus, "refund status");

impl RefundStatus {
    pub const ALL: [RefundStatus; 4] = [
        RefundStatus::Requested,
        RefundStatus::Submitted,
        RefundStatus::Success,
        RefundStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Requested => "requested",
            RefundStatus::Submitted => "submitted",
            RefundStatus::Success => "success",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<RefundStatus> {
        RefundStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// What an application's payments add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ledger {
    pub fee_pence: i32,
    /// The successful payment's amount, if there is one.
    pub paid_pence: Option<i32>,
    pub in_progress: bool,
    /// Refunds that count (owed, submitted or done).
    pub refunded_pence: i32,
}

impl Ledger {
    pub fn status(&self) -> PaymentStatus {
        match self.paid_pence {
            Some(paid) if self.refunded_pence >= paid => PaymentStatus::Refunded,
            Some(_) if self.refunded_pence > 0 => PaymentStatus::PartiallyRefunded,
            Some(_) => PaymentStatus::Paid,
            None if self.fee_pence <= 0 => PaymentStatus::NotRequired,
            None if self.in_progress => PaymentStatus::Pending,
            None => PaymentStatus::Due,
        }
    }

    /// What is left to refund.
    pub fn refundable_pence(&self) -> i32 {
        self.paid_pence
            .map_or(0, |paid| (paid - self.refunded_pence).max(0))
    }
}

/// An amount for people: `£45.00`.
pub fn format_pence(pence: i32) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    let pence = pence.unsigned_abs();
    format!("{sign}£{}.{:02}", pence / 100, pence % 100)
}

#[cfg(test)]
mod tests {
    use super::PaymentState::*;
    use super::*;

    #[test]
    fn reports_only_ever_move_a_payment_forward() {
        assert!(Created.moves_on_to(Started));
        assert!(Created.moves_on_to(Success));
        assert!(Capturable.moves_on_to(Failed));
        // Late, repeated and after-the-end reports change nothing.
        assert!(!Started.moves_on_to(Created));
        assert!(!Started.moves_on_to(Started));
        for finished in [Success, Failed, Cancelled, Error] {
            assert!(finished.is_finished());
            for reported in PaymentState::ALL {
                assert!(
                    !finished.moves_on_to(reported),
                    "{finished:?} → {reported:?}"
                );
            }
        }
    }

    #[test]
    fn what_the_ledger_says() {
        let fee = Ledger {
            fee_pence: 4500,
            ..Ledger::default()
        };
        assert_eq!(fee.status(), PaymentStatus::Due);
        assert_eq!(
            Ledger {
                fee_pence: 0,
                ..fee
            }
            .status(),
            PaymentStatus::NotRequired
        );
        let pending = Ledger {
            in_progress: true,
            ..fee
        };
        assert_eq!(pending.status(), PaymentStatus::Pending);
        let paid = Ledger {
            paid_pence: Some(4500),
            ..fee
        };
        assert_eq!(paid.status(), PaymentStatus::Paid);
        assert_eq!(paid.refundable_pence(), 4500);
        let part = Ledger {
            refunded_pence: 1000,
            ..paid
        };
        assert_eq!(part.status(), PaymentStatus::PartiallyRefunded);
        assert_eq!(part.refundable_pence(), 3500);
        let all = Ledger {
            refunded_pence: 4500,
            ..paid
        };
        assert_eq!(all.status(), PaymentStatus::Refunded);
        assert_eq!(all.refundable_pence(), 0);
        assert_eq!(fee.refundable_pence(), 0);
    }

    #[test]
    fn amounts_for_people() {
        assert_eq!(format_pence(4500), "£45.00");
        assert_eq!(format_pence(1), "£0.01");
        assert_eq!(format_pence(-250), "-£2.50");
    }

    #[test]
    fn review_needs_the_fee_settled() {
        for status in PaymentStatus::ALL {
            assert_eq!(
                status.allows_review(),
                matches!(
                    status,
                    PaymentStatus::NotRequired
                        | PaymentStatus::Paid
                        | PaymentStatus::PartiallyRefunded
                )
            );
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::at_submission(4500), PaymentStatus::Due);
        assert_eq!(PaymentStatus::at_submission(0), PaymentStatus::NotRequired);
        for state in PaymentState::ALL {
            assert_eq!(PaymentState::parse(state.as_str()), Some(state));
        }
        for status in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(status.as_str()), Some(status));
        }
    }
}
