//! Privacy by design: the registry that classifies every column, and what the council tells a
//! person about their data (UK GDPR Article 15). Plain Rust; the queries live in `db::privacy`.

pub mod registry;

use serde_json::{Value, json};

use crate::configuration::RetentionSettings;
use registry::{REGISTRY, Rows};

/// A registry retention text with its periods filled in from the configuration, which is also
/// what the retention sweep applies: what a person is told is what is done.
pub fn retention_text(text: &str, periods: &RetentionSettings) -> String {
    [
        ("{unverified_account_days}", periods.unverified_account_days),
        ("{spent_link_days}", periods.spent_link_days),
        ("{ended_session_days}", periods.ended_session_days),
        ("{sent_email_days}", periods.sent_email_days),
        ("{idempotency_key_days}", periods.idempotency_key_days),
        ("{closed_case_years}", periods.closed_case_years),
        ("{audit_years}", periods.audit_years),
    ]
    .iter()
    .fold(text.to_owned(), |text, (placeholder, value)| {
        text.replace(placeholder, &value.to_string())
    })
}

/// The Article 15 information that accompanies every export.
pub fn article_15(periods: &RetentionSettings) -> Value {
    let held: Vec<Value> = REGISTRY
        .iter()
        .filter(|t| t.rows != Rows::Untouched)
        .map(|t| {
            let retention = retention_text(t.retention, periods);
            json!({"data": t.name, "purpose": t.purpose, "retention": retention})
        })
        .collect();
    json!({
        "controller": "Norfolk County Council, County Hall, Martineau Lane, Norwich NR1 2DH",
        "data_protection_officer": "The council's Data Protection Officer, via the contact details at www.norfolk.gov.uk/privacy",
        "lawful_basis": {
            "account_and_applications": "contract (UK GDPR Article 6(1)(b)): you asked for an account and for services",
            "data_requests_and_audit": "legal obligation (UK GDPR Article 6(1)(c)): data-protection law requires these records",
            "highway_records": "public task (UK GDPR Article 6(1)(e)): the council's duties as highway authority under the Highways Act 1980"
        },
        "purposes_and_retention": held,
        "recipients": [
            "Norfolk County Council staff who handle applications and data-protection requests",
            "The council's email delivery provider (a processor), which sends the emails you receive from MyNorfolk",
            "The council's hosting provider (a processor), which runs the service and its database in the UK"
        ],
        "international_transfers": "none",
        "source": "You gave us your name, email address, applications and requests. Council staff added case notes and decisions. Our systems recorded sign-ins, emails sent and who accessed your data.",
        "automated_decision_making": "none: every decision on an application or request is made by a member of staff",
        "your_rights": "You can ask for a copy of your data, for corrections, for erasure, and to restrict or object to processing; you can complain to the Information Commissioner's Office (ico.org.uk)."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIODS: RetentionSettings = RetentionSettings {
        unverified_account_days: 11,
        spent_link_days: 12,
        ended_session_days: 13,
        sent_email_days: 14,
        idempotency_key_days: 15,
        closed_case_years: 16,
        audit_years: 17,
    };

    #[test]
    fn every_retention_text_is_filled_from_the_configured_periods() {
        for table in REGISTRY {
            let text = retention_text(table.retention, &PERIODS);
            assert!(!text.contains('{'), "{}: {text}", table.name);
        }
        let said = article_15(&PERIODS).to_string();
        for period in 11..=17 {
            assert!(
                said.contains(&format!("{period} ")),
                "{period} is not stated: {said}"
            );
        }
    }
}
