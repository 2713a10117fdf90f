//! Outgoing mail: over SMTP when `SMTP_URL` is set, otherwise as `.eml` files in the outbox
//! folder of the data folder, so that `cargo run` needs no mail server. Sending is bounded in
//! time. A message holds a single-use token, so it is never logged; only where it went.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use secrecy::{ExposeSecret, SecretString};

use crate::private_files;

/// Where mail goes.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://host:25`, `smtp://user:password@host:587?tls=required`, `smtps://host:465`.
    pub smtp_url: Option<SecretString>,
    /// The sender, e.g. `Customer Accounts <accounts@example.com>`.
    pub from: String,
    /// Where `.eml` files go without `smtp_url`.
    pub outbox: PathBuf,
    /// How long one delivery may take.
    pub timeout: Duration,
}

/// One plain-text message.
#[derive(Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .with_context(|| format!("MAIL_FROM: {:?} is not a mailbox", settings.from))?;
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .context("SMTP_URL is not a smtp:// or smtps:// URL")?
                    .timeout(Some(settings.timeout))
                    .build(),
            ),
            None => {
                // The messages hold tokens: the outbox is the owner's alone.
                private_files::ensure_folder(&settings.outbox)?;
                Transport::Outbox(AsyncFileTransport::new(&settings.outbox))
            }
        };
        Ok(Self {
            transport,
            from,
            timeout: settings.timeout,
        })
    }

    /// Sends `mail`, within the timeout; whether it went out.
    pub async fn send(&self, mail: Mail) -> bool {
        match tokio::time::timeout(self.timeout, self.deliver(mail)).await {
            Ok(Ok(())) => true,
            Ok(Err(reason)) => {
                tracing::warn!(reason, "mail not sent");
                false
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "mail not sent: timed out");
                false
            }
        }
    }

    /// The error's kind only: a mail server's reply can quote the recipient's address.
    async fn deliver(&self, mail: Mail) -> Result<(), &'static str> {
        let to = mail
            .to
            .parse()
            .map_err(|_| "the recipient is not a mailbox")?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body)
            .map_err(|_| "the message could not be built")?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|error| {
                if error.is_permanent() {
                    "the mail server refused it"
                } else if error.is_transient() {
                    "the mail server deferred it"
                } else if error.is_timeout() {
                    "the mail server timed out"
                } else {
                    "the mail server could not be reached"
                }
            }),
            Transport::Outbox(outbox) => outbox
                .send(message)
                .await
                .map(drop)
                .map_err(|_| "the outbox could not be written"),
        }
    }
}
