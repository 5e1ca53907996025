//! The `/api/v1` routes: one thin handler per core operation (the same set the desktop commands
//! wrap), bearer-token auth, and the long operations (answers, imports) run as tasks that a
//! client's disconnect, a stop request or the server's shutdown cancels.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Multipart, OriginalUri, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use lexinaut_core::chat::{AskRequest, RetrievalMode, RetrievalSettings};
use lexinaut_core::{
    ChunkSpec, CoreError, ErrorCode, FileIssue, ImportProgress, ImportSummary, Library,
    SearchFilter, WatchOptions,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::instrument;

use super::error::{ApiJson, ApiPath, ApiQuery, HttpError};
use super::sse::{self, AnswerStream, ChatEventQueue};
use super::state::ServerState;
use super::upload;

/// Largest JSON request body.
const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// How long a question waits for a free answer slot before the client hears "busy".
const ANSWER_QUEUE_WAIT: Duration = Duration::from_secs(30);
/// How long an import waits for a free import slot.
const IMPORT_QUEUE_WAIT: Duration = Duration::from_secs(60);
/// Longest `request_id` accepted for a stoppable answer.
const MAX_REQUEST_ID: usize = 128;

type Shared = State<Arc<ServerState>>;
type ApiResult<T> = Result<T, HttpError>;

/// The whole HTTP application: `/api/v1/...` plus JSON 404/405 answers.
pub fn router(state: Arc<ServerState>, max_upload_bytes: usize) -> Router {
    let api = Router::new()
        .route("/info", get(info))
        .route("/doctor", get(doctor))
        .route("/events", get(events))
        .route("/kbs", get(list_kbs).post(create_kb))
        .route("/kbs/{id}/documents", get(list_documents))
        .route("/kbs/{id}/ingest", post(ingest))
        .route("/kbs/{id}/jobs", get(import_jobs))
        .route("/kbs/{id}/ingest/cancel", post(cancel_import))
        .route("/kbs/{id}/ingest/pause", post(pause_import))
        .route("/kbs/{id}/resume", post(resume))
        .route(
            "/kbs/{id}/upload",
            post(upload).layer(DefaultBodyLimit::max(max_upload_bytes)),
        )
        .route("/kbs/{id}/search", get(search))
        .route("/kbs/{id}/ask", post(ask))
        .route("/kbs/{id}/conversations", get(conversations))
        .route(
            "/conversations/{id}",
            patch(rename_conversation).delete(delete_conversation),
        )
        .route("/conversations/{id}/messages", get(conversation_messages))
        .route("/conversations/{id}/export", get(export_conversation))
        .route("/conversations/{id}/regenerate", post(regenerate))
        .route("/answers/{request_id}/stop", post(stop_answer))
        .route("/documents/{id}", get(document).delete(delete_document))
        .route("/documents/{id}/source", get(source_view))
        .route("/documents/{id}/file", get(document_file))
        .route("/kbs/{id}/watches", get(list_watches).post(add_watch))
        .route("/watches/{id}", patch(update_watch).delete(remove_watch))
        .route("/vectors/status", get(vector_status))
        .route("/settings", get(settings).put(save_settings))
        .route("/models", get(models).post(launch_model))
        .route("/models/{uid}", delete(terminate_model))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_token,
        ))
        // Added after the auth layer: monitors may probe health without the token.
        .route("/health", get(health))
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(state)
}

// ---- auth and fallbacks --------------------------------------------------------------------

/// Lets a request through when no token is configured or it carries `Bearer <token>`.
async fn require_token(State(state): Shared, request: Request, next: Next) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(request).await;
    };
    // Bytes, not `to_str`: a token may hold UTF-8 (curl and browsers send it raw).
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .and_then(|v| {
            let space = v.iter().position(|b| *b == b' ')?;
            let (scheme, rest) = v.split_at(space);
            scheme
                .eq_ignore_ascii_case(b"bearer")
                .then(|| rest.trim_ascii())
        });
    match given {
        Some(token) if same_secret(token, expected.as_bytes()) => next.run(request).await,
        _ => HttpError::unauthorized().into_response(),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(request: Request) -> HttpError {
    HttpError::new(
        ErrorCode::NotFound,
        format!(
            "no such route: {} {}",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> HttpError {
    HttpError::with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::InvalidInput,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

// ---- library-wide ----------------------------------------------------------------------------

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Version and data location (the desktop's `app_info`).
#[derive(Serialize)]
struct Info {
    version: &'static str,
    data_dir: String,
}

async fn info(State(state): Shared) -> Json<Info> {
    Json(Info {
        version: env!("CARGO_PKG_VERSION"),
        data_dir: state.library.config().data_dir.display().to_string(),
    })
}

#[instrument(skip_all)]
async fn doctor(State(state): Shared) -> ApiResult<Response> {
    Ok(Json(state.library.doctor().await?).into_response())
}

async fn events(State(state): Shared) -> Response {
    sse::respond(sse::change_events(
        state.changes.subscribe(),
        state.library.watch_vector_status(),
        state.shutdown.clone(),
    ))
    .into_response()
}

async fn vector_status(State(state): Shared) -> Response {
    Json(state.library.vector_status()).into_response()
}

/// The settings file and environment (secrets masked).
async fn settings(State(state): Shared) -> ApiResult<Response> {
    let library = Arc::clone(&state.library);
    // Reads a file: off the runtime.
    let view = tokio::task::spawn_blocking(move || library.settings()).await??;
    Ok(Json(view).into_response())
}

/// Saves the settings and switches to the backends they name, without a restart.
#[instrument(skip_all)]
async fn save_settings(
    State(state): Shared,
    ApiJson(body): ApiJson<lexinaut_core::settings::Settings>,
) -> ApiResult<Response> {
    let library = Arc::clone(&state.library);
    // Writes a file and may start a managed Chroma: off the runtime.
    let view = tokio::task::spawn_blocking(move || library.apply_settings(body)).await??;
    Ok(Json(view).into_response())
}

/// Running and launchable models of the configured Xinference.
async fn models(State(state): Shared) -> ApiResult<Response> {
    Ok(Json(state.library.models().await?).into_response())
}

#[derive(Serialize)]
struct Launched {
    uid: String,
}

/// Launches a model and waits until it serves (`?stream=1`: `progress` events, then
/// `launched`). A client that leaves cancels the wait.
#[instrument(skip_all)]
async fn launch_model(
    State(state): Shared,
    ApiQuery(query): ApiQuery<LongQuery>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<lexinaut_core::models::LaunchRequest>,
) -> ApiResult<Response> {
    let token = state.shutdown.child_token();
    let (progress_tx, progress_rx) = watch::channel(None);
    let task = tokio::spawn({
        let library = Arc::clone(&state.library);
        let token = token.clone();
        async move {
            let progress = move |p| {
                progress_tx.send_replace(Some(p));
            };
            library
                .launch_model(&request, &progress, token)
                .await
                .map(|uid| Launched { uid })
        }
    });
    let cancel_on_drop = token.drop_guard();
    if query.wants_stream(&headers) {
        let events = sse::progress_events(progress_rx, task, cancel_on_drop, "launched");
        return Ok(sse::respond(events).into_response());
    }
    let launched = task.await??;
    cancel_on_drop.disarm();
    Ok(Json(launched).into_response())
}

/// Stops a model running on Xinference.
async fn terminate_model(
    State(state): Shared,
    ApiPath(uid): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.library.terminate_model(&uid).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- knowledge bases and documents -----------------------------------------------------------

async fn list_kbs(State(state): Shared) -> ApiResult<Response> {
    Ok(Json(state.library.list_kbs().await?).into_response())
}

#[derive(Deserialize)]
struct NewKb {
    name: String,
    chunk_size: Option<u32>,
    chunk_overlap: Option<u32>,
    #[serde(default)]
    chunk_unit: lexinaut_core::ChunkUnit,
}

#[instrument(skip_all, fields(name = %body.name))]
async fn create_kb(State(state): Shared, ApiJson(body): ApiJson<NewKb>) -> ApiResult<Response> {
    let default = ChunkSpec::default();
    let spec = ChunkSpec {
        size: body.chunk_size.unwrap_or(default.size),
        overlap: body.chunk_overlap.unwrap_or(default.overlap),
        unit: body.chunk_unit,
    };
    let kb = state.library.create_kb_with(&body.name, spec).await?;
    Ok((StatusCode::CREATED, Json(kb)).into_response())
}

// ---- watched folders (on the server's disk; `serve` runs the watcher) ---------------------------

async fn list_watches(State(state): Shared, ApiPath(kb_id): ApiPath<i64>) -> ApiResult<Response> {
    ensure_kb(&state.library, kb_id).await?;
    Ok(Json(state.library.list_watches(Some(kb_id)).await?).into_response())
}

#[derive(Deserialize)]
struct NewWatch {
    path: PathBuf,
    #[serde(flatten)]
    options: WatchOptions,
}

/// Starts mirroring a folder on the server's disk into a knowledge base; the server's watcher
/// scans it at once.
async fn add_watch(
    State(state): Shared,
    ApiPath(kb_id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewWatch>,
) -> ApiResult<Response> {
    let folder = state
        .library
        .add_watch(kb_id, &body.path, body.options)
        .await?;
    Ok((StatusCode::CREATED, Json(folder)).into_response())
}

#[derive(Deserialize)]
struct WatchUpdate {
    paused: bool,
}

async fn update_watch(
    State(state): Shared,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<WatchUpdate>,
) -> ApiResult<Response> {
    Ok(Json(state.library.pause_watch(id, body.paused).await?).into_response())
}

#[derive(Deserialize)]
struct RemoveWatch {
    /// Also remove the documents imported from the folder.
    #[serde(default)]
    documents: bool,
}

#[derive(Serialize)]
struct WatchRemoved {
    /// Documents removed with the folder.
    documents_removed: u64,
}

async fn remove_watch(
    State(state): Shared,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<RemoveWatch>,
) -> ApiResult<Response> {
    let removed = state.library.remove_watch(id, query.documents).await?;
    Ok(Json(WatchRemoved {
        documents_removed: removed,
    })
    .into_response())
}

async fn list_documents(State(state): Shared, ApiPath(kb_id): ApiPath<i64>) -> ApiResult<Response> {
    Ok(Json(state.library.list_documents(kb_id).await?).into_response())
}

#[derive(Deserialize)]
struct JobsQuery {
    /// At most this many unfinished files (default 100).
    limit: Option<u32>,
}

/// Import jobs of a knowledge base: counts per step and the files not finished.
async fn import_jobs(
    State(state): Shared,
    ApiPath(kb_id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<JobsQuery>,
) -> ApiResult<Response> {
    let limit = query.limit.unwrap_or(100);
    Ok(Json(state.library.import_jobs(kb_id, limit).await?).into_response())
}

async fn document(State(state): Shared, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    Ok(Json(state.library.document(id).await?).into_response())
}

/// Removes a document from its knowledge base. A file the server keeps for it (an upload) is
/// deleted too; files elsewhere on the server's disk are never touched.
#[instrument(skip_all)]
async fn delete_document(State(state): Shared, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    let doc = state.library.document(id).await?;
    state.library.delete_document(id).await?;
    let uploads = state.library.config().data_dir.join("uploads");
    let path = PathBuf::from(&doc.path);
    if path.starts_with(&uploads) {
        if let Err(e) = tokio::fs::remove_file(&path).await {
            tracing::warn!(path = %path.display(), "cannot delete an uploaded file: {e}");
        }
    }
    let _ = state.changes.send(doc.kb_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Span {
    start: i64,
    end: i64,
}

async fn source_view(
    State(state): Shared,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(span): ApiQuery<Span>,
) -> ApiResult<Response> {
    Ok(Json(state.library.source_view(id, span.start, span.end).await?).into_response())
}

/// The original file of a catalogued document (the desktop opens it; a browser downloads it).
/// Only catalogued documents, by id: a client never names a path.
async fn document_file(State(state): Shared, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let doc = state.library.document(id).await?;
    let path = PathBuf::from(&doc.path);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|source| CoreError::Io {
            path: path.clone(),
            source,
        })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("document-{id}"));
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type_of(doc.format.as_deref())),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "inline; filename*=UTF-8''{}",
        percent_encode(&name)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn content_type_of(format: Option<&str>) -> &'static str {
    match format {
        Some("pdf") => "application/pdf",
        Some("text") => "text/plain; charset=utf-8",
        Some("markdown") => "text/markdown; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// RFC 5987 value characters (`attr-char`) kept, everything else `%XX`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---- search ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
    k: Option<u32>,
    folder: Option<String>,
    /// Comma-separated formats: `pdf,docx`.
    formats: Option<String>,
}

async fn search(
    State(state): Shared,
    ApiPath(kb_id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> ApiResult<Response> {
    let filter = SearchFilter {
        folder: query.folder.filter(|f| !f.is_empty()),
        formats: query
            .formats
            .iter()
            .flat_map(|f| f.split(','))
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
        ..SearchFilter::default()
    };
    let hits = state
        .library
        .search_with(kb_id, &query.q, query.k.unwrap_or(10), &filter)
        .await?;
    Ok(Json(hits).into_response())
}

// ---- answers ---------------------------------------------------------------------------------

/// `POST /kbs/{id}/ask`: an `AskRequest` without `kb_id` (it is in the path).
#[derive(Deserialize, Default)]
#[serde(default)]
struct AskBody {
    question: String,
    conversation_id: Option<i64>,
    filter: SearchFilter,
    mode: RetrievalMode,
    settings: Option<RetrievalSettings>,
}

/// How a long operation answers: `?stream=1` (or `Accept: text/event-stream`) for SSE.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LongQuery {
    stream: Option<String>,
    /// Names an answer so `POST /answers/{request_id}/stop` can stop it.
    request_id: Option<String>,
}

impl LongQuery {
    fn wants_stream(&self, headers: &HeaderMap) -> bool {
        let flag = self
            .stream
            .as_deref()
            .is_some_and(|s| matches!(s, "" | "1" | "true" | "yes"));
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
        flag || accept
    }
}

/// What an answer task does.
enum AnswerWork {
    Ask(AskRequest),
    Regenerate(i64),
}

#[instrument(skip_all)]
async fn ask(
    State(state): Shared,
    ApiPath(kb_id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<LongQuery>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AskBody>,
) -> ApiResult<Response> {
    let request = AskRequest {
        kb_id,
        question: body.question,
        conversation_id: body.conversation_id,
        filter: body.filter,
        mode: body.mode,
        settings: body.settings,
    };
    let stream = query.wants_stream(&headers);
    answer(&state, AnswerWork::Ask(request), stream, query.request_id).await
}

#[instrument(skip_all)]
async fn regenerate(
    State(state): Shared,
    ApiPath(conversation_id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<LongQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let stream = query.wants_stream(&headers);
    answer(
        &state,
        AnswerWork::Regenerate(conversation_id),
        stream,
        query.request_id,
    )
    .await
}

/// Writes an answer in its own task. The response (JSON, or the SSE stream) holds a guard that
/// cancels the answer when dropped, which is what happens when the client disconnects; the
/// task then stores the text so far as a cancelled answer.
async fn answer(
    state: &Arc<ServerState>,
    work: AnswerWork,
    stream: bool,
    request_id: Option<String>,
) -> ApiResult<Response> {
    if request_id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.len() > MAX_REQUEST_ID)
    {
        return Err(HttpError::new(
            ErrorCode::InvalidInput,
            format!("request_id must be 1 to {MAX_REQUEST_ID} bytes"),
        ));
    }
    let permit = slot(&state.answer_slots, ANSWER_QUEUE_WAIT, "questions").await?;
    let registration = request_id.map(|id| state.answers.begin(id, &state.shutdown));
    let token = registration
        .as_ref()
        .map_or_else(|| state.shutdown.child_token(), |r| r.control());
    let queue = Arc::new(ChatEventQueue::default());
    let task = tokio::spawn({
        let library = Arc::clone(&state.library);
        let queue = Arc::clone(&queue);
        let token = token.clone();
        async move {
            let _permit = permit;
            let _registration = registration;
            let on_event = |e| queue.push(e);
            let result = match work {
                AnswerWork::Ask(request) => library.ask(request, &on_event, token).await,
                AnswerWork::Regenerate(id) => library.regenerate(id, &on_event, token).await,
            };
            queue.close();
            result
        }
    });
    let cancel_on_drop = token.drop_guard();
    if !stream {
        let message = task.await??;
        cancel_on_drop.disarm();
        return Ok(Json(message).into_response());
    }
    // Errors before the answer starts (unknown knowledge base, empty question) get a real
    // status rather than a 200 stream holding an error.
    if !queue.wait_ready().await {
        let message = task.await??;
        cancel_on_drop.disarm();
        return Ok(Json(message).into_response());
    }
    let events = sse::answer_events(AnswerStream {
        queue,
        task,
        cancel_on_drop,
    });
    Ok(sse::respond(events).into_response())
}

#[derive(Serialize)]
struct Stopped {
    stopped: bool,
}

async fn stop_answer(State(state): Shared, ApiPath(request_id): ApiPath<String>) -> Json<Stopped> {
    Json(Stopped {
        stopped: state.answers.cancel(&request_id),
    })
}

/// A permit of `slots`, waiting at most `wait`.
async fn slot(
    slots: &Arc<Semaphore>,
    wait: Duration,
    what: &str,
) -> ApiResult<OwnedSemaphorePermit> {
    match tokio::time::timeout(wait, Arc::clone(slots).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(HttpError::internal("the server is shutting down")),
        Err(_) => Err(HttpError::busy(what)),
    }
}

// ---- conversations ---------------------------------------------------------------------------

async fn conversations(State(state): Shared, ApiPath(kb_id): ApiPath<i64>) -> ApiResult<Response> {
    Ok(Json(state.library.conversations(kb_id).await?).into_response())
}

async fn conversation_messages(
    State(state): Shared,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    Ok(Json(state.library.conversation_messages(id).await?).into_response())
}

#[derive(Deserialize)]
struct Rename {
    title: String,
}

async fn rename_conversation(
    State(state): Shared,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Rename>,
) -> ApiResult<Response> {
    Ok(Json(state.library.rename_conversation(id, &body.title).await?).into_response())
}

async fn delete_conversation(
    State(state): Shared,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    state.library.delete_conversation(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn export_conversation(
    State(state): Shared,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    let markdown = state.library.export_conversation(id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"conversation-{id}.md\""),
            ),
        ],
        markdown,
    )
        .into_response())
}

// ---- imports ---------------------------------------------------------------------------------

#[derive(Deserialize)]
struct IngestBody {
    /// Files and folders on the server's file system.
    paths: Vec<String>,
}

/// What an import task does.
enum ImportWork {
    Paths(Vec<PathBuf>),
    Resume,
}

#[instrument(skip_all, fields(paths = body.paths.len()))]
async fn ingest(
    State(state): Shared,
    ApiPath(kb_id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<LongQuery>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IngestBody>,
) -> ApiResult<Response> {
    if body.paths.is_empty() || body.paths.iter().any(|p| p.trim().is_empty()) {
        return Err(HttpError::new(
            ErrorCode::InvalidInput,
            "`paths` must list at least one file or folder, none empty",
        ));
    }
    ensure_kb(&state.library, kb_id).await?;
    let permit = slot(&state.import_slots, IMPORT_QUEUE_WAIT, "imports").await?;
    let paths = body.paths.into_iter().map(PathBuf::from).collect();
    run_import(
        &state,
        kb_id,
        ImportWork::Paths(paths),
        Vec::new(),
        permit,
        query.wants_stream(&headers),
    )
    .await
}

#[instrument(skip_all)]
async fn resume(
    State(state): Shared,
    ApiPath(kb_id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<LongQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    ensure_kb(&state.library, kb_id).await?;
    let permit = slot(&state.import_slots, IMPORT_QUEUE_WAIT, "imports").await?;
    run_import(
        &state,
        kb_id,
        ImportWork::Resume,
        Vec::new(),
        permit,
        query.wants_stream(&headers),
    )
    .await
}

/// `POST /kbs/{id}/upload`: multipart files (one or many; a `filename` may hold folders),
/// stored under `<data_dir>/uploads/<kb>/` and imported.
#[instrument(skip_all)]
async fn upload(
    State(state): Shared,
    ApiPath(kb_id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<LongQuery>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let mut multipart = multipart?;
    ensure_kb(&state.library, kb_id).await?;
    let permit = slot(&state.import_slots, IMPORT_QUEUE_WAIT, "imports").await?;
    let dir = state
        .library
        .config()
        .data_dir
        .join("uploads")
        .join(kb_id.to_string());
    let stored = upload::store_files(
        &mut multipart,
        &dir,
        state.max_file_bytes,
        &state.upload_seq,
    )
    .await?;
    if stored.paths.is_empty() && stored.refused.is_empty() {
        return Err(HttpError::new(
            ErrorCode::InvalidInput,
            "the upload holds no files (send multipart/form-data fields with a filename)",
        ));
    }
    run_import(
        &state,
        kb_id,
        ImportWork::Paths(stored.paths),
        stored.refused,
        permit,
        query.wants_stream(&headers),
    )
    .await
}

#[derive(Serialize)]
struct Cancelled {
    cancelled: bool,
}

/// Stops the import running in a knowledge base after the file in hand.
async fn cancel_import(State(state): Shared, ApiPath(kb_id): ApiPath<i64>) -> Json<Cancelled> {
    Json(Cancelled {
        cancelled: state.imports.cancel(&kb_id),
    })
}

#[derive(Deserialize)]
struct PauseRequest {
    paused: bool,
}

#[derive(Serialize)]
struct Paused {
    /// Whether an import was running to pause or resume.
    running: bool,
    paused: bool,
}

/// Pauses (no new file starts; files in hand finish) or resumes the import running in a
/// knowledge base; progress streams report the change.
async fn pause_import(
    State(state): Shared,
    ApiPath(kb_id): ApiPath<i64>,
    ApiJson(req): ApiJson<PauseRequest>,
) -> Json<Paused> {
    let control = state.imports.get(&kb_id);
    if let Some(c) = &control {
        if req.paused {
            c.pause();
        } else {
            c.resume();
        }
    }
    Json(Paused {
        running: control.is_some(),
        paused: control.is_some_and(|c| c.is_paused()),
    })
}

async fn ensure_kb(library: &Library, kb_id: i64) -> ApiResult<()> {
    if library.list_kbs().await?.iter().any(|kb| kb.id == kb_id) {
        Ok(())
    } else {
        Err(CoreError::NotFound(format!("knowledge base #{kb_id}")).into())
    }
}

/// Runs an import in its own task (registered for `ingest/cancel`, cancelled when the client
/// disconnects or the server stops; the catalogue's job table lets `resume` finish it later).
/// `refused` are files turned away before the import (too large), added to its summary.
async fn run_import(
    state: &Arc<ServerState>,
    kb_id: i64,
    work: ImportWork,
    refused: Vec<FileIssue>,
    permit: OwnedSemaphorePermit,
    stream: bool,
) -> ApiResult<Response> {
    let registration = state.imports.begin(kb_id, &state.shutdown);
    let control = registration.control();
    let token = control.cancellation_token();
    let (progress_tx, progress_rx) = watch::channel(None);
    let task = tokio::spawn({
        let library = Arc::clone(&state.library);
        let changes = state.changes.clone();
        async move {
            let _permit = permit;
            let _registration = registration;
            let progress = move |p: ImportProgress| {
                progress_tx.send_replace(Some(p));
            };
            let result = match work {
                ImportWork::Paths(paths) if paths.is_empty() => {
                    progress(ImportProgress {
                        finished: true,
                        ..ImportProgress::default()
                    });
                    Ok(ImportSummary::default())
                }
                ImportWork::Paths(paths) => library.ingest(kb_id, paths, &progress, control).await,
                ImportWork::Resume => library.resume(kb_id, &progress, control).await,
            };
            // Nobody may be listening any more; the notice is for the other clients.
            let _ = changes.send(kb_id);
            result.map(|mut summary| {
                summary.failed.extend(refused);
                summary
            })
        }
    });
    let cancel_on_drop = token.drop_guard();
    if stream {
        let events = sse::progress_events(progress_rx, task, cancel_on_drop, "summary");
        return Ok(sse::respond(events).into_response());
    }
    let summary = task.await??;
    cancel_on_drop.disarm();
    Ok(Json(summary).into_response())
}

/// Finishes imports that a crash or kill interrupted (as the desktop does at start-up), in one
/// import slot (they run one after the other); clients following the catalogue hear of each.
pub async fn resume_interrupted_imports(state: Arc<ServerState>) {
    let Ok(_permit) = Arc::clone(&state.import_slots).acquire_owned().await else {
        return;
    };
    state
        .library
        .resume_interrupted_imports(&state.imports, &state.shutdown, |kb_id| {
            let _ = state.changes.send(kb_id);
        })
        .await;
}
