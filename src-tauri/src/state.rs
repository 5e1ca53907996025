//! The one `AppState` of the desktop shell, built once at start-up and handed to commands.

use lexinaut_core::Library;

/// Shared state of the running app.
pub struct AppState {
    /// The core library every command calls.
    pub library: Library,
}
