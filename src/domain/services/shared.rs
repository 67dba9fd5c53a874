//! What several services' details share: an address, a contact, insurance, and the checks on
//! periods, postcodes, phone numbers and company numbers.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::ServiceRules;
use crate::domain::validation::ValidationErrors;

/// A postal address in the UK.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[validate(length(min = 1, max = 100))]
    pub line1: String,
    #[validate(length(min = 1, max = 100))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[validate(length(min = 1, max = 60))]
    pub town: String,
    /// A UK postcode, e.g. `NR1 2DH`.
    #[validate(custom(function = "valid_postcode"))]
    pub postcode: String,
}

/// A company or person the council may need to contact about the works.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    #[validate(custom(function = "valid_phone"))]
    pub phone: String,
    #[validate(email, length(max = 254))]
    pub email: String,
}

/// Public-liability insurance covering the works.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Insurance {
    #[validate(length(min = 1, max = 100))]
    pub insurer: String,
    #[validate(length(min = 1, max = 50))]
    pub policy_number: String,
    /// Cover in pence; at least the council's minimum (£5,000,000 by default).
    #[validate(range(min = 0))]
    pub cover_pence: i64,
    pub expires_on: NaiveDate,
}

pub(super) fn check_period(
    start: NaiveDate,
    end: NaiveDate,
    max_days: u32,
    today: NaiveDate,
    errors: &mut ValidationErrors,
) {
    if start < today {
        errors.add("details.start_date", "must not be in the past");
    }
    if end < start {
        errors.add("details.end_date", "must not be before start_date");
    } else if (end - start).num_days() + 1 > i64::from(max_days) {
        errors.add(
            "details.end_date",
            format!("the period must be at most {max_days} days"),
        );
    }
}

pub(super) fn check_insurance(
    insurance: &Insurance,
    needed_until: NaiveDate,
    rules: &ServiceRules,
    errors: &mut ValidationErrors,
) {
    if insurance.cover_pence < rules.min_insurance_cover_pence {
        errors.add(
            "details.insurance.cover_pence",
            format!(
                "must be at least {} pence (£{})",
                rules.min_insurance_cover_pence,
                rules.min_insurance_cover_pence / 100
            ),
        );
    }
    if insurance.expires_on < needed_until {
        errors.add(
            "details.insurance.expires_on",
            "the insurance must be in force until the works end",
        );
    }
}

pub(super) fn invalid(code: &'static str, message: &'static str) -> validator::ValidationError {
    validator::ValidationError::new(code).with_message(message.into())
}

/// UK postcode shape: outward code (A9, A99, AA9, AA99, A9A, AA9A), then 9AA. `GIR 0AA` too.
pub(super) fn valid_postcode(raw: &str) -> Result<(), validator::ValidationError> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let ok = compact == "GIR0AA" || {
        let bytes = compact.as_bytes();
        let (outward, inward) = bytes.split_at(bytes.len().saturating_sub(3));
        let inward_ok = inward.len() == 3
            && inward[0].is_ascii_digit()
            && inward[1..].iter().all(u8::is_ascii_alphabetic);
        let outward_ok = match outward {
            [a, d] => a.is_ascii_alphabetic() && d.is_ascii_digit(),
            [a, b, c] => {
                a.is_ascii_alphabetic()
                    && (b.is_ascii_digit() || b.is_ascii_alphabetic())
                    && (c.is_ascii_alphanumeric())
                    && (b.is_ascii_digit() || c.is_ascii_digit())
            }
            [a, b, c, d] => {
                a.is_ascii_alphabetic()
                    && b.is_ascii_alphabetic()
                    && c.is_ascii_digit()
                    && d.is_ascii_alphanumeric()
            }
            _ => false,
        };
        inward_ok && outward_ok
    };
    if ok {
        Ok(())
    } else {
        Err(invalid("postcode", "is not a UK postcode"))
    }
}

pub(super) fn valid_phone(raw: &str) -> Result<(), validator::ValidationError> {
    let allowed = raw
        .chars()
        .all(|c| c.is_ascii_digit() || " +()-".contains(c));
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    if allowed && (7..=15).contains(&digits) && raw.len() <= 25 {
        Ok(())
    } else {
        Err(invalid("phone", "is not a phone number"))
    }
}

pub(super) fn valid_company_number(raw: &str) -> Result<(), validator::ValidationError> {
    let bytes = raw.trim().as_bytes();
    let ok = bytes.len() == 8
        && (bytes.iter().all(u8::is_ascii_digit)
            || (bytes[..2].iter().all(u8::is_ascii_uppercase)
                && bytes[2..].iter().all(u8::is_ascii_digit)));
    if ok {
        Ok(())
    } else {
        Err(invalid("company_number", "is not a Companies House number"))
    }
}
