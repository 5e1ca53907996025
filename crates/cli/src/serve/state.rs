//! The one `ServerState` every handler shares: the library, the running imports and answers
//! (so they can be stopped), the concurrency limits and the change broadcast.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lexinaut_core::{CancellationToken, ImportControl, Library};
use tokio::sync::{broadcast, Semaphore};

/// Shared state of the running server, built once in `serve::run`.
pub struct ServerState {
    /// The core library every route calls.
    pub library: Arc<Library>,
    /// The import running in each knowledge base, by knowledge base id.
    pub imports: Running<i64, ImportControl>,
    /// Answers started with a `request_id`, so `POST /answers/{id}/stop` can stop them.
    pub answers: Running<String>,
    /// Imports (ingest, upload, resume) allowed to run at once.
    pub import_slots: Arc<Semaphore>,
    /// Answers allowed to be written at once.
    pub answer_slots: Arc<Semaphore>,
    /// Knowledge bases whose catalogue changed (imports), for `GET /events`.
    pub changes: broadcast::Sender<i64>,
    /// The bearer token every route but `/health` needs, when configured.
    pub token: Option<String>,
    /// Largest uploaded file kept (the configuration's largest readable file).
    pub max_file_bytes: u64,
    /// Numbers temporary upload files, so two uploads of one name never share one.
    pub upload_seq: AtomicU64,
    /// Fires on SIGINT/SIGTERM: answers, imports and event streams end.
    pub shutdown: CancellationToken,
}

impl ServerState {
    /// State over `library` with room for `max_answers` answers and `max_imports` imports at
    /// once; `shutdown` stops them all.
    pub fn new(
        library: Arc<Library>,
        token: Option<String>,
        max_answers: usize,
        max_imports: usize,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            max_file_bytes: library.config().max_file_bytes,
            library,
            imports: Running::default(),
            answers: Running::default(),
            import_slots: Arc::new(Semaphore::new(max_imports)),
            answer_slots: Arc::new(Semaphore::new(max_answers)),
            changes: broadcast::channel(64).0,
            token,
            upload_seq: AtomicU64::new(0),
            shutdown,
        }
    }
}

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
    tokens: Registry<K, C>,
    next: AtomicU64,
}

impl<K, C> Default for Running<K, C> {
    fn default() -> Self {
        Self {
            tokens: Arc::new(Mutex::new(HashMap::new())),
            next: AtomicU64::new(0),
        }
    }
}

impl<K: Eq + Hash + Clone, C: Control> Running<K, C> {
    /// Registers a new operation under `key`, stopped by `cancel(key)` or by `parent`; the
    /// guard unregisters it when dropped (a newer operation under the same key stays).
    pub fn begin(&self, key: K, parent: &CancellationToken) -> RunningGuard<K, C> {
        let token = C::from(parent.child_token());
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.tokens.lock() {
            map.insert(key.clone(), (id, token.clone()));
        }
        RunningGuard {
            tokens: Arc::clone(&self.tokens),
            key,
            id,
            token,
        }
    }

    /// The control of the operation under `key`, if one runs.
    pub fn get(&self, key: &K) -> Option<C> {
        self.tokens
            .lock()
            .ok()
            .and_then(|map| map.get(key).map(|(_, t)| t.clone()))
    }

    /// Cancels the operation under `key`; false when none runs.
    pub fn cancel(&self, key: &K) -> bool {
        self.get(key).map(|t| t.stop()).is_some()
    }
}

/// A running operation's control, unregistered on drop.
pub struct RunningGuard<K: Eq + Hash, C = CancellationToken> {
    tokens: Registry<K, C>,
    key: K,
    id: u64,
    /// Stopped by `Running::cancel` or by the server's shutdown.
    pub token: C,
}

impl<K: Eq + Hash, C> Drop for RunningGuard<K, C> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.tokens.lock() {
            if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
                map.remove(&self.key);
            }
        }
    }
}
