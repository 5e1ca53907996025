//! The one `AppState` of the desktop shell, built once at start-up and handed to commands.

use std::collections::HashMap;
use std::sync::Mutex;

use lexinaut_core::{CancellationToken, Library};

/// Shared state of the running app.
pub struct AppState {
    /// The core library every command calls.
    pub library: Library,
    /// Cancellation of the import running in each knowledge base, if any.
    pub imports: Mutex<HashMap<i64, CancellationToken>>,
}

impl AppState {
    /// Registers a new import for `kb_id`; the guard forgets it when the import ends.
    pub fn begin_import(&self, kb_id: i64) -> ImportGuard<'_> {
        let token = CancellationToken::new();
        if let Ok(mut map) = self.imports.lock() {
            map.insert(kb_id, token.clone());
        }
        ImportGuard {
            state: self,
            kb_id,
            token,
        }
    }

    /// Cancels the import running in `kb_id`; false when none runs.
    pub fn cancel_import(&self, kb_id: i64) -> bool {
        self.imports
            .lock()
            .ok()
            .and_then(|map| map.get(&kb_id).cloned())
            .map(|t| t.cancel())
            .is_some()
    }
}

/// A running import's cancellation token, unregistered on drop.
pub struct ImportGuard<'a> {
    state: &'a AppState,
    kb_id: i64,
    /// Cancelled by `AppState::cancel_import`.
    pub token: CancellationToken,
}

impl Drop for ImportGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.state.imports.lock() {
            map.remove(&self.kb_id);
        }
    }
}
