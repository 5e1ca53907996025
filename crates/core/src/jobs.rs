//! Import jobs: one row per file of an import, its step persisted as the file moves through the
//! pipeline (queued → extracting → chunking → indexing → embedding → done, or failed/skipped).
//!
//! Steps before the document is stored are recorded by a [`StepLog`]: workers hand it step
//! changes without waiting, and one task writes them in batches (at most [`STEP_FLUSH`] late,
//! one transaction per flush) so the per-file cost stays a channel send. Storing a document
//! sets its job to `embedding` or `done` in the document's own transaction; the embedder moves
//! `embedding` jobs to `done` in the transaction that stores their document's last vector. A
//! step never moves backwards: a late flush cannot undo a later state.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::catalogue::{now_ms, Catalogue, ROWS_PER_STATEMENT};
use crate::error::CoreError;

/// How late a recorded step may reach the catalogue.
const STEP_FLUSH: Duration = Duration::from_millis(100);

/// Where a file of an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Being read, hashed and extracted.
    Extracting,
    /// Extracted; being cut into passages and segmented for the keyword index.
    Chunking,
    /// Prepared; waiting for (or inside) the catalogue write that stores it.
    Indexing,
    /// Stored and keyword-searchable; its vectors are still being made.
    Embedding,
    /// Finished.
    Done,
    /// Could not be imported (the job carries the reason).
    Failed,
    /// Unchanged since it was last imported, or not a supported file.
    Skipped,
}

impl JobState {
    /// Every state, in pipeline order.
    pub const ALL: [Self; 8] = [
        Self::Queued,
        Self::Extracting,
        Self::Chunking,
        Self::Indexing,
        Self::Embedding,
        Self::Done,
        Self::Failed,
        Self::Skipped,
    ];

    /// Its name in the catalogue (and in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Extracting => "extracting",
            Self::Chunking => "chunking",
            Self::Indexing => "indexing",
            Self::Embedding => "embedding",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Result<Self, CoreError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| CoreError::InvalidInput(format!("unknown job state {s:?}")))
    }

    /// Steps an interrupted import redoes: the file never reached the catalogue whole.
    pub(crate) const UNFINISHED: [Self; 4] = [
        Self::Queued,
        Self::Extracting,
        Self::Chunking,
        Self::Indexing,
    ];

    /// The SQL list of [`Self::UNFINISHED`], for `state IN (...)`.
    pub(crate) const UNFINISHED_SQL: &'static str =
        "('queued', 'extracting', 'chunking', 'indexing')";
}

/// The import jobs of a knowledge base: how many stand at each step, and the files not finished.
#[derive(Debug, Clone, Default, Serialize, specta::Type)]
pub struct ImportJobs {
    /// Jobs per state (states with none are left out), in pipeline order.
    pub counts: BTreeMap<JobState, u32>,
    /// Files still on their way (queued to embedding), oldest first; at most `limit` of them.
    pub unfinished: Vec<JobRow>,
}

/// One file's job.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct JobRow {
    /// The file as the import named it.
    pub path: String,
    /// Its step.
    pub state: JobState,
    /// When it last moved, Unix milliseconds.
    #[specta(type = f64)]
    pub updated_at: i64,
}

/// Records steps of an import's jobs without making the workers wait for the catalogue.
#[derive(Clone)]
pub(crate) struct StepLog {
    tx: mpsc::UnboundedSender<(i64, JobState)>,
}

impl StepLog {
    /// Starts the writer task; [`StepWriter::finish`] ends it after a last flush.
    pub(crate) fn start(catalogue: Catalogue) -> (Self, StepWriter) {
        let (tx, rx) = mpsc::unbounded_channel();
        let finish = CancellationToken::new();
        let task = tokio::spawn(write_steps(catalogue, rx, finish.clone()));
        (Self { tx }, StepWriter { finish, task })
    }

    /// Job `job` reached `state`.
    pub(crate) fn record(&self, job: i64, state: JobState) {
        // A send fails once the writer has finished: the step came from a reader the import
        // abandoned (a file that timed out, or one still in hand at a cancel), whose job keeps
        // the state the import gave it.
        let _ = self.tx.send((job, state));
    }
}

/// The task writing a [`StepLog`]'s records.
pub(crate) struct StepWriter {
    finish: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl StepWriter {
    /// Writes every step recorded so far and ends the writer. It does not wait for the
    /// [`StepLog`]'s clones to be dropped: a reader stuck on a hostile file holds one for as
    /// long as it stays stuck, and the import must end without it.
    pub(crate) async fn finish(self) {
        self.finish.cancel();
        let _ = self.task.await;
    }
}

async fn write_steps(
    catalogue: Catalogue,
    mut rx: mpsc::UnboundedReceiver<(i64, JobState)>,
    finish: CancellationToken,
) {
    let mut closing = false;
    while !closing {
        let mut batch = Vec::new();
        tokio::select! {
            step = rx.recv() => match step {
                Some(step) => batch.push(step),
                None => closing = true,
            },
            () = finish.cancelled() => closing = true,
        }
        if !closing {
            // Gather what arrives within STEP_FLUSH of the first step.
            let deadline = tokio::time::Instant::now() + STEP_FLUSH;
            loop {
                tokio::select! {
                    step = rx.recv() => match step {
                        Some(step) => batch.push(step),
                        None => { closing = true; break; }
                    },
                    () = tokio::time::sleep_until(deadline) => break,
                    () = finish.cancelled() => { closing = true; break; }
                }
            }
        }
        if closing {
            // Everything recorded before the finish is already in the channel.
            while let Ok(step) = rx.try_recv() {
                batch.push(step);
            }
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(e) = catalogue.advance_jobs(&batch).await {
            // Losing a step record costs nothing stored: the job stays at an earlier
            // unfinished step, which a resume redoes.
            tracing::warn!(error = %e, steps = batch.len(), "cannot record import steps");
        }
    }
}

/// Finishes, inside the transaction that stored vectors for the chunks `stored`, the
/// `embedding` jobs whose document now has a vector of `model` for every chunk.
pub(crate) async fn finish_embedded_jobs(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    kb_id: i64,
    model: &str,
    stored: &[i64],
) -> Result<(), CoreError> {
    if stored.is_empty() {
        return Ok(());
    }
    let mut q =
        sqlx::QueryBuilder::<sqlx::Sqlite>::new("UPDATE jobs SET state = 'done', updated_at = ");
    q.push_bind(crate::catalogue::now_ms())
        .push(" WHERE state = 'embedding' AND kb_id = ")
        .push_bind(kb_id)
        .push(" AND document_id IN (SELECT document_id FROM chunks WHERE id IN (");
    let mut sep = q.separated(", ");
    for id in stored {
        sep.push_bind(*id);
    }
    q.push(
        ")) AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = jobs.document_id \
             AND NOT EXISTS (SELECT 1 FROM chunk_vectors v WHERE v.chunk_id = c.id AND v.model = ",
    )
    .push_bind(model)
    .push("))");
    q.build().execute(&mut **tx).await?;
    Ok(())
}

impl Catalogue {
    /// Moves jobs forward to the recorded steps, in one transaction; a job already further
    /// along (or finished) is left alone.
    pub(crate) async fn advance_jobs(&self, steps: &[(i64, JobState)]) -> Result<(), CoreError> {
        // The furthest step of each job in this batch.
        let mut furthest: BTreeMap<i64, JobState> = BTreeMap::new();
        for &(job, state) in steps {
            let e = furthest.entry(job).or_insert(state);
            *e = (*e).max(state);
        }
        let mut by_state: BTreeMap<JobState, Vec<i64>> = BTreeMap::new();
        for (job, state) in furthest {
            by_state.entry(state).or_default().push(job);
        }
        let now = now_ms();
        let (_turn, mut tx) = self.begin_write().await?;
        for (state, jobs) in by_state {
            let earlier: Vec<&str> = JobState::UNFINISHED
                .into_iter()
                .filter(|s| *s < state)
                .map(JobState::as_str)
                .collect();
            if earlier.is_empty() {
                continue;
            }
            for part in jobs.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new("UPDATE jobs SET state = ");
                q.push_bind(state.as_str())
                    .push(", updated_at = ")
                    .push_bind(now)
                    .push(" WHERE state IN (");
                let mut list = q.separated(", ");
                for s in &earlier {
                    list.push_bind(*s);
                }
                q.push(") AND id IN (");
                let mut list = q.separated(", ");
                for id in part {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Finishes every job of a knowledge base still waiting for vectors.
    pub(crate) async fn finish_embedding_jobs(&self, kb_id: i64) -> Result<(), CoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'done', updated_at = ? WHERE kb_id = ? AND state = 'embedding'",
        )
        .bind(now_ms())
        .bind(kb_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The import jobs of a knowledge base: counts per state and up to `limit` unfinished files.
    pub(crate) async fn import_jobs(
        &self,
        kb_id: i64,
        limit: u32,
    ) -> Result<ImportJobs, CoreError> {
        let mut jobs = ImportJobs::default();
        let counts =
            sqlx::query("SELECT state, COUNT(*) AS n FROM jobs WHERE kb_id = ? GROUP BY state")
                .bind(kb_id)
                .fetch_all(&self.pool)
                .await?;
        for r in counts {
            let state = JobState::parse(r.try_get("state")?)?;
            let n: i64 = r.try_get("n")?;
            jobs.counts
                .insert(state, u32::try_from(n).unwrap_or(u32::MAX));
        }
        let rows = sqlx::query(
            "SELECT path, state, updated_at FROM jobs \
             WHERE kb_id = ? AND state IN ('queued', 'extracting', 'chunking', 'indexing', 'embedding') \
             ORDER BY id LIMIT ?",
        )
        .bind(kb_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            jobs.unfinished.push(JobRow {
                path: r.try_get("path")?,
                state: JobState::parse(r.try_get("state")?)?,
                updated_at: r.try_get("updated_at")?,
            });
        }
        Ok(jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn state_of(c: &Catalogue, job: i64) -> String {
        sqlx::query_scalar("SELECT state FROM jobs WHERE id = ?")
            .bind(job)
            .fetch_one(&c.pool)
            .await
            .expect("job state")
    }

    #[tokio::test]
    async fn steps_only_move_forward() {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = Catalogue::open(&dir.path().join("catalogue.db"))
            .await
            .expect("catalogue");
        let kb = c
            .create_kb("步骤", crate::ChunkSpec::default())
            .await
            .expect("kb");
        let jobs = c
            .queue_jobs(kb.id, &["/a.txt".into(), "/b.txt".into()])
            .await
            .expect("jobs");
        // Within one batch, a job's furthest step wins whatever the order.
        c.advance_jobs(&[
            (jobs[0], JobState::Chunking),
            (jobs[0], JobState::Extracting),
            (jobs[1], JobState::Extracting),
        ])
        .await
        .expect("advance");
        assert_eq!(state_of(&c, jobs[0]).await, "chunking");
        assert_eq!(state_of(&c, jobs[1]).await, "extracting");
        // A late record of an earlier step does not undo a later one.
        c.advance_jobs(&[(jobs[0], JobState::Extracting)])
            .await
            .expect("advance");
        assert_eq!(state_of(&c, jobs[0]).await, "chunking");
        // Nor does any step undo a finished job.
        sqlx::query("UPDATE jobs SET state = 'done' WHERE id = ?")
            .bind(jobs[1])
            .execute(&c.pool)
            .await
            .expect("finish");
        c.advance_jobs(&[(jobs[1], JobState::Indexing)])
            .await
            .expect("advance");
        assert_eq!(state_of(&c, jobs[1]).await, "done");
        let listed = c.import_jobs(kb.id, 10).await.expect("listed");
        assert_eq!(listed.counts.get(&JobState::Chunking), Some(&1));
        assert_eq!(listed.counts.get(&JobState::Done), Some(&1));
        assert_eq!(listed.unfinished.len(), 1);
        assert_eq!(listed.unfinished[0].path, "/a.txt");
    }
}
