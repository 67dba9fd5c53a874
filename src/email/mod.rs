//! Email delivery behind one type with swappable transports: SMTP when `SMTP_URL` is set, else
//! `.eml` files in a local folder (development and tests read what was "sent" from there).

pub mod templates;
pub mod worker;

use std::path::PathBuf;

use anyhow::Context;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::configuration::EmailSettings;

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// host:port, for the start-up line (the URL itself may hold credentials).
        server: String,
    },
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

impl Mailer {
    pub fn from_settings(settings: &EmailSettings) -> anyhow::Result<Mailer> {
        match &settings.smtp_url {
            Some(url) => {
                let url = url.expose_secret();
                let parsed = url::Url::parse(url).context("SMTP_URL is not a URL")?;
                let server = format!(
                    "{}:{}",
                    parsed.host_str().unwrap_or("?"),
                    parsed.port().map(|p| p.to_string()).unwrap_or_default()
                );
                // A hung server must not stall delivery of everything behind it.
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("SMTP_URL is not a valid SMTP URL")?
                    .timeout(Some(std::time::Duration::from_secs(30)))
                    .build();
                Ok(Mailer::Smtp { transport, server })
            }
            None => {
                std::fs::create_dir_all(&settings.outbox_dir).with_context(|| {
                    format!(
                        "creating the email folder {}",
                        settings.outbox_dir.display()
                    )
                })?;
                let dir = settings.outbox_dir.canonicalize()?;
                Ok(Mailer::Files {
                    transport: AsyncFileTransport::new(&dir),
                    dir,
                })
            }
        }
    }

    /// Where emails go, in words, for the start-up line.
    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { server, .. } => format!("sent by SMTP to {server}"),
            Mailer::Files { dir, .. } => format!("written as .eml files to {}", dir.display()),
        }
    }

    pub async fn send(&self, message: Message) -> anyhow::Result<()> {
        match self {
            Mailer::Smtp { transport, .. } => {
                transport.send(message).await?;
            }
            Mailer::Files { transport, .. } => {
                transport.send(message).await?;
            }
        }
        Ok(())
    }
}
