//! The personal-data registry: every column of every table, classified — is it personal data,
//! of which category, is it exported to the person, how is it erased, how long is it kept.
//!
//! Export and erasure (`db::privacy::export` and `db::privacy::erase`) are generated from this
//! list, the export's Article 15 text (`privacy::article_15`) is read from it, and a test compares
//! it with the live schema, so a new column cannot escape any of them: add the column, and the
//! test fails until it is classified here.

/// How to find one person's rows in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// `WHERE <column> = $person`
    Column(&'static str),
    /// `WHERE <column> IN (SELECT id FROM <table> WHERE <table's owner>)`
    Via {
        column: &'static str,
        parent: &'static str,
    },
    /// Nobody's: reference data.
    Nobody,
}

/// What happens to the person's rows of a table on erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Deleted.
    Delete,
    /// Kept, with each column treated by its `Erase` rule: the council must keep the record.
    Anonymise,
    /// Not the person's data.
    Untouched,
}

/// What erasure does to one column of a kept row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erase {
    /// Not personal, or a pseudonymous id that must stay for the record to make sense.
    Keep,
    /// Set to NULL.
    Null,
    /// Replaced with this SQL expression (evaluated per row).
    Replace(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    NotPersonal,
    /// An id that points at a person without naming them.
    PseudonymousId,
    Identity,
    Contact,
    Credential,
    Preference,
    Activity,
    /// What a person wrote in an application or request.
    Submission,
    /// Notes council staff wrote about a case.
    CaseNotes,
    Correspondence,
    Device,
}

/// Whether a column appears in the person's own export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    Yes,
    /// Left out, for the stated reason.
    No(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub category: Category,
    pub export: Export,
    pub erase: Erase,
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// Why the council holds this data (Article 15(1)(a)).
    pub purpose: &'static str,
    /// How long it is kept (Article 15(1)(d)), with `{period}` placeholders that
    /// `privacy::retention_text` fills from the configured periods the sweep applies.
    pub retention: &'static str,
    pub owner: Owner,
    pub rows: Rows,
    pub columns: &'static [Column],
}

impl Column {
    pub fn is_personal(&self) -> bool {
        self.category != Category::NotPersonal
    }
}

const fn col(name: &'static str, category: Category, export: Export, erase: Erase) -> Column {
    Column {
        name,
        category,
        export,
        erase,
    }
}

use Category::*;
use Erase::{Keep, Null, Replace};
use Export::{No, Yes};

const SECRET: Export = No("a secret: showing it would weaken the account's security");
const HASHED: Export =
    No("a keyed hash: without the server's secret it cannot be traced back to you, nor you to it");
const INTERNAL: Export = No("internal bookkeeping that says nothing about the person");

pub const REGISTRY: &[Table] = &[
    Table {
        name: "accounts",
        purpose: "to run your MyNorfolk account and let you sign in (contract)",
        retention: "while the account is open; unverified accounts are deleted after {unverified_account_days} days; on erasure the row is anonymised",
        owner: Owner::Column("id"),
        rows: Rows::Anonymise,
        columns: &[
            col("id", PseudonymousId, Yes, Keep),
            col("name", Identity, Yes, Replace("'Erased account'")),
            col(
                "email",
                Contact,
                Yes,
                Replace("'erased-' || id || '@erased.invalid'"),
            ),
            col(
                "email_normalized",
                Contact,
                No("the lower-cased copy of `email`, used for comparison"),
                Replace("'erased-' || id || '@erased.invalid'"),
            ),
            col("password_hash", Credential, SECRET, Null),
            col("email_verified_at", Activity, Yes, Keep),
            col("role", NotPersonal, Yes, Keep),
            col("lawful_basis", NotPersonal, Yes, Keep),
            col("terms_version", NotPersonal, Yes, Keep),
            col("terms_accepted_at", Activity, Yes, Keep),
            col("status_update_emails", Preference, Yes, Keep),
            col("created_at", Activity, Yes, Keep),
            col("updated_at", Activity, Yes, Keep),
            col("erased_at", Activity, Yes, Replace("now()")),
            col("applications_version", NotPersonal, INTERNAL, Keep),
        ],
    },
    Table {
        name: "account_tokens",
        purpose: "to confirm email addresses and reset passwords (contract)",
        retention: "until used or expired (24 hours at most), then {spent_link_days} days",
        owner: Owner::Column("account_id"),
        rows: Rows::Delete,
        columns: &[
            col("token_hash", Credential, SECRET, Keep),
            col("account_id", PseudonymousId, Yes, Keep),
            col("purpose", NotPersonal, Yes, Keep),
            col("new_email", Contact, Yes, Keep),
            col("expires_at", Activity, Yes, Keep),
            col("used_at", Activity, Yes, Keep),
            col("created_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "sessions",
        purpose: "to keep you signed in and let you see and sign out your devices (contract)",
        retention: "while you stay signed in, then {ended_session_days} days after you sign out or the session expires",
        owner: Owner::Column("account_id"),
        rows: Rows::Delete,
        columns: &[
            col("id", PseudonymousId, Yes, Keep),
            col("account_id", PseudonymousId, Yes, Keep),
            col("device", Device, Yes, Keep),
            col("created_at", Activity, Yes, Keep),
            col("last_used_at", Activity, Yes, Keep),
            col("expires_at", Activity, Yes, Keep),
            col("revoked_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "refresh_tokens",
        purpose: "to renew your sign-in safely (contract)",
        retention: "as long as the session",
        owner: Owner::Via {
            column: "session_id",
            parent: "sessions",
        },
        rows: Rows::Delete,
        columns: &[
            col("token_hash", Credential, SECRET, Keep),
            col("session_id", PseudonymousId, Yes, Keep),
            col("created_at", Activity, Yes, Keep),
            col("spent_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "email_outbox",
        purpose: "to send you the emails your account and applications need (contract)",
        retention: "{sent_email_days} days after sending; the text of a sent email is deleted at once",
        owner: Owner::Column("account_id"),
        rows: Rows::Delete,
        columns: &[
            col("id", PseudonymousId, Yes, Keep),
            col("account_id", PseudonymousId, Yes, Keep),
            col("to_address", Contact, Yes, Keep),
            col("template", NotPersonal, Yes, Keep),
            col("subject", Correspondence, Yes, Keep),
            col(
                "body_text",
                Correspondence,
                No("may hold a one-time sign-in link; the subject and template say what was sent"),
                Keep,
            ),
            col("status", NotPersonal, Yes, Keep),
            col("attempts", NotPersonal, INTERNAL, Keep),
            col("next_attempt_at", NotPersonal, INTERNAL, Keep),
            col("last_error", NotPersonal, INTERNAL, Keep),
            col("created_at", Activity, Yes, Keep),
            col("sent_at", Activity, Yes, Keep),
            col("delete_after_send", NotPersonal, INTERNAL, Keep),
        ],
    },
    Table {
        name: "password_reset_requests",
        purpose: "to send the password-reset link you asked for (contract)",
        retention: "seconds: deleted as soon as the link is queued, or found to have no account",
        // Keyed by an address, not by an account: it may name no account at all.
        owner: Owner::Nobody,
        rows: Rows::Delete,
        columns: &[
            col("id", NotPersonal, INTERNAL, Keep),
            col(
                "email_normalized",
                Contact,
                No("held for seconds only"),
                Keep,
            ),
            col("requested_at", Activity, INTERNAL, Keep),
        ],
    },
    Table {
        name: "rate_limits",
        purpose: "to protect accounts and the service against guessing and floods (security of processing, UK GDPR Article 32)",
        retention: "minutes: a row counts only until the client's quota is whole again (at most one minute), then the next hourly sweep deletes it",
        // Keyed by a hash of a network address: nobody's account can be found in it.
        owner: Owner::Nobody,
        rows: Rows::Delete,
        columns: &[
            col("policy", NotPersonal, INTERNAL, Keep),
            col("client_key", Device, HASHED, Keep),
            col("theoretical_arrival", Activity, INTERNAL, Keep),
            col("allowed", NotPersonal, INTERNAL, Keep),
        ],
    },
    Table {
        name: "sign_in_backoff",
        purpose: "to slow down anyone guessing the password of an address (security of processing, UK GDPR Article 32)",
        retention: "until a correct password, or until the address has been left alone for as long as the longest lock, then the next hourly sweep deletes it",
        owner: Owner::Nobody,
        rows: Rows::Delete,
        columns: &[
            col("address_key", PseudonymousId, HASHED, Keep),
            col("failures", Activity, INTERNAL, Keep),
            col("locked_until", Activity, INTERNAL, Keep),
            col("forget_at", NotPersonal, INTERNAL, Keep),
            col("refused", NotPersonal, INTERNAL, Keep),
        ],
    },
    Table {
        name: "background_runs",
        purpose: "when the service last ran its periodic work",
        retention: "not personal data",
        owner: Owner::Nobody,
        rows: Rows::Untouched,
        columns: &[
            col("job", NotPersonal, INTERNAL, Keep),
            col("last_started_at", NotPersonal, INTERNAL, Keep),
            col("runs", NotPersonal, INTERNAL, Keep),
        ],
    },
    Table {
        name: "applications",
        purpose: "to decide and manage your applications for highway services (contract; the council's duties under the Highways Act 1980)",
        retention: "{closed_case_years} years after the application is closed, withdrawn or refused, then anonymised; on erasure, permits still in force keep their reference, service, status and dates",
        owner: Owner::Column("account_id"),
        rows: Rows::Anonymise,
        columns: &[
            col("id", PseudonymousId, Yes, Keep),
            col("reference", NotPersonal, Yes, Keep),
            col("account_id", PseudonymousId, Yes, Null),
            col("service_code", NotPersonal, Yes, Keep),
            col("status", NotPersonal, Yes, Keep),
            col(
                "details",
                Submission,
                Yes,
                Replace("'{\"erased\": true}'::jsonb"),
            ),
            col("fee_pence", NotPersonal, Yes, Keep),
            col(
                "assigned_to",
                PseudonymousId,
                No("the member of staff handling the case"),
                Keep,
            ),
            col("submitted_at", Activity, Yes, Keep),
            col("updated_at", Activity, Yes, Keep),
            col("expected_decision_by", NotPersonal, Yes, Keep),
            col("decided_at", Activity, Yes, Keep),
            col("issued_at", Activity, Yes, Keep),
            col("licence_expires_on", NotPersonal, Yes, Keep),
            col("closed_at", Activity, Yes, Keep),
            col("payment_status", NotPersonal, Yes, Keep),
        ],
    },
    Table {
        name: "application_events",
        purpose: "to record how each application progressed (contract)",
        retention: "as long as the application",
        owner: Owner::Via {
            column: "application_id",
            parent: "applications",
        },
        rows: Rows::Anonymise,
        columns: &[
            col("id", NotPersonal, Yes, Keep),
            col("application_id", PseudonymousId, Yes, Keep),
            col("from_status", NotPersonal, Yes, Keep),
            col("to_status", NotPersonal, Yes, Keep),
            col("actor_role", NotPersonal, Yes, Keep),
            col(
                "actor_id",
                PseudonymousId,
                No("identifies council staff, not you"),
                Keep,
            ),
            col("public_note", CaseNotes, Yes, Null),
            col(
                "internal_note",
                CaseNotes,
                No(
                    "staff working notes: released on an access request after review for exemptions",
                ),
                Null,
            ),
            col("occurred_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "attachments",
        purpose: "to decide your applications with the documents a permit needs: insurance certificates, site plans, licences (contract; the council's duties under the Highways Act 1980)",
        retention: "as long as the application; deleted with their files on erasure, and when the application is anonymised {closed_case_years} years after it is closed",
        owner: Owner::Via {
            column: "application_id",
            parent: "applications",
        },
        rows: Rows::Delete,
        columns: &[
            col("id", PseudonymousId, Yes, Keep),
            col("application_id", PseudonymousId, Yes, Keep),
            col("kind", NotPersonal, Yes, Keep),
            col("filename", Submission, Yes, Keep),
            col("content_type", NotPersonal, Yes, Keep),
            col("size_bytes", NotPersonal, Yes, Keep),
            col("sha256", NotPersonal, Yes, Keep),
            col(
                "storage_key",
                NotPersonal,
                No("where the file is kept; the file itself comes with a zip export"),
                Keep,
            ),
            col("created_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "payments",
        purpose: "to take the fee for your applications, through the council's payment provider GOV.UK Pay (contract; financial records the council must keep)",
        retention: "as long as the application they paid for; on erasure they are kept as financial records, without the link to you",
        owner: Owner::Column("account_id"),
        rows: Rows::Anonymise,
        columns: &[
            col("id", PseudonymousId, Yes, Keep),
            col("application_id", PseudonymousId, Yes, Keep),
            col("account_id", PseudonymousId, Yes, Null),
            col("provider", NotPersonal, Yes, Keep),
            col("provider_payment_id", PseudonymousId, Yes, Keep),
            col("amount_pence", NotPersonal, Yes, Keep),
            col("state", NotPersonal, Yes, Keep),
            col("next_url", NotPersonal, Yes, Null),
            col("created_at", Activity, Yes, Keep),
            col("updated_at", Activity, Yes, Keep),
            col("finished_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "refunds",
        purpose: "to give back fees, in full or in part (contract; financial records the council must keep)",
        retention: "as long as the payment they refund; on erasure the reason is removed",
        owner: Owner::Via {
            column: "payment_id",
            parent: "payments",
        },
        rows: Rows::Anonymise,
        columns: &[
            col("id", PseudonymousId, Yes, Keep),
            col("payment_id", PseudonymousId, Yes, Keep),
            col("provider_refund_id", PseudonymousId, Yes, Keep),
            col("amount_pence", NotPersonal, Yes, Keep),
            col("reason", CaseNotes, Yes, Replace("'erased'")),
            col("status", NotPersonal, Yes, Keep),
            col(
                "requested_by",
                PseudonymousId,
                No("identifies council staff, not you"),
                Keep,
            ),
            col("requested_at", Activity, Yes, Keep),
            col("updated_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "idempotency_keys",
        purpose: "to make sure a retried submission creates one application only (contract)",
        retention: "{idempotency_key_days} days",
        owner: Owner::Column("account_id"),
        rows: Rows::Delete,
        columns: &[
            col("account_id", PseudonymousId, Yes, Keep),
            col("key", NotPersonal, Yes, Keep),
            col("request_hash", NotPersonal, INTERNAL, Keep),
            col("response_status", NotPersonal, INTERNAL, Keep),
            col(
                "response_body",
                Submission,
                No("a copy of the application, which is exported in full"),
                Keep,
            ),
            col("created_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "data_requests",
        purpose: "to handle your requests under data-protection law (legal obligation, UK GDPR Articles 12–22)",
        retention: "{closed_case_years} years after the request is closed, to show the council met its duties; your own words are removed on erasure",
        owner: Owner::Column("account_id"),
        rows: Rows::Anonymise,
        columns: &[
            col("id", PseudonymousId, Yes, Keep),
            col("account_id", PseudonymousId, Yes, Keep),
            col("kind", NotPersonal, Yes, Keep),
            col("details", Submission, Yes, Null),
            col("status", NotPersonal, Yes, Keep),
            col("received_at", Activity, Yes, Keep),
            col("original_due_by", NotPersonal, Yes, Keep),
            col("due_by", NotPersonal, Yes, Keep),
            col("extension_reason", CaseNotes, Yes, Null),
            // Emptied on erasure; the erasure's own statement of what was kept is written after.
            col("decision_reason", CaseNotes, Yes, Null),
            col(
                "decided_by",
                PseudonymousId,
                No("identifies council staff, not you"),
                Keep,
            ),
            col("decided_at", Activity, Yes, Keep),
        ],
    },
    Table {
        name: "audit_events",
        purpose: "to keep an append-only record of who did what with personal data (legal obligation, UK GDPR Article 5(2) accountability)",
        retention: "{audit_years} years; it holds only pseudonymous ids",
        owner: Owner::Column("subject_id"),
        rows: Rows::Anonymise,
        columns: &[
            col("id", NotPersonal, INTERNAL, Keep),
            col("occurred_at", Activity, Yes, Keep),
            col("actor_id", PseudonymousId, Yes, Keep),
            col("actor_role", NotPersonal, Yes, Keep),
            col("action", NotPersonal, Yes, Keep),
            col("target_type", NotPersonal, Yes, Keep),
            col("target_id", PseudonymousId, Yes, Keep),
            col("subject_id", PseudonymousId, Yes, Keep),
            col("reason", CaseNotes, Yes, Null),
            col("request_id", NotPersonal, INTERNAL, Keep),
        ],
    },
    Table {
        name: "simulated_payments",
        purpose: "the simulated payment provider's own records (development and tests only: production uses GOV.UK Pay)",
        retention: "not personal data: the application's reference, the service and the amount",
        owner: Owner::Nobody,
        rows: Rows::Untouched,
        columns: &[
            col("id", NotPersonal, INTERNAL, Keep),
            col("amount", NotPersonal, INTERNAL, Keep),
            col("reference", NotPersonal, INTERNAL, Keep),
            col("description", NotPersonal, INTERNAL, Keep),
            col("return_url", NotPersonal, INTERNAL, Keep),
            col("state", NotPersonal, INTERNAL, Keep),
            col("refunded", NotPersonal, INTERNAL, Keep),
            col("idempotency_key", NotPersonal, INTERNAL, Keep),
            col("created_at", NotPersonal, INTERNAL, Keep),
        ],
    },
    Table {
        name: "storage_cleanup",
        purpose: "to remove from storage the files of deleted attachments and of uploads that failed (legal obligation: storage limitation)",
        retention: "minutes: until the file is removed",
        // Storage keys are random and name no one.
        owner: Owner::Nobody,
        rows: Rows::Untouched,
        columns: &[
            col("storage_key", NotPersonal, INTERNAL, Keep),
            col("due_at", NotPersonal, INTERNAL, Keep),
        ],
    },
    Table {
        name: "services",
        purpose: "the catalogue of services",
        retention: "not personal data",
        owner: Owner::Nobody,
        rows: Rows::Untouched,
        columns: &[
            col("code", NotPersonal, INTERNAL, Keep),
            col("reference_prefix", NotPersonal, INTERNAL, Keep),
            col("name", NotPersonal, INTERNAL, Keep),
            col("description", NotPersonal, INTERNAL, Keep),
            col("audience", NotPersonal, INTERNAL, Keep),
            col("fee_pence", NotPersonal, INTERNAL, Keep),
            col("target_decision_days", NotPersonal, INTERNAL, Keep),
            col("licence_validity_months", NotPersonal, INTERNAL, Keep),
            col("legal_basis", NotPersonal, INTERNAL, Keep),
            col("active", NotPersonal, INTERNAL, Keep),
        ],
    },
];

/// Tables that belong to the tooling, not to the service.
pub const TOOLING_TABLES: &[&str] = &["__diesel_schema_migrations"];

pub fn table(name: &str) -> Option<&'static Table> {
    REGISTRY.iter().find(|t| t.name == name)
}

/// `WHERE` condition selecting `person`'s rows of `table` (bound as `$1`), following parents.
pub fn owner_condition(table: &Table) -> Option<String> {
    match table.owner {
        Owner::Column(column) => Some(format!("{column} = $1")),
        Owner::Via { column, parent } => {
            let parent_condition = owner_condition(self::table(parent)?)?;
            Some(format!(
                "{column} IN (SELECT id FROM {parent} WHERE {parent_condition})"
            ))
        }
        Owner::Nobody => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_columns_of_kept_rows_are_erased_or_pseudonymous() {
        for table in REGISTRY.iter().filter(|t| t.rows == Rows::Anonymise) {
            for column in table.columns {
                let harmless = matches!(
                    column.category,
                    NotPersonal | PseudonymousId | Activity | Preference
                ) || (table.name == "data_requests"
                    && column.name == "decision_reason");
                assert!(
                    harmless || column.erase != Keep,
                    "{}.{} is personal data kept as it is on erasure",
                    table.name,
                    column.name
                );
            }
        }
    }

    #[test]
    fn every_owner_path_resolves() {
        for table in REGISTRY {
            assert_eq!(
                owner_condition(table).is_some(),
                table.owner != Owner::Nobody,
                "{}",
                table.name
            );
        }
        assert_eq!(
            owner_condition(table("refresh_tokens").unwrap()).unwrap(),
            "session_id IN (SELECT id FROM sessions WHERE account_id = $1)"
        );
    }

    #[test]
    fn credentials_are_never_exported() {
        for table in REGISTRY {
            for column in table.columns.iter().filter(|c| c.category == Credential) {
                assert!(
                    matches!(column.export, Export::No(_)),
                    "{}.{}",
                    table.name,
                    column.name
                );
            }
        }
    }
}
