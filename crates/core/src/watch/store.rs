//! The `watched_folders` table: the catalogue's reads and writes of watched folders and their
//! status (every write of persistent state still goes through `Catalogue`).

use sqlx::Row;

use crate::catalogue::{now_ms, Catalogue};
use crate::error::CoreError;

use super::{WatchState, WatchedFolder};

const COLUMNS: &str = "id, kb_id, path, canonical_path, include_globs, exclude_globs, state, \
     last_sync_at, last_error, pending, created_at";

fn folder(r: &sqlx::sqlite::SqliteRow) -> Result<WatchedFolder, CoreError> {
    let include: String = r.try_get("include_globs")?;
    let exclude: String = r.try_get("exclude_globs")?;
    let state: String = r.try_get("state")?;
    Ok(WatchedFolder {
        id: r.try_get("id")?,
        kb_id: r.try_get("kb_id")?,
        path: r.try_get("path")?,
        canonical_path: r.try_get("canonical_path")?,
        include: serde_json::from_str(&include).unwrap_or_default(),
        exclude: serde_json::from_str(&exclude).unwrap_or_default(),
        state: state.parse()?,
        last_sync_at: r.try_get("last_sync_at")?,
        last_error: r.try_get("last_error")?,
        pending: r.try_get("pending")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Runtime status of a folder, as the watcher records it.
#[derive(Debug, Clone)]
pub(crate) struct FolderStatusUpdate {
    pub state: WatchState,
    pub last_error: Option<String>,
    pub pending: i64,
    /// Set when changes were just applied or a full scan finished.
    pub last_sync_at: Option<i64>,
}

impl Catalogue {
    /// Records a new watched folder.
    pub(crate) async fn insert_watch(
        &self,
        kb_id: i64,
        path: &str,
        canonical: &str,
        include: &[String],
        exclude: &[String],
    ) -> Result<WatchedFolder, CoreError> {
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let inserted = sqlx::query(
            "INSERT INTO watched_folders (kb_id, path, canonical_path, include_globs, exclude_globs, \
             state, created_at) VALUES (?, ?, ?, ?, ?, 'active', ?)",
        )
        .bind(kb_id)
        .bind(path)
        .bind(canonical)
        .bind(json(include))
        .bind(json(exclude))
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(r) => self.watch(r.last_insert_rowid()).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(
                CoreError::AlreadyExists(format!("watched folder {path:?} in this knowledge base")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// One watched folder.
    pub(crate) async fn watch(&self, id: i64) -> Result<WatchedFolder, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM watched_folders WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("watched folder #{id}")))?;
        folder(&row)
    }

    /// Watched folders, of one knowledge base or all, by knowledge base and path.
    pub(crate) async fn watches(
        &self,
        kb_id: Option<i64>,
    ) -> Result<Vec<WatchedFolder>, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM watched_folders WHERE ?1 IS NULL OR kb_id = ?1 \
             ORDER BY kb_id, path"
        ))
        .bind(kb_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(folder).collect()
    }

    /// Forgets a watched folder (its documents are the caller's business).
    pub(crate) async fn delete_watch(&self, id: i64) -> Result<(), CoreError> {
        let done = sqlx::query("DELETE FROM watched_folders WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CoreError::NotFound(format!("watched folder #{id}")));
        }
        Ok(())
    }

    /// Pauses a folder (the user's choice) or makes it active again.
    pub(crate) async fn set_watch_paused(&self, id: i64, paused: bool) -> Result<(), CoreError> {
        let state = if paused { "paused" } else { "active" };
        let done = sqlx::query(
            "UPDATE watched_folders SET state = ?, last_error = NULL, pending = 0 WHERE id = ?",
        )
        .bind(state)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(CoreError::NotFound(format!("watched folder #{id}")));
        }
        Ok(())
    }

    /// Forgets finished import jobs last updated before `before_ms`. A folder watcher imports
    /// all day long, and nothing reads the history of finished jobs (documents carry their own
    /// state and errors; only unfinished jobs are resumed), so it is not kept forever.
    pub(crate) async fn prune_finished_jobs(&self, before_ms: i64) -> Result<u64, CoreError> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('done', 'skipped', 'failed') AND updated_at < ?",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Records what the watcher knows of a folder. A folder the user paused meanwhile stays
    /// paused: the watcher never overrides that choice.
    pub(crate) async fn set_watch_status(
        &self,
        id: i64,
        update: &FolderStatusUpdate,
    ) -> Result<(), CoreError> {
        sqlx::query(
            "UPDATE watched_folders SET state = ?, last_error = ?, pending = ?, \
             last_sync_at = COALESCE(?, last_sync_at) WHERE id = ? AND state != 'paused'",
        )
        .bind(update.state.as_str())
        .bind(&update.last_error)
        .bind(update.pending.max(0))
        .bind(update.last_sync_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
