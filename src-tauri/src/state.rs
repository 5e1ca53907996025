//! The one `AppState` of the desktop shell, built once at start-up and handed to commands.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use lexinaut_core::{CancellationToken, Library, Watcher};

/// Shared state of the running app.
pub struct AppState {
    /// The core library every command calls (shared with the folder watcher's task).
    pub library: Arc<Library>,
    /// The folder watcher, started in the background at set-up and stopped at exit.
    pub watcher: Mutex<WatcherSlot>,
    /// The import running in each knowledge base, by knowledge base id.
    pub imports: Running<i64>,
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

/// Long operations that can be stopped, by key; each forgets itself when it ends.
pub struct Running<K> {
    tokens: Mutex<HashMap<K, CancellationToken>>,
}

impl<K> Default for Running<K> {
    fn default() -> Self {
        Self {
            tokens: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Copy> Running<K> {
    /// Registers a new operation under `key`; the guard unregisters it on drop.
    pub fn begin(&self, key: K) -> RunningGuard<'_, K> {
        let token = CancellationToken::new();
        if let Ok(mut map) = self.tokens.lock() {
            map.insert(key, token.clone());
        }
        RunningGuard {
            running: self,
            key,
            token,
        }
    }

    /// Cancels the operation under `key`; false when none runs.
    pub fn cancel(&self, key: K) -> bool {
        self.tokens
            .lock()
            .ok()
            .and_then(|map| map.get(&key).cloned())
            .map(|t| t.cancel())
            .is_some()
    }
}

/// A running operation's cancellation token, unregistered on drop.
pub struct RunningGuard<'a, K: Eq + Hash + Copy> {
    running: &'a Running<K>,
    key: K,
    /// Cancelled by `Running::cancel`.
    pub token: CancellationToken,
}

impl<K: Eq + Hash + Copy> Drop for RunningGuard<'_, K> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.running.tokens.lock() {
            map.remove(&self.key);
        }
    }
}
