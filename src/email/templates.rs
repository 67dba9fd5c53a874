//! The emails the service sends, as plain-text files under `templates/` (first line: subject).
//! Rendered by minijinja; placeholders are `{{ name }}` and filled from the variant's fields.

use crate::db::outbox::NewEmail;

/// One email to send, with what it needs to be written.
///
/// An address that has not yet proved it wants our email (a sign-up, a new address) is sent no text
/// a caller chose: those templates take no name.
#[derive(Debug, Clone)]
pub enum Template {
    VerifyEmail {
        link: String,
    },
    /// A second sign-up for an address that was never verified: the mailbox's owner chooses the
    /// password (no earlier sign-up's password survives).
    FinishSignUp {
        link: String,
    },
    AlreadyRegistered {
        name: String,
        sign_in_link: String,
        reset_link: String,
    },
    ResetPassword {
        name: String,
        link: String,
    },
    PasswordChanged {
        name: String,
        reset_link: String,
    },
    ConfirmNewEmail {
        link: String,
    },
    EmailChanged {
        name: String,
        new_email: String,
    },
    StaffWelcome {
        name: String,
        role: String,
        link: String,
    },
    /// The receipt for a submitted application.
    ApplicationReceived {
        name: String,
        reference: String,
        service: String,
        decision_by: String,
    },
    StatusChanged {
        name: String,
        reference: String,
        service: String,
        status: String,
        note: Option<String>,
    },
    /// The receipt for a fee the provider has taken.
    PaymentReceived {
        name: String,
        reference: String,
        amount: String,
    },
    RefundIssued {
        name: String,
        reference: String,
        amount: String,
        reason: String,
    },
    DataRequestReceived {
        name: String,
        kind: String,
        id: String,
        due_by: String,
    },
    DataRequestExtended {
        name: String,
        kind: String,
        id: String,
        due_by: String,
        reason: String,
    },
    DataRequestCompleted {
        name: String,
        kind: String,
        id: String,
        outcome: String,
    },
    DataRequestRefused {
        name: String,
        kind: String,
        id: String,
        reason: String,
    },
    /// Sent after erasure: it names no one, and its outbox row is deleted once sent.
    AccountErased {
        id: String,
        kept: String,
    },
}

/// Whether emails of the template `code` are status updates, which the resident chose to receive
/// and can turn off from the email itself (one-click unsubscribe). Every other email is
/// transactional: a link, a receipt, a notice the account needs.
pub fn is_status_update(code: &str) -> bool {
    code == "status_changed"
}

impl Template {
    /// A stable code, kept with the outbox row (and shown in the person's data export).
    pub fn code(&self) -> &'static str {
        match self {
            Template::VerifyEmail { .. } => "verify_email",
            Template::FinishSignUp { .. } => "finish_sign_up",
            Template::AlreadyRegistered { .. } => "already_registered",
            Template::ResetPassword { .. } => "reset_password",
            Template::PasswordChanged { .. } => "password_changed",
            Template::ConfirmNewEmail { .. } => "confirm_new_email",
            Template::EmailChanged { .. } => "email_changed",
            Template::StaffWelcome { .. } => "staff_welcome",
            Template::ApplicationReceived { .. } => "application_received",
            Template::StatusChanged { .. } => "status_changed",
            Template::PaymentReceived { .. } => "payment_received",
            Template::RefundIssued { .. } => "refund_issued",
            Template::DataRequestReceived { .. } => "data_request_received",
            Template::DataRequestExtended { .. } => "data_request_extended",
            Template::DataRequestCompleted { .. } => "data_request_completed",
            Template::DataRequestRefused { .. } => "data_request_refused",
            Template::AccountErased { .. } => "account_erased",
        }
    }

    /// The email, rendered, as the outbox stores it.
    pub fn email(&self) -> NewEmail {
        let (subject, body) = self.render();
        NewEmail {
            template: self.code(),
            subject,
            body,
        }
    }

    /// (subject, body)
    pub fn render(&self) -> (String, String) {
        let note;
        let values: Vec<(&str, &str)> = match self {
            Template::VerifyEmail { link } => vec![("link", link)],
            Template::FinishSignUp { link } => vec![("link", link)],
            Template::AlreadyRegistered {
                name,
                sign_in_link,
                reset_link,
            } => vec![
                ("name", name),
                ("sign_in_link", sign_in_link),
                ("reset_link", reset_link),
            ],
            Template::ResetPassword { name, link } => vec![("name", name), ("link", link)],
            Template::PasswordChanged { name, reset_link } => {
                vec![("name", name), ("reset_link", reset_link)]
            }
            Template::ConfirmNewEmail { link } => vec![("link", link)],
            Template::EmailChanged { name, new_email } => {
                vec![("name", name), ("new_email", new_email)]
            }
            Template::StaffWelcome { name, role, link } => {
                vec![("name", name), ("role", role), ("link", link)]
            }
            Template::ApplicationReceived {
                name,
                reference,
                service,
                decision_by,
            } => vec![
                ("name", name),
                ("reference", reference),
                ("service", service),
                ("decision_by", decision_by),
            ],
            Template::StatusChanged {
                name,
                reference,
                service,
                status,
                note: public_note,
            } => {
                note = public_note.as_ref().map_or_else(String::new, |n| {
                    format!("\nA note from the council:\n{n}\n")
                });
                vec![
                    ("name", name),
                    ("reference", reference),
                    ("service", service),
                    ("status", status),
                    ("note", &note),
                ]
            }
            Template::PaymentReceived {
                name,
                reference,
                amount,
            } => vec![("name", name), ("reference", reference), ("amount", amount)],
            Template::RefundIssued {
                name,
                reference,
                amount,
                reason,
            } => vec![
                ("name", name),
                ("reference", reference),
                ("amount", amount),
                ("reason", reason),
            ],
            Template::DataRequestReceived {
                name,
                kind,
                id,
                due_by,
            } => vec![
                ("name", name),
                ("kind", kind),
                ("id", id),
                ("due_by", due_by),
            ],
            Template::DataRequestExtended {
                name,
                kind,
                id,
                due_by,
                reason,
            } => vec![
                ("name", name),
                ("kind", kind),
                ("id", id),
                ("due_by", due_by),
                ("reason", reason),
            ],
            Template::DataRequestCompleted {
                name,
                kind,
                id,
                outcome,
            } => vec![
                ("name", name),
                ("kind", kind),
                ("id", id),
                ("outcome", outcome),
            ],
            Template::DataRequestRefused {
                name,
                kind,
                id,
                reason,
            } => vec![
                ("name", name),
                ("kind", kind),
                ("id", id),
                ("reason", reason),
            ],
            Template::AccountErased { id, kept } => vec![("id", id), ("kept", kept)],
        };
        let context: std::collections::BTreeMap<&str, String> = values
            .into_iter()
            .map(|(key, value)| match FREE_TEXT.contains(&key) {
                true => (key, inert(value)),
                false => (key, value.to_owned()),
            })
            .collect();
        // The templates are compiled in and each test renders every one: a failure is a bug here.
        let text = TEMPLATES
            .get_template(self.code())
            .and_then(|template| template.render(context))
            .unwrap_or_else(|error| panic!("email template {}: {error}", self.code()));
        let (subject, body) = text
            .split_once('\n')
            .expect("a template starts with its subject line");
        (subject.trim().to_owned(), body.to_owned())
    }
}

/// Every template, by code: plain text, first line the subject, `{{ name }}` placeholders. Values
/// are inserted once and never read as template syntax, so a name like `{{ link }}` stays text.
static TEMPLATES: std::sync::LazyLock<minijinja::Environment<'static>> =
    std::sync::LazyLock::new(|| {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (code, source) in [
            ("verify_email", include_str!("templates/verify_email.txt")),
            (
                "finish_sign_up",
                include_str!("templates/finish_sign_up.txt"),
            ),
            (
                "already_registered",
                include_str!("templates/already_registered.txt"),
            ),
            (
                "reset_password",
                include_str!("templates/reset_password.txt"),
            ),
            (
                "password_changed",
                include_str!("templates/password_changed.txt"),
            ),
            (
                "confirm_new_email",
                include_str!("templates/confirm_new_email.txt"),
            ),
            ("email_changed", include_str!("templates/email_changed.txt")),
            ("staff_welcome", include_str!("templates/staff_welcome.txt")),
            (
                "application_received",
                include_str!("templates/application_received.txt"),
            ),
            (
                "status_changed",
                include_str!("templates/status_changed.txt"),
            ),
            (
                "payment_received",
                include_str!("templates/payment_received.txt"),
            ),
            ("refund_issued", include_str!("templates/refund_issued.txt")),
            (
                "data_request_received",
                include_str!("templates/data_request_received.txt"),
            ),
            (
                "data_request_extended",
                include_str!("templates/data_request_extended.txt"),
            ),
            (
                "data_request_completed",
                include_str!("templates/data_request_completed.txt"),
            ),
            (
                "data_request_refused",
                include_str!("templates/data_request_refused.txt"),
            ),
            (
                "account_erased",
                include_str!("templates/account_erased.txt"),
            ),
        ] {
            env.add_template(code, source)
                .unwrap_or_else(|error| panic!("email template {code}: {error}"));
        }
        env
    });

/// Placeholders filled with text a person typed (a name, a staff note or reason), as opposed to
/// text the service made (links, references, dates).
const FREE_TEXT: [&str; 5] = ["name", "note", "reason", "outcome", "new_email"];

/// Free text made inert for mail clients, which turn anything that looks like a web or email
/// address into a link: in such a word `://` becomes `[:]//`, a dot becomes `[.]` and `@` becomes
/// `[at]` (the usual "defanged" spelling), so it can still be read but not clicked. Dots include
/// the full-width and ideographic ones some clients also accept.
fn inert(text: &str) -> String {
    const DOT: &str = r"[.\x{3002}\x{FF0E}\x{FF61}]";
    static LINKABLE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        let patterns = [
            r"[a-z][a-z0-9+.-]*://\S*".to_owned(), // a URL with a scheme
            format!(r"[\w.+-]+@[\w-]+(?:{DOT}[\w-]+)+"), // an email address
            format!(r"\bwww{DOT}\S*"),             // www.…
            format!(r"\b\d{{1,3}}(?:{DOT}\d{{1,3}}){{3}}\b"), // an IPv4 address
            format!(r"\b[\w-]+(?:{DOT}[\w-]+)*{DOT}\p{{L}}{{2,}}\b"), // a bare domain: refunds.example
        ];
        regex::Regex::new(&format!("(?i){}", patterns.join("|"))).expect("a valid pattern")
    });
    static DOTS: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(DOT).expect("a valid pattern"));
    LINKABLE
        .replace_all(text, |found: &regex::Captures| {
            let defanged = found[0].replace("://", "[:]//").replace('@', "[at]");
            DOTS.replace_all(&defanged, "[.]").into_owned()
        })
        .into_owned()
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_status_updates_can_be_unsubscribed_from() {
        let status = Template::StatusChanged {
            name: "Siân".into(),
            reference: "SKP-2026-000001".into(),
            service: "Skip permit".into(),
            status: "approved".into(),
            note: None,
        };
        assert!(super::is_status_update(status.code()));
        let reset = Template::ResetPassword {
            name: "Siân".into(),
            link: "https://example.org".into(),
        };
        assert!(!super::is_status_update(reset.code()));
        assert!(!super::is_status_update("application_received"));
    }

    use super::*;

    #[test]
    fn values_are_text_never_template_syntax() {
        let (_, body) = Template::ResetPassword {
            name: "{{ link }} {link} {% if true %}x{% endif %}".into(),
            link: "https://frontend.example/reset?token=SECRET".into(),
        }
        .render();
        assert_eq!(body.matches("SECRET").count(), 1, "{body}");
        assert!(
            body.contains("{{ link }} {link} {% if true %}x{% endif %}"),
            "{body}"
        );
    }

    #[test]
    fn free_text_loses_what_a_mail_client_would_link() {
        assert_eq!(
            inert(
                "Pay at https://pay.evil.example/x, www.evil.example, evil.example or a@b.example"
            ),
            "Pay at https[:]//pay[.]evil[.]example/x, www[.]evil[.]example, evil[.]example or a[at]b[.]example"
        );
        assert_eq!(
            inert("evil\u{3002}example, 192.168.0.1/login, пример.рф"),
            "evil[.]example, 192[.]168[.]0[.]1/login, пример[.]рф"
        );
        // Ordinary text is left alone.
        assert_eq!(
            inert("Flat 3.2, St. Mary's Rd. J. O'Neil"),
            "Flat 3.2, St. Mary's Rd. J. O'Neil"
        );
    }

    #[test]
    fn every_placeholder_is_filled() {
        let s = || "x".to_owned();
        let all = [
            Template::VerifyEmail { link: s() },
            Template::FinishSignUp { link: s() },
            Template::AlreadyRegistered {
                name: s(),
                sign_in_link: s(),
                reset_link: s(),
            },
            Template::ResetPassword {
                name: s(),
                link: s(),
            },
            Template::PasswordChanged {
                name: s(),
                reset_link: s(),
            },
            Template::ConfirmNewEmail { link: s() },
            Template::EmailChanged {
                name: s(),
                new_email: s(),
            },
            Template::StaffWelcome {
                name: s(),
                role: s(),
                link: s(),
            },
            Template::ApplicationReceived {
                name: s(),
                reference: s(),
                service: s(),
                decision_by: s(),
            },
            Template::StatusChanged {
                name: s(),
                reference: s(),
                service: s(),
                status: s(),
                note: Some(s()),
            },
            Template::PaymentReceived {
                name: s(),
                reference: s(),
                amount: s(),
            },
            Template::RefundIssued {
                name: s(),
                reference: s(),
                amount: s(),
                reason: s(),
            },
            Template::DataRequestReceived {
                name: s(),
                kind: s(),
                id: s(),
                due_by: s(),
            },
            Template::DataRequestExtended {
                name: s(),
                kind: s(),
                id: s(),
                due_by: s(),
                reason: s(),
            },
            Template::DataRequestCompleted {
                name: s(),
                kind: s(),
                id: s(),
                outcome: s(),
            },
            Template::DataRequestRefused {
                name: s(),
                kind: s(),
                id: s(),
                reason: s(),
            },
            Template::AccountErased { id: s(), kept: s() },
        ];
        // Every template file is rendered here: a new one cannot be left out of this test.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/email/templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".txt")
                    .to_owned()
            })
            .collect();
        let mut codes: Vec<String> = all.iter().map(|t| t.code().to_owned()).collect();
        files.sort();
        codes.sort();
        assert_eq!(codes, files);
        for template in all {
            let (subject, body) = template.render();
            assert!(!subject.is_empty() && !subject.contains('{'));
            assert!(
                !body.contains('{') && !body.contains('}'),
                "{}: {body}",
                template.code()
            );
        }
    }
}
