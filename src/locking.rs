//! The server's one way to take a `std::sync::Mutex`.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, also after a thread panicked while holding it. What the server keeps behind
/// its mutexes (caches, counters, registries of connections and subscribers) is changed in
/// single calls that leave it consistent, so a panic elsewhere cannot leave it half-written,
/// and refusing every later request over it would turn one panic into an outage.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
