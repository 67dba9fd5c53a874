//! The emails an app under test really delivered, read back from the `.eml` files it wrote.

use super::TestApp;

/// An email as delivered (read back from the `.eml` file the app wrote).
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The `List-Unsubscribe` and `List-Unsubscribe-Post` headers, as sent.
    pub list_unsubscribe: Option<String>,
    pub list_unsubscribe_post: Option<String>,
}

impl Email {
    /// The `token` query parameter of the first link in the body.
    pub fn token(&self) -> String {
        let start = self.body.find("token=").expect("a link with a token") + "token=".len();
        self.body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

/// `None` for a file the app is still writing (it is created empty, then filled). Parsed by
/// mail-parser, so headers and bodies are decoded as a mail client would decode them.
fn parse_eml(raw: &[u8]) -> Option<Email> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    let to = message.to()?.first()?.address()?.to_owned();
    Some(Email {
        to,
        subject: message.subject().unwrap_or_default().to_owned(),
        body: message.body_text(0)?.replace("\r\n", "\n"),
        list_unsubscribe: message
            .header_raw("List-Unsubscribe")
            .map(|v| v.trim().to_owned()),
        list_unsubscribe_post: message
            .header_raw("List-Unsubscribe-Post")
            .map(|v| v.trim().to_owned()),
    })
}

impl TestApp {
    /// Every email delivered so far.
    pub fn emails(&self) -> Vec<Email> {
        std::fs::read_dir(self.email_dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| parse_eml(&std::fs::read(e.path()).ok()?))
            .collect()
    }

    /// Emails to `to` whose subject contains `subject`.
    pub fn emails_to(&self, to: &str, subject: &str) -> Vec<Email> {
        self.emails()
            .into_iter()
            .filter(|e| e.to.eq_ignore_ascii_case(to) && e.subject.contains(subject))
            .collect()
    }

    /// Waits (up to 10 s) until `count` such emails have been delivered, and returns the last.
    pub async fn wait_for_email(&self, to: &str, subject: &str, count: usize) -> Email {
        for _ in 0..200 {
            let found = self.emails_to(to, subject);
            if found.len() >= count {
                return found.last().unwrap().clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no email '{subject}' #{count} to {to}; delivered: {:?}",
            self.emails()
        );
    }
}
