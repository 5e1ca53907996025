//! The one `ServerState` every handler shares: the library, the running imports and answers
//! (so they can be stopped), the concurrency limits and the change broadcast.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use lexinaut_core::{CancellationToken, ImportControl, Library, Running};
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
