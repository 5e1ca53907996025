//! Typed events broadcast to every window (streams use channels instead).

use serde::{Deserialize, Serialize};

/// The documents of a knowledge base changed (import finished, documents removed, ...).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct CatalogueChanged {
    /// The knowledge base that changed.
    #[specta(type = i32)]
    pub kb_id: i64,
}

/// Vector indexing changed state (embedding, ready, a backend unavailable, backlog size).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct VectorStatusChanged(pub lexinaut_core::vectors::VectorStatus);
