//! The Xinference client: running and registered models, launching and terminating them,
//! batched concurrent embeddings, rerank, and chat completions streamed over SSE.
//!
//! Protocol facts it relies on (Xinference 4.1, see `../shared/BACKENDS.md`): `POST /v1/models`
//! returns only once the model is loaded, while `GET /v1/models/{uid}/progress` reports the
//! launch stage; errors come as JSON `{"detail": ...}` or as `text/plain`; a streamed chat can
//! fail with HTTP 200 and `data: {"error": ...}`; the first delta carries `content: null`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use super::http::{error_chain, path_segment, value_text, Endpoint};
use super::sse::SseDecoder;
use super::{Backend, BackendError, RetryPolicy};

/// How an [`XinferenceClient`] behaves: auth, timeouts, batching and retries.
#[derive(Debug, Clone)]
pub struct XinferenceOptions {
    /// Sent as `Authorization: Bearer <key>` when set (servers with auth enabled).
    pub api_key: Option<String>,
    /// Limit for opening a connection.
    pub connect_timeout: Duration,
    /// Limit for one unary request (an embedding batch, a rerank, a non-streamed chat).
    pub request_timeout: Duration,
    /// Limit for the response headers of a streamed chat, and for each silence between two
    /// chunks of its body (a stream has no overall limit: long answers are fine).
    pub stream_idle_timeout: Duration,
    /// Limit for a model launch (it may download weights first).
    pub launch_timeout: Duration,
    /// Texts per embedding request.
    pub embed_batch_size: usize,
    /// Embedding requests in flight at once, across all callers of this client.
    pub embed_concurrency: usize,
    /// Retries of idempotent calls (embeddings, rerank, listings).
    pub retry: RetryPolicy,
}

impl Default for XinferenceOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            connect_timeout: Duration::from_secs(5),
            // A batch of 32 long chunks on a busy CPU can take tens of seconds.
            request_timeout: Duration::from_secs(120),
            stream_idle_timeout: Duration::from_secs(120),
            launch_timeout: Duration::from_secs(30 * 60),
            embed_batch_size: 32,
            embed_concurrency: 2,
            retry: RetryPolicy::default(),
        }
    }
}

/// The kinds of model Xinference serves that LexiNaut uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
pub enum ModelType {
    /// Text embeddings.
    #[serde(rename = "embedding")]
    Embedding,
    /// Chat / text generation.
    #[serde(rename = "LLM")]
    Llm,
    /// Cross-encoder rerankers.
    #[serde(rename = "rerank")]
    Rerank,
}

impl ModelType {
    /// The name Xinference uses in URLs and bodies: `embedding`, `LLM`, `rerank`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedding => "embedding",
            Self::Llm => "LLM",
            Self::Rerank => "rerank",
        }
    }
}

impl std::fmt::Display for ModelType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelType {
    type Err = String;
    /// Case-insensitive: `embedding`, `llm` (or `chat`), `rerank`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "embedding" | "embed" => Ok(Self::Embedding),
            "llm" | "chat" => Ok(Self::Llm),
            "rerank" => Ok(Self::Rerank),
            _ => Err(format!(
                "unknown model type {s:?}: expected embedding, LLM or rerank"
            )),
        }
    }
}

/// A model running on the server (`GET /v1/models`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct RunningModel {
    /// The uid requests name it by.
    #[serde(rename = "id")]
    pub uid: String,
    /// `embedding`, `LLM`, `rerank`, or another kind LexiNaut does not use.
    pub model_type: String,
    /// The registered model it runs (e.g. `bge-large-zh-v1.5`).
    pub model_name: String,
    /// Inference engine (`sentence_transformers`, `llama.cpp`, `vLLM`, ...).
    #[serde(default, rename = "model_engine")]
    pub engine: Option<String>,
    /// Weights format (`pytorch`, `ggufv2`, ...).
    #[serde(default, rename = "model_format")]
    pub format: Option<String>,
    /// Vector size, for embedding models.
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// Longest input in tokens, for embedding and rerank models.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Context window in tokens, for chat models.
    #[serde(default)]
    pub context_length: Option<u32>,
    /// Copies serving it.
    #[serde(default)]
    pub replica: Option<u32>,
}

impl RunningModel {
    /// The kind, when it is one LexiNaut uses.
    pub fn kind(&self) -> Option<ModelType> {
        self.model_type.parse().ok()
    }
}

/// A model the server knows how to launch (`GET /v1/model_registrations/{type}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct RegisteredModel {
    /// The name to launch it by.
    pub model_name: String,
    /// Shipped with Xinference (true) or registered by a user (false).
    #[serde(default)]
    pub is_builtin: bool,
}

/// What to launch (`POST /v1/models`). Unset fields are left to the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// Registered model name, e.g. `bge-large-zh-v1.5`.
    pub model_name: String,
    /// Its kind.
    pub model_type: Option<ModelType>,
    /// Engine: `sentence_transformers`, `llama.cpp`, `transformers`, `vLLM`, ...
    pub engine: Option<String>,
    /// Weights format: `pytorch`, `ggufv2`, `gptq`, ...
    pub format: Option<String>,
    /// Size in billions of parameters, as the registration spells it (`7`, `1_8`, `0_135`).
    pub size_in_billions: Option<String>,
    /// Quantization, e.g. `Q4_K_M` or `none`.
    pub quantization: Option<String>,
    /// Copies to run.
    pub replica: Option<u32>,
    /// The uid to give it; defaults to the model name.
    pub uid: Option<String>,
    /// Engine options passed through as-is (`n_threads`, `n_ctx`, `gpu_idx`, ...).
    pub extra: Map<String, Value>,
}

impl LaunchSpec {
    /// The uid the model will run under.
    pub fn effective_uid(&self) -> &str {
        self.uid.as_deref().unwrap_or(&self.model_name)
    }

    fn body(&self) -> Value {
        let mut body = self.extra.clone();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                body.insert(key.into(), v);
            }
        };
        put("model_uid", Some(self.effective_uid().into()));
        put("model_name", Some(self.model_name.clone().into()));
        put("model_type", self.model_type.map(|t| t.as_str().into()));
        put("model_engine", self.engine.clone().map(Value::from));
        put("model_format", self.format.clone().map(Value::from));
        put(
            "model_size_in_billions",
            self.size_in_billions.clone().map(Value::from),
        );
        put("quantization", self.quantization.clone().map(Value::from));
        put("replica", self.replica.map(Value::from));
        Value::Object(body)
    }
}

/// Where a launch stands, polled while `POST /v1/models` is pending.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct LaunchProgress {
    /// The uid being launched.
    pub uid: String,
    /// 0.0 to 1.0 as the server reports it (downloads move it; loading sits at 1.0).
    pub progress: f64,
    /// The server's stage name (`pending`, `downloading`, `loading`, ...).
    pub stage: String,
    /// Seconds since the launch was requested.
    pub elapsed_secs: f64,
}

/// One document's rerank result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RerankHit {
    /// Position of the document in the list given to [`XinferenceClient::rerank`].
    pub index: usize,
    /// Relevance; higher is better. Hits come best first.
    pub score: f64,
}

/// Who says a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ChatMessage {
    /// Who says it.
    pub role: ChatRole,
    /// What is said.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content: content.into(),
        }
    }
}

/// A chat completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ChatRequest {
    /// Uid of a running LLM.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature; the server default when unset.
    pub temperature: Option<f32>,
    /// Most tokens to generate; the server default when unset.
    pub max_tokens: Option<u32>,
}

/// Token counts of a completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ChatUsage {
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u32,
    /// Both.
    #[serde(default)]
    pub total_tokens: u32,
}

/// What a streamed chat yields.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub enum ChatEvent {
    /// The next piece of the answer.
    Token(String),
    /// The answer is complete; nothing follows.
    Done {
        /// `stop`, `length`, ... as the server reports it.
        finish_reason: Option<String>,
        /// Token counts, when the server sends them.
        usage: Option<ChatUsage>,
    },
}

/// A non-streamed chat answer.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ChatCompletion {
    /// The answer.
    pub content: String,
    /// `stop`, `length`, ...
    pub finish_reason: Option<String>,
    /// Token counts, when the server sends them.
    pub usage: Option<ChatUsage>,
}

/// A streamed chat: tokens, then exactly one `Done` or one error, then the end. Dropping it
/// closes the HTTP connection, which stops the generation on the server.
pub type ChatStream = BoxStream<'static, Result<ChatEvent, BackendError>>;

/// A client of one Xinference server. Cheap to clone; share one per server.
#[derive(Debug, Clone)]
pub struct XinferenceClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    options: XinferenceOptions,
    embed_slots: Semaphore,
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<RunningModel>,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct RerankResponse {
    results: Vec<RerankItem>,
}

#[derive(Deserialize)]
struct RerankItem {
    index: usize,
    relevance_score: f64,
}

#[derive(Deserialize)]
struct CompletionResponse {
    choices: Vec<CompletionChoice>,
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: CompletionMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CompletionMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct ProgressResponse {
    #[serde(default)]
    progress: f64,
    #[serde(default)]
    stage: String,
}

impl XinferenceClient {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:9997`). Fails only on an
    /// unusable URL or API key; nothing is sent until a method is called.
    pub fn new(base_url: &str, options: XinferenceOptions) -> Result<Self, BackendError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = options.api_key.as_deref().filter(|k| !k.trim().is_empty()) {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.trim())).map_err(|_| {
                    BackendError::Protocol {
                        backend: Backend::Xinference,
                        detail: "the API key contains characters not allowed in an HTTP header"
                            .into(),
                    }
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let endpoint = Endpoint::new(
            Backend::Xinference,
            base_url,
            headers,
            options.connect_timeout,
            options.retry,
        )?;
        let embed_slots = Semaphore::new(options.embed_concurrency.max(1));
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint,
                options,
                embed_slots,
            }),
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        self.inner.endpoint.base()
    }

    /// The options in force.
    pub fn options(&self) -> &XinferenceOptions {
        &self.inner.options
    }

    fn ep(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    fn timeout(&self) -> Duration {
        self.inner.options.request_timeout
    }

    /// The server's version (`GET /v1/cluster/version`), e.g. `4.1.0`.
    #[instrument(skip_all, err)]
    pub async fn version(&self) -> Result<String, BackendError> {
        let v: Value = self
            .ep()
            .call_retrying(
                Method::GET,
                "/v1/cluster/version",
                None::<&()>,
                self.timeout(),
            )
            .await?;
        v.get("version")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.ep().protocol(format!("no version in {v}")))
    }

    /// The models running now.
    #[instrument(skip_all, err)]
    pub async fn list_models(&self) -> Result<Vec<RunningModel>, BackendError> {
        let list: ModelList = self
            .ep()
            .call_retrying(Method::GET, "/v1/models", None::<&()>, self.timeout())
            .await?;
        Ok(list.data)
    }

    /// The running model with this uid, if any.
    pub async fn running_model(&self, uid: &str) -> Result<Option<RunningModel>, BackendError> {
        Ok(self.list_models().await?.into_iter().find(|m| m.uid == uid))
    }

    /// Models of one kind the server can launch: built-in ones and those users registered.
    #[instrument(skip_all, fields(kind = %kind), err)]
    pub async fn registrations(
        &self,
        kind: ModelType,
    ) -> Result<Vec<RegisteredModel>, BackendError> {
        let path = format!("/v1/model_registrations/{}?detailed=false", kind.as_str());
        self.ep()
            .call_retrying(Method::GET, &path, None::<&()>, self.timeout())
            .await
    }

    /// Launches a model and waits until it is loaded; returns its uid.
    pub async fn launch(&self, spec: &LaunchSpec) -> Result<String, BackendError> {
        self.launch_with_progress(spec, &|_| {}, CancellationToken::new())
            .await
    }

    /// Launches a model and waits until it is loaded, calling `on_progress` about once a second
    /// with the server's launch progress. Cancelling asks the server to abandon the launch.
    /// Not retried: a launch is not idempotent (a second one fails with "already in the list").
    #[instrument(skip_all, fields(model = %spec.model_name, uid = %spec.effective_uid()), err)]
    pub async fn launch_with_progress(
        &self,
        spec: &LaunchSpec,
        on_progress: &(dyn Fn(LaunchProgress) + Send + Sync),
        cancel: CancellationToken,
    ) -> Result<String, BackendError> {
        #[derive(Deserialize)]
        struct Launched {
            model_uid: String,
        }
        let uid = spec.effective_uid().to_owned();
        let body = spec.body();
        let started = Instant::now();
        let launch = self.ep().call::<Launched, _>(
            Method::POST,
            "/v1/models",
            Some(&body),
            self.inner.options.launch_timeout,
        );
        tokio::pin!(launch);
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.tick().await;
        loop {
            tokio::select! {
                result = &mut launch => return result.map(|l| l.model_uid),
                () = cancel.cancelled() => {
                    let path = format!("/v1/models/{}/cancel", path_segment(&uid));
                    if let Err(e) = self
                        .ep()
                        .call::<Value, _>(Method::POST, &path, None::<&()>, self.timeout())
                        .await
                    {
                        tracing::warn!(error = %e, "could not cancel the launch on the server");
                    }
                    return Err(BackendError::Cancelled);
                }
                _ = ticks.tick() => {
                    let path = format!("/v1/models/{}/progress", path_segment(&uid));
                    // Progress is a courtesy: a failed poll must not fail the launch.
                    if let Ok(p) = self
                        .ep()
                        .call::<ProgressResponse, _>(Method::GET, &path, None::<&()>, Duration::from_secs(5))
                        .await
                    {
                        on_progress(LaunchProgress {
                            uid: uid.clone(),
                            progress: p.progress,
                            stage: p.stage,
                            elapsed_secs: started.elapsed().as_secs_f64(),
                        });
                    }
                }
            }
        }
    }

    /// Stops a running model and frees its memory.
    #[instrument(skip_all, fields(uid), err)]
    pub async fn terminate(&self, uid: &str) -> Result<(), BackendError> {
        let path = format!("/v1/models/{}", path_segment(uid));
        let _: Value = self
            .ep()
            .call(Method::DELETE, &path, None::<&()>, self.timeout())
            .await?;
        Ok(())
    }

    /// Embeds `texts` with the embedding model `model` (a uid), one vector per text, in order.
    /// Texts go in batches of `embed_batch_size`, up to `embed_concurrency` batches at once
    /// (shared by every caller of this client); each batch is retried on transient failures.
    #[instrument(skip_all, fields(model, texts = texts.len()), err)]
    pub async fn embed(
        &self,
        model: &str,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, BackendError> {
        let batch_size = self.inner.options.embed_batch_size.max(1);
        let concurrency = self.inner.options.embed_concurrency.max(1);
        // The futures are made before they are streamed: a closure inside the stream type
        // would make this future `Send` only for some lifetimes, and Tauri commands that
        // embed (questions) need it `Send` for all.
        let requests: Vec<_> = texts
            .chunks(batch_size)
            .map(|batch| self.embed_batch(model, batch))
            .collect();
        let batches: Vec<Vec<Vec<f32>>> = stream::iter(requests)
            .buffered(concurrency)
            .try_collect()
            .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    async fn embed_batch(
        &self,
        model: &str,
        batch: &[String],
    ) -> Result<Vec<Vec<f32>>, BackendError> {
        // Never closed, so acquiring cannot fail; the permit bounds requests across callers.
        let _slot = self.inner.embed_slots.acquire().await.ok();
        let body = json!({ "model": model, "input": batch });
        let response: EmbeddingResponse = self
            .ep()
            .call_retrying(Method::POST, "/v1/embeddings", Some(&body), self.timeout())
            .await?;
        if response.data.len() != batch.len() {
            return Err(self.ep().protocol(format!(
                "asked for {} embeddings, got {}",
                batch.len(),
                response.data.len()
            )));
        }
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; batch.len()];
        for (position, item) in response.data.into_iter().enumerate() {
            let index = item.index.unwrap_or(position);
            match vectors.get_mut(index) {
                Some(slot @ None) => *slot = Some(item.embedding),
                _ => {
                    return Err(self
                        .ep()
                        .protocol(format!("embedding index {index} out of range or repeated")))
                }
            }
        }
        let vectors: Vec<Vec<f32>> = vectors.into_iter().flatten().collect();
        if vectors.windows(2).any(|w| w[0].len() != w[1].len()) {
            return Err(self
                .ep()
                .protocol("embeddings of different lengths in one answer"));
        }
        Ok(vectors)
    }

    /// Scores `documents` against `query` with the rerank model `model`; returns the best
    /// `top_n` (all when `None`), best first.
    #[instrument(skip_all, fields(model, documents = documents.len()), err)]
    pub async fn rerank(
        &self,
        model: &str,
        query: &str,
        documents: &[String],
        top_n: Option<usize>,
    ) -> Result<Vec<RerankHit>, BackendError> {
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({
            "model": model,
            "query": query,
            "documents": documents,
            "top_n": top_n,
            "return_documents": false,
        });
        let response: RerankResponse = self
            .ep()
            .call_retrying(Method::POST, "/v1/rerank", Some(&body), self.timeout())
            .await?;
        let mut hits = Vec::with_capacity(response.results.len());
        for r in response.results {
            if r.index >= documents.len() {
                return Err(self
                    .ep()
                    .protocol(format!("rerank index {} out of range", r.index)));
            }
            hits.push(RerankHit {
                index: r.index,
                score: r.relevance_score,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(hits)
    }

    /// A chat answer in one piece (no streaming).
    #[instrument(skip_all, fields(model = %request.model), err)]
    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatCompletion, BackendError> {
        let body = chat_body(request, false);
        let response: CompletionResponse = self
            .ep()
            .call(
                Method::POST,
                "/v1/chat/completions",
                Some(&body),
                self.timeout(),
            )
            .await?;
        let choice = response
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| self.ep().protocol("a chat completion without choices"))?;
        Ok(ChatCompletion {
            content: choice.message.content.unwrap_or_default(),
            finish_reason: choice.finish_reason,
            usage: response.usage,
        })
    }

    /// Streams a chat answer token by token. Returns once the server has accepted the request
    /// (an HTTP error comes back here); the stream then yields [`ChatEvent::Token`]s and ends with
    /// one [`ChatEvent::Done`] or one error (in-stream error, broken connection, silence longer
    /// than `stream_idle_timeout`, or [`BackendError::Cancelled`] once `cancel` fires). Cancelling
    /// or dropping the stream closes the connection, which ends the generation on the server.
    #[instrument(skip_all, fields(model = %request.model), err)]
    pub async fn chat_stream(
        &self,
        request: &ChatRequest,
        cancel: CancellationToken,
    ) -> Result<ChatStream, BackendError> {
        let ep = self.ep();
        let url = ep.url("/v1/chat/completions");
        let idle = self.inner.options.stream_idle_timeout;
        let rb = ep
            .request(Method::POST, "/v1/chat/completions")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&chat_body(request, true));
        let response = tokio::select! {
            () = cancel.cancelled() => return Err(BackendError::Cancelled),
            r = tokio::time::timeout(idle, ep.send(rb, &url, idle)) => match r {
                Ok(r) => r?,
                Err(_) => return Err(BackendError::Timeout {
                    backend: Backend::Xinference,
                    url,
                    seconds: idle.as_secs_f64(),
                }),
            },
        };
        let state = ChatStreamState {
            body: response.bytes_stream().boxed(),
            decoder: SseDecoder::default(),
            pending: VecDeque::new(),
            finish_reason: None,
            usage: None,
            finished: false,
            cancel,
            idle,
            url,
        };
        Ok(stream::unfold(state, ChatStreamState::next).boxed())
    }
}

fn chat_body(request: &ChatRequest, stream: bool) -> Value {
    let mut body = json!({
        "model": request.model,
        "messages": request.messages,
        "stream": stream,
    });
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = request.max_tokens {
        body["max_tokens"] = json!(m);
    }
    if stream {
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

type BodyStream = BoxStream<'static, reqwest::Result<bytes::Bytes>>;

struct ChatStreamState {
    body: BodyStream,
    decoder: SseDecoder,
    pending: VecDeque<Result<ChatEvent, BackendError>>,
    finish_reason: Option<String>,
    usage: Option<ChatUsage>,
    finished: bool,
    cancel: CancellationToken,
    idle: Duration,
    url: String,
}

impl ChatStreamState {
    async fn next(mut self) -> Option<(Result<ChatEvent, BackendError>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if !matches!(event, Ok(ChatEvent::Token(_))) {
                    self.finish();
                }
                return Some((event, self));
            }
            if self.finished {
                return None;
            }
            let chunk = tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    self.pending.push_back(Err(BackendError::Cancelled));
                    continue;
                }
                chunk = tokio::time::timeout(self.idle, self.body.next()) => chunk,
            };
            match chunk {
                Err(_) => self.pending.push_back(Err(BackendError::Timeout {
                    backend: Backend::Xinference,
                    url: self.url.clone(),
                    seconds: self.idle.as_secs_f64(),
                })),
                Ok(Some(Ok(bytes))) => {
                    match self.decoder.push(&bytes) {
                        Ok(events) => {
                            for data in events {
                                if self.data(&data) {
                                    break;
                                }
                            }
                        }
                        Err(_) => self.pending.push_back(Err(self
                            .stream_error("an event stream line longer than 8 MiB".into(), true))),
                    }
                }
                Ok(Some(Err(e))) => self.pending.push_back(Err(BackendError::Unreachable {
                    backend: Backend::Xinference,
                    url: self.url.clone(),
                    reason: format!("connection lost during the answer: {}", error_chain(&e)),
                })),
                Ok(None) => {
                    let ended = match self.decoder.finish() {
                        Some(data) => self.data(&data),
                        None => false,
                    };
                    if !ended {
                        // No `[DONE]`: complete only if the server said why it stopped.
                        let event = match self.finish_reason.take() {
                            Some(reason) => Ok(ChatEvent::Done {
                                finish_reason: Some(reason),
                                usage: self.usage.take(),
                            }),
                            None => Err(self.stream_error(
                                "the stream ended before the answer was complete".into(),
                                false,
                            )),
                        };
                        self.pending.push_back(event);
                    }
                }
            }
        }
    }

    /// Handles one event's data; true when it ends the stream.
    fn data(&mut self, data: &str) -> bool {
        if data.trim() == "[DONE]" {
            self.pending.push_back(Ok(ChatEvent::Done {
                finish_reason: self.finish_reason.take(),
                usage: self.usage.take(),
            }));
            return true;
        }
        let chunk: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                let detail = format!("an event that is not JSON ({e}): {data:.200}");
                self.pending.push_back(Err(self.stream_error(detail, true)));
                return true;
            }
        };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let detail = value_text(error);
            self.pending
                .push_back(Err(self.stream_error(detail, false)));
            return true;
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = serde_json::from_value(usage.clone()).ok();
        }
        let choice = chunk.get("choices").and_then(|c| c.get(0));
        if let Some(choice) = choice {
            if let Some(text) = choice
                .pointer("/delta/content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                self.pending
                    .push_back(Ok(ChatEvent::Token(text.to_owned())));
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(reason.to_owned());
            }
        }
        false
    }

    fn stream_error(&self, detail: String, protocol: bool) -> BackendError {
        if protocol {
            BackendError::Protocol {
                backend: Backend::Xinference,
                detail,
            }
        } else {
            BackendError::Stream {
                backend: Backend::Xinference,
                detail,
            }
        }
    }

    /// Ends the stream and drops the body at once, closing the connection even if the caller
    /// keeps the stream around.
    fn finish(&mut self) {
        self.finished = true;
        self.pending.clear();
        self.body = stream::empty().boxed();
    }
}
