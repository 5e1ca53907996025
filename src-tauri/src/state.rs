//! The one `AppState` of the desktop shell, built once at start-up and handed to commands.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use lexinaut_core::{CancellationToken, ImportControl, Library, Watcher};

/// Shared state of the running app.
pub struct AppState {
    /// The core library every command calls (shared with the folder watcher's task).
    pub library: Arc<Library>,
    /// The folder watcher, started in the background at set-up and stopped at exit.
    pub watcher: Mutex<WatcherSlot>,
    /// The import running in each knowledge base, by knowledge base id (cancel, pause).
    pub imports: Running<i64, ImportControl>,
    /// Answers being written, by the id the window gave the request.
    pub answers: Running<u32>,
    /// Stops background work (the embedder) when the app exits.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Whether the folder watcher runs, or why not.
    pub fn watcher_status(&self) -> crate::events::WatcherStatus {
        let slot = self
            .watcher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::events::WatcherStatus {
            running: slot.running.is_some(),
            error: slot.error.clone(),
        }
    }
}

/// The app's one folder watcher, or why it is not running.
#[derive(Default)]
pub struct WatcherSlot {
    /// The running watcher (`None` while starting, after a failed start, or after exit).
    pub running: Option<Watcher>,
    /// Why it could not start (e.g. `lexinaut watch run` holds this library's watcher lock).
    pub error: Option<String>,
}

/// Something that stops a long operation.
pub trait Stop: Clone + Default {
    /// Asks the operation to stop.
    fn stop(&self);
}

impl Stop for CancellationToken {
    fn stop(&self) {
        self.cancel();
    }
}

impl Stop for ImportControl {
    fn stop(&self) {
        self.cancel();
    }
}

/// Long operations that can be stopped, by key; each forgets itself when it ends.
pub struct Running<K, C = CancellationToken> {
    tokens: Mutex<HashMap<K, C>>,
}

impl<K, C> Default for Running<K, C> {
    fn default() -> Self {
        Self {
            tokens: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Copy, C: Stop> Running<K, C> {
    /// Registers a new operation under `key`; the guard unregisters it on drop.
    pub fn begin(&self, key: K) -> RunningGuard<'_, K, C> {
        let token = C::default();
        if let Ok(mut map) = self.tokens.lock() {
            map.insert(key, token.clone());
        }
        RunningGuard {
            running: self,
            key,
            token,
        }
    }

    /// The control of the operation under `key`, if one runs.
    pub fn get(&self, key: K) -> Option<C> {
        self.tokens
            .lock()
            .ok()
            .and_then(|map| map.get(&key).cloned())
    }

    /// Stops the operation under `key`; false when none runs.
    pub fn cancel(&self, key: K) -> bool {
        self.get(key).map(|t| t.stop()).is_some()
    }
}

/// A running operation's control, unregistered on drop.
pub struct RunningGuard<'a, K: Eq + Hash + Copy, C: Stop = CancellationToken> {
    running: &'a Running<K, C>,
    key: K,
    /// Stopped by `Running::cancel`.
    pub token: C,
}

impl<K: Eq + Hash + Copy, C: Stop> Drop for RunningGuard<'_, K, C> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.running.tokens.lock() {
            map.remove(&self.key);
        }
    }
}
