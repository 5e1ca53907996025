//! A registry of long operations (imports, answers) by key, so a later request can stop or
//! pause them: the desktop commands and the HTTP server share it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::ImportControl;

/// What stops (and, for imports, pauses) one long operation.
pub trait Control: Clone + From<CancellationToken> {
    /// Asks the operation to stop.
    fn stop(&self);
}

impl Control for CancellationToken {
    fn stop(&self) {
        self.cancel();
    }
}

impl Control for ImportControl {
    fn stop(&self) {
        self.cancel();
    }
}

type Registry<K, C> = Arc<Mutex<HashMap<K, (u64, C)>>>;

/// Long operations that can be stopped, by key; each forgets itself when it ends.
pub struct Running<K, C = CancellationToken> {
    controls: Registry<K, C>,
    next: AtomicU64,
}

impl<K, C> Default for Running<K, C> {
    fn default() -> Self {
        Self {
            controls: Arc::new(Mutex::new(HashMap::new())),
            next: AtomicU64::new(0),
        }
    }
}

impl<K: Eq + Hash + Clone, C: Control> Running<K, C> {
    /// Registers a new operation under `key`, stopped by [`Running::cancel`] or by `parent`
    /// (the app's or server's shutdown). The guard unregisters it when dropped; a newer
    /// operation registered under the same key meanwhile stays registered.
    pub fn begin(&self, key: K, parent: &CancellationToken) -> RunningGuard<K, C> {
        let control = C::from(parent.child_token());
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(key.clone(), (id, control.clone()));
        RunningGuard {
            controls: Arc::clone(&self.controls),
            key,
            id,
            control,
        }
    }

    /// The control of the operation under `key`, if one runs.
    pub fn get(&self, key: &K) -> Option<C> {
        self.lock().get(key).map(|(_, c)| c.clone())
    }

    /// Stops the operation under `key`; false when none runs.
    pub fn cancel(&self, key: &K) -> bool {
        self.get(key).map(|c| c.stop()).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (u64, C)>> {
        // The map stays valid whatever a panicking holder was doing: every change is one call.
        self.controls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running operation's registration, removed on drop.
pub struct RunningGuard<K: Eq + Hash, C = CancellationToken> {
    controls: Registry<K, C>,
    key: K,
    id: u64,
    control: C,
}

impl<K: Eq + Hash, C: Clone> RunningGuard<K, C> {
    /// The operation's control (stopped by [`Running::cancel`] or by the parent token).
    pub fn control(&self) -> C {
        self.control.clone()
    }
}

impl<K: Eq + Hash, C> Drop for RunningGuard<K, C> {
    fn drop(&mut self) {
        let mut map = self.controls.lock().unwrap_or_else(PoisonError::into_inner);
        if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_operation_ending_leaves_the_newer_one_registered() {
        let shutdown = CancellationToken::new();
        let running: Running<i64, ImportControl> = Running::default();
        let first = running.begin(1, &shutdown);
        let second = running.begin(1, &shutdown);
        drop(first);
        assert!(
            running.cancel(&1),
            "the newer import can still be cancelled"
        );
        assert!(second.control().is_cancelled());
        drop(second);
        assert!(!running.cancel(&1));
    }

    #[test]
    fn a_shutdown_stops_every_operation_and_a_cancel_only_its_own() {
        let shutdown = CancellationToken::new();
        let running: Running<&str> = Running::default();
        let a = running.begin("a", &shutdown);
        let b = running.begin("b", &shutdown);
        assert!(running.cancel(&"a"));
        assert!(a.control().is_cancelled());
        assert!(!b.control().is_cancelled());
        shutdown.cancel();
        assert!(b.control().is_cancelled());
    }
}
