//! Vectors: the embedding backlog (chunks without a vector for their knowledge base's model),
//! drained in batches into Chroma; deletes carried to Chroma from tombstones; vector search,
//! rerank and the Xinference chat model used by questions.
//!
//! The catalogue is the source of truth: `chunk_vectors` says which chunks have a vector, so a
//! crash, a backend outage or a cancel leaves a backlog that the next drain finishes, and a chunk
//! is never counted as embedded before Chroma has stored it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Map};
use sqlx::Row;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::backends::{
    collection_name, ChatEvent as XChatEvent, ChatMessage as XChatMessage, ChatRequest, ChatRole,
    ChromaClient, Collection, CollectionMetadata, VectorRecord, XinferenceClient,
};
use crate::catalogue::{Hit, SearchFilter};
use crate::chat::prompt::PromptMessage;
use crate::chat::retrieve::Candidate;
use crate::chat::{ChatModel, ChatModelInfo};
use crate::error::CoreError;
use crate::Library;

/// Chunks embedded per round trip (Xinference batches and parallelises inside it).
const DRAIN_BATCH: i64 = 256;

/// What vector indexing is doing, for the status bar and `doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum VectorState {
    /// No embedding model or vector store configured: keyword search only.
    #[default]
    Off,
    /// Every chunk has its vector.
    Ready,
    /// Embedding the backlog.
    Embedding,
    /// A backend is down or refusing; the backlog waits and drains when it returns.
    Unavailable,
}

/// Vector indexing status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, specta::Type)]
pub struct VectorStatus {
    /// What it is doing.
    pub state: VectorState,
    /// Chunks still without a vector, over all knowledge bases.
    #[specta(type = f64)]
    pub backlog: i64,
    /// The last backend error, while unavailable.
    pub last_error: Option<String>,
}

/// What one drain did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainReport {
    /// Chunks embedded and stored.
    pub embedded: u64,
    /// Vectors of deleted chunks removed from Chroma.
    pub deleted: u64,
    /// Chunks still waiting (the drain was cancelled or a backend failed).
    pub backlog: i64,
    /// Vector sets of a knowledge base's former embedding models dropped once the new model's
    /// set was complete.
    pub retired: u64,
}

/// The backends the library uses for vectors and answers, built from the configuration.
#[derive(Clone, Default)]
pub(crate) struct Backends {
    /// The configuration the clients were built from.
    pub config: Option<crate::Config>,
    pub xinference: Option<XinferenceClient>,
    pub chroma: Option<ChromaClient>,
    pub embed_model: Option<String>,
    pub rerank_model: Option<String>,
    /// Collections by (kb, model), once ensured.
    collections: Arc<Mutex<HashMap<(i64, String), Collection>>>,
}

impl Backends {
    pub fn from_config(config: &crate::Config) -> Result<Self, CoreError> {
        Ok(Self {
            config: Some(config.clone()),
            xinference: config.xinference_client()?,
            chroma: config.chroma_client()?,
            embed_model: config.backends.embed_model.clone(),
            rerank_model: config.backends.rerank_model.clone(),
            collections: Arc::default(),
        })
    }

    /// The chat model the configuration names, served by its Xinference.
    pub fn chat_model(&self, config: &crate::Config) -> Option<Arc<dyn ChatModel>> {
        match (&self.xinference, &config.backends.chat_model) {
            (Some(client), Some(uid)) => {
                Some(Arc::new(XinferenceChat::new(client.clone(), uid.clone())))
            }
            _ => None,
        }
    }

    /// Whether vectors can be made and stored.
    pub fn vectors_enabled(&self) -> bool {
        self.xinference.is_some() && self.chroma.is_some() && self.embed_model.is_some()
    }
}

/// A chat model served by Xinference, named by its uid.
pub(crate) struct XinferenceChat {
    client: XinferenceClient,
    uid: String,
    info: tokio::sync::OnceCell<ChatModelInfo>,
}

impl XinferenceChat {
    pub fn new(client: XinferenceClient, uid: String) -> Self {
        Self {
            client,
            uid,
            info: tokio::sync::OnceCell::new(),
        }
    }
}

impl ChatModel for XinferenceChat {
    fn info(&self) -> BoxFuture<'_, ChatModelInfo> {
        Box::pin(async move {
            self.info
                .get_or_init(|| async {
                    // The registered name tells the tokenizer family; the uid may not.
                    match self.client.running_model(&self.uid).await {
                        Ok(Some(m)) => ChatModelInfo {
                            name: m.model_name,
                            context_tokens: m.context_length.map(|c| c as usize),
                        },
                        _ => ChatModelInfo {
                            name: self.uid.clone(),
                            context_tokens: None,
                        },
                    }
                })
                .await
                .clone()
        })
    }

    fn stream(
        &self,
        messages: Vec<PromptMessage>,
        max_tokens: u32,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<String, CoreError>>, CoreError>> {
        Box::pin(async move {
            let request = ChatRequest {
                model: self.uid.clone(),
                messages: messages
                    .into_iter()
                    .map(|m| XChatMessage {
                        role: match m.role.as_str() {
                            "system" => ChatRole::System,
                            "assistant" => ChatRole::Assistant,
                            _ => ChatRole::User,
                        },
                        content: m.content,
                    })
                    .collect(),
                temperature: Some(0.2),
                max_tokens: Some(max_tokens),
            };
            let stream = self.client.chat_stream(&request, cancel).await?;
            let tokens = stream.filter_map(|event| async move {
                match event {
                    Ok(XChatEvent::Token(t)) => Some(Ok(t)),
                    Ok(XChatEvent::Done { .. }) => None,
                    Err(e) => Some(Err(CoreError::from(e))),
                }
            });
            Ok(Box::pin(tokens) as BoxStream<'static, Result<String, CoreError>>)
        })
    }
}

/// The text a chunk is embedded as: its headings, then its text.
fn embedding_text(text: &str, heading_path: &str) -> String {
    let headings: Vec<String> = serde_json::from_str(heading_path).unwrap_or_default();
    if headings.is_empty() {
        text.to_owned()
    } else {
        format!("{}\n{text}", headings.join(" › "))
    }
}

impl Library {
    /// The embedding model of a knowledge base: its own, else the configured default.
    pub(crate) async fn embedding_model_of(&self, kb_id: i64) -> Result<Option<String>, CoreError> {
        let own: Option<String> =
            sqlx::query_scalar("SELECT embedding_model FROM knowledge_bases WHERE id = ?")
                .bind(kb_id)
                .fetch_optional(&self.catalogue.pool)
                .await?
                .flatten();
        Ok(own.or_else(|| self.backends().embed_model.clone()))
    }

    /// Sets a knowledge base's embedding model (`None`: the configured default). Its chunks are
    /// embedded with the new model in the background; until that set is complete, questions keep
    /// using the last complete set.
    pub async fn set_embedding_model(
        &self,
        kb_id: i64,
        model: Option<&str>,
    ) -> Result<(), CoreError> {
        self.catalogue.kb(kb_id).await?;
        sqlx::query("UPDATE knowledge_bases SET embedding_model = ? WHERE id = ?")
            .bind(model.map(str::trim).filter(|m| !m.is_empty()))
            .bind(kb_id)
            .execute(&self.catalogue.pool)
            .await?;
        self.embedder_wake.notify_one();
        Ok(())
    }

    /// The model whose vectors answer questions in a knowledge base: the target model once its
    /// set has been complete, else the most recently completed older set, else the target.
    async fn serving_model(&self, kb_id: i64) -> Result<Option<String>, CoreError> {
        let Some(target) = self.embedding_model_of(kb_id).await? else {
            return Ok(None);
        };
        let sets: Vec<(String, i64)> = sqlx::query_as(
            "SELECT model, complete FROM vector_sets WHERE kb_id = ? ORDER BY completed_at DESC",
        )
        .bind(kb_id)
        .fetch_all(&self.catalogue.pool)
        .await?;
        if sets.iter().any(|(m, c)| *m == target && *c == 1) {
            return Ok(Some(target));
        }
        Ok(Some(
            sets.into_iter()
                .find(|(_, c)| *c == 1)
                .map_or(target, |(m, _)| m),
        ))
    }

    async fn collection_for(
        &self,
        chroma: &ChromaClient,
        kb_id: i64,
        model: &str,
        dimension: u32,
    ) -> Result<Collection, CoreError> {
        let key = (kb_id, model.to_owned());
        if let Some(c) = self
            .backends()
            .collections
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(c);
        }
        let collection = chroma
            .ensure_collection(
                &collection_name(&self.library_id, kb_id, model),
                &CollectionMetadata {
                    embedding_model: model.to_owned(),
                    dimension,
                    kb_id,
                },
            )
            .await?;
        if let Ok(mut m) = self.backends().collections.lock() {
            m.insert(key, collection.clone());
        }
        Ok(collection)
    }

    /// Chunks without a vector for their knowledge base's model, over all knowledge bases.
    pub async fn vector_backlog(&self) -> Result<i64, CoreError> {
        let mut total = 0;
        for kb in self.catalogue.list_kbs().await? {
            if let Some(model) = self.embedding_model_of(kb.id).await? {
                total += self.pending_count(kb.id, &model).await?;
            }
        }
        Ok(total)
    }

    async fn pending_count(&self, kb_id: i64, model: &str) -> Result<i64, CoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE d.kb_id = ? AND NOT EXISTS \
               (SELECT 1 FROM chunk_vectors v WHERE v.chunk_id = c.id AND v.model = ?)",
        )
        .bind(kb_id)
        .bind(model)
        .fetch_one(&self.catalogue.pool)
        .await?)
    }

    /// Embeds every chunk still without a vector (all knowledge bases, or one) and removes the
    /// vectors of deleted chunks from Chroma. Stops between batches when `cancel` fires; a
    /// backend failure stops it with the error, leaving the rest of the backlog for next time.
    #[instrument(skip(self, progress, cancel), err)]
    pub async fn drain_vectors(
        &self,
        kb: Option<i64>,
        progress: &(dyn Fn(u64, i64) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<DrainReport, CoreError> {
        let mut report = DrainReport::default();
        let (Some(xinference), Some(chroma)) = (
            self.backends().xinference.clone(),
            self.backends().chroma.clone(),
        ) else {
            return Ok(report);
        };
        report.deleted = self.apply_tombstones(&chroma, kb).await?;
        let kbs: Vec<i64> = match kb {
            Some(id) => vec![self.catalogue.kb(id).await?.id],
            None => self
                .catalogue
                .list_kbs()
                .await?
                .iter()
                .map(|k| k.id)
                .collect(),
        };
        for kb_id in kbs {
            let Some(model) = self.embedding_model_of(kb_id).await? else {
                // No embedding model any more: no job waits for vectors.
                self.catalogue.finish_embedding_jobs(kb_id).await?;
                continue;
            };
            loop {
                if cancel.is_cancelled() {
                    report.backlog = self.vector_backlog().await?;
                    return Ok(report);
                }
                let rows = sqlx::query(
                    "SELECT c.id, c.text, c.heading_path, c.page, d.id AS document_id, d.format \
                     FROM chunks c JOIN documents d ON d.id = c.document_id \
                     WHERE d.kb_id = ? AND NOT EXISTS \
                       (SELECT 1 FROM chunk_vectors v WHERE v.chunk_id = c.id AND v.model = ?) \
                     ORDER BY c.id LIMIT ?",
                )
                .bind(kb_id)
                .bind(&model)
                .bind(DRAIN_BATCH)
                .fetch_all(&self.catalogue.pool)
                .await?;
                if rows.is_empty() {
                    self.mark_complete(kb_id, &model).await?;
                    report.retired += self.retire_old_sets(&chroma, kb_id, &model).await?;
                    break;
                }
                let mut ids = Vec::with_capacity(rows.len());
                let mut texts = Vec::with_capacity(rows.len());
                let mut metas = Vec::with_capacity(rows.len());
                for r in &rows {
                    let id: i64 = r.try_get("id")?;
                    let text: String = r.try_get("text")?;
                    let headings: String = r.try_get("heading_path")?;
                    let mut meta = Map::new();
                    meta.insert("doc_id".into(), json!(r.try_get::<i64, _>("document_id")?));
                    if let Some(page) = r.try_get::<Option<i64>, _>("page")? {
                        meta.insert("page".into(), json!(page));
                    }
                    if let Some(format) = r.try_get::<Option<String>, _>("format")? {
                        meta.insert("format".into(), json!(format));
                    }
                    ids.push(id);
                    texts.push(embedding_text(&text, &headings));
                    metas.push(meta);
                }
                let vectors = xinference.embed(&model, &texts).await?;
                let dimension = vectors
                    .first()
                    .map_or(0, |v| u32::try_from(v.len()).unwrap_or(u32::MAX));
                let collection = self
                    .collection_for(&chroma, kb_id, &model, dimension)
                    .await?;
                let records: Vec<VectorRecord> = ids
                    .iter()
                    .zip(vectors)
                    .zip(metas)
                    .map(|((id, embedding), metadata)| VectorRecord {
                        id: id.to_string(),
                        embedding,
                        document: None,
                        metadata,
                    })
                    .collect();
                chroma.upsert(&collection, &records).await?;
                let stored = self.record_vectors(kb_id, &model, dimension, &ids).await?;
                if stored.len() < ids.len() {
                    // Chunks deleted while they were being embedded: their vectors must go too.
                    let gone: Vec<String> = ids
                        .iter()
                        .filter(|id| !stored.contains(id))
                        .map(ToString::to_string)
                        .collect();
                    chroma.delete(&collection, &gone).await?;
                }
                report.embedded += stored.len() as u64;
                progress(report.embedded, self.pending_count(kb_id, &model).await?);
            }
        }
        report.backlog = self.vector_backlog().await?;
        Ok(report)
    }

    /// Records vectors as stored, for the chunks that still exist; returns those chunk ids.
    async fn record_vectors(
        &self,
        kb_id: i64,
        model: &str,
        dimension: u32,
        ids: &[i64],
    ) -> Result<Vec<i64>, CoreError> {
        let (_turn, mut tx) = self.catalogue.begin_write().await?;
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT OR IGNORE INTO chunk_vectors (chunk_id, kb_id, model) SELECT id, ",
        );
        q.push_bind(kb_id)
            .push(", ")
            .push_bind(model)
            .push(" FROM chunks WHERE id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        q.push(") RETURNING chunk_id");
        let stored: Vec<i64> = q
            .build()
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()?;
        // An upsert replaced whatever an older tombstone for these ids pointed at.
        let mut q =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("DELETE FROM vector_tombstones WHERE model = ");
        q.push_bind(model).push(" AND chunk_id IN (");
        let mut sep = q.separated(", ");
        for id in &stored {
            sep.push_bind(*id);
        }
        q.push(")");
        if !stored.is_empty() {
            q.build().execute(&mut *tx).await?;
        }
        // Import jobs whose document now has every vector are finished.
        crate::jobs::finish_embedded_jobs(&mut tx, kb_id, model, &stored).await?;
        sqlx::query(
            "INSERT INTO vector_sets (kb_id, model, dimension) VALUES (?, ?, ?) \
             ON CONFLICT (kb_id, model) DO UPDATE SET dimension = excluded.dimension",
        )
        .bind(kb_id)
        .bind(model)
        .bind(dimension)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn mark_complete(&self, kb_id: i64, model: &str) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO vector_sets (kb_id, model, complete, completed_at) VALUES (?, ?, 1, ?) \
             ON CONFLICT (kb_id, model) DO UPDATE SET complete = 1, \
               completed_at = COALESCE(vector_sets.completed_at, excluded.completed_at)",
        )
        .bind(kb_id)
        .bind(model)
        .bind(crate::catalogue::now_ms())
        .execute(&self.catalogue.pool)
        .await?;
        // Nothing left to embed: jobs still waiting belong to documents deleted or re-imported
        // meanwhile (their own jobs were finished with their last vector).
        self.catalogue.finish_embedding_jobs(kb_id).await
    }

    /// Drops a knowledge base's vector sets of models other than `current` once `current`'s
    /// set is complete (it serves questions from now on): their Chroma collections, then their
    /// rows. Returns how many sets went. A Chroma failure leaves the rows, so the next drain
    /// tries again.
    async fn retire_old_sets(
        &self,
        chroma: &ChromaClient,
        kb_id: i64,
        current: &str,
    ) -> Result<u64, CoreError> {
        let old: Vec<String> =
            sqlx::query_scalar("SELECT model FROM vector_sets WHERE kb_id = ? AND model <> ?")
                .bind(kb_id)
                .bind(current)
                .fetch_all(&self.catalogue.pool)
                .await?;
        for model in &old {
            chroma
                .delete_collection(&collection_name(&self.library_id, kb_id, model))
                .await?;
            if let Ok(mut cache) = self.backends().collections.lock() {
                cache.remove(&(kb_id, model.clone()));
            }
            let (_turn, mut tx) = self.catalogue.begin_write().await?;
            for table in ["chunk_vectors", "vector_tombstones", "vector_sets"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE kb_id = ? AND model = ?"
                ))
                .bind(kb_id)
                .bind(model)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            tracing::info!(
                kb_id,
                model,
                superseded_by = current,
                "old vector set retired"
            );
        }
        Ok(old.len() as u64)
    }

    /// Removes the vectors of deleted chunks from Chroma; a tombstone goes only once Chroma has
    /// confirmed the delete.
    async fn apply_tombstones(
        &self,
        chroma: &ChromaClient,
        kb: Option<i64>,
    ) -> Result<u64, CoreError> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT chunk_id, kb_id, model FROM vector_tombstones WHERE ? IS NULL OR kb_id = ? \
             ORDER BY kb_id, model LIMIT 100000",
        )
        .bind(kb)
        .bind(kb)
        .fetch_all(&self.catalogue.pool)
        .await?;
        let mut groups: HashMap<(i64, String), Vec<i64>> = HashMap::new();
        for (chunk, kb_id, model) in rows {
            groups.entry((kb_id, model)).or_default().push(chunk);
        }
        let mut deleted = 0;
        for ((kb_id, model), chunks) in groups {
            if let Some(collection) = chroma
                .collection(&collection_name(&self.library_id, kb_id, &model))
                .await?
            {
                let ids: Vec<String> = chunks.iter().map(ToString::to_string).collect();
                chroma.delete(&collection, &ids).await?;
            }
            for part in chunks.chunks(500) {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "DELETE FROM vector_tombstones WHERE model = ",
                );
                q.push_bind(&model).push(" AND chunk_id IN (");
                let mut sep = q.separated(", ");
                for id in part {
                    sep.push_bind(*id);
                }
                q.push(")");
                q.build().execute(&self.catalogue.pool).await?;
            }
            deleted += chunks.len() as u64;
        }
        Ok(deleted)
    }

    /// Vector search: the query embedded with the knowledge base's serving model, the nearest
    /// chunks from Chroma (scores are cosine similarity). `None` when vectors are not configured.
    pub(crate) async fn vector_search(
        &self,
        kb_id: i64,
        query: &str,
        k: u32,
        filter: &SearchFilter,
    ) -> Result<Option<VectorHits>, CoreError> {
        let (Some(xinference), Some(chroma)) = (
            self.backends().xinference.clone(),
            self.backends().chroma.clone(),
        ) else {
            return Ok(None);
        };
        let Some(model) = self.serving_model(kb_id).await? else {
            return Ok(None);
        };
        let Some(collection) = chroma
            .collection(&collection_name(&self.library_id, kb_id, &model))
            .await?
        else {
            // Nothing embedded yet in this knowledge base.
            return Ok(Some(VectorHits {
                model,
                hits: Vec::new(),
            }));
        };
        let vectors = xinference.embed(&model, &[query.to_owned()]).await?;
        let Some(vector) = vectors.first() else {
            return Ok(Some(VectorHits {
                model,
                hits: Vec::new(),
            }));
        };
        // Filters apply to catalogue rows: ask Chroma for more when some will be filtered out.
        let n = if *filter == SearchFilter::default() {
            k
        } else {
            k * 4
        };
        let found = chroma.query(&collection, vector, n as usize, None).await?;
        let ids: Vec<i64> = found.iter().filter_map(|h| h.id.parse().ok()).collect();
        let similarity: HashMap<i64, f64> = found
            .iter()
            .filter_map(|h| Some((h.id.parse().ok()?, 1.0 - f64::from(h.distance))))
            .collect();
        let mut hits = self
            .catalogue
            .hits_by_chunk_ids(kb_id, &ids, filter)
            .await?;
        for h in &mut hits {
            h.score = similarity.get(&h.chunk_id).copied().unwrap_or(0.0);
        }
        hits.truncate(k as usize);
        Ok(Some(VectorHits { model, hits }))
    }

    /// The measured reliability of `model`'s vectors in a knowledge base (see
    /// [`Reliability`]).
    pub(crate) async fn vector_reliability(
        &self,
        kb_id: i64,
        model: &str,
    ) -> Result<Reliability, CoreError> {
        self.read_reliability(
            "SELECT agreement_checks, agreements FROM vector_sets WHERE kb_id = ? AND model = ?",
            kb_id,
            model,
        )
        .await
    }

    /// Counts one check of `model` against keyword search: whether its first document was
    /// keyword search's first document on a question keyword search was sure of.
    pub(crate) async fn record_vector_agreement(
        &self,
        kb_id: i64,
        model: &str,
        agreed: bool,
    ) -> Result<(), CoreError> {
        sqlx::query(
            "UPDATE vector_sets SET agreement_checks = agreement_checks + 1, \
               agreements = agreements + ? WHERE kb_id = ? AND model = ?",
        )
        .bind(i64::from(agreed))
        .bind(kb_id)
        .bind(model)
        .execute(&self.catalogue.pool)
        .await?;
        Ok(())
    }

    /// Reorders candidates by the rerank model's scores, when one is configured.
    pub(crate) async fn rerank_candidates(
        &self,
        query: &str,
        candidates: Vec<Candidate>,
    ) -> Result<Option<(String, Vec<Candidate>)>, CoreError> {
        let (Some(xinference), Some(model)) = (
            self.backends().xinference.clone(),
            self.backends().rerank_model.clone(),
        ) else {
            return Ok(None);
        };
        if candidates.is_empty() {
            return Ok(Some((model, candidates)));
        }
        let texts: Vec<String> = candidates.iter().map(|c| c.hit.text.clone()).collect();
        let scores = xinference.rerank(&model, query, &texts, None).await?;
        let mut slots: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(slots.len());
        for s in scores {
            if let Some(mut c) = slots.get_mut(s.index).and_then(Option::take) {
                c.rerank_score = Some(s.score);
                c.score = s.score;
                out.push(c);
            }
        }
        // Candidates the model did not score keep their fused order after the scored ones.
        out.extend(slots.into_iter().flatten());
        Ok(Some((model, out)))
    }

    /// The rerank model's measured reliability in a knowledge base (see [`Reliability`]).
    pub(crate) async fn rerank_reliability(
        &self,
        kb_id: i64,
        model: &str,
    ) -> Result<Reliability, CoreError> {
        self.read_reliability(
            "SELECT checks, agreements FROM rerank_agreement WHERE kb_id = ? AND model = ?",
            kb_id,
            model,
        )
        .await
    }

    /// A [`Reliability`] from `select` (checks, agreements of one knowledge base and model);
    /// no row yet: nothing measured.
    async fn read_reliability(
        &self,
        select: &str,
        kb_id: i64,
        model: &str,
    ) -> Result<Reliability, CoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(select)
            .bind(kb_id)
            .bind(model)
            .fetch_optional(&self.catalogue.pool)
            .await?;
        let (checks, agreements) = row.unwrap_or((0, 0));
        Ok(Reliability { checks, agreements })
    }

    /// Counts a question as a check of the rerank model: `agreed` says whether its first
    /// document was keyword search's sure first document.
    pub(crate) async fn record_rerank_check(
        &self,
        kb_id: i64,
        model: &str,
        agreed: bool,
    ) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO rerank_agreement (kb_id, model, checks, agreements) VALUES (?, ?, 1, ?) \
             ON CONFLICT (kb_id, model) DO UPDATE SET checks = checks + 1, \
               agreements = agreements + excluded.agreements",
        )
        .bind(kb_id)
        .bind(model)
        .bind(i64::from(agreed))
        .execute(&self.catalogue.pool)
        .await?;
        Ok(())
    }

    /// Whether vectors are configured (an embedding model, Xinference and Chroma).
    pub fn vectors_enabled(&self) -> bool {
        self.backends().vectors_enabled()
    }

    /// Current vector indexing status.
    pub fn vector_status(&self) -> VectorStatus {
        self.vector_status.borrow().clone()
    }

    /// Follows vector status changes.
    pub fn watch_vector_status(&self) -> tokio::sync::watch::Receiver<VectorStatus> {
        self.vector_status.subscribe()
    }

    fn set_status(&self, state: VectorState, backlog: i64, last_error: Option<String>) {
        self.vector_status.send_if_modified(|s| {
            let next = VectorStatus {
                state,
                backlog,
                last_error,
            };
            let changed = *s != next;
            *s = next;
            changed
        });
    }

    /// Asks the background embedder to look at the backlog now (after an import, say).
    pub fn wake_embedder(&self) {
        self.embedder_wake.notify_one();
    }

    /// Runs until `cancel` fires: drains the embedding backlog whenever woken (imports wake it)
    /// or every 30 s, backing off while a backend is unavailable, and keeps the status current.
    pub async fn run_embedder(&self, cancel: CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        loop {
            if !self.backends().vectors_enabled() {
                // Off until the settings turn vectors on (apply_settings wakes this loop).
                self.set_status(VectorState::Off, 0, None);
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = self.embedder_wake.notified() => continue,
                }
            }
            let backlog = self.vector_backlog().await.unwrap_or(0);
            if backlog > 0 {
                self.set_status(VectorState::Embedding, backlog, None);
            }
            let progress = |_done: u64, _left: i64| {};
            let outcome = self.drain_vectors(None, &progress, &cancel).await;
            let wait = match outcome {
                Ok(report) => {
                    backoff = Duration::from_secs(1);
                    let state = if report.backlog == 0 {
                        VectorState::Ready
                    } else {
                        VectorState::Embedding
                    };
                    self.set_status(state, report.backlog, None);
                    Duration::from_secs(30)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "embedding paused; the backlog waits for the backends");
                    let backlog = self.vector_backlog().await.unwrap_or(0);
                    self.set_status(VectorState::Unavailable, backlog, Some(e.to_string()));
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    wait
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.embedder_wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Compares the catalogue's record of vectors with what Chroma holds for each knowledge base
    /// and repairs both sides: vectors Chroma lacks are queued again, vectors of chunks that no
    /// longer exist are deleted. Returns (requeued, removed).
    pub async fn check_vectors(&self) -> Result<(u64, u64), CoreError> {
        let Some(chroma) = self.backends().chroma.clone() else {
            return Ok((0, 0));
        };
        let (mut requeued, mut removed) = (0u64, 0u64);
        let sets: Vec<(i64, String)> = sqlx::query_as("SELECT kb_id, model FROM vector_sets")
            .fetch_all(&self.catalogue.pool)
            .await?;
        for (kb_id, model) in sets {
            let recorded: Vec<i64> = sqlx::query_scalar(
                "SELECT chunk_id FROM chunk_vectors WHERE kb_id = ? AND model = ?",
            )
            .bind(kb_id)
            .bind(&model)
            .fetch_all(&self.catalogue.pool)
            .await?;
            let recorded: std::collections::HashSet<i64> = recorded.into_iter().collect();
            let Some(collection) = chroma
                .collection(&collection_name(&self.library_id, kb_id, &model))
                .await?
            else {
                requeued += recorded.len() as u64;
                sqlx::query("DELETE FROM chunk_vectors WHERE kb_id = ? AND model = ?")
                    .bind(kb_id)
                    .bind(&model)
                    .execute(&self.catalogue.pool)
                    .await?;
                continue;
            };
            let mut in_chroma = std::collections::HashSet::new();
            let page = 5000;
            loop {
                let ids = chroma
                    .get_ids(&collection, None, page, in_chroma.len())
                    .await?;
                let n = ids.len();
                in_chroma.extend(ids.into_iter().filter_map(|id| id.parse::<i64>().ok()));
                if n < page {
                    break;
                }
            }
            let stray: Vec<String> = in_chroma
                .iter()
                .filter(|id| !recorded.contains(id))
                .map(ToString::to_string)
                .collect();
            chroma.delete(&collection, &stray).await?;
            removed += stray.len() as u64;
            let missing: Vec<i64> = recorded
                .iter()
                .filter(|id| !in_chroma.contains(id))
                .copied()
                .collect();
            for part in missing.chunks(500) {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "DELETE FROM chunk_vectors WHERE model = ",
                );
                q.push_bind(&model).push(" AND chunk_id IN (");
                let mut sep = q.separated(", ");
                for id in part {
                    sep.push_bind(*id);
                }
                q.push(")");
                q.build().execute(&self.catalogue.pool).await?;
            }
            requeued += missing.len() as u64;
        }
        if requeued > 0 || removed > 0 {
            tracing::warn!(
                requeued,
                removed,
                "repaired differences between the catalogue and Chroma"
            );
            self.wake_embedder();
        }
        Ok((requeued, removed))
    }
}

/// The nearest chunks to a query and the embedding model that found them.
#[derive(Debug)]
pub(crate) struct VectorHits {
    pub model: String,
    pub hits: Vec<Hit>,
}

/// How far an embedding model's ranking can be trusted in one knowledge base, measured against
/// keyword search: on the questions where BM25 was sure of its first document (its confidence
/// at least [`SURE_KEYWORD`]: nearly always right, see docs/BENCHMARKS.md), how often the
/// model's first document was the same one. Keyword scores mean the same in every collection;
/// an embedding model's similarity scale, and whether it knows the documents' language at all,
/// do not (an English model on Chinese text is confident and wrong), so it earns its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reliability {
    pub checks: i64,
    pub agreements: i64,
}

/// Keyword confidence from which a question counts as a check of the vector or rerank model.
pub(crate) const SURE_KEYWORD: f64 = 0.5;

/// The measured reliability from which the rerank model's order replaces the fused order. A
/// useful cross-encoder puts keyword search's sure answer first most of the time; one that does
/// not know the language (or a broken one) agrees about as often as chance, 1 in `rerank_k`.
/// Unmeasured, it starts at one half: trusted, as the user configured it.
pub(crate) const RERANK_TRUST: f64 = 0.5;

impl Reliability {
    /// The agreement rate with a uniform prior (Laplace: one agreement and one disagreement
    /// assumed), so an unmeasured model starts at one half and a few questions move it.
    pub(crate) fn estimate(self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let (a, n) = (self.agreements as f64, self.checks as f64);
        (a + 1.0) / (n + 2.0)
    }
}
