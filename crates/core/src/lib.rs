//! lexinaut-core: the library behind the desktop app, the CLI and the HTTP server.
//! It owns the catalogue, ingestion and search; it knows nothing of Tauri.

pub mod backends;
pub mod catalogue;
pub mod chat;
pub mod chunk;
pub mod config;
mod doctor;
pub mod error;
pub mod eval;
mod ingest;
pub mod jobs;
pub mod kb;
pub mod keyword;
pub mod models;
pub mod running;
pub mod settings;
mod signals;
pub mod vectors;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use catalogue::{
    Catalogue, CatalogueCounts, Document, DocumentFile, DocumentMove, DocumentStatus, Hit,
    KbDeletion, KnowledgeBase, SearchFilter,
};
pub use chunk::{ChunkSpec, ChunkUnit};
pub use config::{BackendConfig, Config};
pub use doctor::{BackendStatus, ConfiguredModels, DoctorReport, ModelStatus};
pub use error::{ApiError, CoreError, ErrorCode};
pub use ingest::{FileIssue, ImportControl, ImportProgress, ImportSummary};
pub use jobs::{ImportJobs, JobRow, JobState};
pub use kb::KbSettings;
pub use lexinaut_extract::Extracted;
pub use running::{Running, RunningGuard};
pub use signals::stop_requested;
pub use tokio_util::sync::CancellationToken;
pub use watch::{
    SyncReport, WatchEvent, WatchOptions, WatchState, WatchedFolder, Watcher, WatcherOptions,
};

use keyword::Segmenter;
use tracing::instrument;

/// Largest `k` a search may ask for.
pub const MAX_SEARCH_K: u32 = 200;

/// How long [`Library::shutdown`] waits for catalogue connections still in use.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// One LexiNaut library: a data directory with its catalogue. Constructed once per process
/// and shared by reference; every adapter calls these methods and nothing else.
pub struct Library {
    config: Config,
    catalogue: Catalogue,
    segmenter: Arc<Segmenter>,
    chat_model: std::sync::RwLock<Option<Arc<dyn chat::ChatModel>>>,
    backends: std::sync::RwLock<vectors::Backends>,
    vector_status: tokio::sync::watch::Sender<vectors::VectorStatus>,
    embedder_wake: tokio::sync::Notify,
    library_id: String,
    managed_chroma: std::sync::Mutex<Option<backends::ChromaServer>>,
    watch_hub: watch::WatchHub,
}

impl Library {
    /// Opens the library described by `config`, creating its data directory and catalogue.
    #[instrument(skip_all, fields(data_dir = %config.data_dir.display()), err)]
    pub async fn open(config: Config) -> Result<Self, CoreError> {
        let catalogue = Catalogue::open(&config.catalogue_path()).await?;
        let mut managed = None;
        let effective = with_managed_chroma(&config, &mut managed);
        let backends = vectors::Backends::from_config(&effective)?;
        let chat_model = backends.chat_model(&effective);
        let library_id: String = sqlx::query_scalar("SELECT id FROM library LIMIT 1")
            .fetch_one(&catalogue.pool)
            .await?;
        let segmenter = Arc::new(Segmenter::default());
        catalogue.rebuild_keyword_index_if_stale(&segmenter).await?;
        Ok(Self {
            config,
            catalogue,
            segmenter,
            chat_model: std::sync::RwLock::new(chat_model),
            backends: std::sync::RwLock::new(backends),
            vector_status: tokio::sync::watch::Sender::new(vectors::VectorStatus::default()),
            embedder_wake: tokio::sync::Notify::new(),
            library_id,
            managed_chroma: std::sync::Mutex::new(managed),
            watch_hub: watch::WatchHub::default(),
        })
    }

    /// Answers questions with `model` from now on (`None`: retrieval-only answers). The app's
    /// model comes from the configuration; settings changes and tests set it here.
    pub fn set_chat_model(&self, model: Option<Arc<dyn chat::ChatModel>>) {
        *self
            .chat_model
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = model;
    }

    /// This library's identity (it names the library's Chroma collections).
    pub fn library_id(&self) -> &str {
        &self.library_id
    }

    /// The backends as configured now (settings may change them while the library is open).
    pub(crate) fn backends(&self) -> vectors::Backends {
        self.backends
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The settings file and environment, for the settings screen.
    pub fn settings(&self) -> Result<settings::SettingsView, CoreError> {
        settings::view(&self.config.data_dir)
    }

    /// Saves `settings` to the settings file and switches to the backends they name, without
    /// a restart; environment variables keep winning over the file. The embedder is woken so a
    /// newly configured embedding model starts on the backlog at once.
    pub fn apply_settings(
        &self,
        new: settings::Settings,
    ) -> Result<settings::SettingsView, CoreError> {
        settings::save(&self.config.data_dir, new)?;
        let mut config = Config::from_env(Some(self.config.data_dir.clone()));
        config.max_file_bytes = self.config.max_file_bytes;
        config.file_timeout_secs = self.config.file_timeout_secs;
        let effective = {
            let mut managed = self
                .managed_chroma
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            with_managed_chroma(&config, &mut managed)
        };
        let backends = vectors::Backends::from_config(&effective)?;
        self.set_chat_model(backends.chat_model(&effective));
        *self
            .backends
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = backends;
        self.embedder_wake.notify_one();
        tracing::info!("settings applied");
        self.settings()
    }

    /// Stops what the library runs beside itself (a managed Chroma) and closes the catalogue,
    /// folding its write-ahead log back into the file when no other process has it open. Call
    /// before a long-running process (the app, the server, the folder watcher) exits; the
    /// library cannot be used afterwards (calling this again does nothing). Waits up to five
    /// seconds for connections still in use.
    pub async fn shutdown(&self) {
        self.stop_managed_chroma().await;
        self.catalogue.close(CLOSE_WAIT).await;
    }

    /// Stops a managed Chroma, if one runs: what a short-lived process calls before it exits
    /// (the catalogue stays open until the process ends).
    pub async fn stop_managed_chroma(&self) {
        let server = self
            .managed_chroma
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(server) = server {
            server.stop().await;
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Loads the segmentation dictionary in the background so the first search is quick.
    pub fn warm_up(&self) {
        let segmenter = Arc::clone(&self.segmenter);
        tokio::task::spawn_blocking(move || segmenter.warm_up());
    }

    /// Creates a knowledge base with the default chunking.
    pub async fn create_kb(&self, name: &str) -> Result<KnowledgeBase, CoreError> {
        self.catalogue.create_kb(name, ChunkSpec::default()).await
    }

    /// Creates a knowledge base with explicit chunking.
    pub async fn create_kb_with(
        &self,
        name: &str,
        spec: ChunkSpec,
    ) -> Result<KnowledgeBase, CoreError> {
        self.catalogue.create_kb(name, spec).await
    }

    /// All knowledge bases.
    pub async fn list_kbs(&self) -> Result<Vec<KnowledgeBase>, CoreError> {
        self.catalogue.list_kbs().await
    }

    /// A knowledge base by name.
    pub async fn kb_by_name(&self, name: &str) -> Result<KnowledgeBase, CoreError> {
        self.catalogue.kb_by_name(name).await
    }

    /// Documents of a knowledge base.
    pub async fn list_documents(&self, kb_id: i64) -> Result<Vec<Document>, CoreError> {
        self.catalogue.kb(kb_id).await?;
        self.catalogue.list_documents(kb_id).await
    }

    /// One document by id.
    pub async fn document(&self, id: i64) -> Result<Document, CoreError> {
        self.catalogue.document(id).await
    }

    /// Removes a document with its chunks and keyword index rows, in one transaction.
    #[instrument(skip(self), err)]
    pub async fn delete_document(&self, doc_id: i64) -> Result<(), CoreError> {
        self.catalogue.delete_document(doc_id).await
    }

    /// Removes documents with their chunks and keyword index rows, in one transaction; returns
    /// how many existed. The one path by which documents leave the library.
    #[instrument(skip_all, fields(documents = doc_ids.len()), err)]
    pub async fn delete_documents(&self, doc_ids: &[i64]) -> Result<u64, CoreError> {
        self.catalogue.delete_documents(doc_ids).await
    }

    /// Gives documents new paths in one transaction, keeping their ids and chunks (nothing is
    /// extracted or embedded again); a document already catalogued at a destination is replaced.
    /// The one path by which documents change path (the folder watcher's renames and moves).
    #[instrument(skip_all, fields(documents = moves.len()), err)]
    pub async fn move_documents(&self, moves: &[DocumentMove]) -> Result<(), CoreError> {
        self.catalogue.move_documents(moves).await
    }

    /// Records that a document's file now lives at `new_path` (which must exist): the document
    /// keeps its id and chunks, nothing is extracted or embedded again. A document already
    /// catalogued at `new_path` in the same knowledge base is replaced.
    #[instrument(skip(self), fields(new_path = %new_path.display()), err)]
    pub async fn move_document(&self, doc_id: i64, new_path: &Path) -> Result<(), CoreError> {
        let io = |source| CoreError::Io {
            path: new_path.to_owned(),
            source,
        };
        let path = std::path::absolute(new_path).map_err(io)?;
        let meta = tokio::fs::metadata(&path).await.map_err(io)?;
        if !meta.is_file() {
            return Err(CoreError::InvalidInput(format!(
                "{} is not a file",
                path.display()
            )));
        }
        let canonical = tokio::fs::canonicalize(&path).await.map_err(io)?;
        self.move_documents(&[DocumentMove {
            id: doc_id,
            path: path.display().to_string(),
            canonical_path: canonical.display().to_string(),
            size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
            mtime_ms: watch::mtime_ms(&meta),
        }])
        .await
    }

    /// Imports files and folders into a knowledge base. Bad files are reported in the summary
    /// and do not stop the rest; `progress` hears about every batch of files; `control` (or a
    /// plain [`CancellationToken`]) cancels between files, or pauses and resumes.
    pub async fn ingest(
        &self,
        kb_id: i64,
        paths: Vec<PathBuf>,
        progress: &(dyn Fn(ImportProgress) + Send + Sync),
        control: impl Into<ImportControl>,
    ) -> Result<ImportSummary, CoreError> {
        self.import_files(kb_id, paths, false, progress, control.into())
            .await
    }

    /// The import behind [`Library::ingest`] and [`Library::reindex_documents`]; `reextract`
    /// extracts unchanged files again instead of skipping them.
    pub(crate) async fn import_files(
        &self,
        kb_id: i64,
        paths: Vec<PathBuf>,
        reextract: bool,
        progress: &(dyn Fn(ImportProgress) + Send + Sync),
        control: ImportControl,
    ) -> Result<ImportSummary, CoreError> {
        let paths = paths
            .into_iter()
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .collect();
        // With vectors, a stored document's job waits in `embedding` until the embedder has
        // stored its last vector.
        let model = self.embedding_model_of(kb_id).await?;
        let embed = self.vectors_enabled() && model.is_some();
        let summary = ingest::ingest(
            &self.catalogue,
            Arc::clone(&self.segmenter),
            &self.config,
            kb_id,
            paths,
            reextract,
            embed,
            model.as_deref(),
            progress,
            control,
        )
        .await;
        // New chunks wait for vectors: the background embedder (if running) takes them now.
        self.wake_embedder();
        summary
    }

    /// Continues an import that was interrupted (crash, kill, cancel): the files whose jobs were
    /// still queued are imported again. Documents already stored are complete (each is written in
    /// one transaction) and unchanged ones are skipped by hash, so nothing is duplicated.
    pub async fn resume(
        &self,
        kb_id: i64,
        progress: &(dyn Fn(ImportProgress) + Send + Sync),
        control: impl Into<ImportControl>,
    ) -> Result<ImportSummary, CoreError> {
        self.catalogue.kb(kb_id).await?;
        let paths: Vec<PathBuf> = self
            .catalogue
            .take_unfinished_jobs(kb_id)
            .await?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        if paths.is_empty() {
            progress(ImportProgress {
                finished: true,
                ..ImportProgress::default()
            });
            return Ok(ImportSummary::default());
        }
        tracing::info!(kb_id, files = paths.len(), "resuming an interrupted import");
        self.ingest(kb_id, paths, progress, control).await
    }

    /// The import jobs of a knowledge base: how many files stand at each step, and up to
    /// `limit` of those not finished (queued to embedding), oldest first.
    pub async fn import_jobs(&self, kb_id: i64, limit: u32) -> Result<ImportJobs, CoreError> {
        self.catalogue.kb(kb_id).await?;
        self.catalogue.import_jobs(kb_id, limit).await
    }

    /// Finishes the imports a crash or kill interrupted (what the desktop and the server do at
    /// start-up), one knowledge base after the other. Each is registered in `running` under
    /// `shutdown` like any import, so a Cancel or Pause asked for its knowledge base reaches
    /// it; `finished` hears of each knowledge base once its import ended, whatever the outcome
    /// (the catalogue changed). Failures are logged: there is no one to answer.
    pub async fn resume_interrupted_imports(
        &self,
        running: &Running<i64, ImportControl>,
        shutdown: &CancellationToken,
        finished: impl Fn(i64) + Send,
    ) {
        let kbs = match self.catalogue.kbs_with_unfinished_jobs().await {
            Ok(kbs) => kbs,
            Err(e) => {
                tracing::error!("cannot look for interrupted imports: {e}");
                return;
            }
        };
        for kb_id in kbs {
            let guard = running.begin(kb_id, shutdown);
            let outcome = self.resume(kb_id, &|_| {}, guard.control()).await;
            drop(guard);
            match outcome {
                Ok(summary) => tracing::info!(
                    kb_id,
                    documents = summary.documents,
                    failed = summary.failed.len(),
                    "resumed an interrupted import"
                ),
                Err(e) => tracing::error!(kb_id, "resuming an interrupted import failed: {e}"),
            }
            finished(kb_id);
        }
    }

    /// Keyword search (BM25 over jieba tokens) in a knowledge base; best hits first.
    pub async fn search(&self, kb_id: i64, query: &str, k: u32) -> Result<Vec<Hit>, CoreError> {
        self.search_with(kb_id, query, k, &SearchFilter::default())
            .await
    }

    /// Keyword search limited by `filter` (folder, formats, dates).
    #[instrument(skip(self), err)]
    pub async fn search_with(
        &self,
        kb_id: i64,
        query: &str,
        k: u32,
        filter: &SearchFilter,
    ) -> Result<Vec<Hit>, CoreError> {
        if k == 0 || k > MAX_SEARCH_K {
            return Err(CoreError::InvalidInput(format!(
                "k must be between 1 and {MAX_SEARCH_K}, got {k}"
            )));
        }
        self.catalogue.kb(kb_id).await?;
        let segmenter = Arc::clone(&self.segmenter);
        let q = query.to_owned();
        let Some(expression) =
            tokio::task::spawn_blocking(move || segmenter.match_expression(&q)).await?
        else {
            return Ok(Vec::new());
        };
        // BM25 over OR-ed tokens ranks well but can put a chunk that merely shares rare words
        // above the one holding the exact phrase the user pasted; re-rank a wider candidate set
        // so exact matches come first.
        let candidates = (k * 4).clamp(40, MAX_SEARCH_K * 2);
        let hits = self
            .catalogue
            .keyword_search(kb_id, &expression, candidates, filter)
            .await?;
        Ok(rank_exact_first(query, hits, k as usize))
    }

    /// Health report: configuration, catalogue and backends.
    pub async fn doctor(&self) -> Result<DoctorReport, CoreError> {
        let current = self
            .backends()
            .config
            .unwrap_or_else(|| self.config.clone());
        let (xinference, chroma) = tokio::join!(
            doctor::probe_xinference(&current),
            doctor::probe_chroma(&current),
        );
        Ok(DoctorReport {
            version: env!("CARGO_PKG_VERSION").into(),
            data_dir: self.config.data_dir.display().to_string(),
            catalogue: self.config.catalogue_path().display().to_string(),
            sqlite_version: self.catalogue.sqlite_version().await?,
            counts: self.catalogue.counts().await?,
            backends: vec![xinference, chroma],
            models: doctor::ConfiguredModels {
                embedding: current.backends.embed_model.clone(),
                chat: current.backends.chat_model.clone(),
                rerank: current.backends.rerank_model.clone(),
            },
            vector_backlog: if self.backends().vectors_enabled() {
                self.vector_backlog().await?
            } else {
                0
            },
        })
    }
}

/// The configuration with a managed Chroma's URL filled in when it asks for one: starts the
/// server if none runs, stops a running one that is no longer wanted.
fn with_managed_chroma(config: &Config, managed: &mut Option<backends::ChromaServer>) -> Config {
    let mut effective = config.clone();
    if !config.wants_managed_chroma() {
        if managed.take().is_some() {
            tracing::info!(
                "stopping the managed Chroma: a Chroma URL is configured or vectors are off"
            );
        }
        return effective;
    }
    if managed.is_none() {
        match backends::find_chroma_bin(config.chroma_bin.as_deref()) {
            Some(bin) => match backends::ChromaServer::start(&bin, &config.data_dir.join("chroma")) {
                Ok(server) => *managed = Some(server),
                Err(e) => tracing::error!(bin = %bin.display(), "cannot start a managed Chroma: {e}"),
            },
            None => tracing::warn!(
                "vectors are configured without a Chroma URL and no `chroma` executable was found \
                 (run scripts/backends.sh install, or set LEXINAUT_CHROMA_URL or LEXINAUT_CHROMA_BIN)"
            ),
        }
    }
    effective.chroma_url = managed.as_ref().map(|m| m.url().to_owned());
    effective
}

/// Extracts one file without touching any catalogue (the `extract` command).
pub async fn extract_file(path: &Path, config: &Config) -> Result<Extracted, CoreError> {
    let path = path.to_owned();
    let limits = config.limits();
    Ok(
        tokio::task::spawn_blocking(move || lexinaut_extract::extract_file(&path, &limits))
            .await??,
    )
}

/// Puts hits whose text contains the whole query (whitespace-insensitive) first. Their score
/// is raised by the best BM25 score among the candidates, so scores stay in ranking order.
fn rank_exact_first(query: &str, mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let needle = squash(query);
    if needle.chars().count() >= 2 {
        let bonus = hits.iter().map(|h| h.score).fold(0.0_f64, f64::max);
        for h in &mut hits {
            if squash(&h.text).contains(&needle) {
                h.score += bonus;
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    }
    hits.truncate(k);
    hits
}
