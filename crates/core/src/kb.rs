//! Knowledge bases after creation: renaming, per-knowledge-base settings (chunking, embedding
//! model), deletion with everything that belongs to them, and re-indexing chosen documents.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::catalogue::{KbDeletion, KnowledgeBase};
use crate::chunk::{ChunkSpec, ChunkUnit};
use crate::error::CoreError;
use crate::ingest::{ImportControl, ImportProgress, ImportSummary};
use crate::watch::WatchEvent;
use crate::Library;

/// The settings of one knowledge base that can change after it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct KbSettings {
    /// Chunk size (in `chunk_unit`s), for documents imported from now on.
    pub chunk_size: u32,
    /// Chunk overlap (in `chunk_unit`s), for documents imported from now on.
    pub chunk_overlap: u32,
    /// What size and overlap count (characters unless given).
    #[serde(default)]
    pub chunk_unit: ChunkUnit,
    /// Its own embedding model (a model uid on Xinference); `None`: the configured default.
    pub embedding_model: Option<String>,
}

impl Library {
    /// Renames a knowledge base (names are unique; surrounding whitespace is dropped).
    #[instrument(skip(self), err)]
    pub async fn rename_kb(&self, kb_id: i64, name: &str) -> Result<KnowledgeBase, CoreError> {
        self.catalogue.rename_kb(kb_id, name).await
    }

    /// Changes a knowledge base's chunking and embedding model. New chunking applies to files
    /// imported (or re-indexed) from now on; a new embedding model is built in the background
    /// while questions keep using the last complete vector set. Everything is checked before
    /// anything is written.
    #[instrument(skip(self), err)]
    pub async fn update_kb_settings(
        &self,
        kb_id: i64,
        settings: &KbSettings,
    ) -> Result<KnowledgeBase, CoreError> {
        let current = self.catalogue.kb(kb_id).await?;
        let spec = ChunkSpec {
            size: settings.chunk_size,
            overlap: settings.chunk_overlap,
            unit: settings.chunk_unit,
        }
        .validate()
        .map_err(CoreError::InvalidInput)?;
        if spec != current.chunk_spec() {
            self.catalogue.set_kb_chunking(kb_id, spec).await?;
        }
        let model = settings
            .embedding_model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        if model != current.embedding_model.as_deref() {
            self.set_embedding_model(kb_id, model).await?;
        }
        self.catalogue.kb(kb_id).await
    }

    /// Deletes a knowledge base with its documents (their vectors leave Chroma through the
    /// tombstones the embedder applies), conversations and watched folders (the folders on disk
    /// are not touched). A running watcher stops following its folders at once.
    #[instrument(skip(self), err)]
    pub async fn delete_kb(&self, kb_id: i64) -> Result<KbDeletion, CoreError> {
        let folders = self.catalogue.watches(Some(kb_id)).await?;
        let deletion = self.catalogue.delete_kb(kb_id).await?;
        self.watch_hub.folders_changed();
        for f in folders {
            self.watch_hub
                .emit(WatchEvent::FolderRemoved { folder_id: f.id });
        }
        self.wake_embedder();
        tracing::info!(
            kb_id,
            documents = deletion.documents,
            conversations = deletion.conversations,
            watched_folders = deletion.watched_folders,
            "knowledge base deleted"
        );
        Ok(deletion)
    }

    /// Imports documents' files again, extracted and chunked afresh even when unchanged (with
    /// the knowledge base's current chunking); the documents keep their ids. A file that is gone
    /// or unreadable is reported as failed and its document keeps what it had. Every id must
    /// exist; documents of several knowledge bases are re-indexed one knowledge base after the
    /// other.
    #[instrument(skip_all, fields(documents = doc_ids.len()), err)]
    pub async fn reindex_documents(
        &self,
        doc_ids: &[i64],
        progress: &(dyn Fn(ImportProgress) + Send + Sync),
        control: impl Into<ImportControl>,
    ) -> Result<ImportSummary, CoreError> {
        let control = control.into();
        let mut by_kb: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
        for id in doc_ids {
            let doc = self.catalogue.document(*id).await?;
            by_kb.entry(doc.kb_id).or_default().insert(doc.path, doc.id);
        }
        let mut summary = ImportSummary::default();
        for (kb_id, docs) in by_kb {
            if control.is_cancelled() {
                summary.cancelled = true;
                break;
            }
            let paths = docs.keys().map(PathBuf::from).collect();
            let part = self
                .import_files(kb_id, paths, true, progress, control.clone())
                .await?;
            // A file that is gone never reached the import's jobs: its document says so here.
            for issue in &part.failed {
                if let Some(id) = docs.get(&issue.path) {
                    self.catalogue
                        .set_document_error(*id, &issue.reason)
                        .await?;
                }
            }
            summary.merge(part);
        }
        Ok(summary)
    }
}
