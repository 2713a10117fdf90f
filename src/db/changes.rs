//! The change feed: every committed change to a customer, announced by the store that made it
//! (PostgreSQL: `NOTIFY` from a trigger, in the writing transaction, heard on one `LISTEN`
//! connection per instance; SQLite: after the write commits, in process). Announcements carry
//! ids and times, never personal data.
//!
//! The feed is bounded: when its reader falls behind, or the LISTEN connection is lost,
//! changes may be missed, and the reader is told so with a [`FeedItem::Gap`].

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::{domain::CustomerId, locking::lock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// A committed change to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerChanged {
    pub kind: ChangeKind,
    pub id: CustomerId,
    /// When it happened: the record's `updated_at`, or the time of the deletion.
    pub at: DateTime<Utc>,
}

pub fn changed(kind: ChangeKind, id: CustomerId, at: DateTime<Utc>) -> CustomerChanged {
    CustomerChanged { kind, id, at }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedItem {
    Change(CustomerChanged),
    /// Changes made since `since` may have been missed.
    Gap {
        since: DateTime<Utc>,
    },
}

/// Changes waiting for the reader, at most; more are dropped and reported as a gap.
const CAPACITY: usize = 4096;

/// The sending side, shared by whatever announces changes.
pub struct ChangeFeed {
    sender: mpsc::Sender<FeedItem>,
    /// Set when an announcement was dropped: the gap still to report, and since when.
    dropped_since: Mutex<Option<DateTime<Utc>>>,
}

impl ChangeFeed {
    pub fn new() -> (Self, mpsc::Receiver<FeedItem>) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let feed = Self {
            sender,
            dropped_since: Mutex::new(None),
        };
        (feed, receiver)
    }

    pub fn announce(&self, change: CustomerChanged) {
        self.send(FeedItem::Change(change), change.at);
    }

    /// Changes since `since` may have been missed (the LISTEN connection was lost).
    pub fn gap(&self, since: DateTime<Utc>) {
        self.send(FeedItem::Gap { since }, since);
    }

    /// Never waits: a writer must not stall on a slow reader.
    fn send(&self, item: FeedItem, at: DateTime<Utc>) {
        let mut dropped = lock(&self.dropped_since);
        if let Some(since) = *dropped {
            if self.sender.try_send(FeedItem::Gap { since }).is_err() {
                return;
            }
            *dropped = None;
        }
        if self.sender.try_send(item).is_err() && !self.sender.is_closed() {
            *dropped = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: i64) -> CustomerChanged {
        CustomerChanged {
            kind: ChangeKind::Updated,
            id: CustomerId::generate(),
            at: DateTime::from_timestamp(n, 0).unwrap(),
        }
    }

    #[test]
    fn a_full_feed_reports_a_gap_instead_of_waiting() {
        let (feed, mut receiver) = ChangeFeed::new();
        for n in 0..CAPACITY as i64 + 10 {
            feed.announce(change(n));
        }
        let mut received = Vec::new();
        while let Ok(item) = receiver.try_recv() {
            received.push(item);
        }
        assert_eq!(received.len(), CAPACITY);
        // Room again: the gap comes first, from the first change dropped.
        feed.announce(change(99_999));
        let dropped_at = DateTime::from_timestamp(CAPACITY as i64, 0).unwrap();
        assert_eq!(receiver.try_recv(), Ok(FeedItem::Gap { since: dropped_at }));
        assert!(matches!(receiver.try_recv(), Ok(FeedItem::Change(_))));
    }
}
