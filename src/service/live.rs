//! Live updates: the store's change feed, relayed to this instance's subscribers.
//!
//! The feed names changes by id only. For each change that someone is watching, the relay
//! reads the customer once and hands the record to every subscriber of the instance, each of
//! which checks its own access to it. Subscribers are checked against revocations every
//! `auth_check` in one query for all of them: a subscriber whose session ended (logout,
//! password change, deleted customer) or whose admin token was revoked is ended with
//! UNAUTHENTICATED, as is one whose token expires (on time, by its own timer).
//!
//! When changes may have been missed (the LISTEN connection was lost, or a subscriber fell
//! behind), subscribers are resynchronised: `customerChanged` reads its customer again, and
//! `customerEvents` replays what changed since the gap began.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc, watch};

use super::{now, run_on_store, CustomerService};
use crate::{
    auth::{Caller, Principal},
    db::{ChangeFeed, ChangeKind, CustomerChanged, CustomerRecord, FeedItem, Store},
    domain::CustomerId,
    error::{unauthenticated, AppError},
    locking::lock,
};

/// Events a subscriber may fall behind by before it is resynchronised.
const SUBSCRIBER_BACKLOG: usize = 1024;
/// The most changes `customerEvents` replays after a gap (the least recently changed first).
const MAX_REPLAY: i64 = 1000;
/// Replays reach this far before a gap, for clocks that differ between instances.
const REPLAY_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// Resynchronising reads are tried this many times while the database is unavailable: after
/// a restart, the pool's first connections are found lost one by one.
const RESYNC_ATTEMPTS: u32 = 10;
const RESYNC_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs a store read, again while the database is unavailable, a few times.
async fn resync_read<T, F>(
    store: &Arc<dyn Store>, queued: &Arc<AtomicUsize>, read: F,
) -> Result<T, AppError>
where
    F: Fn(&dyn Store) -> Result<T, AppError> + Clone + Send + 'static,
    T: Send + 'static,
{
    let mut attempt = 1;
    loop {
        match run_on_store(store, queued, read.clone()).await {
            Err(AppError::Unavailable(_)) if attempt < RESYNC_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(RESYNC_PAUSE).await;
            }
            result => return result,
        }
    }
}

/// A change as this instance relays it: with the customer as it stands, when someone watches.
#[derive(Debug)]
enum Relayed {
    Change {
        change: CustomerChanged,
        customer: Option<Box<CustomerRecord>>,
    },
    Gap {
        since: DateTime<Utc>,
    },
}

/// A change as a subscriber receives it.
#[derive(Debug, Clone)]
pub struct LiveChange {
    pub kind: ChangeKind,
    pub id: CustomerId,
    /// Null when deleted (or when the customer was gone by the time it was read).
    pub customer: Option<CustomerRecord>,
    pub at: DateTime<Utc>,
}

impl LiveChange {
    fn of(record: CustomerRecord, kind: ChangeKind) -> Self {
        Self {
            kind,
            id: record.id,
            at: record.updated_at,
            customer: Some(record),
        }
    }

    fn deleted(id: CustomerId, at: DateTime<Utc>) -> Self {
        Self {
            kind: ChangeKind::Deleted,
            id,
            customer: None,
            at,
        }
    }
}

/// The subscribers of this instance.
pub(super) struct LiveUpdates {
    relayed: broadcast::Sender<Arc<Relayed>>,
    watchers: Mutex<HashMap<u64, Watcher>>,
    next_watcher: AtomicU64,
}

struct Watcher {
    principal: Principal,
    revoked: watch::Sender<bool>,
}

impl Default for LiveUpdates {
    fn default() -> Self {
        Self {
            relayed: broadcast::channel(SUBSCRIBER_BACKLOG).0,
            watchers: Mutex::new(HashMap::new()),
            next_watcher: AtomicU64::new(0),
        }
    }
}

impl LiveUpdates {
    pub(super) fn count(&self) -> usize {
        lock(&self.watchers).len()
    }

    fn register(self: &Arc<Self>, principal: Principal) -> Registration {
        let id = self.next_watcher.fetch_add(1, Ordering::Relaxed);
        let (revoked, signal) = watch::channel(false);
        lock(&self.watchers).insert(id, Watcher { principal, revoked });
        Registration {
            live: Arc::clone(self),
            id,
            revoked: signal,
        }
    }
}

/// A subscriber's place among the watchers; dropping it (the subscription ends) removes it.
struct Registration {
    live: Arc<LiveUpdates>,
    id: u64,
    revoked: watch::Receiver<bool>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.live.watchers).remove(&self.id);
    }
}

/// What ends a subscription besides its own events.
struct Limits {
    registration: Registration,
    /// When the subscriber's token expires.
    expires_at: Option<DateTime<Utc>>,
}

impl Limits {
    /// Resolves with the reason when the subscription must end.
    async fn reached(&mut self) -> AppError {
        let expiry = async {
            match self.expires_at {
                Some(at) => {
                    let left = (at - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(left).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.registration.revoked.wait_for(|revoked| *revoked) => {}
            () = expiry => {}
        }
        AppError::Unauthenticated(unauthenticated::INVALID_TOKEN)
    }
}

impl CustomerService {
    /// Starts live updates for the life of the process: the store announces its changes,
    /// they are relayed to subscribers, and subscribers are checked every `auth_check`.
    pub fn start_live_updates(self: &Arc<Self>, auth_check: std::time::Duration) {
        let (feed, changes) = ChangeFeed::new();
        self.store.announce_changes(Arc::new(feed));
        tokio::spawn(Arc::clone(self).relay_changes(changes));
        tokio::spawn(Arc::clone(self).check_subscribers(auth_check));
    }

    /// Relays the store's change feed to this instance's subscribers, for the life of the
    /// process. Each watched change's customer is read once, here, for all of them.
    async fn relay_changes(self: Arc<Self>, mut feed: mpsc::Receiver<FeedItem>) {
        while let Some(item) = feed.recv().await {
            let relayed = match item {
                // Nobody watches: nothing to read.
                FeedItem::Change(_) if self.live.relayed.receiver_count() == 0 => continue,
                FeedItem::Change(change) if change.kind == ChangeKind::Deleted => Relayed::Change {
                    change,
                    customer: None,
                },
                FeedItem::Change(change) => {
                    let id = change.id;
                    match self.with_store(move |store| store.find_customer(id)).await {
                        Ok(customer) => Relayed::Change {
                            change,
                            customer: customer.map(Box::new),
                        },
                        // Subscribers read it themselves when they can.
                        Err(_) => Relayed::Gap { since: change.at },
                    }
                }
                FeedItem::Gap { since } => Relayed::Gap { since },
            };
            let _ = self.live.relayed.send(Arc::new(relayed));
        }
    }

    /// Ends the subscriptions whose access was revoked, every `interval`, for the life of the
    /// process: one query for every customer subscriber's session, and a fresh read of the
    /// admin-token revocation.
    async fn check_subscribers(self: Arc<Self>, interval: std::time::Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let principals: Vec<(u64, Principal)> = lock(&self.live.watchers)
                .iter()
                .map(|(id, watcher)| (*id, watcher.principal))
                .collect();
            if principals.is_empty() {
                continue;
            }
            let sessions: Vec<_> = principals
                .iter()
                .filter_map(|(_, principal)| match principal {
                    Principal::Customer { session, .. } => Some(*session),
                    Principal::Admin { .. } => None,
                })
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let at = now();
            let checked = self
                .with_store(move |store| {
                    let live = store.live_sessions(&sessions, at)?;
                    Ok((live, store.admin_token_cutoff()?))
                })
                .await;
            let Ok((live, cutoff)) = checked else {
                // The database is away: try again next time.
                continue;
            };
            let live: HashSet<_> = live.into_iter().collect();
            let watchers = lock(&self.live.watchers);
            for (id, principal) in principals {
                let revoked = match principal {
                    Principal::Customer { session, .. } => !live.contains(&session),
                    Principal::Admin { issued_at } => cutoff.is_some_and(|c| issued_at < c),
                };
                if let (true, Some(watcher)) = (revoked, watchers.get(&id)) {
                    watcher.revoked.send_replace(true);
                }
            }
        }
    }

    /// `customerChanged`: the customer's changes (owner or admin), ending after DELETED.
    pub async fn watch_customer(
        &self, caller: &Caller, expires_at: Option<DateTime<Utc>>, id: CustomerId,
    ) -> Result<impl Stream<Item = Result<LiveChange, AppError>> + 'static, AppError> {
        let principal = self.principal(caller).await?;
        if let Principal::Customer { id: own, session } = principal {
            self.current_customer(own, session).await?;
            if own != id {
                return Err(AppError::Forbidden);
            }
        }
        // Listening first: a change made while the customer is read is not missed.
        let mut relayed = self.live.relayed.subscribe();
        if self
            .with_store(move |s| s.find_customer(id))
            .await?
            .is_none()
        {
            return Err(AppError::NotFound);
        }
        let mut limits = Limits {
            registration: self.live.register(principal),
            expires_at,
        };
        let (store, queued) = (Arc::clone(&self.store), Arc::clone(&self.queued));
        let reread = move || {
            let (store, queued) = (Arc::clone(&store), Arc::clone(&queued));
            async move {
                let found = resync_read(&store, &queued, move |s| s.find_customer(id)).await?;
                Ok::<_, AppError>(match found {
                    Some(customer) => LiveChange::of(customer, ChangeKind::Updated),
                    None => LiveChange::deleted(id, Utc::now()),
                })
            }
        };
        Ok(async_stream::stream! {
            loop {
                let change = tokio::select! {
                    reason = limits.reached() => {
                        yield Err(reason);
                        break;
                    }
                    received = relayed.recv() => match received {
                        Ok(event) => match &*event {
                            Relayed::Change { change, customer } if change.id == id => LiveChange {
                                kind: change.kind,
                                id,
                                customer: customer.as_deref().cloned(),
                                at: change.at,
                            },
                            Relayed::Change { .. } => continue,
                            Relayed::Gap { .. } => match reread().await {
                                Ok(change) => change,
                                Err(error) => { yield Err(error); break; }
                            },
                        },
                        Err(broadcast::error::RecvError::Lagged(_)) => match reread().await {
                            Ok(change) => change,
                            Err(error) => { yield Err(error); break; }
                        },
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                };
                let deleted = change.kind == ChangeKind::Deleted;
                yield Ok(change);
                if deleted {
                    break;
                }
            }
        })
    }

    /// `customerEvents`: every create, update and delete (admins only).
    pub async fn watch_all(
        &self, caller: &Caller, expires_at: Option<DateTime<Utc>>,
    ) -> Result<impl Stream<Item = Result<LiveChange, AppError>> + 'static, AppError> {
        let principal = self.principal(caller).await?;
        if !matches!(principal, Principal::Admin { .. }) {
            return Err(AppError::Forbidden);
        }
        let mut relayed = self.live.relayed.subscribe();
        let mut limits = Limits {
            registration: self.live.register(principal),
            expires_at,
        };
        let (store, queued) = (Arc::clone(&self.store), Arc::clone(&self.queued));
        // What changed since `since`, as the customers stand now (deletions in a gap are
        // not known).
        let replay = move |since: DateTime<Utc>| {
            let (store, queued) = (Arc::clone(&store), Arc::clone(&queued));
            async move {
                let from = since - REPLAY_MARGIN;
                let changed = resync_read(&store, &queued, move |s| {
                    s.customers_changed_since(from, MAX_REPLAY)
                })
                .await?;
                Ok::<_, AppError>(changed.into_iter().map(move |customer| {
                    let kind = if customer.created_at >= from {
                        ChangeKind::Created
                    } else {
                        ChangeKind::Updated
                    };
                    LiveChange::of(customer, kind)
                }))
            }
        };
        Ok(async_stream::stream! {
            let mut last_seen = Utc::now();
            loop {
                let since = tokio::select! {
                    reason = limits.reached() => {
                        yield Err(reason);
                        break;
                    }
                    received = relayed.recv() => match received {
                        Ok(event) => match &*event {
                            Relayed::Change { change, customer } => {
                                last_seen = change.at;
                                yield Ok(LiveChange {
                                    kind: change.kind,
                                    id: change.id,
                                    customer: customer.as_deref().cloned(),
                                    at: change.at,
                                });
                                continue;
                            }
                            Relayed::Gap { since } => *since,
                        },
                        Err(broadcast::error::RecvError::Lagged(_)) => last_seen,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                };
                match replay(since).await {
                    Ok(changes) => {
                        for change in changes {
                            last_seen = change.at;
                            yield Ok(change);
                        }
                    }
                    Err(error) => { yield Err(error); break; }
                }
            }
        })
    }
}
