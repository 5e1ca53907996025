//! The Xinference and Chroma clients: parsing of captured real responses, calls against the
//! real servers `scripts/backends.sh` starts, and faults injected by a proxy in front of them.
//!
//! Live tests read `LEXINAUT_TEST_XINFERENCE_URL`, `LEXINAUT_TEST_CHROMA_URL`,
//! `LEXINAUT_TEST_{EMBED,CHAT,RERANK}_MODEL` and `LEXINAUT_TEST_CHROMA_BIN`; without them they
//! print a skip note, unless `LEXINAUT_TEST_REQUIRE_BACKENDS=1` (set by `scripts/test.sh`),
//! which turns a missing server into a failure.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lexinaut_core::backends::{
    collection_name, BackendError, ChatEvent, ChatMessage, ChatRequest, ChromaClient,
    ChromaOptions, CollectionMetadata, LaunchSpec, ModelType, RetryPolicy, VectorRecord,
    XinferenceClient, XinferenceOptions,
};
use lexinaut_core::{ApiError, CancellationToken, CoreError, ErrorCode};
use serde_json::{json, Map, Value};

use crate::fault_proxy::{captured_body, captured_response, Fault, FaultProxy, PATIENCE};

// ---------------------------------------------------------------- environment

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub(crate) fn skip(what: &str) {
    assert!(
        env("LEXINAUT_TEST_REQUIRE_BACKENDS").as_deref() != Some("1"),
        "LEXINAUT_TEST_REQUIRE_BACKENDS=1 but {what} is not set: start the servers with \
         scripts/backends.sh start and export its backends.env as LEXINAUT_TEST_*"
    );
    eprintln!("skip: {what} not set (scripts/backends.sh start starts real servers)");
}

/// The live Xinference server and its three model uids.
pub(crate) struct Xinf {
    pub url: String,
    pub embed: String,
    pub chat: String,
    pub rerank: String,
}

pub(crate) fn live_xinference() -> Option<Xinf> {
    let vars = [
        "LEXINAUT_TEST_XINFERENCE_URL",
        "LEXINAUT_TEST_EMBED_MODEL",
        "LEXINAUT_TEST_CHAT_MODEL",
        "LEXINAUT_TEST_RERANK_MODEL",
    ];
    let values: Vec<Option<String>> = vars.iter().map(|v| env(v)).collect();
    match values.as_slice() {
        [Some(url), Some(embed), Some(chat), Some(rerank)] => Some(Xinf {
            url: url.clone(),
            embed: embed.clone(),
            chat: chat.clone(),
            rerank: rerank.clone(),
        }),
        _ => {
            skip(&vars.join(", "));
            None
        }
    }
}

pub(crate) fn live_chroma() -> Option<String> {
    let url = env("LEXINAUT_TEST_CHROMA_URL");
    if url.is_none() {
        skip("LEXINAUT_TEST_CHROMA_URL");
    }
    url
}

/// A free 127.0.0.1 port (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts `chroma run` (the cached venv's `bin`) on 127.0.0.1:`port` with its data in `path`,
/// output discarded, killed when the handle is dropped.
pub(crate) fn spawn_chroma(bin: &str, port: u16, path: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(bin)
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--path",
        ])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chroma")
}

/// Quick retries so fault tests do not wait out production backoffs.
fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    }
}

fn xinference(url: &str) -> XinferenceClient {
    XinferenceClient::new(url, XinferenceOptions::default()).expect("client")
}

fn xinference_with(url: &str, options: XinferenceOptions) -> XinferenceClient {
    XinferenceClient::new(url, options).expect("client")
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "Sentence number {i}: the {} fox jumps over {} lazy dogs.",
                ["quick", "slow", "red", "tired"][i % 4],
                i * 7
            )
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

async fn collect_stream(
    mut stream: lexinaut_core::backends::ChatStream,
) -> (String, Vec<Result<ChatEvent, BackendError>>) {
    let mut text = String::new();
    let mut tail = Vec::new();
    while let Some(event) = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("stream stalled")
    {
        match event {
            Ok(ChatEvent::Token(t)) if tail.is_empty() => text.push_str(&t),
            other => tail.push(other),
        }
    }
    (text, tail)
}

fn hello(model: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![
            ChatMessage::system("You are a helpful assistant."),
            ChatMessage::user("Tell me about the ocean in a few sentences."),
        ],
        temperature: Some(0.0),
        max_tokens: Some(max_tokens),
    }
}

// ---------------------------------------------------------------- captured responses

/// A proxy with no server behind it that answers the next request with `reply`.
async fn replay(reply: Vec<u8>) -> FaultProxy {
    let proxy = FaultProxy::start(None).await;
    proxy.push(Fault::Reply(reply));
    proxy
}

fn no_retry() -> XinferenceOptions {
    XinferenceOptions {
        retry: RetryPolicy::none(),
        ..XinferenceOptions::default()
    }
}

#[tokio::test]
async fn captured_success_responses_parse() {
    let Some(list) = captured_response("list_models.http", None) else {
        return;
    };
    let proxy = replay(list).await;
    let models = xinference(&proxy.url()).list_models().await.expect("list");
    let summary: Vec<(&str, &str, Option<&str>)> = models
        .iter()
        .map(|m| (m.uid.as_str(), m.model_type.as_str(), m.engine.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("minilm-emb", "embedding", Some("sentence_transformers")),
            ("smollm2-chat", "LLM", Some("llama.cpp")),
            ("minilm-rerank", "rerank", Some("sentence_transformers")),
        ]
    );
    assert_eq!(models[0].dimensions, Some(384));
    assert_eq!(models[1].context_length, Some(2048));
    assert_eq!(models[1].kind(), Some(ModelType::Llm));

    let body = captured_body("embeddings_response.json", "application/json").expect("capture");
    let proxy = replay(body).await;
    let two = vec!["a".to_owned(), "b".to_owned()];
    let vectors = xinference(&proxy.url())
        .embed("minilm-emb", &two)
        .await
        .expect("embeddings");
    assert_eq!(vectors.len(), 2);
    assert!(vectors.iter().all(|v| v.len() == 384));

    let body = captured_body("rerank_response.json", "application/json").expect("capture");
    let proxy = replay(body).await;
    let docs: Vec<String> = [
        "Paris is the capital of France.",
        "x",
        "The cat sits on the mat.",
        "Berlin is in Germany.",
    ]
    .map(String::from)
    .to_vec();
    let hits = xinference(&proxy.url())
        .rerank("minilm-rerank", "cat", &docs, Some(3))
        .await
        .expect("rerank");
    assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), [2, 3, 0]);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));

    let reply = captured_response("chat_nonstream.http", None).expect("capture");
    let proxy = replay(reply).await;
    let answer = xinference(&proxy.url())
        .chat(&hello("smollm2-chat", 16))
        .await
        .expect("chat");
    assert!(answer.content.starts_with("I'm so sorry"), "{answer:?}");
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    assert_eq!(answer.usage.map(|u| u.completion_tokens), Some(16));

    let reply = captured_response("terminate_model.http", None).expect("capture");
    let proxy = replay(reply).await;
    xinference(&proxy.url())
        .terminate("minilm-emb")
        .await
        .expect("terminate answers null");
}

#[tokio::test]
async fn captured_stream_yields_tokens_then_done_with_usage() {
    let Some(reply) = captured_response("chat_stream_with_usage.http", None) else {
        return;
    };
    let proxy = replay(reply).await;
    let stream = xinference(&proxy.url())
        .chat_stream(&hello("smollm2-chat", 24), CancellationToken::new())
        .await
        .expect("stream");
    let (text, tail) = collect_stream(stream).await;
    // The first delta's `content: null` yields nothing; the first token is "To".
    assert!(text.starts_with("To find the"), "{text:?}");
    assert_eq!(tail.len(), 1, "{tail:?}");
    match &tail[0] {
        Ok(ChatEvent::Done {
            finish_reason,
            usage,
        }) => {
            assert_eq!(finish_reason.as_deref(), Some("length"));
            assert_eq!(
                usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
                Some((17, 24))
            );
        }
        other => panic!("expected Done, got {other:?}"),
    }

    // The body-only capture (no usage chunk, finish_reason "stop").
    let reply = captured_body(
        "chat_stream_response.sse",
        "text/event-stream; charset=utf-8",
    )
    .expect("capture");
    let proxy = replay(reply).await;
    let stream = xinference(&proxy.url())
        .chat_stream(&hello("smollm2-chat", 100), CancellationToken::new())
        .await
        .expect("stream");
    let (text, tail) = collect_stream(stream).await;
    assert!(text.starts_with("The ocean"), "{text:?}");
    assert!(
        matches!(&tail[..], [Ok(ChatEvent::Done { finish_reason: Some(r), usage: None })] if r == "stop"),
        "{tail:?}"
    );
}

#[tokio::test]
async fn a_stream_that_ends_cleanly_but_early_is_a_stream_error() {
    let Some(full) = captured_body("chat_stream_response.sse", "text/event-stream") else {
        return;
    };
    // The captured stream without its last events (the finish_reason chunk and `[DONE]`),
    // properly terminated: the server closed the body as if the answer were complete.
    let text = String::from_utf8(full).expect("utf-8");
    let head_end = text.find("\r\n\r\n").expect("head") + 4;
    let body: String = crate::fault_proxy::dechunk(&text[head_end..]);
    let events: Vec<&str> = body.split_inclusive("\r\n\r\n").collect();
    let early = events[..events.len() - 3].concat();
    let reply = format!(
        "{}content-length: {}\r\n\r\n{early}",
        text[..head_end - 2].replace("transfer-encoding: chunked\r\n", ""),
        early.len()
    );
    let proxy = replay(reply.into_bytes()).await;
    let stream = xinference(&proxy.url())
        .chat_stream(&hello("smollm2-chat", 100), CancellationToken::new())
        .await
        .expect("stream");
    let (tokens, tail) = collect_stream(stream).await;
    assert!(tokens.starts_with("The ocean"), "{tokens:?}");
    match &tail[..] {
        [Err(BackendError::Stream { detail, .. })] => {
            assert!(detail.contains("ended before"), "{detail}")
        }
        other => panic!("expected one Stream error, got {other:?}"),
    }
}

#[tokio::test]
async fn captured_error_in_a_200_stream_is_a_stream_error() {
    let Some(reply) = captured_response("err_chat_on_embedding_stream.http", None) else {
        return;
    };
    let proxy = replay(reply).await;
    let stream = xinference(&proxy.url())
        .chat_stream(&hello("minilm-emb", 8), CancellationToken::new())
        .await
        .expect("HTTP 200");
    let (text, tail) = collect_stream(stream).await;
    assert_eq!(text, "");
    match &tail[..] {
        [Err(BackendError::Stream { detail, .. })] => {
            assert!(
                detail.contains("chat completion request failed"),
                "{detail}"
            )
        }
        other => panic!("expected one Stream error, got {other:?}"),
    }
}

#[tokio::test]
async fn captured_error_statuses_keep_the_servers_explanation() {
    // (file, call, expected status, words from the detail)
    let cases: [(&str, &str, u16, &str); 9] = [
        (
            "err_bad_json_embeddings.http",
            "embed",
            500,
            "Internal Server Error: Expecting property name",
        ),
        (
            "err_embeddings_missing_input.http",
            "embed",
            500,
            "field required",
        ),
        (
            "err_embeddings_unknown_model.http",
            "embed",
            404,
            "Model not found in the model list",
        ),
        (
            "err_embeddings_on_llm.http",
            "embed",
            500,
            "is not for creating embedding",
        ),
        (
            "err_rerank_unknown_model.http",
            "rerank",
            404,
            "(cached, retry after 10.0s)",
        ),
        (
            "err_chat_unknown_model_stream.http",
            "stream",
            404,
            "uid: no-such-model",
        ),
        (
            "err_launch_duplicate_uid.http",
            "launch",
            400,
            "Model is already in the model list",
        ),
        (
            "err_terminate_unknown_model.http",
            "terminate",
            400,
            "Model not found",
        ),
        (
            "error_401_auth_enabled.http",
            "list",
            401,
            "Could not validate credentials",
        ),
    ];
    for (file, call, status, words) in cases {
        let Some(reply) = captured_response(file, None) else {
            return;
        };
        let proxy = replay(reply).await;
        let client = xinference_with(&proxy.url(), no_retry());
        let one = vec!["x".to_owned()];
        let err = match call {
            "embed" => client.embed("m", &one).await.map(|_| ()),
            "rerank" => client.rerank("m", "q", &one, None).await.map(|_| ()),
            "stream" => client
                .chat_stream(&hello("no-such-model", 8), CancellationToken::new())
                .await
                .map(|_| ()),
            "launch" => client
                .launch(&LaunchSpec {
                    model_name: "minilm-l6-local".into(),
                    uid: Some("minilm-emb".into()),
                    ..LaunchSpec::default()
                })
                .await
                .map(|_| ()),
            "terminate" => client.terminate("no-such-model").await,
            _ => client.list_models().await.map(|_| ()),
        }
        .expect_err(file);
        match &err {
            BackendError::Http {
                status: s, detail, ..
            } => {
                assert_eq!(*s, status, "{file}: {err}");
                assert!(detail.contains(words), "{file}: {detail:?}");
            }
            other => panic!("{file}: expected Http, got {other:?}"),
        }
        // The boundary error says which kind of failure it is.
        let api = ApiError::from(CoreError::from(err));
        assert_eq!(api.code, ErrorCode::Backend, "{file}");
        assert!(api.message.contains("Xinference"), "{}", api.message);
    }
}

// ---------------------------------------------------------------- live Xinference

#[tokio::test]
async fn live_embeddings_keep_order_across_concurrent_batches() {
    let Some(x) = live_xinference() else { return };
    let client = xinference_with(
        &x.url,
        XinferenceOptions {
            embed_batch_size: 8,
            embed_concurrency: 3,
            ..XinferenceOptions::default()
        },
    );
    let input = texts(100);
    let vectors = client.embed(&x.embed, &input).await.expect("embed 100");
    assert_eq!(vectors.len(), 100);
    assert!(
        vectors.iter().all(|v| v.len() == 384),
        "MiniLM has 384 dimensions"
    );
    // Each text alone must give the vector at its own position.
    for i in [0, 7, 8, 42, 99] {
        let alone = client
            .embed(&x.embed, &input[i..=i])
            .await
            .expect("embed one");
        let best = (0..100)
            .max_by(|a, b| {
                cosine(&alone[0], &vectors[*a]).total_cmp(&cosine(&alone[0], &vectors[*b]))
            })
            .expect("some");
        assert_eq!(best, i, "text {i} came back at position {best}");
        assert!(cosine(&alone[0], &vectors[i]) > 0.999);
    }
    assert!(client
        .embed(&x.embed, &[])
        .await
        .expect("nothing")
        .is_empty());
}

#[tokio::test]
async fn live_rerank_and_non_streamed_chat() {
    let Some(x) = live_xinference() else { return };
    let client = xinference(&x.url);
    let docs: Vec<String> = [
        "Paris is the capital of France.",
        "Berlin is in Germany.",
        "The cat sits on the mat.",
        "Rome is in Italy.",
    ]
    .map(String::from)
    .to_vec();
    let hits = client
        .rerank(&x.rerank, "Where does the cat sit?", &docs, Some(2))
        .await
        .expect("rerank");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(hits.iter().all(|h| h.index < docs.len()));
    assert!(hits[0].score >= hits[1].score);

    let answer = client.chat(&hello(&x.chat, 12)).await.expect("chat");
    assert!(!answer.content.is_empty());
    assert!(answer.finish_reason.is_some(), "{answer:?}");

    // Chat on an embedding model: the server refuses with its own words.
    let err = xinference_with(&x.url, no_retry())
        .chat(&hello(&x.embed, 4))
        .await
        .expect_err("chat on an embedding model");
    assert!(
        matches!(err, BackendError::Http { status: 500, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn live_chat_streams_tokens_then_done() {
    let Some(x) = live_xinference() else { return };
    let client = xinference(&x.url);
    let stream = client
        .chat_stream(&hello(&x.chat, 24), CancellationToken::new())
        .await
        .expect("stream");
    let (text, tail) = collect_stream(stream).await;
    assert!(!text.trim().is_empty(), "no tokens");
    match &tail[..] {
        [Ok(ChatEvent::Done {
            finish_reason: Some(_),
            usage: Some(usage),
        })] => assert!(usage.completion_tokens > 0 && usage.completion_tokens <= 24),
        other => panic!("expected Done with usage, got {other:?}"),
    }

    // An unknown uid fails before any stream starts.
    let err = client
        .chat_stream(
            &hello("lexinaut-no-such-model", 4),
            CancellationToken::new(),
        )
        .await
        .err()
        .expect("unknown model");
    assert_eq!(err.status(), Some(404), "{err:?}");
}

#[tokio::test]
async fn live_chat_cancellation_stops_the_stream_early() {
    let Some(x) = live_xinference() else { return };
    let client = xinference(&x.url);
    let cancel = CancellationToken::new();
    let mut stream = client
        .chat_stream(&hello(&x.chat, 400), cancel.clone())
        .await
        .expect("stream");
    let mut tokens = 0;
    let mut last = None;
    while let Some(event) = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("stream stalled")
    {
        match event {
            Ok(ChatEvent::Token(_)) => {
                tokens += 1;
                if tokens == 3 {
                    cancel.cancel();
                }
            }
            other => {
                last = Some(other);
                break;
            }
        }
    }
    assert!(
        matches!(last, Some(Err(BackendError::Cancelled))),
        "{last:?}"
    );
    assert!(
        (3..10).contains(&tokens),
        "{tokens} tokens after cancelling at 3"
    );
    assert!(stream.next().await.is_none(), "nothing after the error");

    // A dropped stream frees the server: the next chat is answered at once.
    let stream = client
        .chat_stream(&hello(&x.chat, 400), CancellationToken::new())
        .await
        .expect("stream");
    drop(stream);
    let started = Instant::now();
    client
        .chat(&hello(&x.chat, 4))
        .await
        .expect("chat after drop");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn live_launch_and_terminate_a_model_from_lexinaut() {
    let Some(x) = live_xinference() else { return };
    let client = xinference(&x.url);
    assert!(client.version().await.expect("version").starts_with('4'));
    let running = client.list_models().await.expect("list");
    let embed = running
        .iter()
        .find(|m| m.uid == x.embed)
        .expect("the embedding model runs");
    let registered = client
        .registrations(ModelType::Embedding)
        .await
        .expect("registrations");
    assert!(registered
        .iter()
        .any(|r| r.model_name == embed.model_name && !r.is_builtin));
    assert!(
        registered.iter().any(|r| r.is_builtin),
        "built-in models are listed too"
    );

    let uid = format!("lexinaut-it-embed-{}", std::process::id());
    let spec = LaunchSpec {
        model_name: embed.model_name.clone(),
        model_type: Some(ModelType::Embedding),
        engine: embed.engine.clone(),
        uid: Some(uid.clone()),
        extra: Map::from_iter([("enable_virtual_env".to_owned(), Value::Bool(false))]),
        ..LaunchSpec::default()
    };
    let polls = std::sync::Mutex::new(Vec::new());
    let on_progress = |p: lexinaut_core::backends::LaunchProgress| {
        polls.lock().expect("polls").push(p);
    };
    let launched = client
        .launch_with_progress(&spec, &on_progress, CancellationToken::new())
        .await
        .expect("launch");
    assert_eq!(launched, uid);
    let polls = polls.into_inner().expect("polls");
    eprintln!("launch polled {} times: {:?}", polls.len(), polls.last());
    assert!(polls
        .iter()
        .all(|p| p.uid == uid && (0.0..=1.0).contains(&p.progress)));

    let model = client
        .running_model(&uid)
        .await
        .expect("list")
        .expect("running");
    assert_eq!(model.dimensions, Some(384));
    let v = client
        .embed(&uid, &texts(3))
        .await
        .expect("embed with the new copy");
    assert_eq!(v.len(), 3);

    // Launching the same uid again is refused, with the server's reason.
    let err = xinference_with(&x.url, no_retry())
        .launch(&spec)
        .await
        .expect_err("duplicate uid");
    assert_eq!(err.status(), Some(400), "{err:?}");

    client.terminate(&uid).await.expect("terminate");
    assert!(client.running_model(&uid).await.expect("list").is_none());
    let err = client.terminate(&uid).await.expect_err("already gone");
    assert!(matches!(err, BackendError::Http { .. }), "{err:?}");
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn embed_retries_through_a_503_then_succeeds() {
    let Some(x) = live_xinference() else { return };
    let Some(unavailable) = captured_response(
        "err_chat_on_embedding.http",
        Some((503, "Service Unavailable")),
    ) else {
        return;
    };
    let proxy = FaultProxy::start(Some(&x.url)).await;
    proxy.push(Fault::Reply(unavailable.clone()));
    proxy.push(Fault::Reply(unavailable.clone()));
    let client = xinference_with(
        &proxy.url(),
        XinferenceOptions {
            embed_batch_size: 16,
            retry: fast_retry(4),
            ..XinferenceOptions::default()
        },
    );
    let vectors = client
        .embed(&x.embed, &texts(10))
        .await
        .expect("third attempt");
    assert_eq!(vectors.len(), 10);
    assert_eq!(proxy.requests(), 3, "two 503s, then the real answer");

    // More 503s than attempts: the error says the backend is unavailable.
    for _ in 0..4 {
        proxy.push(Fault::Reply(unavailable.clone()));
    }
    let err = client
        .embed(&x.embed, &texts(2))
        .await
        .expect_err("503 four times");
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(proxy.requests(), 7);
    let api = ApiError::from(CoreError::from(err));
    assert_eq!(api.code, ErrorCode::BackendUnavailable);
}

#[tokio::test]
async fn a_stalled_server_times_out_within_the_limit() {
    let Some(x) = live_xinference() else { return };
    let proxy = FaultProxy::start(Some(&x.url)).await;
    proxy.push(Fault::Stall);
    let limit = Duration::from_millis(1500);
    let client = xinference_with(
        &proxy.url(),
        XinferenceOptions {
            request_timeout: limit,
            ..XinferenceOptions::default()
        },
    );
    let started = Instant::now();
    let err = client.embed(&x.embed, &texts(2)).await.expect_err("stall");
    let took = started.elapsed();
    assert!(matches!(err, BackendError::Timeout { .. }), "{err:?}");
    assert!(err.is_unavailable());
    assert!(
        took >= limit && took < limit + Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(proxy.requests(), 1, "a timeout is not retried");
    // The next request goes through.
    assert_eq!(
        client
            .embed(&x.embed, &texts(2))
            .await
            .expect("embed")
            .len(),
        2
    );
}

#[tokio::test]
async fn a_chat_stream_cut_mid_answer_gives_tokens_then_an_error() {
    let Some(x) = live_xinference() else { return };
    let proxy = FaultProxy::start(Some(&x.url)).await;
    // The head is ~300 bytes and every event ~330: this passes a handful of tokens.
    proxy.push(Fault::CutAfter(2500));
    let client = xinference(&proxy.url());
    let stream = client
        .chat_stream(&hello(&x.chat, 200), CancellationToken::new())
        .await
        .expect("stream starts");
    let (text, tail) = collect_stream(stream).await;
    assert!(!text.is_empty(), "tokens before the cut");
    match &tail[..] {
        [Err(BackendError::Unreachable { .. } | BackendError::Stream { .. })] => {}
        other => panic!("expected one Unreachable/Stream error after the tokens, got {other:?}"),
    }

    // A server that goes silent mid-stream: the idle limit ends it.
    proxy.push(Fault::StallAfter(2500));
    let client = xinference_with(
        &proxy.url(),
        XinferenceOptions {
            stream_idle_timeout: Duration::from_secs(2),
            ..XinferenceOptions::default()
        },
    );
    let stream = client
        .chat_stream(&hello(&x.chat, 200), CancellationToken::new())
        .await
        .expect("stream starts");
    let (text, tail) = collect_stream(stream).await;
    assert!(!text.is_empty());
    assert!(
        matches!(&tail[..], [Err(BackendError::Timeout { .. })]),
        "{tail:?}"
    );
}

// ---------------------------------------------------------------- live Chroma

fn record(i: usize) -> VectorRecord {
    // Unit vectors spread over 16 dimensions: record i is nearest to itself.
    let angle = i as f32 * 0.001;
    let mut embedding = vec![0.0f32; 16];
    embedding[i % 16] = angle.cos();
    embedding[(i / 16) % 16] += angle.sin() + 0.5;
    VectorRecord {
        id: format!("r{i}"),
        embedding,
        document: Some(format!("chunk {i}")),
        metadata: Map::from_iter([
            ("doc_id".to_owned(), json!(i / 100)),
            ("page".to_owned(), json!(i % 7)),
        ]),
    }
}

#[tokio::test]
async fn live_chroma_collections_upsert_query_and_delete() {
    let Some(url) = live_chroma() else { return };
    let client = ChromaClient::new(
        &url,
        ChromaOptions {
            upsert_batch_size: 300,
            ..ChromaOptions::default()
        },
    )
    .expect("client");
    client.heartbeat().await.expect("heartbeat");
    assert!(!client.version().await.expect("version").is_empty());
    let pre = client.pre_flight().await.expect("pre-flight");
    assert!(pre.max_batch_size >= 300, "{pre:?}");

    let kb_id = i64::from(std::process::id());
    let name = collection_name("a1b2c3", kb_id, "test/embed model:v1");
    let meta = CollectionMetadata {
        embedding_model: "test/embed model:v1".into(),
        dimension: 16,
        kb_id,
    };
    client.delete_collection(&name).await.expect("clean slate");
    let col = client
        .ensure_collection(&name, &meta)
        .await
        .expect("create");
    assert_eq!(col.kb_id(), Some(kb_id));
    assert_eq!(
        client
            .ensure_collection(&name, &meta)
            .await
            .expect("again")
            .id,
        col.id
    );
    let other = CollectionMetadata {
        dimension: 32,
        ..meta.clone()
    };
    let err = client
        .ensure_collection(&name, &other)
        .await
        .expect_err("other dimension");
    assert!(matches!(err, BackendError::Protocol { .. }), "{err:?}");

    let records: Vec<VectorRecord> = (0..1000).map(record).collect();
    let started = Instant::now();
    client.upsert(&col, &records).await.expect("upsert 1000");
    eprintln!("upserted 1000 records in {:?}", started.elapsed());
    assert_eq!(client.count(&col).await.expect("count"), 1000);
    // Upserting again replaces, never duplicates.
    client
        .upsert(&col, &records[..10])
        .await
        .expect("upsert again");
    assert_eq!(client.count(&col).await.expect("count"), 1000);

    let hits = client
        .query(&col, &records[123].embedding, 5, None)
        .await
        .expect("query");
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0].id, "r123", "{hits:?}");
    assert!(hits[0].distance < 1e-4, "{hits:?}");
    assert_eq!(hits[0].document.as_deref(), Some("chunk 123"));
    assert_eq!(hits[0].metadata["doc_id"], json!(1));
    assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));

    let filter = json!({"doc_id": 4});
    let hits = client
        .query(&col, &records[123].embedding, 3, Some(&filter))
        .await
        .expect("filtered query");
    assert!(
        hits.iter().all(|h| h.metadata["doc_id"] == json!(4)),
        "{hits:?}"
    );

    let ids: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    client.delete(&col, &ids).await.expect("delete by id");
    assert_eq!(client.count(&col).await.expect("count"), 990);
    let deleted = client
        .delete_where(&col, &json!({"doc_id": 9}))
        .await
        .expect("delete by where");
    assert_eq!(deleted, 100);
    assert_eq!(client.count(&col).await.expect("count"), 890);

    let page = client
        .get_ids(&col, Some(&json!({"doc_id": 3})), 60, 0)
        .await
        .expect("ids");
    let rest = client
        .get_ids(&col, Some(&json!({"doc_id": 3})), 60, 60)
        .await
        .expect("ids");
    assert_eq!((page.len(), rest.len()), (60, 40));
    assert!(
        client
            .get_ids(&col, None, 2000, 0)
            .await
            .expect("all")
            .len()
            == 890
    );

    let listed = client.list_collections().await.expect("list");
    assert!(listed.iter().any(|c| c.id == col.id));
    assert!(client.collection_count().await.expect("count") >= 1);
    assert_eq!(
        client.collection(&name).await.expect("get").map(|c| c.id),
        Some(col.id.clone())
    );
    assert!(client.delete_collection(&name).await.expect("delete"));
    assert!(!client.delete_collection(&name).await.expect("gone"));
    assert!(client.collection(&name).await.expect("get").is_none());
    let err = client.count(&col).await.expect_err("deleted collection");
    assert_eq!(err.status(), Some(404), "{err:?}");
}

#[tokio::test]
async fn a_chroma_killed_mid_upsert_is_unreachable() {
    let Some(bin) = env("LEXINAUT_TEST_CHROMA_BIN") else {
        skip("LEXINAUT_TEST_CHROMA_BIN");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = spawn_chroma(&bin, port, &dir.path().join("chroma"));
    let url = format!("http://127.0.0.1:{port}");
    let client = ChromaClient::new(
        &url,
        ChromaOptions {
            upsert_batch_size: 50,
            retry: fast_retry(3),
            ..ChromaOptions::default()
        },
    )
    .expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.heartbeat().await.is_err() {
        assert!(Instant::now() < deadline, "private chroma did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let meta = CollectionMetadata {
        embedding_model: "m".into(),
        dimension: 16,
        kb_id: 1,
    };
    let col = client
        .ensure_collection("kill-test", &meta)
        .await
        .expect("create");
    let records: Vec<VectorRecord> = (0..20_000).map(record).collect();
    let upsert = {
        let client = client.clone();
        let col = col.clone();
        tokio::spawn(async move { client.upsert(&col, &records).await })
    };
    // Let some batches land, then kill the server under the running upsert.
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.count(&col).await.unwrap_or(0) < 100 {
        assert!(Instant::now() < deadline, "no batch landed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.start_kill().expect("kill chroma");
    server.wait().await.expect("reaped");
    let result = tokio::time::timeout(PATIENCE, upsert)
        .await
        .expect("upsert returns")
        .expect("task");
    match result {
        Err(BackendError::Unreachable { url: u, .. }) => assert!(u.starts_with(&url)),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    let err = client.heartbeat().await.expect_err("dead");
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(
        ApiError::from(CoreError::from(err)).code,
        ErrorCode::BackendUnavailable
    );
}

// ---------------------------------------------------------------- benchmark

/// Throughput through the clients, for `scripts/bench-backends.sh` (which also times the same
/// batches sent by a plain Python loop). Prints one `BENCH {json}` line.
#[tokio::test]
#[ignore = "benchmark: run by scripts/bench-backends.sh"]
async fn bench_backends() {
    let (Some(x), Some(chroma)) = (live_xinference(), live_chroma()) else {
        return;
    };
    let corpus = env("LEXINAUT_BENCH_CORPUS").expect("LEXINAUT_BENCH_CORPUS");
    let n: usize = env("LEXINAUT_BENCH_N").map_or(1000, |v| v.parse().expect("N"));
    let chars: usize = env("LEXINAUT_BENCH_CHARS").map_or(400, |v| v.parse().expect("CHARS"));
    let runs: usize = env("LEXINAUT_BENCH_RUNS").map_or(3, |v| v.parse().expect("RUNS"));
    let batch: usize = env("LEXINAUT_BENCH_BATCH").map_or(32, |v| v.parse().expect("BATCH"));
    let text = std::fs::read_to_string(&corpus).expect("corpus");
    let input: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .map(|l| l.chars().take(chars).collect())
        .collect();
    assert_eq!(input.len(), n, "corpus too short");

    let mut report = Map::new();
    let mut vectors = Vec::new();
    for concurrency in [1usize, 2] {
        let client = xinference_with(
            &x.url,
            XinferenceOptions {
                embed_batch_size: batch,
                embed_concurrency: concurrency,
                ..XinferenceOptions::default()
            },
        );
        client
            .embed(&x.embed, &input[..batch])
            .await
            .expect("warm-up");
        let mut best = f64::MAX;
        for _ in 0..runs {
            let started = Instant::now();
            vectors = client.embed(&x.embed, &input).await.expect("embed");
            best = best.min(started.elapsed().as_secs_f64());
        }
        report.insert(format!("embed_c{concurrency}_secs"), json!(best));
        report.insert(
            format!("embed_c{concurrency}_texts_per_sec"),
            json!(n as f64 / best),
        );
    }

    let client = ChromaClient::new(&chroma, ChromaOptions::default()).expect("client");
    let name = format!("lexinaut-bench-{}", std::process::id());
    let meta = CollectionMetadata {
        embedding_model: x.embed.clone(),
        dimension: u32::try_from(vectors[0].len()).expect("dimension"),
        kb_id: 0,
    };
    let records: Vec<VectorRecord> = vectors
        .iter()
        .zip(&input)
        .enumerate()
        .map(|(i, (v, t))| VectorRecord {
            id: format!("c{i}"),
            embedding: v.clone(),
            document: Some(t.clone()),
            metadata: Map::from_iter([("doc_id".to_owned(), json!(i / 10))]),
        })
        .collect();
    let mut best = f64::MAX;
    for _ in 0..runs {
        client.delete_collection(&name).await.expect("clean");
        let col = client
            .ensure_collection(&name, &meta)
            .await
            .expect("collection");
        let started = Instant::now();
        client.upsert(&col, &records).await.expect("upsert");
        best = best.min(started.elapsed().as_secs_f64());
        assert_eq!(client.count(&col).await.expect("count"), n as u64);
    }
    client.delete_collection(&name).await.expect("clean up");
    report.insert(
        "chroma_upsert_records_per_sec".into(),
        json!(n as f64 / best),
    );

    let chat = xinference(&x.url);
    let mut ttft = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut stream = chat
            .chat_stream(&hello(&x.chat, 8), CancellationToken::new())
            .await
            .expect("stream");
        while let Some(event) = stream.next().await {
            if matches!(event.expect("event"), ChatEvent::Token(_)) {
                break;
            }
        }
        ttft.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ttft.sort_by(f64::total_cmp);
    report.insert("chat_ttft_ms_median".into(), json!(ttft[ttft.len() / 2]));
    println!("BENCH {}", Value::Object(report));
}
