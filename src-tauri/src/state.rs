//! The one `AppState` of the desktop shell, built once at start-up and handed to commands.

use std::sync::{Arc, Mutex};

use lexinaut_core::{CancellationToken, ImportControl, Library, Running, Watcher};

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
    /// Stops background work (the embedder, imports, answers) when the app exits.
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
