//! The SQLite catalogue (WAL, migrations): knowledge bases, documents, chunks, keyword index
//! and jobs. Every read and write of persistent state goes through `Catalogue`.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Connection;
use sqlx::{Row, SqlitePool};

use crate::chunk::{ChunkSpec, ChunkUnit};
use crate::error::CoreError;
use crate::jobs::JobState;
use crate::keyword::Segmenter;

/// A knowledge base: a named set of documents searched together.
#[derive(Debug, Clone, Serialize, specta::Type, sqlx::FromRow)]
pub struct KnowledgeBase {
    /// Stable id.
    #[specta(type = i32)]
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Chunk size, in `chunk_unit`s.
    pub chunk_size: u32,
    /// Chunk overlap, in `chunk_unit`s.
    pub chunk_overlap: u32,
    /// What chunk size and overlap count: characters or estimated tokens.
    #[sqlx(try_from = "String")]
    pub chunk_unit: ChunkUnit,
    /// Creation time, unix milliseconds.
    #[specta(type = i32)]
    pub created_at: i64,
    /// Documents in it (indexed or failed).
    #[specta(type = i32)]
    pub document_count: i64,
    /// Its own embedding model; `None`: the configured default.
    pub embedding_model: Option<String>,
}

/// What deleting a knowledge base removed with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, specta::Type)]
pub struct KbDeletion {
    /// Documents removed (their chunks, keyword rows and vectors go with them).
    #[specta(type = i32)]
    pub documents: u64,
    /// Conversations removed.
    #[specta(type = i32)]
    pub conversations: u64,
    /// Watched folders no longer watched (the folders on disk are untouched).
    #[specta(type = i32)]
    pub watched_folders: u64,
}

impl KnowledgeBase {
    /// The chunking this knowledge base uses.
    pub fn chunk_spec(&self) -> ChunkSpec {
        ChunkSpec {
            size: self.chunk_size,
            overlap: self.chunk_overlap,
            unit: self.chunk_unit,
        }
    }
}

/// Whether a document is searchable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// Extracted, chunked and in the keyword index.
    Indexed,
    /// Could not be imported; `error` says why.
    Failed,
    /// The same content as another document of the knowledge base (`duplicate_of`): listed, its
    /// passages are the other's. It takes them over if the other is deleted or changes.
    Duplicate,
}

impl FromStr for DocumentStatus {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "indexed" => Ok(Self::Indexed),
            "failed" => Ok(Self::Failed),
            other => Err(CoreError::InvalidInput(format!(
                "unknown document status {other:?}"
            ))),
        }
    }
}

/// A document in the catalogue.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Document {
    /// Stable id.
    #[specta(type = i32)]
    pub id: i64,
    /// Knowledge base it belongs to.
    #[specta(type = i32)]
    pub kb_id: i64,
    /// Path as imported (absolute).
    pub path: String,
    /// File name, for display.
    pub name: String,
    /// Detected format (`text`, `markdown`, `pdf`, ...), if known.
    pub format: Option<String>,
    /// The document's own title (PDF info, DOCX core properties, e-mail subject, ...).
    pub title: Option<String>,
    /// Pages (slides, sheets, chapters) the document has, for paged formats.
    pub page_count: Option<u32>,
    /// Pages without a usable text layer (scanned): they need OCR to be searchable.
    pub pages_needing_ocr: Vec<u32>,
    /// Size in bytes.
    #[specta(type = i32)]
    pub size: i64,
    /// Modification time, unix milliseconds.
    #[specta(type = i32)]
    pub mtime_ms: i64,
    /// BLAKE3 of the content, hex.
    pub hash: String,
    /// Searchable or failed.
    pub status: DocumentStatus,
    /// Why the last import failed, if it did.
    pub error: Option<String>,
    /// Text encoding detected.
    pub encoding: Option<String>,
    /// Warnings from extraction (e.g. an uncertain encoding).
    pub warnings: Vec<String>,
    /// Number of chunks in the index.
    #[specta(type = i32)]
    pub chunk_count: i64,
    /// First import, unix milliseconds.
    #[specta(type = i32)]
    pub added_at: i64,
    /// Last change, unix milliseconds.
    #[specta(type = i32)]
    pub updated_at: i64,
    /// For a duplicate: the document whose content it has.
    #[specta(type = Option<i32>)]
    pub duplicate_of: Option<i64>,
    /// For a duplicate: that document's path.
    pub duplicate_of_path: Option<String>,
}

/// A keyword search hit: one chunk and where it came from.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Hit {
    /// Path of the document.
    pub path: String,
    /// Document title, when the format records one.
    pub title: Option<String>,
    /// Document format (`pdf`, `docx`, ...).
    pub format: Option<String>,
    /// Document id.
    #[specta(type = i32)]
    pub document_id: i64,
    /// Chunk id.
    #[specta(type = i32)]
    pub chunk_id: i64,
    /// The chunk's text.
    pub text: String,
    /// BM25 relevance; higher is better.
    pub score: f64,
    /// Page (or slide) number, when the format has pages.
    pub page: Option<u32>,
    /// Headings the passage sits under, outermost first.
    pub heading_path: Vec<String>,
    /// Character span of the chunk in the document's extracted text.
    #[specta(type = i32)]
    pub start_char: i64,
    /// End of that span (exclusive).
    #[specta(type = i32)]
    pub end_char: i64,
}

/// Document columns, from `documents d LEFT JOIN documents o ON o.id = d.duplicate_of`.
const DOCUMENT_COLUMNS: &str = "d.id, d.kb_id, d.path, d.format, d.title, d.page_count, \
     d.pages_needing_ocr, d.size, d.mtime_ms, d.hash, d.status, d.error, d.encoding, d.warnings, \
     d.chunk_count, d.added_at, d.updated_at, d.duplicate_of, o.path AS duplicate_of_path";
const DOCUMENT_FROM: &str = "documents d LEFT JOIN documents o ON o.id = d.duplicate_of";

fn document_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Document, CoreError> {
    let path: String = r.try_get("path")?;
    let warnings: String = r.try_get("warnings")?;
    let ocr: String = r.try_get("pages_needing_ocr")?;
    let status: String = r.try_get("status")?;
    let duplicate_of: Option<i64> = r.try_get("duplicate_of")?;
    let status = match (status.parse()?, duplicate_of) {
        (DocumentStatus::Indexed, Some(_)) => DocumentStatus::Duplicate,
        (status, _) => status,
    };
    Ok(Document {
        id: r.try_get("id")?,
        kb_id: r.try_get("kb_id")?,
        name: file_name(&path),
        path,
        format: r.try_get("format")?,
        title: r.try_get("title")?,
        page_count: r.try_get("page_count")?,
        pages_needing_ocr: serde_json::from_str(&ocr).unwrap_or_default(),
        size: r.try_get("size")?,
        mtime_ms: r.try_get("mtime_ms")?,
        hash: r.try_get("hash")?,
        status,
        error: r.try_get("error")?,
        encoding: r.try_get("encoding")?,
        warnings: serde_json::from_str(&warnings).unwrap_or_default(),
        chunk_count: r.try_get("chunk_count")?,
        added_at: r.try_get("added_at")?,
        updated_at: r.try_get("updated_at")?,
        duplicate_of,
        duplicate_of_path: r.try_get("duplicate_of_path")?,
    })
}

/// The last component of a path, for display.
pub(crate) fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

const HIT_COLUMNS: &str = "c.id AS chunk_id, c.document_id, c.text, c.page, c.heading_path, \
     c.start_char, c.end_char, d.path, d.title, d.format";

fn hit_from_row(r: &sqlx::sqlite::SqliteRow, score: f64) -> Result<Hit, CoreError> {
    let heading_path: String = r.try_get("heading_path")?;
    Ok(Hit {
        path: r.try_get("path")?,
        title: r.try_get("title")?,
        format: r.try_get("format")?,
        document_id: r.try_get("document_id")?,
        chunk_id: r.try_get("chunk_id")?,
        text: r.try_get("text")?,
        score,
        page: r.try_get("page")?,
        heading_path: serde_json::from_str(&heading_path).unwrap_or_default(),
        start_char: r.try_get("start_char")?,
        end_char: r.try_get("end_char")?,
    })
}

/// Limits a search to part of a knowledge base. Empty fields do not limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct SearchFilter {
    /// Only documents under this folder (absolute path prefix).
    pub folder: Option<String>,
    /// Only documents of these formats (`pdf`, `docx`, ...).
    pub formats: Vec<String>,
    /// Only documents added at or after this time (unix milliseconds).
    #[specta(type = Option<f64>)]
    pub added_after: Option<i64>,
    /// Only documents added before this time (unix milliseconds).
    #[specta(type = Option<f64>)]
    pub added_before: Option<i64>,
}

impl SearchFilter {
    /// Appends ` AND ...` conditions on the documents table aliased `d`.
    fn push_conditions(&self, q: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>) {
        if let Some(folder) = self.folder.as_deref().filter(|f| !f.is_empty()) {
            let mut prefix = folder.trim_end_matches(['/', '\\']).to_owned();
            prefix.push(std::path::MAIN_SEPARATOR);
            let escaped = prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            // A document's passages also belong to its duplicates' folders.
            q.push(" AND (d.path LIKE ")
                .push_bind(format!("{escaped}%"))
                .push(" ESCAPE '\\' OR EXISTS (SELECT 1 FROM documents x WHERE x.duplicate_of = d.id AND x.path LIKE ")
                .push_bind(format!("{escaped}%"))
                .push(" ESCAPE '\\'))");
        }
        if !self.formats.is_empty() {
            q.push(" AND d.format IN (");
            let mut sep = q.separated(", ");
            for f in &self.formats {
                sep.push_bind(f.to_lowercase());
            }
            q.push(")");
        }
        if let Some(after) = self.added_after {
            q.push(" AND d.added_at >= ").push_bind(after);
        }
        if let Some(before) = self.added_before {
            q.push(" AND d.added_at < ").push_bind(before);
        }
    }
}

/// What the catalogue knows of a file it saw before, to decide whether it changed.
#[derive(Debug, Clone)]
pub(crate) struct KnownFile {
    pub id: i64,
    pub size: i64,
    pub mtime_ms: i64,
    pub hash: String,
    pub status: DocumentStatus,
    /// The last import of this file failed (`documents.error` is set).
    pub has_error: bool,
}

/// File facts recorded with a document.
#[derive(Debug, Clone)]
pub(crate) struct FileFacts {
    pub path: String,
    pub canonical_path: String,
    pub size: i64,
    pub mtime_ms: i64,
    pub hash: String,
}

/// A chunk ready to store: its span, text, page and keyword tokens.
#[derive(Debug, Clone)]
pub(crate) struct PreparedChunk {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub page: Option<u32>,
    pub heading_path: Vec<String>,
    pub tokens: String,
}

/// The extracted content of a file, ready to store.
#[derive(Debug, Clone)]
pub(crate) struct PreparedDocument {
    pub facts: FileFacts,
    pub format: String,
    pub title: Option<String>,
    pub page_count: Option<u32>,
    pub pages_needing_ocr: Vec<u32>,
    pub encoding: Option<String>,
    pub warnings: Vec<String>,
    pub chunks: Vec<PreparedChunk>,
    /// Set when the content is that of another document: stored as its duplicate.
    pub duplicate_of: Option<Original>,
}

/// The original a duplicate points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Original {
    /// A document already in the catalogue.
    Stored(i64),
    /// The document at this index of the same write batch (stored before it).
    InBatch(usize),
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Files of a batch found unchanged: their jobs, and documents whose mtime moved (or whose
/// earlier error is cleared by their content being back).
#[derive(Debug, Default)]
pub(crate) struct UnchangedFiles {
    pub jobs: Vec<i64>,
    pub touched: Vec<(i64, i64)>,
}

/// Page size of a new catalogue. Passages are kilobytes of text and their keyword rows
/// larger still: with 16 KiB pages an import writes a quarter of the WAL frames (one system
/// call each) and checkpoints less often than with SQLite's default 4 KiB (see
/// docs/BENCHMARKS.md, Ingestion).
const PAGE_SIZE: u32 = 16 * 1024;

/// Bytes of write-ahead log kept on disk after a checkpoint (SQLite's `journal_size_limit`):
/// twice what its automatic checkpoint lets grow (1,000 pages).
const JOURNAL_SIZE_LIMIT: u32 = 2 * 1000 * PAGE_SIZE;

/// Rows per multi-row INSERT: 500 × 8 columns stays far below SQLite's 32,766 bound variables.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Documents per multi-row upsert (18 values each).
const DOCUMENTS_PER_STATEMENT: usize = 150;

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inserts or updates a document row for a successful import; returns its id.
/// Inserts or updates documents in one statement; returns each row's id with its canonical path
/// (the row's identity in the knowledge base: RETURNING order is not relied on).
async fn upsert_documents(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    kb_id: i64,
    docs: &[(&PreparedDocument, Option<i64>)],
    now: i64,
) -> Result<Vec<(i64, String)>, CoreError> {
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO documents (kb_id, path, canonical_path, format, title, page_count, \
           pages_needing_ocr, size, mtime_ms, hash, status, error, encoding, warnings, chunk_count, \
           duplicate_of, added_at, updated_at) ",
    );
    q.push_values(docs, |mut b, (doc, duplicate_of)| {
        let chunk_count = if duplicate_of.is_some() {
            0
        } else {
            as_i64(doc.chunks.len())
        };
        b.push_bind(kb_id)
            .push_bind(&doc.facts.path)
            .push_bind(&doc.facts.canonical_path)
            .push_bind(&doc.format)
            .push_bind(&doc.title)
            .push_bind(doc.page_count)
            .push_bind(
                serde_json::to_string(&doc.pages_needing_ocr).unwrap_or_else(|_| "[]".into()),
            )
            .push_bind(doc.facts.size)
            .push_bind(doc.facts.mtime_ms)
            .push_bind(&doc.facts.hash)
            .push_bind("indexed")
            .push_bind(None::<String>)
            .push_bind(&doc.encoding)
            .push_bind(serde_json::to_string(&doc.warnings).unwrap_or_else(|_| "[]".into()))
            .push_bind(chunk_count)
            .push_bind(*duplicate_of)
            .push_bind(now)
            .push_bind(now);
    });
    q.push(
        " ON CONFLICT (kb_id, canonical_path) DO UPDATE SET path = excluded.path, \
           format = excluded.format, title = excluded.title, page_count = excluded.page_count, \
           pages_needing_ocr = excluded.pages_needing_ocr, size = excluded.size, mtime_ms = excluded.mtime_ms, \
           hash = excluded.hash, status = 'indexed', error = NULL, encoding = excluded.encoding, \
           warnings = excluded.warnings, chunk_count = excluded.chunk_count, \
           duplicate_of = excluded.duplicate_of, updated_at = excluded.updated_at \
         RETURNING id, canonical_path",
    );
    Ok(q.build_query_as::<(i64, String)>()
        .fetch_all(&mut **tx)
        .await?)
}

/// A document's identity and the file facts recorded with it: enough to tell whether its file
/// changed (size, mtime, hash) or moved (same hash at another path).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DocumentFile {
    /// Document id.
    #[specta(type = i32)]
    pub id: i64,
    /// Knowledge base it belongs to.
    #[specta(type = i32)]
    pub kb_id: i64,
    /// Path as imported (absolute).
    pub path: String,
    /// Symlinks and `..` resolved: the document's identity within its knowledge base.
    pub canonical_path: String,
    /// Size in bytes when last read.
    #[specta(type = i32)]
    pub size: i64,
    /// Modification time when last read, unix milliseconds.
    #[specta(type = i32)]
    pub mtime_ms: i64,
    /// BLAKE3 of the content, hex.
    pub hash: String,
    /// Searchable or failed.
    pub status: DocumentStatus,
    /// The last import of this file failed (an indexed document can carry an error too).
    pub has_error: bool,
}

/// Where a document's file now is: the document keeps its id and chunks (no re-extraction, no
/// re-embedding); only its path and file facts change.
#[derive(Debug, Clone)]
pub struct DocumentMove {
    /// The document.
    pub id: i64,
    /// New path, absolute, as the user sees it.
    pub path: String,
    /// New path with symlinks and `..` resolved.
    pub canonical_path: String,
    /// Size of the file at the new path.
    pub size: i64,
    /// Modification time of the file at the new path, unix milliseconds.
    pub mtime_ms: i64,
}

/// `[dir/, dir0)`: the range of strings that start with `dir` + separator (the next character
/// after the separator closes the range), so a prefix query uses the `(kb_id, canonical_path)`
/// index. `dir` itself is matched separately.
pub(crate) fn below(dir: &str) -> (String, String) {
    let sep = std::path::MAIN_SEPARATOR;
    let base = dir.strip_suffix(sep).unwrap_or(dir);
    let after = char::from_u32(sep as u32 + 1).unwrap_or('0');
    (format!("{base}{sep}"), format!("{base}{after}"))
}

const DOCUMENT_FILE_COLUMNS: &str =
    "id, kb_id, path, canonical_path, size, mtime_ms, hash, status, \
     error IS NOT NULL AS has_error";

fn document_file(r: &sqlx::sqlite::SqliteRow) -> Result<DocumentFile, CoreError> {
    let status: String = r.try_get("status")?;
    Ok(DocumentFile {
        id: r.try_get("id")?,
        kb_id: r.try_get("kb_id")?,
        path: r.try_get("path")?,
        canonical_path: r.try_get("canonical_path")?,
        size: r.try_get("size")?,
        mtime_ms: r.try_get("mtime_ms")?,
        hash: r.try_get("hash")?,
        status: status.parse()?,
        has_error: r.try_get("has_error")?,
    })
}

/// Deletes documents with their chunks (and, by trigger, their keyword index rows) inside `tx`.
async fn delete_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    ids: &[i64],
) -> Result<u64, CoreError> {
    let mut deleted = 0;
    for part in ids.chunks(ROWS_PER_STATEMENT) {
        for table in ["chunks", "documents"] {
            let column = if table == "chunks" {
                "document_id"
            } else {
                "id"
            };
            let mut q = sqlx::QueryBuilder::new(format!("DELETE FROM {table} WHERE {column} IN ("));
            let mut list = q.separated(", ");
            for id in part {
                list.push_bind(*id);
            }
            q.push(")");
            if table == "chunks" {
                // An original's passages pass to its duplicate (a trigger, when the document
                // row goes); they leave only with the last copy.
                q.push(" AND document_id NOT IN (SELECT duplicate_of FROM documents WHERE duplicate_of IS NOT NULL)");
            }
            let done = q.build().execute(&mut **tx).await?;
            if table == "documents" {
                deleted += done.rows_affected();
            }
        }
    }
    Ok(deleted)
}

/// The catalogue database.
#[derive(Clone)]
pub struct Catalogue {
    pub(crate) pool: SqlitePool,
    /// Write transactions of this process take turns here (see [`Catalogue::begin_write`]).
    write_turn: Arc<tokio::sync::Mutex<()>>,
    /// How its connections are opened (for the last one, see [`Catalogue::close`]).
    options: SqliteConnectOptions,
}

/// This process's turn to write to the catalogue, held until the transaction ends.
pub(crate) type WriteTurn = tokio::sync::OwnedMutexGuard<()>;

const KB_COLUMNS: &str =
    "k.id, k.name, k.chunk_size, k.chunk_overlap, k.chunk_unit, k.created_at, \
     (SELECT COUNT(*) FROM documents d WHERE d.kb_id = k.id) AS document_count, k.embedding_model";

impl Catalogue {
    /// Opens (creating if needed) the catalogue at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, CoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| CoreError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // Takes effect when the file is created (a WAL database keeps its page size).
            .page_size(PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // After a checkpoint, a log grown large by a big import shrinks back to this.
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            write_turn: Arc::default(),
            options,
        })
    }

    /// Closes every connection, waiting up to `wait` for those in use, and folds the
    /// write-ahead log back into the file, removing it (unless another process still has the
    /// catalogue open). Later queries fail with a closed-pool error.
    pub(crate) async fn close(&self, wait: Duration) {
        // sqlx's `Pool::close` can return with a connection still open (one handed back while
        // it closed the idle ones: launchbadge/sqlx#3217, fixed after 0.8.6): close again
        // until none is left.
        let drained = async {
            loop {
                self.pool.close().await;
                if self.pool.size() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        if tokio::time::timeout(wait, drained).await.is_err() {
            tracing::warn!(
                "catalogue connections still in use after {wait:?}; exiting without them"
            );
            return;
        }
        // SQLite folds the log in and removes it when the last connection to the file closes
        // (without waiting for anyone: another process's connection keeps it). The pool's
        // connections close on several threads at once, and each may see another still open:
        // when the log is still there, one more connection, opened and closed alone, is last.
        let mut wal = self.options.get_filename().as_os_str().to_owned();
        wal.push("-wal");
        if !Path::new(&wal).exists() {
            tracing::debug!("catalogue closed");
            return;
        }
        let last = async {
            SqliteConnection::connect_with(&self.options)
                .await?
                .close()
                .await
        };
        match last.await {
            Ok(()) => tracing::debug!("catalogue closed"),
            Err(e) => tracing::warn!("the catalogue's write-ahead log was left beside it: {e}"),
        }
    }

    /// Fills the keyword index again from the chunks' text when a migration asked for it:
    /// all of it after a change of its tokenizer (`keyword_index_stale` = 1, migration 11), or
    /// only the passages with words of the scripts jieba cut into letters before migration 12
    /// (= 2). Returns how many chunks were indexed, `None` when the index was current. One
    /// transaction: a crash midway leaves it stale, to be rebuilt next time.
    pub(crate) async fn rebuild_keyword_index_if_stale(
        &self,
        segmenter: &Arc<Segmenter>,
    ) -> Result<Option<u64>, CoreError> {
        let stale: i64 = sqlx::query_scalar("SELECT keyword_index_stale FROM library LIMIT 1")
            .fetch_one(&self.pool)
            .await?;
        let whole = match stale {
            0 => return Ok(None),
            2 => false,
            _ => true,
        };
        let started = std::time::Instant::now();
        let (_turn, mut tx) = self.begin_write().await?;
        if whole {
            sqlx::query("INSERT INTO chunk_fts (chunk_fts) VALUES ('delete-all')")
                .execute(&mut *tx)
                .await?;
        }
        let select = if whole {
            "SELECT id, text FROM chunks WHERE id > ? ORDER BY id LIMIT ?"
        } else {
            // The character class of migration 0012 (`keyword::in_spaced_script_blocks`).
            "SELECT id, text FROM chunks WHERE id > ? AND text GLOB '*[À-ۿḀ-ỿ]*' \
             ORDER BY id LIMIT ?"
        };
        let mut after = 0i64;
        let mut indexed = 0u64;
        loop {
            let rows: Vec<(i64, String)> = sqlx::query_as(select)
                .bind(after)
                .bind(as_i64(ROWS_PER_STATEMENT))
                .fetch_all(&mut *tx)
                .await?;
            let Some(&(last, _)) = rows.last() else {
                break;
            };
            after = last;
            let seg = Arc::clone(segmenter);
            let tokens: Vec<(i64, String)> = tokio::task::spawn_blocking(move || {
                rows.into_iter()
                    .map(|(id, text)| (id, seg.index_text(&text)))
                    .collect()
            })
            .await?;
            indexed += tokens.len() as u64;
            if !whole {
                // Their old rows go first (`contentless_delete` deletes by rowid).
                let mut old = sqlx::QueryBuilder::new("DELETE FROM chunk_fts WHERE rowid IN (");
                let mut ids = old.separated(", ");
                for (id, _) in &tokens {
                    ids.push_bind(*id);
                }
                old.push(")");
                old.build().execute(&mut *tx).await?;
            }
            let mut fts = sqlx::QueryBuilder::new("INSERT INTO chunk_fts (rowid, tokens) ");
            fts.push_values(&tokens, |mut b, (id, t)| {
                b.push_bind(*id).push_bind(t);
            });
            fts.build().execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE library SET keyword_index_stale = 0")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            chunks = indexed,
            whole,
            ms = started.elapsed().as_millis() as u64,
            "keyword index rebuilt"
        );
        Ok(Some(indexed))
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`: the write lock is taken at once, so a
    /// transaction that reads before it writes cannot fail on a lock upgrade). Bind the turn
    /// before the transaction — `let (_turn, mut tx) = …` — so that it is released after it.
    ///
    /// SQLite has one writer at a time. Without the turn, a second writer of this process
    /// (an import's step log beside its batch writer, the embedder, a watched folder) would
    /// wait in SQLite's busy handler, which polls with sleeps growing to 100 ms and so often
    /// wakes long after the lock is free: the end of an import waited up to ~90 ms for its
    /// step log that way. Turns are handed over in order, at once. The busy handler still
    /// covers other processes (the CLI beside the app).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<(WriteTurn, sqlx::Transaction<'static, sqlx::Sqlite>), CoreError> {
        let turn = Arc::clone(&self.write_turn).lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok((turn, tx))
    }

    /// The SQLite library version in use.
    pub async fn sqlite_version(&self) -> Result<String, CoreError> {
        Ok(sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Creates a knowledge base.
    pub async fn create_kb(&self, name: &str, spec: ChunkSpec) -> Result<KnowledgeBase, CoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::InvalidInput(
                "knowledge base name is empty".into(),
            ));
        }
        let spec = spec.validate().map_err(CoreError::InvalidInput)?;
        let inserted = sqlx::query(
            "INSERT INTO knowledge_bases (name, chunk_size, chunk_overlap, chunk_unit, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(spec.size)
        .bind(spec.overlap)
        .bind(spec.unit.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(r) => self.kb(r.last_insert_rowid()).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(CoreError::AlreadyExists(format!("knowledge base {name:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// All knowledge bases, by name.
    pub async fn list_kbs(&self) -> Result<Vec<KnowledgeBase>, CoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {KB_COLUMNS} FROM knowledge_bases k ORDER BY k.name"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// One knowledge base by id.
    pub async fn kb(&self, id: i64) -> Result<KnowledgeBase, CoreError> {
        sqlx::query_as(&format!(
            "SELECT {KB_COLUMNS} FROM knowledge_bases k WHERE k.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("knowledge base #{id}")))
    }

    /// One knowledge base by name.
    pub async fn kb_by_name(&self, name: &str) -> Result<KnowledgeBase, CoreError> {
        sqlx::query_as(&format!(
            "SELECT {KB_COLUMNS} FROM knowledge_bases k WHERE k.name = ?"
        ))
        .bind(name.trim())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("knowledge base {name:?}")))
    }

    /// Gives a knowledge base a new (unique, non-empty) name.
    pub async fn rename_kb(&self, id: i64, name: &str) -> Result<KnowledgeBase, CoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::InvalidInput(
                "knowledge base name is empty".into(),
            ));
        }
        let updated = sqlx::query("UPDATE knowledge_bases SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(&self.pool)
            .await;
        match updated {
            Ok(r) if r.rows_affected() == 0 => {
                Err(CoreError::NotFound(format!("knowledge base #{id}")))
            }
            Ok(_) => self.kb(id).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(CoreError::AlreadyExists(format!("knowledge base {name:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a knowledge base's chunking; documents imported from now on use it (those stored
    /// keep their chunks until they are imported again).
    pub async fn set_kb_chunking(
        &self,
        id: i64,
        spec: ChunkSpec,
    ) -> Result<KnowledgeBase, CoreError> {
        let spec = spec.validate().map_err(CoreError::InvalidInput)?;
        let updated = sqlx::query(
            "UPDATE knowledge_bases SET chunk_size = ?, chunk_overlap = ?, chunk_unit = ? WHERE id = ?",
        )
        .bind(spec.size)
        .bind(spec.overlap)
        .bind(spec.unit.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(CoreError::NotFound(format!("knowledge base #{id}")));
        }
        self.kb(id).await
    }

    /// Deletes a knowledge base in one transaction: its documents go through the same path as
    /// any document delete (chunks, keyword rows, and vector tombstones for Chroma), then the
    /// knowledge base row takes its conversations, watched folders, jobs and vector sets with it.
    pub async fn delete_kb(&self, id: i64) -> Result<KbDeletion, CoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let counts: Option<(i64, i64)> = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM conversations WHERE kb_id = k.id), \
                    (SELECT COUNT(*) FROM watched_folders WHERE kb_id = k.id) \
             FROM knowledge_bases k WHERE k.id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((conversations, watched_folders)) = counts else {
            return Err(CoreError::NotFound(format!("knowledge base #{id}")));
        };
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM documents WHERE kb_id = ?")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        let documents = delete_in(&mut tx, &ids).await?;
        sqlx::query("DELETE FROM knowledge_bases WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(KbDeletion {
            documents,
            conversations: u64::try_from(conversations).unwrap_or(0),
            watched_folders: u64::try_from(watched_folders).unwrap_or(0),
        })
    }

    /// Records why a document's file could not be imported again (it keeps its chunks).
    pub(crate) async fn set_document_error(&self, id: i64, reason: &str) -> Result<(), CoreError> {
        sqlx::query("UPDATE documents SET error = ?, updated_at = ? WHERE id = ?")
            .bind(reason)
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Documents of a knowledge base, by path.
    pub async fn list_documents(&self, kb_id: i64) -> Result<Vec<Document>, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM {DOCUMENT_FROM} WHERE d.kb_id = ? ORDER BY d.path"
        ))
        .bind(kb_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(document_from_row).collect()
    }

    /// One document by id.
    pub async fn document(&self, id: i64) -> Result<Document, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM {DOCUMENT_FROM} WHERE d.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("document {id}")))?;
        document_from_row(&row)
    }

    /// Documents of a knowledge base whose file is `canonical` itself or lies below it (when it
    /// is a folder), by canonical path.
    pub async fn documents_under(
        &self,
        kb_id: i64,
        canonical: &str,
    ) -> Result<Vec<DocumentFile>, CoreError> {
        let (from, to) = below(canonical);
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_FILE_COLUMNS} FROM documents WHERE kb_id = ? \
             AND (canonical_path = ? OR (canonical_path >= ? AND canonical_path < ?)) \
             ORDER BY canonical_path"
        ))
        .bind(kb_id)
        .bind(canonical)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(document_file).collect()
    }

    /// Documents of a knowledge base whose content has this BLAKE3 hash.
    pub async fn documents_with_hash(
        &self,
        kb_id: i64,
        hash: &str,
    ) -> Result<Vec<DocumentFile>, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_FILE_COLUMNS} FROM documents WHERE kb_id = ? AND hash = ? ORDER BY id"
        ))
        .bind(kb_id)
        .bind(hash)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(document_file).collect()
    }

    /// Removes documents with their chunks and keyword index rows, all in one transaction.
    /// This is the one path by which documents leave the catalogue (anything kept beside the
    /// catalogue for a document, such as vectors, is to be removed here too). Returns how many
    /// documents existed and were removed.
    pub async fn delete_documents(&self, ids: &[i64]) -> Result<u64, CoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let (_turn, mut tx) = self.begin_write().await?;
        let deleted = delete_in(&mut tx, ids).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Removes one document with its chunks and keyword index rows (see `delete_documents`).
    pub async fn delete_document(&self, id: i64) -> Result<(), CoreError> {
        match self.delete_documents(&[id]).await? {
            0 => Err(CoreError::NotFound(format!("document #{id}"))),
            _ => Ok(()),
        }
    }

    /// Gives documents new paths, keeping their ids and chunks (a rename or move never
    /// re-extracts or re-embeds), in one transaction. A document already catalogued at a
    /// destination in the same knowledge base (a file that was replaced by the move) is removed.
    /// Moves may swap or chain paths. This is the one path by which a document changes path.
    pub async fn move_documents(&self, moves: &[DocumentMove]) -> Result<(), CoreError> {
        if moves.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let (_turn, mut tx) = self.begin_write().await?;
        let moving: std::collections::HashSet<i64> = moves.iter().map(|m| m.id).collect();
        // Step aside first so moves can swap or chain paths without tripping the unique index.
        for m in moves {
            let done = sqlx::query("UPDATE documents SET canonical_path = ? || id WHERE id = ?")
                .bind("moving:") // never an absolute path
                .bind(m.id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(CoreError::NotFound(format!("document #{}", m.id)));
            }
        }
        let mut displaced = Vec::new();
        for m in moves {
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT d.id FROM documents d JOIN documents moved ON moved.kb_id = d.kb_id \
                 WHERE moved.id = ? AND d.canonical_path = ?",
            )
            .bind(m.id)
            .bind(&m.canonical_path)
            .fetch_all(&mut *tx)
            .await?;
            displaced.extend(ids.into_iter().filter(|id| !moving.contains(id)));
        }
        delete_in(&mut tx, &displaced).await?;
        for m in moves {
            sqlx::query(
                "UPDATE documents SET path = ?, canonical_path = ?, size = ?, mtime_ms = ?, \
                 updated_at = ? WHERE id = ?",
            )
            .bind(&m.path)
            .bind(&m.canonical_path)
            .bind(m.size)
            .bind(m.mtime_ms)
            .bind(now)
            .bind(m.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives one document a new path, keeping its id and chunks (see `move_documents`).
    pub async fn move_document(&self, m: &DocumentMove) -> Result<(), CoreError> {
        self.move_documents(std::slice::from_ref(m)).await
    }

    /// What the catalogue knows of every file in a knowledge base, by canonical path.
    pub(crate) async fn known_files(
        &self,
        kb_id: i64,
    ) -> Result<std::collections::HashMap<String, KnownFile>, CoreError> {
        let rows = sqlx::query(
            "SELECT id, canonical_path, size, mtime_ms, hash, status, error IS NOT NULL AS has_error \
             FROM documents WHERE kb_id = ?",
        )
        .bind(kb_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(known_file).collect()
    }

    /// Indexed originals (not duplicates) of a knowledge base whose content hash is one of
    /// `hashes`, oldest first: (id, hash, format, canonical path).
    pub(crate) async fn originals_with_hashes(
        &self,
        kb_id: i64,
        hashes: &[&str],
    ) -> Result<Vec<(i64, String, Option<String>, String)>, CoreError> {
        let mut found = Vec::new();
        for part in hashes.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT id, hash, format, canonical_path FROM documents \
                 WHERE status = 'indexed' AND duplicate_of IS NULL AND kb_id = ",
            );
            q.push_bind(kb_id).push(" AND hash IN (");
            let mut list = q.separated(", ");
            for h in part {
                list.push_bind(*h);
            }
            q.push(") ORDER BY id");
            found.extend(
                q.build_query_as::<(i64, String, Option<String>, String)>()
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        found.sort_by_key(|(id, ..)| *id);
        Ok(found)
    }

    /// What the catalogue knows of the files at these canonical paths in a knowledge base.
    pub(crate) async fn known_files_at(
        &self,
        kb_id: i64,
        canonical: &[String],
    ) -> Result<std::collections::HashMap<String, KnownFile>, CoreError> {
        let mut known = std::collections::HashMap::with_capacity(canonical.len());
        for part in canonical.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT id, canonical_path, size, mtime_ms, hash, status, \
                 error IS NOT NULL AS has_error FROM documents WHERE kb_id = ",
            );
            q.push_bind(kb_id).push(" AND canonical_path IN (");
            let mut list = q.separated(", ");
            for c in part {
                list.push_bind(c);
            }
            q.push(")");
            for r in q.build().fetch_all(&self.pool).await? {
                let (path, file) = known_file(&r)?;
                known.insert(path, file);
            }
        }
        Ok(known)
    }

    /// Paths of jobs an interrupted import left unfinished (queued to indexing), oldest first, without
    /// repeats; the jobs themselves are removed: the caller queues them again.
    pub(crate) async fn take_unfinished_jobs(&self, kb_id: i64) -> Result<Vec<String>, CoreError> {
        // Reads then deletes: the write lock is taken first, or a writer committing in between
        // would fail the delete (a read transaction cannot be upgraded past a newer commit).
        let (_turn, mut tx) = self.begin_write().await?;
        let paths: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT path FROM jobs WHERE kb_id = ? AND state IN {} GROUP BY path ORDER BY MIN(id)",
            JobState::UNFINISHED_SQL
        ))
        .bind(kb_id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "DELETE FROM jobs WHERE kb_id = ? AND state IN {}",
            JobState::UNFINISHED_SQL
        ))
        .bind(kb_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(paths)
    }

    /// Knowledge bases with unfinished jobs.
    pub(crate) async fn kbs_with_unfinished_jobs(&self) -> Result<Vec<i64>, CoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT DISTINCT kb_id FROM jobs WHERE state IN {} ORDER BY kb_id",
            JobState::UNFINISHED_SQL
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Queues one job per file, in one transaction; returns their ids in order.
    pub(crate) async fn queue_jobs(
        &self,
        kb_id: i64,
        paths: &[String],
    ) -> Result<Vec<i64>, CoreError> {
        let now = now_ms();
        let (_turn, mut tx) = self.begin_write().await?;
        let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM jobs")
            .fetch_one(&mut *tx)
            .await?;
        for (batch_no, batch) in paths.chunks(ROWS_PER_STATEMENT).enumerate() {
            let base = first + as_i64(batch_no * ROWS_PER_STATEMENT);
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO jobs (id, kb_id, path, state, created_at, updated_at) ",
            );
            q.push_values(batch.iter().enumerate(), |mut b, (i, p)| {
                b.push_bind(base + as_i64(i))
                    .push_bind(kb_id)
                    .push_bind(p)
                    .push_bind("queued")
                    .push_bind(now)
                    .push_bind(now);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok((0..paths.len()).map(|i| first + as_i64(i)).collect())
    }

    /// Stores documents with their chunks and keyword tokens, replacing earlier versions, and moves
    /// their jobs on (to `embedding` when `embed` and the document has passages to embed, else
    /// `done`) — in one transaction, so a document is never half indexed. Batching
    /// several documents per transaction (and all of a document's chunks per statement) keeps the
    /// commit and round-trip count low; every document still lands whole or not at all.
    pub(crate) async fn store_documents(
        &self,
        kb_id: i64,
        docs: &[(i64, &PreparedDocument)],
        unchanged: &UnchangedFiles,
        embed: bool,
    ) -> Result<(), CoreError> {
        if docs.is_empty() && unchanged.jobs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        // IMMEDIATE: take the write lock before allocating chunk ids.
        let (_turn, mut tx) = self.begin_write().await?;
        // Ids come from a counter, never from MAX(id): a deleted chunk's id (and the vector
        // stored under it in Chroma) must never name a new chunk.
        let wanted = as_i64(
            docs.iter()
                .filter(|(_, d)| d.duplicate_of.is_none())
                .map(|(_, d)| d.chunks.len())
                .sum(),
        );
        let mut next_chunk_id: i64 = sqlx::query_scalar(
            "UPDATE id_counters SET next = next + ? WHERE name = 'chunks' RETURNING next - ?",
        )
        .bind(wanted)
        .bind(wanted)
        .fetch_one(&mut *tx)
        .await?;
        // The same file named twice in one batch (a folder and a file in it, or a symlink) is
        // written once, as its last occurrence; the others finish with it.
        let mut last_of: HashMap<&str, usize> = HashMap::new();
        for (i, (_, doc)) in docs.iter().enumerate() {
            last_of.insert(doc.facts.canonical_path.as_str(), i);
        }
        // Documents go in multi-row statements: first originals and duplicates of stored
        // documents, then duplicates of documents earlier in this batch (they need those ids).
        let mut ids: Vec<Option<i64>> = vec![None; docs.len()];
        let mut originals: Vec<Option<i64>> = vec![None; docs.len()];
        let writers: Vec<usize> = (0..docs.len())
            .filter(|&i| last_of.get(docs[i].1.facts.canonical_path.as_str()) == Some(&i))
            .collect();
        let (later, first): (Vec<usize>, Vec<usize>) = writers
            .iter()
            .partition(|&&i| matches!(docs[i].1.duplicate_of, Some(Original::InBatch(_))));
        for pass in [first, later] {
            for part in pass.chunks(DOCUMENTS_PER_STATEMENT) {
                let rows: Vec<(&PreparedDocument, Option<i64>)> = part
                    .iter()
                    .map(|&i| {
                        let doc = docs[i].1;
                        let original = match doc.duplicate_of {
                            None => None,
                            Some(Original::Stored(id)) => Some(id),
                            Some(Original::InBatch(j)) => {
                                let canonical = docs[j].1.facts.canonical_path.as_str();
                                last_of.get(canonical).and_then(|&w| ids[w])
                            }
                        };
                        originals[i] = original;
                        (doc, original)
                    })
                    .collect();
                let stored = upsert_documents(&mut tx, kb_id, &rows, now).await?;
                let by_path: HashMap<&str, i64> =
                    stored.iter().map(|(id, c)| (c.as_str(), *id)).collect();
                for &i in part {
                    ids[i] = by_path
                        .get(docs[i].1.facts.canonical_path.as_str())
                        .copied();
                }
            }
        }
        let written: Vec<i64> = writers.iter().filter_map(|&i| ids[i]).collect();
        for part in written.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new("DELETE FROM chunks WHERE document_id IN (");
            let mut list = q.separated(", ");
            for id in part {
                list.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
        // (job, document, its next state)
        let mut finished: Vec<(i64, i64, JobState)> = Vec::with_capacity(docs.len());
        // (chunk id, document, ordinal, chunk) of every original written
        let mut rows: Vec<(i64, i64, i64, &PreparedChunk)> = Vec::new();
        for (i, (job_id, doc)) in docs.iter().enumerate() {
            let writer = last_of
                .get(doc.facts.canonical_path.as_str())
                .copied()
                .unwrap_or(i);
            let Some(doc_id) = ids[writer] else {
                return Err(CoreError::InvalidInput(format!(
                    "{}: the catalogue did not return the stored document",
                    doc.facts.path
                )));
            };
            let original = originals[writer];
            let next = if embed && original.is_none() && !doc.chunks.is_empty() {
                JobState::Embedding
            } else {
                JobState::Done
            };
            finished.push((*job_id, doc_id, next));
            if writer != i {
                continue;
            }
            if let Some(original) = original {
                // A duplicate has no passages of its own; any that pointed at it (it was an
                // original before) now point at its original.
                sqlx::query("UPDATE documents SET duplicate_of = ? WHERE duplicate_of = ?")
                    .bind(original)
                    .bind(doc_id)
                    .execute(&mut *tx)
                    .await?;
                continue;
            }
            for (ordinal, c) in doc.chunks.iter().enumerate() {
                rows.push((next_chunk_id, doc_id, as_i64(ordinal), c));
                next_chunk_id += 1;
            }
        }
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            let mut chunks = sqlx::QueryBuilder::new(
                "INSERT INTO chunks (id, document_id, ordinal, text, page, heading_path, start_char, end_char) ",
            );
            chunks.push_values(part, |mut b, (id, doc_id, ordinal, c)| {
                b.push_bind(*id)
                    .push_bind(*doc_id)
                    .push_bind(*ordinal)
                    .push_bind(&c.text)
                    .push_bind(c.page)
                    .push_bind(
                        serde_json::to_string(&c.heading_path).unwrap_or_else(|_| "[]".into()),
                    )
                    .push_bind(as_i64(c.start))
                    .push_bind(as_i64(c.end));
            });
            chunks.build().execute(&mut *tx).await?;
            let mut fts = sqlx::QueryBuilder::new("INSERT INTO chunk_fts (rowid, tokens) ");
            fts.push_values(part, |mut b, (id, _, _, c)| {
                b.push_bind(*id).push_bind(&c.tokens);
            });
            fts.build().execute(&mut *tx).await?;
        }
        // One statement per few hundred jobs, each with its own document and state.
        for part in finished.chunks(ROWS_PER_STATEMENT / 3) {
            let mut jobs = sqlx::QueryBuilder::new("UPDATE jobs SET state = v.column3, document_id = v.column2, error = NULL, updated_at = ");
            jobs.push_bind(now).push(" FROM (");
            jobs.push_values(part, |mut b, (job, doc, state)| {
                b.push_bind(*job).push_bind(*doc).push_bind(state.as_str());
            });
            jobs.push(") AS v WHERE jobs.id = v.column1");
            jobs.build().execute(&mut *tx).await?;
        }
        for part in unchanged.jobs.chunks(ROWS_PER_STATEMENT) {
            let mut jobs = sqlx::QueryBuilder::new(
                "UPDATE jobs SET state = 'skipped', error = NULL, updated_at = ",
            );
            jobs.push_bind(now).push(" WHERE id IN (");
            let mut list = jobs.separated(", ");
            for id in part {
                list.push_bind(*id);
            }
            jobs.push(")");
            jobs.build().execute(&mut *tx).await?;
        }
        for (doc_id, mtime_ms) in &unchanged.touched {
            sqlx::query("UPDATE documents SET mtime_ms = ?, error = NULL WHERE id = ?")
                .bind(mtime_ms)
                .bind(doc_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed import. A document that was indexed before keeps its chunks (nothing
    /// stored is lost) and carries the error; a new file is listed as failed.
    pub(crate) async fn record_failure(
        &self,
        kb_id: i64,
        job_id: i64,
        facts: &FileFacts,
        reason: &str,
    ) -> Result<(), CoreError> {
        let now = now_ms();
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO documents (kb_id, path, canonical_path, size, mtime_ms, hash, status, error, \
               added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?, ?) \
             ON CONFLICT (kb_id, canonical_path) DO UPDATE SET error = excluded.error, \
               updated_at = excluded.updated_at",
        )
        .bind(kb_id)
        .bind(&facts.path)
        .bind(&facts.canonical_path)
        .bind(facts.size)
        .bind(facts.mtime_ms)
        .bind(&facts.hash)
        .bind(reason)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE jobs SET state = 'failed', error = ?, updated_at = ? WHERE id = ?")
            .bind(reason)
            .bind(now)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keyword search within one knowledge base: BM25 over the jieba-token index.
    pub async fn keyword_search(
        &self,
        kb_id: i64,
        expression: &str,
        k: u32,
        filter: &SearchFilter,
    ) -> Result<Vec<Hit>, CoreError> {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "SELECT {HIT_COLUMNS}, bm25(chunk_fts) AS rank \
             FROM chunk_fts JOIN chunks c ON c.id = chunk_fts.rowid \
               JOIN documents d ON d.id = c.document_id \
             WHERE chunk_fts MATCH "
        ));
        q.push_bind(expression)
            .push(" AND d.kb_id = ")
            .push_bind(kb_id);
        filter.push_conditions(&mut q);
        q.push(" ORDER BY rank LIMIT ").push_bind(k);
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| hit_from_row(r, -r.try_get::<f64, _>("rank")?))
            .collect()
    }

    /// Chunks by id, as hits in the order asked (ids that no longer exist are left out), limited
    /// to one knowledge base and `filter`. Vector search answers with chunk ids; this turns them
    /// into passages.
    pub async fn hits_by_chunk_ids(
        &self,
        kb_id: i64,
        ids: &[i64],
        filter: &SearchFilter,
    ) -> Result<Vec<Hit>, CoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "SELECT {HIT_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE d.kb_id = "
        ));
        q.push_bind(kb_id).push(" AND c.id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        q.push(")");
        filter.push_conditions(&mut q);
        let rows = q.build().fetch_all(&self.pool).await?;
        let mut by_id = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let hit = hit_from_row(r, 0.0)?;
            by_id.insert(hit.chunk_id, hit);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// The chunks of one document in order (the source viewer stitches them back together).
    pub async fn document_chunks(&self, document_id: i64) -> Result<Vec<Hit>, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HIT_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE c.document_id = ? ORDER BY c.ordinal"
        ))
        .bind(document_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| hit_from_row(r, 0.0)).collect()
    }

    /// Counts of rows, for `doctor` and consistency checks.
    pub async fn counts(&self) -> Result<CatalogueCounts, CoreError> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM knowledge_bases) AS kbs, (SELECT COUNT(*) FROM documents) AS docs, \
             (SELECT COUNT(*) FROM chunks) AS chunks",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(CatalogueCounts {
            knowledge_bases: r.try_get("kbs")?,
            documents: r.try_get("docs")?,
            chunks: r.try_get("chunks")?,
        })
    }
}

/// Row counts of the catalogue.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct CatalogueCounts {
    /// Knowledge bases.
    #[specta(type = i32)]
    pub knowledge_bases: i64,
    /// Documents (all statuses).
    #[specta(type = i32)]
    pub documents: i64,
    /// Chunks in the keyword index.
    #[specta(type = i32)]
    pub chunks: i64,
}

/// A row of `SELECT id, canonical_path, size, mtime_ms, hash, status, error IS NOT NULL AS
/// has_error FROM documents` as the import's view of a known file, by canonical path.
fn known_file(r: &sqlx::sqlite::SqliteRow) -> Result<(String, KnownFile), CoreError> {
    let status: String = r.try_get("status")?;
    Ok((
        r.try_get("canonical_path")?,
        KnownFile {
            id: r.try_get("id")?,
            size: r.try_get("size")?,
            mtime_ms: r.try_get("mtime_ms")?,
            hash: r.try_get("hash")?,
            status: status.parse()?,
            has_error: r.try_get("has_error")?,
        },
    ))
}
