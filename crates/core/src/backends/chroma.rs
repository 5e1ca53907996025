//! The Chroma client: collections per knowledge base and embedding model, batched upserts,
//! deletes by id or filter, nearest-neighbour queries and the listings a consistency check needs.
//!
//! Why not the official `chroma` crate (0.15.0, checked against Chroma 1.5.9 in
//! `../shared/CRATES.md`)? It works and covers tenant, database and token, but it brings reqwest
//! 0.13 beside the workspace's 0.12, needs `protoc` at build time (`chroma-types`' build script),
//! and pulls ~240 crates (tonic, prost, aws-lc-sys) for the dozen REST calls used here. This
//! client speaks the documented HTTP API v2 (`/api/v2/tenants/{t}/databases/{d}/collections/...`)
//! with the workspace's reqwest, so it builds offline from what is already in the lock file.
//!
//! The server never embeds anything: every upsert and query carries LexiNaut's own vectors
//! (from Xinference), so Chroma never loads its default embedding function (which would try
//! to download a model). Collections use cosine distance.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::OnceCell;
use tracing::instrument;

use super::http::{path_segment, Endpoint};
use super::{Backend, BackendError, RetryPolicy};

/// How a [`ChromaClient`] behaves: where its data lives, auth, timeouts and batching.
#[derive(Debug, Clone)]
pub struct ChromaOptions {
    /// Tenant (`default_tenant` on a local server).
    pub tenant: String,
    /// Database (`default_database` on a local server).
    pub database: String,
    /// Sent as both `Authorization: Bearer <token>` and `X-Chroma-Token: <token>` when set:
    /// a server reads whichever header it is configured for.
    pub token: Option<String>,
    /// Limit for opening a connection.
    pub connect_timeout: Duration,
    /// Limit for one request.
    pub request_timeout: Duration,
    /// Records per upsert request; the server's `max_batch_size` caps it.
    pub upsert_batch_size: usize,
    /// Retries (every call this client makes is idempotent).
    pub retry: RetryPolicy,
}

impl Default for ChromaOptions {
    fn default() -> Self {
        Self {
            tenant: "default_tenant".into(),
            database: "default_database".into(),
            token: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            // Throughput is flat from 500 records a request up (CRATES.md); 1,000 keeps a
            // request body of 384-dimension vectors around 2 MB.
            upsert_batch_size: 1000,
            retry: RetryPolicy::default(),
        }
    }
}

/// What the server accepts (`GET /api/v2/pre-flight-checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct PreFlight {
    /// Most records in one add/upsert.
    pub max_batch_size: usize,
    /// Whether embeddings may be sent as base64 of little-endian f32 (smaller and faster than
    /// JSON numbers).
    #[serde(default)]
    pub supports_base64_encoding: bool,
}

/// A collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// The server's id (a UUID): record operations address the collection by it.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its metadata (empty when it has none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: Map<String, Value>,
}

impl Collection {
    /// The embedding model its vectors come from, per its metadata.
    pub fn embedding_model(&self) -> Option<&str> {
        self.metadata.get("embedding_model").and_then(Value::as_str)
    }

    /// The dimension of its vectors, per its metadata.
    pub fn dimension(&self) -> Option<u64> {
        self.metadata.get("dimension").and_then(Value::as_u64)
    }

    /// The knowledge base it belongs to, per its metadata.
    pub fn kb_id(&self) -> Option<i64> {
        self.metadata.get("kb_id").and_then(Value::as_i64)
    }
}

/// What LexiNaut records on each collection: whose vectors it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionMetadata {
    /// The embedding model (its Xinference uid or name).
    pub embedding_model: String,
    /// Its vector size.
    pub dimension: u32,
    /// The knowledge base.
    pub kb_id: i64,
}

/// One vector to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VectorRecord {
    /// Unique within the collection (e.g. the chunk id).
    pub id: String,
    /// The vector.
    pub embedding: Vec<f32>,
    /// The text it stands for, if it should be stored beside it.
    pub document: Option<String>,
    /// Values to filter on (`doc_id`, `page`, ...): strings, numbers or booleans.
    pub metadata: Map<String, Value>,
}

/// One query result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VectorHit {
    /// Record id.
    pub id: String,
    /// Cosine distance to the query (0 = same direction); hits come nearest first.
    pub distance: f32,
    /// Stored text, if any.
    pub document: Option<String>,
    /// Stored metadata.
    pub metadata: Map<String, Value>,
}

/// A Chroma collection name for a library's knowledge base and embedding model: readable,
/// within Chroma's rules (3–512 of `[a-zA-Z0-9._-]`, alphanumeric at both ends), and distinct
/// for model names that differ only in characters Chroma does not allow. `library` (a short
/// hex id) keeps libraries sharing one server apart.
pub fn collection_name(library: &str, kb_id: i64, embedding_model: &str) -> String {
    let readable: String = embedding_model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let hash = blake3::hash(embedding_model.as_bytes()).to_hex();
    let library: String = library
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    format!("lexinaut-{library}-kb{kb_id}-{readable}-{}", &hash[..8])
}

/// A client of one Chroma server. Cheap to clone; share one per server.
#[derive(Debug, Clone)]
pub struct ChromaClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    options: ChromaOptions,
    /// `/api/v2/tenants/{t}/databases/{d}`, encoded.
    scope: String,
    pre_flight: OnceCell<PreFlight>,
}

/// One column of a query answer: a row per query embedding, a cell per hit (null when absent).
type Column<T> = Option<Vec<Vec<Option<T>>>>;

#[derive(Deserialize)]
struct QueryResponse {
    ids: Vec<Vec<String>>,
    #[serde(default)]
    distances: Column<f32>,
    #[serde(default)]
    documents: Column<String>,
    #[serde(default)]
    metadatas: Column<Map<String, Value>>,
}

#[derive(Deserialize)]
struct GetResponse {
    ids: Vec<String>,
}

#[derive(Deserialize)]
struct DeleteResponse {
    #[serde(default)]
    deleted: Option<u64>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

impl ChromaClient {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8000`). Fails only on an
    /// unusable URL or token; nothing is sent until a method is called.
    pub fn new(base_url: &str, options: ChromaOptions) -> Result<Self, BackendError> {
        let mut headers = HeaderMap::new();
        if let Some(token) = options
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let bad = |_| BackendError::Protocol {
                backend: Backend::Chroma,
                detail: "the token contains characters not allowed in an HTTP header".into(),
            };
            let mut bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(bad)?;
            bearer.set_sensitive(true);
            let mut plain = HeaderValue::from_str(token).map_err(bad)?;
            plain.set_sensitive(true);
            headers.insert(AUTHORIZATION, bearer);
            headers.insert(HeaderName::from_static("x-chroma-token"), plain);
        }
        let endpoint = Endpoint::new(
            Backend::Chroma,
            base_url,
            headers,
            options.connect_timeout,
            options.retry,
        )?;
        let scope = format!(
            "/api/v2/tenants/{}/databases/{}",
            path_segment(&options.tenant),
            path_segment(&options.database)
        );
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint,
                options,
                scope,
                pre_flight: OnceCell::new(),
            }),
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        self.inner.endpoint.base()
    }

    /// The options in force.
    pub fn options(&self) -> &ChromaOptions {
        &self.inner.options
    }

    fn ep(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, BackendError> {
        self.ep()
            .call_retrying(
                Method::GET,
                path,
                None::<&()>,
                self.inner.options.request_timeout,
            )
            .await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, BackendError> {
        self.ep()
            .call_retrying(
                Method::POST,
                path,
                Some(body),
                self.inner.options.request_timeout,
            )
            .await
    }

    fn records_path(&self, collection: &Collection, op: &str) -> String {
        format!(
            "{}/collections/{}/{op}",
            self.inner.scope,
            path_segment(&collection.id)
        )
    }

    /// Checks the server is alive (`GET /api/v2/heartbeat`).
    #[instrument(skip_all, err)]
    pub async fn heartbeat(&self) -> Result<(), BackendError> {
        let _: Value = self.get("/api/v2/heartbeat").await?;
        Ok(())
    }

    /// The server's API version (`GET /api/v2/version`), e.g. `1.0.0`.
    #[instrument(skip_all, err)]
    pub async fn version(&self) -> Result<String, BackendError> {
        self.get("/api/v2/version").await
    }

    /// What the server accepts; asked once, then remembered.
    pub async fn pre_flight(&self) -> Result<PreFlight, BackendError> {
        self.inner
            .pre_flight
            .get_or_try_init(|| self.get("/api/v2/pre-flight-checks"))
            .await
            .copied()
    }

    /// How many collections the database holds.
    #[instrument(skip_all, err)]
    pub async fn collection_count(&self) -> Result<u64, BackendError> {
        self.get(&format!("{}/collections_count", self.inner.scope))
            .await
    }

    /// The collection named `name`, creating it with `metadata` and cosine distance when it
    /// does not exist. An existing collection must hold vectors of the same model and
    /// dimension: mixing them would make every distance meaningless, so that is an error.
    #[instrument(skip_all, fields(name), err)]
    pub async fn ensure_collection(
        &self,
        name: &str,
        metadata: &CollectionMetadata,
    ) -> Result<Collection, BackendError> {
        let body = json!({
            "name": name,
            "metadata": metadata,
            "configuration": { "hnsw": { "space": "cosine" } },
            "get_or_create": true,
        });
        let collection: Collection = self
            .post(&format!("{}/collections", self.inner.scope), &body)
            .await?;
        let model_matches = collection.embedding_model() == Some(&metadata.embedding_model);
        let dimension_matches = collection.dimension() == Some(u64::from(metadata.dimension));
        if !model_matches || !dimension_matches {
            return Err(self.ep().protocol(format!(
                "collection {name} exists with embedding model {:?} and dimension {:?}, \
                 not {:?} and {}",
                collection.embedding_model(),
                collection.dimension(),
                metadata.embedding_model,
                metadata.dimension
            )));
        }
        Ok(collection)
    }

    /// The collection named `name`, if it exists.
    #[instrument(skip_all, fields(name), err)]
    pub async fn collection(&self, name: &str) -> Result<Option<Collection>, BackendError> {
        let path = format!("{}/collections/{}", self.inner.scope, path_segment(name));
        match self.get(&path).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every collection in the database.
    #[instrument(skip_all, err)]
    pub async fn list_collections(&self) -> Result<Vec<Collection>, BackendError> {
        const PAGE: usize = 100;
        let mut all = Vec::new();
        loop {
            let path = format!(
                "{}/collections?limit={PAGE}&offset={}",
                self.inner.scope,
                all.len()
            );
            let page: Vec<Collection> = self.get(&path).await?;
            let done = page.len() < PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Deletes the collection named `name` with its records; false when there was none.
    #[instrument(skip_all, fields(name), err)]
    pub async fn delete_collection(&self, name: &str) -> Result<bool, BackendError> {
        let path = format!("{}/collections/{}", self.inner.scope, path_segment(name));
        let result: Result<Value, _> = self
            .ep()
            .call_retrying(
                Method::DELETE,
                &path,
                None::<&()>,
                self.inner.options.request_timeout,
            )
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Inserts or replaces `records`, in requests of at most `upsert_batch_size` records (and
    /// never more than the server's `max_batch_size`). Batches go one after another: the server
    /// is the bottleneck, and a failure then leaves a clean prefix stored.
    #[instrument(skip_all, fields(collection = %collection.name, records = records.len()), err)]
    pub async fn upsert(
        &self,
        collection: &Collection,
        records: &[VectorRecord],
    ) -> Result<(), BackendError> {
        if records.is_empty() {
            return Ok(());
        }
        let pre_flight = self.pre_flight().await?;
        let batch = self
            .inner
            .options
            .upsert_batch_size
            .min(pre_flight.max_batch_size)
            .max(1);
        let path = self.records_path(collection, "upsert");
        for chunk in records.chunks(batch) {
            let embeddings: Value = if pre_flight.supports_base64_encoding {
                chunk.iter().map(|r| base64_f32(&r.embedding)).collect()
            } else {
                chunk.iter().map(|r| json!(r.embedding)).collect()
            };
            let body = json!({
                "ids": chunk.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                "embeddings": embeddings,
                "documents": chunk.iter().map(|r| r.document.as_deref()).collect::<Vec<_>>(),
                // An empty map says nothing: send null, as Chroma's own clients do.
                "metadatas": chunk
                    .iter()
                    .map(|r| (!r.metadata.is_empty()).then_some(&r.metadata))
                    .collect::<Vec<_>>(),
            });
            let _: Value = self.post(&path, &body).await?;
        }
        Ok(())
    }

    /// Deletes the records with these ids (missing ones are ignored).
    #[instrument(skip_all, fields(collection = %collection.name, ids = ids.len()), err)]
    pub async fn delete(
        &self,
        collection: &Collection,
        ids: &[String],
    ) -> Result<(), BackendError> {
        if ids.is_empty() {
            return Ok(());
        }
        let path = self.records_path(collection, "delete");
        for chunk in ids.chunks(self.inner.options.upsert_batch_size.max(1)) {
            let _: DeleteResponse = self.post(&path, &json!({ "ids": chunk })).await?;
        }
        Ok(())
    }

    /// Deletes the records whose metadata match `filter`, a Chroma `where` filter such as
    /// `{"doc_id": 42}`, `{"page": {"$gte": 5}}` or `{"$and": [{...}, {...}]}`. Returns how
    /// many the server reports deleted (servers that do not say report 0).
    #[instrument(skip_all, fields(collection = %collection.name), err)]
    pub async fn delete_where(
        &self,
        collection: &Collection,
        filter: &Value,
    ) -> Result<u64, BackendError> {
        let path = self.records_path(collection, "delete");
        let response: DeleteResponse = self.post(&path, &json!({ "where": filter })).await?;
        Ok(response.deleted.unwrap_or(0))
    }

    /// The `n` records nearest to `embedding`, nearest first, among those matching `filter`
    /// (a `where` filter as for [`ChromaClient::delete_where`]) when given.
    #[instrument(skip_all, fields(collection = %collection.name, n), err)]
    pub async fn query(
        &self,
        collection: &Collection,
        embedding: &[f32],
        n: usize,
        filter: Option<&Value>,
    ) -> Result<Vec<VectorHit>, BackendError> {
        let mut body = json!({
            "query_embeddings": [embedding],
            "n_results": n,
            "include": ["distances", "documents", "metadatas"],
        });
        if let Some(filter) = filter {
            body["where"] = filter.clone();
        }
        let response: QueryResponse = self
            .post(&self.records_path(collection, "query"), &body)
            .await?;
        let ids = response.ids.into_iter().next().unwrap_or_default();
        let distances = first_row(response.distances);
        let mut documents = first_row(response.documents).into_iter();
        let mut metadatas = first_row(response.metadatas).into_iter();
        if distances.len() != ids.len() {
            return Err(self.ep().protocol(format!(
                "a query answer with {} ids and {} distances",
                ids.len(),
                distances.len()
            )));
        }
        Ok(ids
            .into_iter()
            .zip(distances)
            .map(|(id, distance)| VectorHit {
                id,
                distance: distance.unwrap_or(f32::INFINITY),
                document: documents.next().flatten(),
                metadata: metadatas.next().flatten().unwrap_or_default(),
            })
            .collect())
    }

    /// How many records the collection holds.
    #[instrument(skip_all, fields(collection = %collection.name), err)]
    pub async fn count(&self, collection: &Collection) -> Result<u64, BackendError> {
        self.get(&self.records_path(collection, "count")).await
    }

    /// Ids of records matching `filter` (all when `None`), a page at a time: for checking the
    /// catalogue against what Chroma holds.
    #[instrument(skip_all, fields(collection = %collection.name, limit, offset), err)]
    pub async fn get_ids(
        &self,
        collection: &Collection,
        filter: Option<&Value>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<String>, BackendError> {
        let mut body = json!({ "limit": limit, "offset": offset, "include": [] });
        if let Some(filter) = filter {
            body["where"] = filter.clone();
        }
        let response: GetResponse = self
            .post(&self.records_path(collection, "get"), &body)
            .await?;
        Ok(response.ids)
    }
}

/// The results for the first (only) query embedding of a column the server may leave out.
fn first_row<T>(column: Column<T>) -> Vec<Option<T>> {
    column
        .and_then(|rows| rows.into_iter().next())
        .unwrap_or_default()
}

/// An embedding as Chroma's base64 form: the little-endian f32 bytes, base64-encoded.
fn base64_f32(v: &[f32]) -> Value {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}
