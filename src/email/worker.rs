//! Delivers the outbox. A batch is leased in a short transaction, sent with no transaction open,
//! and each email marked on its own; a failed send is retried with exponential back-off, so an
//! SMTP outage loses nothing. Every instance runs a worker: `SKIP LOCKED` leases give each email
//! to one of them. Each email's `Message-ID` is made from its outbox row, so the resend after a
//! crash mid-send (delivery is at least once) is recognisably the same message.

use std::time::Duration;

use chrono::SubsecRound;
use diesel_async::AsyncConnection;
use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use tokio::sync::watch;

use crate::auth::signed::Signer;
use crate::db::ids::AccountId;
use crate::db::{DbPool, outbox};
use crate::email::{Mailer, templates};

#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    pub from: Mailbox,
    /// How long to sleep when nothing is due.
    pub poll_interval: Duration,
    /// First retry delay; doubles with each attempt, capped at an hour.
    pub retry_base: Duration,
    /// Attempts before an email is marked failed.
    pub max_attempts: i32,
    /// Makes the one-click unsubscribe link of status-update emails.
    pub unsubscribe: UnsubscribeLinks,
}

/// The one-click unsubscribe link (RFC 8058) of an account's status-update emails: the API's
/// public address with a token only the server can sign. Made when the email is sent, so no
/// link is stored.
#[derive(Clone)]
pub struct UnsubscribeLinks {
    pub signer: Signer,
    pub public_url: String,
}

impl std::fmt::Debug for UnsubscribeLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsubscribeLinks")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl UnsubscribeLinks {
    pub fn url(&self, account: AccountId) -> String {
        format!(
            "{}/api/v1/unsubscribe?token={}",
            self.public_url.trim_end_matches('/'),
            self.signer.unsubscribe_token(account)
        )
    }
}

/// `List-Unsubscribe: <https://…>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(text: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(text.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): a mail client may unsubscribe
/// with one POST, without opening a page.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

const BATCH: i64 = 20;

/// Runs until `stop` turns true: the email being sent then finishes and is marked, and the rest
/// of its batch is handed back at once (not after the lease) for another instance to send.
/// Dropping the future instead is a crash: the lease runs out and another worker resends.
pub async fn run(
    pool: DbPool,
    mailer: Mailer,
    options: DeliveryOptions,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match deliver_due(&pool, &mailer, &options, &stop).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(error) => tracing::warn!(error = %error, "email delivery batch failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(options.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// How long a leased batch stays invisible to other workers.
const LEASE: Duration = Duration::from_secs(300);
/// The longest one send may take, all its SMTP commands together; then it counts as failed and is
/// retried (it may have arrived: the retry has the same Message-ID).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// A batch stops being sent this long before its lease ends (the rest is handed back): longer
/// than a send can take, so another worker never sends an email this one is still sending.
const LEASE_MARGIN: Duration = Duration::from_secs(120);

/// Sends one batch of due emails; returns how many were attempted. Rows are leased in a short
/// transaction, sent with no transaction open, and each marked on its own, so a slow SMTP server
/// holds no locks and a failure marking one email cannot resend the others.
async fn deliver_due(
    pool: &DbPool,
    mailer: &Mailer,
    options: &DeliveryOptions,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<usize> {
    let until = (chrono::Utc::now() + LEASE).trunc_subsecs(6);
    let send_before = std::time::Instant::now() + (LEASE - LEASE_MARGIN);
    let due = {
        let mut conn = pool.get().await?;
        conn.transaction(async |conn| outbox::lease_due(conn, BATCH, until).await)
            .await?
    };
    for (sent, email) in due.iter().enumerate() {
        if *stop.borrow() || std::time::Instant::now() >= send_before {
            let unsent: Vec<_> = due[sent..].iter().map(|email| email.id).collect();
            outbox::release(&mut *pool.get().await?, &unsent, until).await?;
            break;
        }
        let outcome = tokio::time::timeout(SEND_TIMEOUT, send(mailer, options, email))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer from the mail server in time")));
        let mut conn = pool.get().await?;
        match outcome {
            Ok(()) => outbox::mark_sent(&mut conn, email.id).await?,
            Err(error) => {
                let attempts = email.attempts + 1;
                let retry_at = (attempts < options.max_attempts).then(|| {
                    let delay = options
                        .retry_base
                        .saturating_mul(1 << attempts.min(16))
                        .min(Duration::from_secs(3600));
                    chrono::Utc::now() + delay
                });
                // The error text can quote an address back (SMTP replies do): it stays in the row, not the log.
                tracing::warn!(email_id = %email.id, attempts, "email not sent; will retry or give up");
                outbox::mark_attempt_failed(&mut conn, email.id, &error.to_string(), retry_at)
                    .await?;
            }
        }
    }
    Ok(due.len())
}

async fn send(
    mailer: &Mailer,
    options: &DeliveryOptions,
    email: &outbox::DueEmail,
) -> anyhow::Result<()> {
    let mut message = Message::builder()
        .message_id(Some(message_id(email.id, &options.from)))
        .from(options.from.clone())
        .to(email.to_address.parse()?)
        .subject(email.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    // Status updates can be turned off from the email itself; transactional emails (links,
    // receipts, notices) cannot.
    if templates::is_status_update(&email.template)
        && let Some(account) = email.account_id
    {
        message = message
            .header(ListUnsubscribe(options.unsubscribe.url(account)))
            .header(ListUnsubscribePost);
    }
    mailer.send(message.body(email.body_text.clone())?).await
}

/// `<outbox-row-id@sender's domain>`: the same for every attempt at one email, and unique.
fn message_id(id: uuid::Uuid, from: &Mailbox) -> String {
    format!("<{id}@{}>", from.email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_id_names_the_outbox_row_at_the_senders_domain() {
        let from: Mailbox = "MyNorfolk <no-reply@mynorfolk.norfolk.gov.uk>"
            .parse()
            .unwrap();
        let id = uuid::Uuid::nil();
        assert_eq!(
            message_id(id, &from),
            "<00000000-0000-0000-0000-000000000000@mynorfolk.norfolk.gov.uk>"
        );
    }
}
