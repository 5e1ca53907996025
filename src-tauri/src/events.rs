//! Typed events broadcast to every window (streams use channels instead).

use serde::{Deserialize, Serialize};

/// A knowledge base or its documents changed (import finished, documents removed or re-indexed,
/// a watched folder synced, renamed, settings changed, deleted).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct CatalogueChanged {
    /// The knowledge base that changed.
    #[specta(type = i32)]
    pub kb_id: i64,
}

/// Vector indexing changed state (embedding, ready, a backend unavailable, backlog size).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct VectorStatusChanged(pub lexinaut_core::vectors::VectorStatus);

/// A watched folder was added, removed, changed state, or had changes applied (the core's
/// `WatchEvent`, translated as it is: the core knows nothing of Tauri).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct WatchChanged(pub lexinaut_core::WatchEvent);

/// The app's folder watcher started, or could not start (and why).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct WatcherStatusChanged(pub WatcherStatus);

/// Whether the app's folder watcher runs.
#[derive(Debug, Clone, Default, Serialize, specta::Type)]
pub struct WatcherStatus {
    /// It runs: watched folders are synced live.
    pub running: bool,
    /// Why it does not run (starting it is retried every ten seconds).
    pub error: Option<String>,
}
