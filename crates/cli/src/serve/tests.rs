//! The server in-process over a real TCP socket, with a slow scripted chat model (no model
//! server can be made reliably slow): a client that disconnects, a stop request and the
//! server's shutdown each cancel an answer being written, and the partial answer is kept.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use lexinaut_core::chat::prompt::PromptMessage;
use lexinaut_core::chat::{ChatModel, ChatModelInfo, MessageStatus, Role};
use lexinaut_core::{CancellationToken, Config, CoreError, Library};
use serde_json::{json, Value};

use super::routes;
use super::state::ServerState;

/// Pieces the model writes, one every `PIECE_DELAY`: ten seconds in all, far longer than any
/// test waits, so an answer that ends early was cancelled.
const PIECES: usize = 500;
const PIECE_DELAY: Duration = Duration::from_millis(20);

/// A chat model that writes `PIECES` pieces slowly and notes when it was asked.
#[derive(Default)]
struct SlowModel {
    asked: AtomicBool,
}

impl ChatModel for SlowModel {
    fn info(&self) -> BoxFuture<'_, ChatModelInfo> {
        Box::pin(async {
            ChatModelInfo {
                name: "qwen-slow".into(),
                context_tokens: Some(4096),
            }
        })
    }

    fn stream(
        &self,
        _messages: Vec<PromptMessage>,
        _max_tokens: u32,
        _cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<String, CoreError>>, CoreError>> {
        self.asked.store(true, Ordering::SeqCst);
        Box::pin(async {
            let pieces = futures::stream::iter(0..PIECES).then(|i| async move {
                tokio::time::sleep(PIECE_DELAY).await;
                Ok(format!("第{i}句。"))
            });
            Ok(Box::pin(pieces) as BoxStream<'static, _>)
        })
    }
}

struct TestServer {
    base: String,
    state: Arc<ServerState>,
    model: Arc<SlowModel>,
    kb: i64,
    _dir: tempfile::TempDir,
}

/// A library with one document and the slow model, served on a free port.
async fn start() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::from_env(Some(dir.path().join("data")));
    // Nothing from the developer's environment: no backends.
    config.xinference_url = None;
    config.chroma_url = None;
    config.managed_chroma = false;
    config.backends = lexinaut_core::BackendConfig::default();
    let library = Library::open(config).await.unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("熊猫.txt"),
        "大熊猫是中国特有的珍稀动物，每天要吃二十公斤以上的竹子。\n",
    )
    .unwrap();
    let kb = library.create_kb("测试").await.unwrap().id;
    library
        .ingest(kb, vec![docs], &|_| {}, CancellationToken::new())
        .await
        .unwrap();
    let model = Arc::new(SlowModel::default());
    library.set_chat_model(Some(model.clone()));

    let state = Arc::new(ServerState::new(
        Arc::new(library),
        None,
        4,
        1,
        CancellationToken::new(),
    ));
    let app = routes::router(Arc::clone(&state), 1 << 20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    TestServer {
        base,
        state,
        model,
        kb,
        _dir: dir,
    }
}

impl TestServer {
    fn ask_url(&self, query: &str) -> String {
        format!("{}/api/v1/kbs/{}/ask{query}", self.base, self.kb)
    }

    /// The stored answer of the only conversation, once it exists (waits up to 5 s).
    async fn stored_answer(&self) -> lexinaut_core::chat::ChatMessage {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let conversations = self.state.library.conversations(self.kb).await.unwrap();
            if let Some(c) = conversations.first() {
                let messages = self
                    .state
                    .library
                    .conversation_messages(c.id)
                    .await
                    .unwrap();
                if let Some(m) = messages.into_iter().find(|m| m.role == Role::Assistant) {
                    return m;
                }
            }
            assert!(Instant::now() < deadline, "no answer stored within 5 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reads an SSE response until `needle` has arrived; returns the text so far.
async fn read_until(response: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream ended early");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

fn question() -> Value {
    json!({"question": "大熊猫一天吃多少竹子？"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_the_answer_and_keeps_its_text() {
    let server = start().await;
    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .post(server.ask_url("?stream=1"))
        .json(&question())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = read_until(&mut response, "event: token").await;
    assert!(seen.starts_with("event: started"), "{seen}");
    drop(response);

    let answer = server.stored_answer().await;
    assert_eq!(answer.status, MessageStatus::Cancelled, "{answer:?}");
    assert!(answer.content.starts_with("第0句。"), "{}", answer.content);
    assert!(
        started.elapsed() < PIECE_DELAY * PIECES as u32,
        "the answer ran to its end: {:?}",
        started.elapsed()
    );
    // Its slot is free again once the task has ended (just after the answer is stored).
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.state.answer_slots.available_permits() < 4 {
        assert!(
            Instant::now() < deadline,
            "the answer's slot was not released"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_request_cancels_an_answer_by_its_request_id() {
    let server = start().await;
    let client = reqwest::Client::new();
    let ask = tokio::spawn({
        let (client, url) = (client.clone(), server.ask_url("?request_id=问题-1"));
        async move { client.post(url).json(&question()).send().await }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.model.asked.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the model was never asked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The id travels percent-encoded in the path.
    let stop = |id: &str| {
        client
            .post(format!("{}/api/v1/answers/{id}/stop", server.base))
            .send()
    };
    let stopped: Value = stop("问题-1").await.unwrap().json().await.unwrap();
    assert_eq!(stopped, json!({"stopped": true}));
    let message: Value = ask.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(message["status"], "cancelled", "{message}");
    assert_eq!(message["role"], "assistant");
    // Finished answers forget their id.
    let stopped: Value = stop("问题-1").await.unwrap().json().await.unwrap();
    assert_eq!(stopped, json!({"stopped": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_a_streaming_answer_with_its_cancelled_message() {
    let server = start().await;
    let mut response = reqwest::Client::new()
        .post(server.ask_url(""))
        .header("accept", "text/event-stream")
        .json(&question())
        .send()
        .await
        .unwrap();
    let mut seen = read_until(&mut response, "event: token").await;
    server.state.shutdown.cancel();
    let rest = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("the stream ends within 5 s")
        .unwrap();
    seen.push_str(&rest);
    let last = seen.trim_end().rsplit("\n\n").next().unwrap().to_owned();
    assert!(last.starts_with("event: finished"), "{last}");
    let data: Value = serde_json::from_str(last.split_once("data: ").unwrap().1).unwrap();
    assert_eq!(data["message"]["status"], "cancelled", "{data}");
}

#[test]
fn a_reader_that_falls_behind_gets_the_same_text_in_fewer_events() {
    use lexinaut_core::chat::ChatEvent;
    let queue = super::sse::ChatEventQueue::default();
    queue.push(ChatEvent::Sources {
        citations: Vec::new(),
    });
    for piece in ["大熊猫", "每天", "吃竹子"] {
        queue.push(ChatEvent::Token { text: piece.into() });
    }
    queue.push(ChatEvent::Rendered {
        html: "<p>旧</p>".into(),
    });
    queue.push(ChatEvent::Token { text: "。".into() });
    queue.push(ChatEvent::Rendered {
        html: "<p>新</p>".into(),
    });
    queue.close();
    let events = futures::executor::block_on(async {
        let mut out = Vec::new();
        while let Some(e) = queue.next().await {
            out.push(serde_json::to_value(&e).unwrap());
        }
        out
    });
    assert_eq!(
        events,
        vec![
            json!({"kind": "sources", "citations": []}),
            json!({"kind": "token", "text": "大熊猫每天吃竹子。"}),
            json!({"kind": "rendered", "html": "<p>新</p>"}),
        ]
    );

    // A reader that keeps up sees every piece on its own.
    let queue = super::sse::ChatEventQueue::default();
    futures::executor::block_on(async {
        for piece in ["一", "二"] {
            queue.push(ChatEvent::Token { text: piece.into() });
            let e = serde_json::to_value(queue.next().await.unwrap()).unwrap();
            assert_eq!(e["text"], piece);
        }
    });
}
