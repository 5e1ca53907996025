//! The running watcher: OS file-system events (notify + notify-debouncer-full) become pending
//! changes per folder, applied in bounded rounds through the catalogue and the durable import.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_debouncer_full::notify::event::{AccessKind, AccessMode, ModifyKind};
use notify_debouncer_full::notify::{self, EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer_opt, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::catalogue::{below, now_ms, DocumentFile, DocumentStatus};
use crate::error::CoreError;
use crate::Library;

use super::filter::FolderFilter;
use super::scan::{self, DiskFile, FolderSpec, ScopeScan};
use super::store::FolderStatusUpdate;
use super::{SyncReport, WatchEvent, WatchState, WatchedFolder, WatcherOptions, POLL_INTERVAL};

type OsWatcher = Debouncer<RecommendedWatcher, RecommendedCache>;

/// Debounced batches in flight from the OS watcher's thread to the runner. When the runner is
/// busy the thread waits (the debouncer keeps one queue per changed path meanwhile, and the
/// kernel reports an overflow if its own queue fills up, which becomes a full scan).
const EVENT_BATCHES: usize = 16;
/// Changed paths held per folder; past this a full scan of the folder replaces them.
const MAX_PENDING_PATHS: usize = 20_000;
/// Paths taken into one round (a full scan counts as one, and is bounded by the folder).
const ROUND_PATHS: usize = 4_096;
/// Files per call of the import: a round of a big burst reports progress chunk by chunk.
const IMPORT_CHUNK: usize = 1_000;
/// Quiet time after the last debounced batch before a round starts, at least this, and at least
/// half the debounce time: the debouncer releases what one change caused over consecutive ticks
/// (a quarter of its timeout apart), and they must land in one round, or a move whose two halves
/// were split would be seen as a removal and an addition.
const MIN_QUIET: Duration = Duration::from_millis(250);
/// Longest a change waits for the quiet time while events keep coming.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Wait before retrying a folder that could not be followed or synced.
const RETRY_ERROR: Duration = Duration::from_secs(60);
const RETRY_SYNC: Duration = Duration::from_secs(10);
/// Paths in a folder's round past which its documents are read in one query instead of one
/// query per path.
const BULK_LOOKUP: usize = 64;
/// How often each idle followed folder's documents are checked against their files (a stat per
/// document), at least: what the event stream missed is found by this sweep. A sweep that takes
/// long spaces the next one out (at most 1% of the time is spent sweeping).
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// How soon a sweep follows a hint that the event stream lost a path.
const SWEEP_SOON: Duration = Duration::from_secs(1);
/// How often finished import jobs are pruned, and how old they must be.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
const KEEP_FINISHED_JOBS_MS: i64 = 3_600_000;
/// A folder whose existence cannot be checked within this (hung network share) counts as missing.
const PRESENCE_TIMEOUT: Duration = Duration::from_secs(5);

struct Folder {
    row: WatchedFolder,
    spec: Arc<FolderSpec>,
    /// Not before this: try again to follow a folder in state `error`.
    watch_retry_at: Option<Instant>,
    /// Not before this: try again to sync after a round failed.
    sync_retry_at: Option<Instant>,
    /// When the folder's documents are next checked against their files.
    next_sweep: Instant,
}

#[derive(Default)]
struct FolderPending {
    full: bool,
    paths: BTreeSet<PathBuf>,
    in_flight: usize,
}

impl FolderPending {
    fn has_work(&self) -> bool {
        self.full || !self.paths.is_empty()
    }

    fn count(&self) -> i64 {
        i64::try_from(self.paths.len() + usize::from(self.full) + self.in_flight)
            .unwrap_or(i64::MAX)
    }
}

/// One folder's share of a round.
struct Work {
    spec: Arc<FolderSpec>,
    full: bool,
    paths: Vec<PathBuf>,
}

pub(crate) struct Runner {
    lib: Arc<Library>,
    kb_filter: Option<i64>,
    debounce: Duration,
    cancel: CancellationToken,
    folders: BTreeMap<i64, Folder>,
    pending: HashMap<i64, FolderPending>,
    first_pending: Option<Instant>,
    last_event: Option<Instant>,
    os: Option<Arc<Mutex<OsWatcher>>>,
    /// Not before this: try again to start the OS watcher after it failed.
    os_retry_at: Option<Instant>,
    os_roots: BTreeSet<PathBuf>,
    /// No round before this: what a sweep found waits until events the debouncer still holds
    /// have arrived, so both halves of a rename land in one round.
    hold_until: Option<Instant>,
    next_prune: Instant,
    tx: mpsc::Sender<DebounceEventResult>,
    rx: Option<mpsc::Receiver<DebounceEventResult>>,
}

fn minimal_roots(mut roots: Vec<PathBuf>) -> BTreeSet<PathBuf> {
    roots.sort();
    let mut out: BTreeSet<PathBuf> = BTreeSet::new();
    for r in roots {
        if !out.iter().any(|o| r.starts_with(o)) {
            out.insert(r);
        }
    }
    out
}

/// A sentence for a folder that cannot be followed, with the fix when there is one.
fn watch_error_message(root: &Path, e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => {
            // The limit in force for this process's user namespace (in the initial namespace it
            // is fs.inotify.max_user_watches itself).
            let current = [
                "/proc/sys/user/max_inotify_watches",
                "/proc/sys/fs/inotify/max_user_watches",
            ]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|v| format!(" (now {})", v.trim()))
            .unwrap_or_default();
            format!(
                "changes in {} cannot be followed: the system limit on watched folders, \
                 fs.inotify.max_user_watches{current}, is reached. Raise it with \
                 `sudo sysctl fs.inotify.max_user_watches=524288` and keep it across restarts \
                 with `echo fs.inotify.max_user_watches=524288 | sudo tee \
                 /etc/sysctl.d/90-lexinaut.conf`; until then LexiNaut rescans the folder every \
                 minute instead of following it live",
                root.display()
            )
        }
        notify::ErrorKind::Io(io) if io.raw_os_error() == Some(24) => format!(
            "changes in {} cannot be followed: too many file watchers are open \
             (fs.inotify.max_user_instances). Raise it with \
             `sudo sysctl fs.inotify.max_user_instances=1024`; until then LexiNaut rescans the \
             folder every minute instead of following it live",
            root.display()
        ),
        _ => format!(
            "changes in {} cannot be followed: {e}; LexiNaut rescans the folder every minute \
             instead",
            root.display()
        ),
    }
}

async fn present(spec: &Arc<FolderSpec>) -> bool {
    let spec = Arc::clone(spec);
    let check = tokio::task::spawn_blocking(move || spec.is_present());
    matches!(
        tokio::time::timeout(PRESENCE_TIMEOUT, check).await,
        Ok(Ok(true))
    )
}

/// Whether a round may take a folder's pending work. A folder in `error` is not followed live
/// but is still synced by full scans; missing and paused folders wait.
fn syncable(f: &Folder, p: &FolderPending) -> bool {
    match f.row.state {
        WatchState::Active => p.has_work(),
        WatchState::Error => p.full,
        WatchState::Paused | WatchState::Missing => false,
    }
}

/// The documents of `docs` at or below `scope`.
fn within<'a>(
    docs: &'a BTreeMap<String, DocumentFile>,
    scope: &str,
) -> impl Iterator<Item = &'a DocumentFile> + 'a {
    let (from, to) = below(scope);
    docs.get(scope)
        .into_iter()
        .chain(docs.range(from..to).map(|(_, d)| d))
}

impl Runner {
    pub(crate) fn new(
        lib: Arc<Library>,
        options: WatcherOptions,
        cancel: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(EVENT_BATCHES);
        Self {
            lib,
            kb_filter: options.kb_id,
            debounce: options.debounce,
            cancel,
            folders: BTreeMap::new(),
            pending: HashMap::new(),
            first_pending: None,
            last_event: None,
            os: None,
            os_retry_at: None,
            os_roots: BTreeSet::new(),
            hold_until: None,
            next_prune: Instant::now(),
            tx,
            rx: Some(rx),
        }
    }

    pub(crate) async fn run(mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        let cancel = self.cancel.clone();
        let lib = Arc::clone(&self.lib);
        info!(kb_id = ?self.kb_filter, "folder watcher started");
        self.start_os_watcher();
        self.refresh().await;
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let due = self.due();
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(batch) = rx.recv() => self.on_os_events(batch).await,
                () = lib.watch_hub.changed.notified() => self.refresh().await,
                () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.round().await;
                }
                _ = tick.tick() => self.poll().await,
            }
        }
        self.shutdown().await;
        info!("folder watcher stopped");
    }

    // ---- the OS watcher ----------------------------------------------------------------------

    fn start_os_watcher(&mut self) {
        let tx = self.tx.clone();
        // Runs on the debouncer's own thread (not the runtime), so it may block: that is the
        // backpressure when the runner is busy.
        let handler = move |result: DebounceEventResult| {
            let _ = tx.blocking_send(result);
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        match new_debouncer_opt::<_, RecommendedWatcher, RecommendedCache>(
            self.debounce,
            None,
            handler,
            RecommendedCache::new(),
            config,
        ) {
            Ok(d) => self.os = Some(Arc::new(Mutex::new(d))),
            Err(e) => {
                let message = watch_error_message(Path::new("the watched folders"), &e);
                warn!(%message, "cannot start the file-system watcher");
                self.lib.watch_hub.emit(WatchEvent::Error {
                    folder_id: None,
                    message,
                });
            }
        }
    }

    /// Makes the OS watch exactly the roots of the folders to follow (nested roots are covered by
    /// their ancestor); folders under a root that could not be watched are marked `error`.
    async fn sync_os_roots(&mut self) {
        let now = Instant::now();
        if self.os.is_none() && self.os_retry_at.is_none_or(|t| t <= now) {
            self.start_os_watcher();
            if self.os.is_none() {
                self.os_retry_at = Some(now + RETRY_ERROR);
            }
        }
        let desired = minimal_roots(
            self.folders
                .values()
                .filter(|f| match f.row.state {
                    WatchState::Active => true,
                    WatchState::Error => f.watch_retry_at.is_none_or(|t| t <= now),
                    WatchState::Paused | WatchState::Missing => false,
                })
                .map(|f| f.spec.canonical.clone())
                .collect(),
        );
        let Some(os) = self.os.clone() else {
            for f in self.folders.values_mut() {
                if desired.iter().any(|r| f.spec.canonical.starts_with(r)) {
                    f.watch_retry_at = Some(now + RETRY_ERROR);
                }
            }
            let ids: Vec<i64> = self
                .folders
                .values()
                .filter(|f| desired.iter().any(|r| f.spec.canonical.starts_with(r)))
                .map(|f| f.row.id)
                .collect();
            for id in ids {
                // Not followed live, but still synced by a scan at every retry.
                self.pending.entry(id).or_default().full = true;
                self.first_pending.get_or_insert_with(Instant::now);
                self.set_state(
                    id,
                    WatchState::Error,
                    Some("the file-system watcher could not be started".into()),
                )
                .await;
            }
            return;
        };
        let remove: Vec<PathBuf> = self.os_roots.difference(&desired).cloned().collect();
        let add: Vec<PathBuf> = desired.difference(&self.os_roots).cloned().collect();
        if remove.is_empty() && add.is_empty() {
            return;
        }
        let results = tokio::task::spawn_blocking(move || {
            let mut w = os.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for r in &remove {
                // Already gone when the folder itself was deleted: nothing to undo.
                let _ = w.unwatch(r);
            }
            add.into_iter()
                .map(|r| {
                    let result = w.watch(&r, RecursiveMode::Recursive);
                    if result.is_err() {
                        // Drop the part that was watched before the failure.
                        let _ = w.unwatch(&r);
                    }
                    (r, result)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(results) = results else {
            return;
        };
        self.os_roots.retain(|r| desired.contains(r));
        for (root, result) in results {
            let under: Vec<i64> = self
                .folders
                .values()
                .filter(|f| f.spec.canonical.starts_with(&root))
                .filter(|f| matches!(f.row.state, WatchState::Active | WatchState::Error))
                .map(|f| f.row.id)
                .collect();
            match result {
                Ok(()) => {
                    debug!(root = %root.display(), "watching");
                    self.os_roots.insert(root);
                    for id in under {
                        // Newly followed: whatever happened before is found by a scan.
                        self.pending.entry(id).or_default().full = true;
                        self.first_pending.get_or_insert_with(Instant::now);
                        if let Some(f) = self.folders.get_mut(&id) {
                            f.watch_retry_at = None;
                        }
                        if self
                            .folders
                            .get(&id)
                            .is_some_and(|f| f.row.state == WatchState::Error)
                        {
                            self.set_state(id, WatchState::Active, None).await;
                        } else {
                            self.publish(id, None).await;
                        }
                    }
                }
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {
                    for id in under {
                        self.mark_missing(id).await;
                    }
                }
                Err(e) => {
                    let message = watch_error_message(&root, &e);
                    warn!(%message, "cannot follow a watched folder");
                    for id in under {
                        if let Some(f) = self.folders.get_mut(&id) {
                            f.watch_retry_at = Some(Instant::now() + RETRY_ERROR);
                        }
                        // Not followed live, but still synced by a scan at every retry.
                        self.pending.entry(id).or_default().full = true;
                        self.first_pending.get_or_insert_with(Instant::now);
                        self.set_state(id, WatchState::Error, Some(message.clone()))
                            .await;
                        self.lib.watch_hub.emit(WatchEvent::Error {
                            folder_id: Some(id),
                            message: message.clone(),
                        });
                    }
                }
            }
        }
    }

    async fn on_os_events(&mut self, batch: DebounceEventResult) {
        let before: HashSet<i64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.has_work())
            .map(|(id, _)| *id)
            .collect();
        match batch {
            Ok(events) => {
                for event in events {
                    if event.need_rescan() {
                        warn!("the file-system watcher lost events; scanning the folders again");
                        let ids: Vec<i64> = self.followed().collect();
                        for id in ids {
                            self.pending.entry(id).or_default().full = true;
                        }
                        continue;
                    }
                    let kind = event.kind;
                    if let EventKind::Access(a) = kind {
                        // Opens and reads (our own included) change nothing; a close after
                        // writing marks the end of a write.
                        if a != AccessKind::Close(AccessMode::Write) {
                            continue;
                        }
                    }
                    for path in &event.paths {
                        self.route(path, kind);
                    }
                }
            }
            Err(errors) => {
                for e in errors {
                    self.on_os_error(e).await;
                }
            }
        }
        let now = Instant::now();
        self.last_event = Some(now);
        let fresh: Vec<i64> = self
            .pending
            .iter()
            .filter(|(id, p)| p.has_work() && !before.contains(id))
            .map(|(id, _)| *id)
            .collect();
        if !fresh.is_empty() {
            self.first_pending.get_or_insert(now);
        }
        for id in fresh {
            self.publish(id, None).await;
        }
    }

    async fn on_os_error(&mut self, e: notify::Error) {
        let affected: Vec<i64> = if e.paths.is_empty() {
            self.followed().collect()
        } else {
            self.followed()
                .filter(|id| {
                    self.folders.get(id).is_some_and(|f| {
                        e.paths.iter().any(|p| {
                            p.starts_with(&f.spec.canonical) || f.spec.canonical.starts_with(p)
                        })
                    })
                })
                .collect()
        };
        for id in affected {
            let Some(f) = self.folders.get(&id) else {
                continue;
            };
            let message = watch_error_message(&f.spec.given, &e);
            warn!(%message, "file-system watcher error");
            if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                // Part of the folder is not followed: say so, retry later from scratch.
                if let Some(f) = self.folders.get_mut(&id) {
                    f.watch_retry_at = Some(Instant::now() + RETRY_ERROR);
                }
                self.set_state(id, WatchState::Error, Some(message.clone()))
                    .await;
            } else {
                self.pending.entry(id).or_default().full = true;
            }
            self.lib.watch_hub.emit(WatchEvent::Error {
                folder_id: Some(id),
                message,
            });
        }
    }

    /// Folders whose changes are followed.
    fn followed(&self) -> impl Iterator<Item = i64> + '_ {
        self.folders
            .values()
            .filter(|f| f.row.state == WatchState::Active)
            .map(|f| f.row.id)
    }

    /// Files the folders mirror that an event named: each followed folder holding `path` gets it
    /// as a place to compare. Excluded names are dropped here already.
    fn route(&mut self, path: &Path, kind: EventKind) {
        let mut hits = Vec::new();
        for f in self.folders.values() {
            if f.row.state != WatchState::Active {
                continue;
            }
            let Ok(rel) = path.strip_prefix(&f.spec.canonical) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                // The folder itself: removed or renamed means it may be gone; a change of its
                // own metadata means nothing.
                if matches!(
                    kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                ) {
                    hits.push((f.row.id, None));
                }
                continue;
            }
            if f.spec.filter.enters_dir(rel) {
                hits.push((f.row.id, Some(path.to_owned())));
            }
        }
        for (id, path) in hits {
            let p = self.pending.entry(id).or_default();
            match path {
                None => p.full = true,
                Some(_) if p.full => {}
                Some(path) => {
                    p.paths.insert(path);
                    if p.paths.len() > MAX_PENDING_PATHS {
                        // A scan of the folder is cheaper to hold than this many paths.
                        p.paths.clear();
                        p.full = true;
                    }
                }
            }
        }
    }

    // ---- folders -----------------------------------------------------------------------------

    /// Re-reads the folder list: new folders are scanned, removed ones dropped, paused ones left
    /// alone, resumed ones scanned.
    async fn refresh(&mut self) {
        let rows = match self.lib.catalogue.watches(self.kb_filter).await {
            Ok(rows) => rows,
            Err(e) => {
                warn!(error = %e, "cannot read the watched folders");
                return;
            }
        };
        let mut changed = false;
        let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
        let gone: Vec<i64> = self
            .folders
            .keys()
            .copied()
            .filter(|id| !ids.contains(id))
            .collect();
        for id in gone {
            self.folders.remove(&id);
            self.pending.remove(&id);
            changed = true;
        }
        for row in rows {
            let id = row.id;
            match self.folders.get_mut(&id) {
                None => {
                    let filter = match FolderFilter::new(&row.include, &row.exclude) {
                        Ok(f) => f,
                        Err(e) => {
                            warn!(error = %e, folder = %row.path, "bad globs; folder skipped");
                            continue;
                        }
                    };
                    let spec = Arc::new(FolderSpec {
                        id,
                        kb_id: row.kb_id,
                        given: PathBuf::from(&row.path),
                        canonical: PathBuf::from(&row.canonical_path),
                        filter,
                    });
                    let paused = row.state == WatchState::Paused;
                    self.folders.insert(
                        id,
                        Folder {
                            row,
                            spec,
                            watch_retry_at: None,
                            sync_retry_at: None,
                            next_sweep: Instant::now() + SWEEP_INTERVAL,
                        },
                    );
                    if !paused {
                        self.resume_folder(id).await;
                    }
                    changed = true;
                }
                Some(f) => {
                    let was_paused = f.row.state == WatchState::Paused;
                    let is_paused = row.state == WatchState::Paused;
                    if is_paused && !was_paused {
                        f.row = row;
                        self.pending.remove(&id);
                        changed = true;
                    } else if was_paused && !is_paused {
                        f.row = row;
                        self.resume_folder(id).await;
                        changed = true;
                    }
                }
            }
        }
        if changed {
            self.sync_os_roots().await;
        }
    }

    /// Starts following a folder that is new, resumed or back: missing if it is not there,
    /// otherwise active with a full scan pending (the OS watch is added by `sync_os_roots`).
    async fn resume_folder(&mut self, id: i64) {
        let Some(spec) = self.folders.get(&id).map(|f| Arc::clone(&f.spec)) else {
            return;
        };
        if present(&spec).await {
            self.pending.entry(id).or_default().full = true;
            self.first_pending.get_or_insert_with(Instant::now);
            self.set_state(id, WatchState::Active, None).await;
        } else {
            self.mark_missing(id).await;
        }
    }

    async fn mark_missing(&mut self, id: i64) {
        let Some(f) = self.folders.get(&id) else {
            return;
        };
        if f.row.state == WatchState::Missing {
            return;
        }
        let message = format!(
            "{} is not there (unplugged, unmounted, renamed or deleted); its documents are kept \
             and syncing resumes when it is back",
            f.spec.given.display()
        );
        warn!(folder = %f.spec.given.display(), "watched folder is missing");
        self.pending.remove(&id);
        self.set_state(id, WatchState::Missing, Some(message)).await;
    }

    /// Every few seconds: pick up folder changes made by another process, notice folders that
    /// vanished or came back, retry folders in error.
    async fn poll(&mut self) {
        self.refresh().await;
        let now = Instant::now();
        let mut resync = self.os.is_none() && self.os_retry_at.is_none_or(|t| t <= now);
        let checks: Vec<(i64, WatchState, Arc<FolderSpec>, Option<Instant>)> = self
            .folders
            .values()
            .map(|f| (f.row.id, f.row.state, Arc::clone(&f.spec), f.watch_retry_at))
            .collect();
        for (id, state, spec, retry_at) in checks {
            match state {
                WatchState::Active => {
                    if !present(&spec).await {
                        self.mark_missing(id).await;
                        resync = true;
                    }
                }
                WatchState::Missing => {
                    if present(&spec).await {
                        info!(folder = %spec.given.display(), "watched folder is back");
                        self.resume_folder(id).await;
                        resync = true;
                    }
                }
                WatchState::Error => {
                    if retry_at.is_none_or(|t| t <= now) {
                        resync = true;
                    }
                }
                WatchState::Paused => {}
            }
        }
        // Folders that went to `error` or `missing` give up their OS watch.
        if resync {
            self.sync_os_roots().await;
        } else {
            self.resync_if_needed().await;
        }
        let due: Vec<i64> = self
            .folders
            .values()
            .filter(|f| f.row.state == WatchState::Active && f.next_sweep <= Instant::now())
            .filter(|f| {
                self.pending
                    .get(&f.row.id)
                    .is_none_or(|p| !p.has_work() && p.in_flight == 0)
            })
            .map(|f| f.row.id)
            .collect();
        for id in due {
            if let Err(e) = self.sweep(id).await {
                warn!(error = %e, "cannot check a watched folder's documents");
            }
        }
        if self.next_prune <= Instant::now() {
            self.next_prune = Instant::now() + PRUNE_EVERY;
            match self
                .lib
                .catalogue
                .prune_finished_jobs(now_ms() - KEEP_FINISHED_JOBS_MS)
                .await
            {
                Ok(n) if n > 0 => debug!(jobs = n, "pruned finished import jobs"),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "cannot prune finished import jobs"),
            }
        }
    }

    /// Checks an idle folder's documents against their files: a document whose file is gone
    /// or differs in size or time becomes a pending place, applied by the next round like any
    /// event. This catches what the event stream lost (renamed-then-deleted files, changes
    /// made while part of the tree was not watched yet).
    async fn sweep(&mut self, id: i64) -> Result<(), CoreError> {
        let Some(f) = self.folders.get(&id) else {
            return Ok(());
        };
        let started = Instant::now();
        let docs = self
            .lib
            .catalogue
            .documents_under(f.spec.kb_id, &f.spec.canonical.display().to_string())
            .await?;
        let stale: Vec<PathBuf> = tokio::task::spawn_blocking(move || {
            docs.into_iter()
                .filter(|d| match std::fs::symlink_metadata(&d.canonical_path) {
                    // A file whose import failed is tried again when it changes (an event), not
                    // by every sweep: a file that times out would cost minutes each time.
                    Ok(m) if d.status == DocumentStatus::Failed || d.has_error => !m.is_file(),
                    Ok(m) => {
                        !m.is_file()
                            || i64::try_from(m.len()).ok() != Some(d.size)
                            || scan::mtime_ms(&m) != d.mtime_ms
                    }
                    Err(_) => true,
                })
                .map(|d| PathBuf::from(d.canonical_path))
                .collect()
        })
        .await?;
        let cost = started.elapsed();
        if let Some(f) = self.folders.get_mut(&id) {
            f.next_sweep = Instant::now() + SWEEP_INTERVAL.max(cost * 100);
        }
        if stale.is_empty() {
            return Ok(());
        }
        info!(
            folder = id,
            documents = stale.len(),
            "documents out of step with their files"
        );
        let p = self.pending.entry(id).or_default();
        for path in stale {
            p.paths.insert(path);
        }
        if p.paths.len() > MAX_PENDING_PATHS {
            p.paths.clear();
            p.full = true;
        }
        // A file found gone may have been renamed a moment ago, its event still in the
        // debouncer: wait for it, or the move would be applied as a removal and an import.
        let now = Instant::now();
        self.first_pending.get_or_insert(now);
        self.hold_until = Some(now + self.debounce + self.quiet());
        self.publish(id, None).await;
        Ok(())
    }

    /// Sets a folder's state and error, records it and tells subscribers.
    async fn set_state(&mut self, id: i64, state: WatchState, error: Option<String>) {
        let Some(f) = self.folders.get_mut(&id) else {
            return;
        };
        if f.row.state == state && f.row.last_error == error {
            return;
        }
        f.row.state = state;
        f.row.last_error = error;
        self.publish(id, None).await;
    }

    /// Records a folder's current status (pending count, and `synced_at` when changes were just
    /// applied) and tells subscribers.
    async fn publish(&mut self, id: i64, synced_at: Option<i64>) {
        let pending = self.pending.get(&id).map_or(0, FolderPending::count);
        let Some(f) = self.folders.get_mut(&id) else {
            return;
        };
        f.row.pending = pending;
        if synced_at.is_some() {
            f.row.last_sync_at = synced_at;
        }
        let update = FolderStatusUpdate {
            state: f.row.state,
            last_error: f.row.last_error.clone(),
            pending,
            last_sync_at: synced_at,
        };
        if let Err(e) = self.lib.catalogue.set_watch_status(id, &update).await {
            warn!(error = %e, "cannot record a watched folder's status");
        }
        self.lib
            .watch_hub
            .emit(WatchEvent::FolderStatus(f.row.clone()));
    }

    async fn shutdown(&mut self) {
        // Nothing is applied any more: changes not applied yet are found by the next start-up
        // scan, so no count is left behind.
        self.pending.clear();
        let ids: Vec<i64> = self.folders.keys().copied().collect();
        for id in ids {
            if self.folders.get(&id).is_some_and(|f| f.row.pending != 0) {
                self.publish(id, None).await;
            }
        }
    }

    // ---- rounds ------------------------------------------------------------------------------

    /// When the next round is due, if any work is pending.
    fn due(&self) -> Option<Instant> {
        let now = Instant::now();
        let normal = match (self.first_pending, self.last_event) {
            (Some(first), Some(last)) => (last + self.quiet()).min(first + MAX_WAIT),
            (Some(first), None) => first,
            (None, _) => now,
        };
        let normal = self.hold_until.map_or(normal, |hold| normal.max(hold));
        self.pending
            .iter()
            .filter_map(|(id, p)| {
                let f = self.folders.get(id)?;
                if !syncable(f, p) {
                    return None;
                }
                Some(match f.sync_retry_at {
                    Some(t) if t > now => t,
                    _ => normal,
                })
            })
            .min()
    }

    fn quiet(&self) -> Duration {
        MIN_QUIET.max(self.debounce / 2)
    }

    /// Takes up to `ROUND_PATHS` pending paths (whole folders for full scans), by folder.
    fn take_round(&mut self) -> Vec<Work> {
        let now = Instant::now();
        let mut budget = ROUND_PATHS;
        let mut work = Vec::new();
        let mut ids: Vec<i64> = self.pending.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if budget == 0 {
                break;
            }
            let Some(f) = self.folders.get(&id) else {
                self.pending.remove(&id);
                continue;
            };
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if !syncable(f, p) || f.sync_retry_at.is_some_and(|t| t > now) {
                continue;
            }
            if p.full {
                p.full = false;
                p.paths.clear();
                p.in_flight = 1;
                budget = budget.saturating_sub(1);
                work.push(Work {
                    spec: Arc::clone(&f.spec),
                    full: true,
                    paths: Vec::new(),
                });
                continue;
            }
            let mut paths = Vec::new();
            while budget > 0 {
                let Some(path) = p.paths.pop_first() else {
                    break;
                };
                paths.push(path);
                budget -= 1;
            }
            if paths.is_empty() {
                continue;
            }
            p.in_flight = paths.len();
            // A path below another one taken is covered by that one's scan.
            let taken: HashSet<PathBuf> = paths.iter().cloned().collect();
            let root = f.spec.canonical.as_path();
            let paths = paths
                .into_iter()
                .filter(|path| {
                    !path
                        .ancestors()
                        .skip(1)
                        .take_while(|a| a.starts_with(root) && *a != root)
                        .any(|a| taken.contains(a))
                })
                .collect();
            work.push(Work {
                spec: Arc::clone(&f.spec),
                full: false,
                paths,
            });
        }
        work
    }

    async fn round(&mut self) {
        let work = self.take_round();
        let mut by_kb: BTreeMap<i64, Vec<Work>> = BTreeMap::new();
        for w in work {
            by_kb.entry(w.spec.kb_id).or_default().push(w);
        }
        for (kb_id, works) in by_kb {
            if self.cancel.is_cancelled() {
                break;
            }
            let ids: Vec<i64> = works.iter().map(|w| w.spec.id).collect();
            match self.sync_kb(kb_id, works).await {
                Ok(synced) => {
                    for id in &ids {
                        if let Some(p) = self.pending.get_mut(id) {
                            p.in_flight = 0;
                        }
                    }
                    let at = now_ms();
                    for id in &ids {
                        if !synced.contains(id) {
                            // Missing now, or nothing found at the paths named.
                            self.publish(*id, None).await;
                            continue;
                        }
                        if let Some(f) = self.folders.get_mut(id) {
                            f.sync_retry_at = None;
                            // An error that stops live following stays until it is resolved.
                            if f.row.state == WatchState::Active {
                                f.row.last_error = None;
                            }
                        }
                        self.publish(*id, Some(at)).await;
                    }
                }
                Err(e) => {
                    warn!(error = %e, kb_id, "sync failed; the folders are scanned again shortly");
                    for id in ids {
                        let p = self.pending.entry(id).or_default();
                        p.in_flight = 0;
                        // What was taken is not lost: a full scan finds it.
                        p.full = true;
                        if let Some(f) = self.folders.get_mut(&id) {
                            f.sync_retry_at = Some(Instant::now() + RETRY_SYNC);
                            f.row.last_error = Some(format!("sync failed: {e}"));
                        }
                        self.publish(id, None).await;
                        self.lib.watch_hub.emit(WatchEvent::Error {
                            folder_id: Some(id),
                            message: format!("sync failed: {e}"),
                        });
                    }
                }
            }
        }
        self.first_pending = if self.pending.values().any(FolderPending::has_work) {
            // More than one round's worth: carry on at once.
            Some(
                Instant::now()
                    .checked_sub(MAX_WAIT)
                    .unwrap_or_else(Instant::now),
            )
        } else {
            None
        };
        self.resync_if_needed().await;
    }

    /// Re-syncs the OS watch when the followed roots changed (a folder went missing or failed).
    async fn resync_if_needed(&mut self) {
        let followed = minimal_roots(
            self.folders
                .values()
                .filter(|f| f.row.state == WatchState::Active)
                .map(|f| f.spec.canonical.clone())
                .collect(),
        );
        if followed != self.os_roots {
            self.sync_os_roots().await;
        }
    }

    /// Compares the places of one knowledge base's folders named in `works` with the catalogue
    /// and applies the difference, reporting each batch. Returns the folders that were synced.
    #[instrument(skip_all, fields(kb_id, folders = works.len()), err)]
    async fn sync_kb(&mut self, kb_id: i64, works: Vec<Work>) -> Result<HashSet<i64>, CoreError> {
        // A folder that is not there is never compared: its documents would all look gone.
        let mut here = Vec::new();
        for w in works {
            if present(&w.spec).await {
                here.push(w);
            } else {
                self.mark_missing(w.spec.id).await;
            }
        }
        if here.is_empty() {
            return Ok(HashSet::new());
        }
        let works = Arc::new(here);

        let scan_works = Arc::clone(&works);
        let scans: Vec<ScopeScan> = tokio::task::spawn_blocking(move || {
            scan_works
                .iter()
                .map(|w| {
                    let mut out = ScopeScan::default();
                    if w.full {
                        scan::scan_scope(&w.spec, &w.spec.canonical, &mut out);
                    } else {
                        for p in &w.paths {
                            scan::scan_scope(&w.spec, p, &mut out);
                        }
                    }
                    out
                })
                .collect()
        })
        .await?;

        let mut known: Vec<(DocumentFile, i64)> = Vec::new();
        // Places named by events that had documents: a vanished place without any is a hint
        // that the event stream lost a path (see `sweep`).
        let mut places_with_docs: HashSet<&Path> = HashSet::new();
        for w in works.iter() {
            let root = w.spec.canonical.display().to_string();
            if w.full || w.paths.len() > BULK_LOOKUP {
                let docs = self.lib.catalogue.documents_under(kb_id, &root).await?;
                if w.full {
                    known.extend(docs.into_iter().map(|d| (d, w.spec.id)));
                } else {
                    let by_path: BTreeMap<String, DocumentFile> = docs
                        .into_iter()
                        .map(|d| (d.canonical_path.clone(), d))
                        .collect();
                    for p in &w.paths {
                        let scope = p.display().to_string();
                        let before = known.len();
                        known.extend(within(&by_path, &scope).map(|d| (d.clone(), w.spec.id)));
                        if known.len() > before {
                            places_with_docs.insert(p);
                        }
                    }
                }
            } else {
                for p in &w.paths {
                    let scope = p.display().to_string();
                    let docs = self.lib.catalogue.documents_under(kb_id, &scope).await?;
                    if !docs.is_empty() {
                        places_with_docs.insert(p);
                    }
                    known.extend(docs.into_iter().map(|d| (d, w.spec.id)));
                }
            }
        }

        let mut found = Vec::new();
        let mut unreadable = Vec::new();
        for (w, s) in works.iter().zip(scans) {
            // notify-debouncer-full reports a file renamed and then deleted within its window as
            // deleted under its new name only: the old name's document is then left behind.
            // Such a place vanished without ever having a document; check the folder soon.
            if s.missing
                .iter()
                .any(|p| !places_with_docs.contains(p.as_path()))
            {
                if let Some(f) = self.folders.get_mut(&w.spec.id) {
                    f.next_sweep = f.next_sweep.min(Instant::now() + SWEEP_SOON);
                }
            }
            found.extend(s.files);
            unreadable.extend(s.unreadable);
        }
        let plan = tokio::task::spawn_blocking(move || {
            scan::plan(found, &unreadable, known, &scan::hash_file)
        })
        .await?;

        let mut reports: HashMap<i64, SyncReport> = works
            .iter()
            .map(|w| {
                (
                    w.spec.id,
                    SyncReport {
                        folder_id: w.spec.id,
                        kb_id,
                        path: w.spec.given.display().to_string(),
                        full_scan: w.full,
                        ..SyncReport::default()
                    },
                )
            })
            .collect();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        for (folder, n) in &plan.unchanged {
            if let Some(r) = reports.get_mut(folder) {
                r.unchanged = count(*n);
            }
        }

        if !plan.moves.is_empty() {
            let moves: Vec<_> = plan.moves.iter().map(|(m, _)| m.clone()).collect();
            self.lib.move_documents(&moves).await?;
            for (m, folder) in &plan.moves {
                debug!(document = m.id, to = %m.path, "moved");
                if let Some(r) = reports.get_mut(folder) {
                    r.moved += 1;
                }
            }
        }

        if !plan.removals.is_empty() {
            // Checked again right before deleting: a folder that vanished during the scan
            // looks empty, and its documents must stay.
            let mut gone_folders = HashSet::new();
            for w in works.iter() {
                if plan.removals.iter().any(|(_, f)| *f == w.spec.id) && !present(&w.spec).await {
                    gone_folders.insert(w.spec.id);
                }
            }
            let ids: Vec<i64> = plan
                .removals
                .iter()
                .filter(|(_, f)| !gone_folders.contains(f))
                .map(|(id, _)| *id)
                .collect();
            self.lib.delete_documents(&ids).await?;
            for (_, folder) in plan
                .removals
                .iter()
                .filter(|(_, f)| !gone_folders.contains(f))
            {
                if let Some(r) = reports.get_mut(folder) {
                    r.removed += 1;
                }
            }
            for id in gone_folders {
                reports.remove(&id);
                self.mark_missing(id).await;
            }
        }

        let mut imports: BTreeMap<i64, Vec<(DiskFile, bool)>> = BTreeMap::new();
        for (file, new) in plan.import {
            imports.entry(file.folder_id).or_default().push((file, new));
        }
        let mut synced = HashSet::new();
        // Folders with nothing to import are done: report them now.
        for (id, r) in &mut reports {
            if !imports.contains_key(id) && self.report(r) {
                synced.insert(*id);
            }
        }
        for (folder, files) in imports {
            for part in files.chunks(IMPORT_CHUNK) {
                if self.cancel.is_cancelled() {
                    return Ok(synced);
                }
                let paths: Vec<PathBuf> = part.iter().map(|(f, _)| f.path.clone()).collect();
                let summary = self
                    .lib
                    .ingest(kb_id, paths, &|_| {}, self.cancel.child_token())
                    .await?;
                let failed: HashSet<&str> =
                    summary.failed.iter().map(|f| f.path.as_str()).collect();
                let new_ok = part
                    .iter()
                    .filter(|(f, new)| {
                        *new && !failed.contains(f.path.display().to_string().as_str())
                    })
                    .count();
                // A file that vanished before it was read is not a failure: its removal follows.
                let failed_here = summary
                    .failed
                    .iter()
                    .filter(|f| Path::new(&f.path).exists())
                    .count();
                if let Some(r) = reports.get_mut(&folder) {
                    let indexed = summary.documents;
                    let added = count(new_ok).min(indexed);
                    r.added += added;
                    r.updated += indexed - added;
                    r.unchanged += summary.unchanged;
                    r.failed += count(failed_here);
                    // One report per imported chunk: a big burst shows progress as it goes.
                    if self.report(r) {
                        synced.insert(folder);
                    }
                }
            }
        }
        Ok(synced)
    }

    /// Tells subscribers what a batch did (when it did anything, or was a full scan) and
    /// starts the folder's counts afresh; returns whether it reported.
    fn report(&self, r: &mut SyncReport) -> bool {
        if !r.full_scan && r.added + r.updated + r.moved + r.removed + r.failed + r.unchanged == 0 {
            return false;
        }
        info!(
            folder = %r.path, added = r.added, updated = r.updated, moved = r.moved,
            removed = r.removed, failed = r.failed, unchanged = r.unchanged,
            full_scan = r.full_scan, "synced"
        );
        self.lib.watch_hub.emit(WatchEvent::Synced(SyncReport {
            at: now_ms(),
            ..r.clone()
        }));
        *r = SyncReport {
            folder_id: r.folder_id,
            kb_id: r.kb_id,
            path: std::mem::take(&mut r.path),
            full_scan: r.full_scan,
            ..SyncReport::default()
        };
        true
    }
}
