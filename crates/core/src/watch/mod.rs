//! Watched folders: a knowledge base mirrors folders on disk, by a scan at start-up and live
//! through file-system events; their configuration, status, events and the `Watcher` that syncs.
//!
//! # Using it
//!
//! - Configure with [`Library::add_watch`], [`Library::remove_watch`], [`Library::list_watches`]
//!   and [`Library::pause_watch`]. These only change the catalogue; a running [`Watcher`] picks
//!   the change up at once (in-process) or within [`POLL_INTERVAL`] (another process).
//! - Sync with [`Watcher::start`]: it reconciles every active folder (new, changed, gone and
//!   moved files are applied), then follows live changes until [`Watcher::stop`] or until the
//!   handle is dropped. One watcher may run per library (a lock file in the data directory).
//! - Observe with [`Library::subscribe_watch`]: a `tokio::sync::broadcast` of [`WatchEvent`]s
//!   (folder status, one `Synced` per applied batch, errors). A slow subscriber loses the oldest
//!   events (`RecvError::Lagged`), never blocks the watcher; [`Library::list_watches`] always
//!   has the current status.
//!
//! # What a sync does
//!
//! Every change goes through the same comparison (`scan::plan`) of a place on disk (the whole
//! folder, or the paths events named) with the catalogue's documents at that place: a file whose
//! size and modification time match is left alone; a new or changed file is imported through
//! the durable import (`Library::ingest`: jobs table, BLAKE3 check, so a file that was only
//! touched is read but not extracted again); a document whose file vanished is paired with a new
//! file of the same size and BLAKE3 in the same knowledge base — a rename or move, within one
//! folder or across two — and keeps its id and chunks ([`Catalogue::move_documents`]); any other
//! vanished document is removed ([`Catalogue::delete_documents`]). A folder that is not there is
//! marked `missing` and its documents are never removed because of that.
//!
//! [`Catalogue::move_documents`]: crate::Catalogue::move_documents
//! [`Catalogue::delete_documents`]: crate::Catalogue::delete_documents

mod filter;
mod run;
mod scan;
mod store;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::error::CoreError;
use crate::Library;

pub use filter::DEFAULT_EXCLUDES;
pub(crate) use scan::mtime_ms;

/// How often a running watcher re-reads the folder list (changes made by another process) and
/// checks whether missing folders are back.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Default quiet time before a file's events are reported (notify-debouncer-full's timeout).
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);

/// Where a watched folder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    /// Followed: changes are applied as they happen.
    Active,
    /// Paused by the user: not followed; a scan catches up when it is resumed.
    Paused,
    /// The folder is not there (unplugged drive, unmounted share, deleted or renamed). Its
    /// documents are kept; the watcher looks for it every few seconds and catches up when it is
    /// back.
    Missing,
    /// It cannot be followed live; `last_error` says why and how to fix it (e.g. the inotify
    /// watch limit). Every minute the watcher tries again and, meanwhile, syncs it by a scan.
    Error,
}

impl WatchState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Missing => "missing",
            Self::Error => "error",
        }
    }
}

impl FromStr for WatchState {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "active" => Ok(Self::Active),
            "paused" => Ok(Self::Paused),
            "missing" => Ok(Self::Missing),
            "error" => Ok(Self::Error),
            other => Err(CoreError::InvalidInput(format!(
                "unknown watch state {other:?}"
            ))),
        }
    }
}

/// Which files of a folder to mirror, on top of the built-in excludes ([`DEFAULT_EXCLUDES`]) and
/// the supported formats. Globs match the path relative to the folder with `/` separators,
/// case-insensitively; `*` crosses folders (`*.pdf` matches at any depth, `drafts/**` a subtree);
/// exclude globs also match any single file or folder name (`node_modules`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
pub struct WatchOptions {
    /// When not empty, only files matching one of these.
    #[serde(default)]
    pub include: Vec<String>,
    /// Files and folders never mirrored.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A folder a knowledge base mirrors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct WatchedFolder {
    /// Stable id.
    #[specta(type = i32)]
    pub id: i64,
    /// The knowledge base that mirrors it.
    #[specta(type = i32)]
    pub kb_id: i64,
    /// The folder as the user gave it (absolute); documents are catalogued under it.
    pub path: String,
    /// The folder with symlinks resolved: what is watched.
    pub canonical_path: String,
    /// Include globs (empty: every supported file).
    pub include: Vec<String>,
    /// Exclude globs, on top of the built-in ones.
    pub exclude: Vec<String>,
    /// Followed, paused, missing or failing.
    pub state: WatchState,
    /// Last time changes were applied or a full scan finished, unix milliseconds.
    #[specta(type = Option<i32>)]
    pub last_sync_at: Option<i64>,
    /// Why the folder is missing or cannot be followed.
    pub last_error: Option<String>,
    /// Changes seen and not applied yet (paths, or 1 for a pending full scan).
    #[specta(type = i32)]
    pub pending: i64,
    /// When it was added, unix milliseconds.
    #[specta(type = i32)]
    pub created_at: i64,
}

/// What one sync batch of a folder did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, specta::Type)]
pub struct SyncReport {
    /// The folder.
    #[specta(type = i32)]
    pub folder_id: i64,
    /// Its knowledge base.
    #[specta(type = i32)]
    pub kb_id: i64,
    /// The folder's path as given.
    pub path: String,
    /// Whether the batch was a scan of the whole folder (start-up, folder back, overflow).
    pub full_scan: bool,
    /// New files indexed.
    pub added: u32,
    /// Changed files indexed again.
    pub updated: u32,
    /// Documents whose file was renamed or moved into this folder (kept, not re-extracted).
    pub moved: u32,
    /// Documents removed because their file is gone.
    pub removed: u32,
    /// Files looked at and found unchanged (same size and time, or same content).
    pub unchanged: u32,
    /// Files that could not be imported (each document row carries the reason).
    pub failed: u32,
    /// When the batch was applied, unix milliseconds.
    #[specta(type = i32)]
    pub at: i64,
}

/// What a watcher tells its subscribers. The desktop shell translates these into UI events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WatchEvent {
    /// A folder was added, or its state, pending count, last sync or error changed.
    FolderStatus(WatchedFolder),
    /// A folder was removed from watching.
    FolderRemoved {
        /// The folder.
        #[specta(type = i32)]
        folder_id: i64,
    },
    /// A batch of changes was applied to a folder's knowledge base.
    Synced(SyncReport),
    /// Something went wrong; the watcher carries on.
    Error {
        /// The folder concerned, if it is one.
        #[specta(type = Option<i32>)]
        folder_id: Option<i64>,
        /// A sentence naming the folder and the reason.
        message: String,
    },
}

/// The watch feature's share of a `Library`: its event bus and the nudge that tells a running
/// watcher the folder list changed.
pub(crate) struct WatchHub {
    events: broadcast::Sender<WatchEvent>,
    changed: Notify,
}

/// Events kept for a subscriber that falls behind before it starts losing the oldest.
const EVENT_BUFFER: usize = 1024;

impl Default for WatchHub {
    fn default() -> Self {
        Self {
            events: broadcast::channel(EVENT_BUFFER).0,
            changed: Notify::new(),
        }
    }
}

impl WatchHub {
    pub(crate) fn emit(&self, event: WatchEvent) {
        // No subscriber is not an error: the events are a courtesy, the catalogue is the truth.
        let _ = self.events.send(event);
    }

    /// Tells a running watcher to read the folder list again (folders were added or removed
    /// outside this module, e.g. with their knowledge base).
    pub(crate) fn folders_changed(&self) {
        self.changed.notify_one();
    }
}

impl Library {
    /// Starts mirroring `path` (a folder) into knowledge base `kb_id`. Rejects a path that does
    /// not exist or is not a folder, a folder already watched by this knowledge base or nested
    /// inside (or containing) one of its watched folders, a folder holding LexiNaut's own data
    /// directory, and bad globs. Nothing is imported here: a running [`Watcher`] scans the
    /// new folder at once.
    #[instrument(skip(self, options), fields(path = %path.display()), err)]
    pub async fn add_watch(
        &self,
        kb_id: i64,
        path: &Path,
        options: WatchOptions,
    ) -> Result<WatchedFolder, CoreError> {
        self.catalogue.kb(kb_id).await?;
        let given = std::path::absolute(path).map_err(|source| CoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        let meta = tokio::fs::metadata(&given).await.map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CoreError::NotFound(format!("folder {}", given.display()))
            } else {
                CoreError::Io {
                    path: given.clone(),
                    source,
                }
            }
        })?;
        if !meta.is_dir() {
            return Err(CoreError::InvalidInput(format!(
                "{} is not a folder",
                given.display()
            )));
        }
        let canonical = tokio::fs::canonicalize(&given)
            .await
            .map_err(|source| CoreError::Io {
                path: given.clone(),
                source,
            })?;
        let clean = |v: Vec<String>| -> Vec<String> {
            v.into_iter().map(|g| g.trim().to_owned()).collect()
        };
        let (include, exclude) = (clean(options.include), clean(options.exclude));
        filter::FolderFilter::new(&include, &exclude)?;
        let data_dir = tokio::fs::canonicalize(&self.config.data_dir)
            .await
            .unwrap_or_else(|_| self.config.data_dir.clone());
        if data_dir.starts_with(&canonical) {
            return Err(CoreError::InvalidInput(format!(
                "{} holds LexiNaut's own data folder ({}); choose a folder of documents",
                given.display(),
                data_dir.display()
            )));
        }
        for w in self.catalogue.watches(Some(kb_id)).await? {
            let other = Path::new(&w.canonical_path);
            if other == canonical {
                return Err(CoreError::AlreadyExists(format!(
                    "watched folder {} (#{}) in this knowledge base",
                    w.path, w.id
                )));
            }
            if canonical.starts_with(other) {
                return Err(CoreError::InvalidInput(format!(
                    "{} is inside {}, which this knowledge base already watches (#{})",
                    given.display(),
                    w.path,
                    w.id
                )));
            }
            if other.starts_with(&canonical) {
                return Err(CoreError::InvalidInput(format!(
                    "{} contains {}, which this knowledge base already watches (#{}); remove that one first",
                    given.display(),
                    w.path,
                    w.id
                )));
            }
        }
        let folder = self
            .catalogue
            .insert_watch(
                kb_id,
                &given.display().to_string(),
                &canonical.display().to_string(),
                &include,
                &exclude,
            )
            .await?;
        self.watch_hub.changed.notify_one();
        self.watch_hub
            .emit(WatchEvent::FolderStatus(folder.clone()));
        Ok(folder)
    }

    /// Stops watching a folder. With `remove_documents`, the documents catalogued under it in its
    /// knowledge base are removed too (through [`Library::delete_documents`]); otherwise they stay
    /// as ordinary documents. Returns how many documents were removed.
    #[instrument(skip(self), err)]
    pub async fn remove_watch(&self, id: i64, remove_documents: bool) -> Result<u64, CoreError> {
        let folder = self.catalogue.watch(id).await?;
        self.catalogue.delete_watch(id).await?;
        self.watch_hub.changed.notify_one();
        let removed = if remove_documents {
            let ids: Vec<i64> = self
                .catalogue
                .documents_under(folder.kb_id, &folder.canonical_path)
                .await?
                .into_iter()
                .map(|d| d.id)
                .collect();
            self.delete_documents(&ids).await?
        } else {
            0
        };
        self.watch_hub
            .emit(WatchEvent::FolderRemoved { folder_id: id });
        Ok(removed)
    }

    /// Watched folders of one knowledge base (or of all), with their current status.
    pub async fn list_watches(&self, kb_id: Option<i64>) -> Result<Vec<WatchedFolder>, CoreError> {
        if let Some(kb_id) = kb_id {
            self.catalogue.kb(kb_id).await?;
        }
        self.catalogue.watches(kb_id).await
    }

    /// Pauses a watched folder, or resumes it (a running watcher then scans it to catch up).
    #[instrument(skip(self), err)]
    pub async fn pause_watch(&self, id: i64, paused: bool) -> Result<WatchedFolder, CoreError> {
        self.catalogue.set_watch_paused(id, paused).await?;
        self.watch_hub.changed.notify_one();
        let folder = self.catalogue.watch(id).await?;
        self.watch_hub
            .emit(WatchEvent::FolderStatus(folder.clone()));
        Ok(folder)
    }

    /// Subscribes to watched-folder events (see [`WatchEvent`]). Subscribe before starting a
    /// [`Watcher`] to hear its start-up scan.
    pub fn subscribe_watch(&self) -> broadcast::Receiver<WatchEvent> {
        self.watch_hub.events.subscribe()
    }
}

/// Settings of a [`Watcher`].
#[derive(Debug, Clone)]
pub struct WatcherOptions {
    /// Only this knowledge base's folders (all when `None`).
    pub kb_id: Option<i64>,
    /// Quiet time before a file's events are handled; editors' save sequences and copies in
    /// progress settle within it.
    pub debounce: Duration,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        Self {
            kb_id: None,
            debounce: DEFAULT_DEBOUNCE,
        }
    }
}

/// A running folder watcher: reconciles the watched folders, then follows their changes. Its
/// tasks stop when the handle is dropped ([`Watcher::stop`] also waits for them).
pub struct Watcher {
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Held for the watcher's lifetime: one watcher per library.
    _lock: std::fs::File,
}

/// File in the data directory locked by the running watcher.
const LOCK_FILE: &str = "watcher.lock";

impl Watcher {
    /// Starts watching the library's folders (those of `options.kb_id` only, when set). Returns
    /// at once; the start-up scan and everything after it run in the background and report
    /// through [`Library::subscribe_watch`]. Fails when another watcher runs on this library
    /// (in this process or another).
    #[instrument(skip_all, fields(kb_id = ?options.kb_id), err)]
    pub async fn start(library: &Arc<Library>, options: WatcherOptions) -> Result<Self, CoreError> {
        if let Some(kb_id) = options.kb_id {
            library.catalogue.kb(kb_id).await?;
        }
        let path = library.config.data_dir.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| CoreError::Io {
                path: path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(CoreError::AlreadyExists(format!(
                    "a folder watcher on {} (stop the other one first)",
                    library.config.data_dir.display()
                )))
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(CoreError::Io { path, source });
            }
        }
        let cancel = CancellationToken::new();
        let task =
            tokio::spawn(run::Runner::new(Arc::clone(library), options, cancel.clone()).run());
        Ok(Self {
            cancel,
            task: Some(task),
            _lock: lock,
        })
    }

    /// Stops the watcher and waits until its tasks have finished (a batch being written is
    /// cut short between files; its remaining changes are found by the next start-up scan).
    pub async fn stop(mut self) -> Result<(), CoreError> {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            task.await?;
        }
        Ok(())
    }

    /// Whether the watcher's task is still running (it only ends when stopped).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
