//! Import: expand paths into files, extract and chunk them on a bounded blocking pool, and
//! store each document in one catalogue transaction. Unchanged files (same BLAKE3) cost a read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use futures::StreamExt;
use lexinaut_extract::{Format, Limits};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{debug, instrument, warn};

use crate::catalogue::{
    Catalogue, DocumentStatus, FileFacts, KnownFile, Original, PreparedChunk, PreparedDocument,
};
use crate::chunk::{self, ChunkSpec};
use crate::config::Config;
use crate::error::CoreError;
use crate::jobs::{JobState, StepLog};
use crate::keyword::Segmenter;

/// Most prepared files written in one catalogue transaction.
const WRITE_BATCH: usize = 1024;

/// Most passage text (bytes) written in one catalogue transaction: a batch of large documents
/// is written before it holds much memory.
const WRITE_BATCH_BYTES: usize = 16 << 20;

/// Imports of at most this many files look up only their own files in the catalogue; larger
/// ones read the knowledge base's whole file list once.
const KNOWN_LOOKUP_LIMIT: usize = 2_000;

/// Prepared files that are written at once, without waiting for the window: enough to make a
/// transaction worth its cost. The writer then takes everything prepared meanwhile.
const EAGER_BATCH: usize = 32;

/// Longest a prepared file waits for others to share its transaction.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(25);

/// Prepared files waiting for the writer, at most: enough to fill the next batch while one is
/// written.
const PREPARED_AHEAD: usize = WRITE_BATCH;

/// Passage text (bytes) prepared and not yet written, at most (a larger document waits until
/// everything before it is written).
const PREPARED_AHEAD_BYTES: u32 = 32 << 20;

/// Controls a running import: cancel (stops between files; nothing half-written) and pause
/// (no new file is started; files already being read finish and are stored, then the import
/// waits). Clones control the same import. A plain [`CancellationToken`] converts into one
/// that is never paused.
#[derive(Debug, Clone)]
pub struct ImportControl {
    cancel: CancellationToken,
    paused: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for ImportControl {
    fn default() -> Self {
        CancellationToken::new().into()
    }
}

impl From<CancellationToken> for ImportControl {
    fn from(cancel: CancellationToken) -> Self {
        Self {
            cancel,
            paused: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

impl ImportControl {
    /// Stops the import between files.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether the import was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The cancellation token behind [`Self::cancel`] (to cancel on drop, or with a parent).
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Starts no new file until [`Self::resume`].
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    /// Lets a paused import go on.
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Whether the import is paused.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Returns once the import may start another file: not paused, or cancelled.
    async fn proceed(&self) {
        let mut paused = self.paused.subscribe();
        tokio::select! {
            _ = paused.wait_for(|p| !*p) => {}
            () = self.cancel.cancelled() => {}
        }
    }
}

/// Rate and estimated time left from the work done so far, excluding time spent paused.
#[derive(Debug)]
struct Clock {
    started: std::time::Instant,
    paused_for: std::time::Duration,
    paused_since: Option<std::time::Instant>,
}

impl Clock {
    fn new() -> Self {
        Self {
            started: std::time::Instant::now(),
            paused_for: std::time::Duration::ZERO,
            paused_since: None,
        }
    }

    fn set_paused(&mut self, paused: bool) {
        match (paused, self.paused_since) {
            (true, None) => self.paused_since = Some(std::time::Instant::now()),
            (false, Some(since)) => {
                self.paused_for += since.elapsed();
                self.paused_since = None;
            }
            _ => {}
        }
    }

    /// Time spent working.
    fn active(&self) -> std::time::Duration {
        let paused = self.paused_for
            + self
                .paused_since
                .map_or_else(Default::default, |s| s.elapsed());
        self.started.elapsed().saturating_sub(paused)
    }

    /// Fills in the elapsed time, the file rate and the estimate of the time left (by bytes,
    /// which a mix of large PDFs and small notes makes fairer than by files; none in the first
    /// second, while the rate means little).
    fn stamp(&self, p: &mut ImportProgress) {
        let active = self.active().as_secs_f64();
        p.elapsed_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        p.paused = self.paused_since.is_some();
        p.files_per_second = if active > 0.0 {
            f64::from(p.processed) / active
        } else {
            0.0
        };
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        {
            p.eta_seconds = (active >= 1.0 && p.bytes_processed > 0 && !p.finished).then(|| {
                let rate = p.bytes_processed as f64 / active;
                (p.bytes_total.saturating_sub(p.bytes_processed) as f64 / rate).ceil() as u64
            });
        }
    }
}

/// A file that was not imported, and why.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct FileIssue {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The outcome of one import.
#[derive(Debug, Clone, Default, Serialize, specta::Type)]
pub struct ImportSummary {
    /// Files newly indexed or re-indexed because their content changed.
    pub documents: u32,
    /// Of `documents`, files with the same content as another document of the knowledge base:
    /// listed as its duplicates, their passages stored once.
    pub duplicates: u32,
    /// Chunks written for those documents.
    pub chunks: u32,
    /// Files not (re)indexed: unchanged ones plus unsupported ones.
    pub skipped: u32,
    /// Of `skipped`, files already indexed with the same content.
    pub unchanged: u32,
    /// Of `skipped`, files LexiNaut does not read, with the reason.
    pub skipped_files: Vec<FileIssue>,
    /// Files that could not be imported, with the reason.
    pub failed: Vec<FileIssue>,
    /// Whether the import was cancelled before every file was processed.
    pub cancelled: bool,
}

impl ImportSummary {
    /// Adds the outcome of a further import run to this one.
    pub fn merge(&mut self, other: ImportSummary) {
        self.documents += other.documents;
        self.duplicates += other.duplicates;
        self.chunks += other.chunks;
        self.skipped += other.skipped;
        self.unchanged += other.unchanged;
        self.skipped_files.extend(other.skipped_files);
        self.failed.extend(other.failed);
        self.cancelled |= other.cancelled;
    }
}

/// Progress of a running import, sent after the scan and after every written batch of files
/// (files prepared together are stored in one transaction).
#[derive(Debug, Clone, Default, Serialize, specta::Type)]
pub struct ImportProgress {
    /// Files found to process.
    pub total: u32,
    /// Files processed so far (any outcome).
    pub processed: u32,
    /// Files indexed so far.
    pub documents: u32,
    /// Files skipped so far.
    pub skipped: u32,
    /// Files failed so far.
    pub failed: u32,
    /// The file just processed.
    pub current: Option<String>,
    /// True on the last message of an import.
    pub finished: bool,
    /// Size of all files found, bytes.
    #[specta(type = f64)]
    pub bytes_total: u64,
    /// Size of the files processed so far, bytes.
    #[specta(type = f64)]
    pub bytes_processed: u64,
    /// Time since the import started, milliseconds.
    #[specta(type = f64)]
    pub elapsed_ms: u64,
    /// Files processed per second of work (time paused not counted).
    pub files_per_second: f64,
    /// Estimated seconds left, from the bytes processed per second of work; none at first.
    #[specta(type = Option<f64>)]
    pub eta_seconds: Option<u64>,
    /// The import is paused.
    pub paused: bool,
}

/// What was learned about one file off the async runtime.
enum Prepared {
    Unchanged { doc_id: i64, mtime_ms: i64 },
    Ready(PreparedDocument),
    Failed { facts: FileFacts, reason: String },
}

/// Everything a worker needs to prepare files, shared by reference count.
struct PrepareContext {
    known: HashMap<String, KnownFile>,
    timeout: std::time::Duration,
    spec: ChunkSpec,
    /// How `spec` counts: characters, or the embedding model's estimated tokens.
    measure: chunk::Measure,
    limits: Limits,
    segmenter: Arc<Segmenter>,
}

/// Expands `paths` into candidate files: files as given, folders walked recursively
/// (hidden entries skipped, symlinks not followed). Returns files and the issues found.
fn expand(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<FileIssue>, Vec<FileIssue>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut failed = Vec::new();
    for p in paths {
        let shown = p.display().to_string();
        match std::fs::metadata(p) {
            Err(e) => failed.push(FileIssue {
                path: shown,
                reason: format!("cannot open: {e}"),
            }),
            Ok(m) if m.is_dir() => {
                let walk = walkdir::WalkDir::new(p)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| {
                        e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                    });
                for entry in walk {
                    match entry {
                        Ok(e) if e.file_type().is_dir() => {}
                        Ok(e) => {
                            let path = e.path().display().to_string();
                            // A link counts as what it points to; links to folders are not
                            // followed (a link to a parent would walk the tree again).
                            let kind = if e.path_is_symlink() {
                                std::fs::metadata(e.path()).map(|m| m.file_type())
                            } else {
                                Ok(e.file_type())
                            };
                            let reason = match kind {
                                Ok(k) if k.is_file() => {
                                    if Format::from_path(e.path()).is_some() {
                                        files.push(e.into_path());
                                        continue;
                                    }
                                    "unsupported file type"
                                }
                                Ok(k) if k.is_dir() => "a link to a folder (not followed)",
                                Ok(_) => "not a regular file (a pipe, socket or device)",
                                Err(_) => "a link whose target is missing",
                            };
                            skipped.push(FileIssue {
                                path,
                                reason: reason.into(),
                            });
                        }
                        Err(e) => failed.push(FileIssue {
                            path: e
                                .path()
                                .map_or_else(|| shown.clone(), |p| p.display().to_string()),
                            reason: format!("cannot read folder entry: {e}"),
                        }),
                    }
                }
            }
            Ok(_) => {
                if Format::from_path(p).is_some() {
                    files.push(p.clone());
                } else {
                    failed.push(FileIssue {
                        path: shown,
                        reason: "unsupported file type".into(),
                    });
                }
            }
        }
    }
    (files, skipped, failed)
}

fn file_facts(path: &Path, bytes: &[u8], meta: &std::fs::Metadata) -> FileFacts {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    FileFacts {
        path: path.display().to_string(),
        canonical_path: canonical.display().to_string(),
        size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
        mtime_ms: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        hash: blake3::hash(bytes).to_hex().to_string(),
    }
}

/// Reads, hashes, extracts, chunks and tokenizes one file. Runs on the blocking pool.
fn prepare(path: &Path, ctx: &PrepareContext, step: &dyn Fn(JobState)) -> Prepared {
    step(JobState::Extracting);
    let shown = path.display().to_string();
    let unreadable = |reason: String| Prepared::Failed {
        facts: FileFacts {
            path: shown.clone(),
            canonical_path: shown.clone(),
            size: 0,
            mtime_ms: 0,
            hash: String::new(),
        },
        reason,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return unreadable(format!("cannot read: {e}")),
    };
    if meta.len() > ctx.limits.max_file_bytes {
        return unreadable(format!(
            "file is {} bytes, over the {}-byte limit",
            meta.len(),
            ctx.limits.max_file_bytes
        ));
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return unreadable(format!("cannot read: {e}")),
    };
    let facts = file_facts(path, &bytes, &meta);
    if let Some(known) = ctx.known.get(&facts.canonical_path) {
        if known.status == DocumentStatus::Indexed && known.hash == facts.hash {
            return Prepared::Unchanged {
                doc_id: known.id,
                mtime_ms: if known.mtime_ms == facts.mtime_ms
                    && known.size == facts.size
                    && !known.has_error
                {
                    -1
                } else {
                    facts.mtime_ms
                },
            };
        }
    }
    let Some(format) = Format::from_path(path) else {
        return Prepared::Failed {
            facts,
            reason: "unsupported file type".into(),
        };
    };
    let extracted = match lexinaut_extract::extract_bytes_with(path, format, &bytes, &ctx.limits) {
        Ok(x) => x,
        Err(e) => {
            // The error names the file; the catalogue keeps the path separately.
            let reason = e.to_string();
            let reason = reason
                .strip_prefix(&format!("{}: ", path.display()))
                .unwrap_or(&reason)
                .to_owned();
            return Prepared::Failed { facts, reason };
        }
    };
    step(JobState::Chunking);
    // Pages are hard boundaries, so every chunk has exactly one page.
    let regions: Vec<(usize, usize)> = extracted.pages.iter().map(|p| (p.start, p.end)).collect();
    // Segment the document once; each chunk takes the tokens inside its span (overlaps are not
    // segmented twice).
    let spans = ctx.segmenter.token_spans(&extracted.text);
    let chunks = chunk::split_regions(
        &extracted.text,
        &regions,
        &extracted.table_rows,
        ctx.spec,
        ctx.measure,
    )
    .into_iter()
    .filter(|c| c.text.chars().any(|ch| !ch.is_whitespace()))
    .map(|c| PreparedChunk {
        page: extracted.page_at(c.start),
        heading_path: extracted
            .heading_path(c.start)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        tokens: Segmenter::index_text_within(&spans, c.start, c.end),
        start: c.start,
        end: c.end,
        text: c.text,
    })
    .collect();
    Prepared::Ready(PreparedDocument {
        facts,
        format: format.name().to_owned(),
        title: extracted.title,
        page_count: u32::try_from(extracted.pages.len()).ok().filter(|n| *n > 0),
        pages_needing_ocr: extracted.pages_needing_ocr,
        encoding: extracted.encoding,
        warnings: extracted.warnings,
        chunks,
        duplicate_of: None,
    })
}

/// Marks each document whose content (hash and format) is that of another document of the
/// knowledge base at another path — an original already stored, or one earlier in this batch —
/// as that document's duplicate: the same file imported from two places is listed twice and its
/// passages are stored (and embedded, and cited) once.
async fn mark_duplicates(
    catalogue: &Catalogue,
    kb_id: i64,
    ready: &mut [(i64, PreparedDocument)],
) -> Result<(), CoreError> {
    if ready.is_empty() {
        return Ok(());
    }
    let hashes: Vec<&str> = ready.iter().map(|(_, d)| d.facts.hash.as_str()).collect();
    // Content (hash, format) → its originals, oldest first, with their canonical paths.
    type Content = (String, Option<String>);
    let mut originals: HashMap<Content, Vec<(Original, String)>> = HashMap::new();
    for (id, hash, format, canonical) in catalogue.originals_with_hashes(kb_id, &hashes).await? {
        originals
            .entry((hash, format))
            .or_default()
            .push((Original::Stored(id), canonical));
    }
    for (i, (_, doc)) in ready.iter_mut().enumerate() {
        let key = (doc.facts.hash.clone(), Some(doc.format.clone()));
        let candidates = originals.entry(key).or_default();
        doc.duplicate_of = candidates
            .iter()
            .find(|(_, canonical)| *canonical != doc.facts.canonical_path)
            .map(|(original, _)| *original);
        if doc.duplicate_of.is_none() {
            // This one is the original of any later copy in the batch.
            candidates.push((Original::InBatch(i), doc.facts.canonical_path.clone()));
        }
    }
    Ok(())
}

/// Imports `paths` into knowledge base `kb_id`, reporting progress through `progress`. With
/// `reextract`, files whose content is unchanged are extracted and chunked again too (a re-index
/// after the chunking changed, or after a better extractor arrived).
#[instrument(skip_all, fields(kb_id, paths = paths.len(), reextract), err)]
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ingest(
    catalogue: &Catalogue,
    segmenter: Arc<Segmenter>,
    config: &Config,
    kb_id: i64,
    paths: Vec<PathBuf>,
    reextract: bool,
    embed: bool,
    embedding_model: Option<&str>,
    progress: &(dyn Fn(ImportProgress) + Send + Sync),
    control: ImportControl,
) -> Result<ImportSummary, CoreError> {
    let kb = catalogue.kb(kb_id).await?;
    let mut clock = Clock::new();
    // Load the segmentation dictionary while the folders are scanned.
    let warm = Arc::clone(&segmenter);
    tokio::task::spawn_blocking(move || warm.warm_up());
    let (files, sizes, skipped_files, mut failed) = tokio::task::spawn_blocking(move || {
        let (files, skipped, failed) = expand(&paths);
        let sizes: Vec<u64> = files
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .collect();
        (files, sizes, skipped, failed)
    })
    .await?;
    let mut summary = ImportSummary {
        skipped: u32::try_from(skipped_files.len()).unwrap_or(u32::MAX),
        skipped_files,
        ..ImportSummary::default()
    };
    let mut state = ImportProgress {
        total: u32::try_from(files.len() + failed.len() + summary.skipped_files.len())
            .unwrap_or(u32::MAX),
        processed: u32::try_from(failed.len() + summary.skipped_files.len()).unwrap_or(u32::MAX),
        skipped: summary.skipped,
        failed: u32::try_from(failed.len()).unwrap_or(u32::MAX),
        bytes_total: sizes.iter().sum(),
        ..ImportProgress::default()
    };
    // Subscribed before the first report: a pause asked for while the files are queued below
    // is reported by the loop (a later subscription would never see that change).
    let mut paused = control.paused.subscribe();
    clock.set_paused(*paused.borrow_and_update());
    clock.stamp(&mut state);
    progress(state.clone());

    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let job_ids = catalogue.queue_jobs(kb_id, &shown).await?;
    // A small import (the folder watcher sends a few files at a time, all day) looks up only
    // its own files: reading every document of a large knowledge base each time costs a query
    // and megabytes of short-lived allocations per import.
    let known = if reextract {
        // Nothing counts as unchanged: every file is extracted and its chunks replaced.
        HashMap::new()
    } else if files.len() <= KNOWN_LOOKUP_LIMIT {
        let candidates = files.clone();
        let canonical: Vec<String> = tokio::task::spawn_blocking(move || {
            candidates
                .iter()
                .map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()))
                .map(|c| c.display().to_string())
                .collect()
        })
        .await?;
        catalogue.known_files_at(kb_id, &canonical).await?
    } else {
        catalogue.known_files(kb_id).await?
    };
    let ctx = Arc::new(PrepareContext {
        known,
        timeout: std::time::Duration::from_secs(config.file_timeout_secs),
        spec: kb.chunk_spec(),
        // Chunk sizes in tokens are estimated for the model the passages are embedded with.
        measure: chunk::Measure::of(kb.chunk_spec(), embedding_model),
        limits: config.limits(),
        segmenter,
    });
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (steps, step_writer) = StepLog::start(catalogue.clone());
    let prepared = futures::stream::iter(files.into_iter().zip(sizes).zip(job_ids))
        .map({
            let (ctx, control, steps) = (Arc::clone(&ctx), control.clone(), steps.clone());
            move |((file, size), job_id)| {
                let ctx = Arc::clone(&ctx);
                let control = control.clone();
                let steps = steps.clone();
                async move {
                    // Paused: no new file starts (the ones being read finish and are stored).
                    control.proceed().await;
                    let timeout = ctx.timeout;
                    let shown = file.display().to_string();
                    let task = tokio::task::spawn_blocking(move || {
                        let p = prepare(&file, &ctx, &|s| steps.record(job_id, s));
                        (file, p)
                    });
                    // A reader stuck on a hostile file cannot be killed, but the import moves on:
                    // the file is reported as failed and its thread finishes (or not) on its own.
                    let result = match tokio::time::timeout(timeout, task).await {
                        Ok(joined) => joined,
                        Err(_) => Ok((
                            PathBuf::from(&shown),
                            Prepared::Failed {
                                facts: FileFacts {
                                    path: shown.clone(),
                                    canonical_path: std::fs::canonicalize(&shown).map_or_else(
                                        |_| shown.clone(),
                                        |p| p.display().to_string(),
                                    ),
                                    size: 0,
                                    mtime_ms: 0,
                                    hash: String::new(),
                                },
                                reason: format!(
                                    "extraction took longer than {} s and was abandoned",
                                    timeout.as_secs()
                                ),
                            },
                        )),
                    };
                    (job_id, size, result)
                }
            }
        })
        .buffer_unordered(workers * 2);
    // Files are prepared in a task of their own, at most PREPARED_AHEAD ahead of the writer: the
    // CPU pool keeps extracting while a batch is written, and waits when the writer lags.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(PREPARED_AHEAD);
    // Memory: the passage text prepared but not yet written is bounded too (large documents).
    let budget = Arc::new(tokio::sync::Semaphore::new(PREPARED_AHEAD_BYTES as usize));
    let producer = tokio::spawn({
        let budget = Arc::clone(&budget);
        async move {
            futures::pin_mut!(prepared);
            while let Some(item) = prepared.next().await {
                let bytes = match &item {
                    (_, _, Ok((_, Prepared::Ready(doc)))) => {
                        doc.chunks.iter().map(|c| c.text.len()).sum::<usize>()
                    }
                    _ => 0,
                };
                let want = u32::try_from(bytes)
                    .unwrap_or(u32::MAX)
                    .min(PREPARED_AHEAD_BYTES);
                let Ok(permit) = Arc::clone(&budget).acquire_many_owned(want).await else {
                    break;
                };
                if ready_tx.send((item, permit)).await.is_err() {
                    break;
                }
            }
        }
    });
    // Budget held by the batch being gathered, returned once it is written.
    let mut held = Vec::new();

    // Prepared files are written in batches: up to WRITE_BATCH files, or whatever arrived within
    // BATCH_WINDOW of the first one, per transaction. Fewer commits (and keyword-index segments),
    // at most BATCH_WINDOW of added latency.
    let mut pending = Vec::new();
    let mut pending_bytes = 0usize;
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut exhausted = false;
    while !exhausted {
        // Prepared but unwritten files stay queued: a resume picks them up.
        if control.is_cancelled() {
            summary.cancelled = true;
            break;
        }
        let next = tokio::select! {
            // Pausing or resuming is reported at once (files in flight still arrive).
            Ok(()) = paused.changed() => {
                clock.set_paused(*paused.borrow_and_update());
                clock.stamp(&mut state);
                progress(state.clone());
                continue;
            }
            () = control.cancel.cancelled() => continue,
            next = async {
                match deadline {
                    // `None` when the window closed: write what we have.
                    Some(d) => tokio::time::timeout_at(d, ready_rx.recv()).await.ok(),
                    None => Some(ready_rx.recv().await),
                }
            } => next,
        };
        match next {
            Some(Some(item)) => {
                if pending.is_empty() {
                    deadline = Some(tokio::time::Instant::now() + BATCH_WINDOW);
                }
                // This file and every other one already prepared.
                let mut item = Some(item);
                while let Some((it, permit)) = item.take().or_else(|| ready_rx.try_recv().ok()) {
                    held.push(permit);
                    if let (_, _, Ok((_, Prepared::Ready(doc)))) = &it {
                        steps.record(it.0, JobState::Indexing);
                        pending_bytes += doc.chunks.iter().map(|c| c.text.len()).sum::<usize>();
                    }
                    pending.push(it);
                    if pending.len() >= WRITE_BATCH || pending_bytes >= WRITE_BATCH_BYTES {
                        break;
                    }
                }
                // Enough for a transaction of its own: written now; fewer wait for the window
                // (files arriving one by one share a transaction).
                if pending.len() < EAGER_BATCH.min(WRITE_BATCH) && pending_bytes < WRITE_BATCH_BYTES
                {
                    continue;
                }
            }
            Some(None) => exhausted = true,
            None => {}
        }
        deadline = None;
        pending_bytes = 0;
        let batch = std::mem::take(&mut pending);
        if batch.is_empty() {
            continue;
        }
        let mut ready = Vec::new();
        let mut unchanged = crate::catalogue::UnchangedFiles::default();
        let mut last_file = None;
        for (job_id, size, result) in batch {
            let (file, outcome) = result?;
            state.bytes_processed += size;
            match outcome {
                Prepared::Unchanged { doc_id, mtime_ms } => {
                    if mtime_ms >= 0 {
                        unchanged.touched.push((doc_id, mtime_ms));
                    }
                    unchanged.jobs.push(job_id);
                    summary.unchanged += 1;
                    summary.skipped += 1;
                    state.skipped += 1;
                }
                Prepared::Ready(doc) => ready.push((job_id, doc)),
                Prepared::Failed { facts, reason } => {
                    warn!(path = %facts.path, %reason, "import failed");
                    catalogue
                        .record_failure(kb_id, job_id, &facts, &reason)
                        .await?;
                    failed.push(FileIssue {
                        path: facts.path,
                        reason,
                    });
                    state.failed += 1;
                }
            }
            state.processed += 1;
            last_file = Some(file);
        }
        mark_duplicates(catalogue, kb_id, &mut ready).await?;
        let refs: Vec<(i64, &PreparedDocument)> = ready.iter().map(|(j, d)| (*j, d)).collect();
        catalogue
            .store_documents(kb_id, &refs, &unchanged, embed)
            .await?;
        for (_, doc) in &ready {
            summary.documents += 1;
            state.documents += 1;
            if doc.duplicate_of.is_some() {
                debug!(path = %doc.facts.path, "stored as a duplicate");
                summary.duplicates += 1;
                continue;
            }
            debug!(path = %doc.facts.path, chunks = doc.chunks.len(), "indexed");
            summary.chunks += u32::try_from(doc.chunks.len()).unwrap_or(u32::MAX);
        }
        held.clear();
        state.current = last_file.map(|f| f.display().to_string());
        clock.stamp(&mut state);
        progress(state.clone());
    }
    // The last steps reach the catalogue before the import reports its end.
    drop(ready_rx);
    producer.abort();
    let _ = producer.await;
    drop(steps);
    step_writer.finish().await;
    summary.failed = failed;
    state.finished = true;
    clock.stamp(&mut state);
    progress(state);
    Ok(summary)
}
