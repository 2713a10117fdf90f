//! The instance's one `LISTEN` connection, outside the pool: it hears the `customer_changes`
//! notifications that a trigger sends when a write commits (migration 000004), and announces
//! them on the change feed. When the connection is lost (a database restart, a network cut)
//! it reconnects with backoff and reports a gap from the last moment it knew it had heard
//! everything, since notifications sent meanwhile are lost.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_postgres::AsyncMessage;

use crate::db::changes::{ChangeFeed, ChangeKind, CustomerChanged};
use crate::domain::CustomerId;

const CHANNEL: &str = "customer_changes";
/// How often an idle connection is checked: a half-open TCP connection stays silent.
const HEARTBEAT: Duration = Duration::from_secs(15);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A notification's payload, as the trigger writes it.
#[derive(Deserialize)]
struct Notice {
    kind: String,
    id: uuid::Uuid,
    /// Microseconds since the Unix epoch.
    at: i64,
}

impl Notice {
    fn change(&self) -> Option<CustomerChanged> {
        let kind = match self.kind.as_str() {
            "CREATED" => ChangeKind::Created,
            "UPDATED" => ChangeKind::Updated,
            "DELETED" => ChangeKind::Deleted,
            _ => return None,
        };
        Some(CustomerChanged {
            kind,
            id: CustomerId::from(self.id),
            at: DateTime::from_timestamp_micros(self.at)?,
        })
    }
}

/// Listens for the life of the process, on the current runtime.
pub fn spawn(url: SecretString, feed: Arc<ChangeFeed>) {
    tokio::spawn(listen(url, feed));
}

async fn listen(url: SecretString, feed: Arc<ChangeFeed>) {
    let mut backoff = Duration::from_millis(100);
    // Since when changes may have been missed; none before the first connection.
    let mut missed_since: Option<DateTime<Utc>> = None;
    loop {
        let heard_until = Utc::now();
        match session(&url, &feed, missed_since).await {
            Ok(last_heard) => {
                tracing::warn!("the LISTEN connection to the database closed; reconnecting");
                missed_since = Some(last_heard);
                backoff = Duration::from_millis(100);
            }
            Err(error) => {
                let error = error.to_string();
                tracing::warn!(%error, retry_in = ?backoff, "cannot LISTEN for changes");
                missed_since.get_or_insert(heard_until);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// tokio-postgres's settings, and TLS as libpq does it: tokio-postgres knows the sslmodes
/// `prefer` and `require` only, and native-tls always verifies, where libpq's `prefer` and
/// `require` encrypt without checking the certificate; `verify-ca` checks it (against
/// `sslrootcert`, or the system's roots), `verify-full` the host name too.
pub fn connection_settings(
    url: &str,
) -> Result<
    (
        tokio_postgres::Config,
        postgres_native_tls::MakeTlsConnector,
    ),
    String,
> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root_cert, mut kept) = ("prefer", None, Vec::new());
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = value,
            Some(("sslrootcert", value)) => root_cert = Some(value),
            _ => kept.push(pair),
        }
    }
    let mut tls = native_tls::TlsConnector::builder();
    match mode {
        "disable" | "allow" | "prefer" | "require" => {
            tls.danger_accept_invalid_certs(true);
        }
        "verify-ca" => {
            tls.danger_accept_invalid_hostnames(true);
        }
        "verify-full" => {}
        other => return Err(format!("unknown sslmode {other}")),
    }
    if let Some(path) = root_cert {
        let pem = std::fs::read(path).map_err(|e| e.to_string())?;
        let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
        tls.add_root_certificate(cert);
    }
    let ssl_mode = match mode {
        "disable" => "disable",
        "allow" | "prefer" => "prefer",
        _ => "require",
    };
    kept.push(match ssl_mode {
        "disable" => "sslmode=disable",
        "prefer" => "sslmode=prefer",
        _ => "sslmode=require",
    });
    let config = format!("{base}?{}", kept.join("&"))
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    let connector = tls.build().map_err(|e| e.to_string())?;
    Ok((
        config,
        postgres_native_tls::MakeTlsConnector::new(connector),
    ))
}

/// One connection's life: LISTEN, report the gap before it, announce what is heard. Returns
/// the last moment up to which everything was heard, when the connection ends.
async fn session(
    url: &SecretString, feed: &ChangeFeed, missed_since: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, tokio_postgres::Error> {
    let Ok((mut config, tls)) = connection_settings(url.expose_secret()) else {
        // Checked at start; a root certificate file that went away since cannot come back
        // by retrying.
        tracing::error!("the TLS settings of the LISTEN connection cannot be used any more");
        return std::future::pending().await;
    };
    config
        .keepalives(true)
        .keepalives_idle(HEARTBEAT)
        .application_name("customer-api listener");
    let (client, mut connection) = config.connect(tls).await?;
    let (ended_tx, mut ended) = tokio::sync::oneshot::channel::<()>();
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    // The connection's messages: notifications go to the feed; its end ends the session.
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message {
                let _ = heard_tx.send(notification.payload().to_owned());
            }
        }
        let _ = ended_tx.send(());
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    let mut last_heard = Utc::now();
    if let Some(since) = missed_since {
        tracing::info!("listening for changes again");
        feed.gap(since);
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            Some(payload) = heard.recv() => {
                match serde_json::from_str::<Notice>(&payload).ok().and_then(|n| n.change()) {
                    Some(change) => feed.announce(change),
                    None => tracing::error!("an unreadable change notification was ignored"),
                }
                last_heard = Utc::now();
            }
            _ = heartbeat.tick() => {
                // A query that succeeds proves that every notification before it arrived.
                let checked_at = Utc::now();
                if client.batch_execute("SELECT 1").await.is_err() {
                    return Ok(last_heard);
                }
                last_heard = last_heard.max(checked_at);
            }
            _ = &mut ended => return Ok(last_heard),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_modes_are_read() {
        let base = "postgres://app@db.example:5432/customers";
        for (query, mode) in [
            ("", tokio_postgres::config::SslMode::Prefer),
            ("?sslmode=disable", tokio_postgres::config::SslMode::Disable),
            (
                "?sslmode=require&connect_timeout=5",
                tokio_postgres::config::SslMode::Require,
            ),
            (
                "?sslmode=verify-full",
                tokio_postgres::config::SslMode::Require,
            ),
        ] {
            let (config, _) = connection_settings(&format!("{base}{query}")).unwrap();
            assert_eq!(config.get_ssl_mode(), mode, "{query}");
            assert_eq!(config.get_dbname(), Some("customers"));
        }
        assert!(connection_settings(&format!("{base}?sslmode=sometimes")).is_err());
        assert!(connection_settings(&format!(
            "{base}?sslmode=verify-ca&sslrootcert=/nonexistent"
        ))
        .is_err());
    }

    #[test]
    fn notices_are_read_as_the_trigger_writes_them() {
        let notice: Notice = serde_json::from_str(
            r#"{"kind": "DELETED", "id": "01a21a76-5622-7520-a032-279f2f57cffc", "at": 1795740363988123}"#,
        )
        .unwrap();
        let change = notice.change().unwrap();
        assert_eq!(change.kind, ChangeKind::Deleted);
        assert_eq!(change.at.timestamp_micros(), 1_795_740_363_988_123);
        let unknown: Notice = serde_json::from_str(
            r#"{"kind": "MOVED", "id": "01a21a76-5622-7520-a032-279f2f57cffc", "at": 0}"#,
        )
        .unwrap();
        assert!(unknown.change().is_none());
    }
}
