//! `lexinaut serve`: the real binary on a free port in a sandbox, driven over HTTP with reqwest:
//! knowledge bases, imports (paths, SSE progress, multipart uploads), search, answers (JSON and
//! SSE), conversations, source views, error codes, the token and shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::{header, Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{shown, Sandbox, SAMPLES};

/// A running `lexinaut serve` and a client for it.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    client: Client,
    token: Option<String>,
}

impl Server {
    /// Starts `lexinaut --data-dir DATA serve --port 0 ARGS` with `env` added; its log goes to
    /// `server.log` beside the data directory.
    fn start(s: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = s.docs().with_file_name("server.log");
        let mut cmd = s.bare_command();
        cmd.arg("--data-dir")
            .arg(s.data_dir())
            .args(["serve", "--port", "0"])
            .args(args)
            .env("LEXINAUT_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("server log"));
        let mut child = cmd.spawn().expect("start lexinaut serve");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("read the address");
        let base = first.trim().to_owned();
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "first line {first:?}; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let token = args
            .windows(2)
            .find(|w| w[0] == "--token")
            .map(|w| w[1].to_owned());
        Self {
            child,
            base,
            log,
            client: Client::new(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// A request carrying the token, when the server has one.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.client.request(method, self.url(path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("GET request")
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("POST request")
    }

    /// The response's JSON after checking its status.
    async fn expect_json(&self, response: Response, status: StatusCode) -> Value {
        let got = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(got, status, "body: {text}\nlog:\n{}", self.log_text());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server-sent event.
#[derive(Debug)]
struct SseEvent {
    kind: String,
    data: Value,
}

/// Parses a complete `text/event-stream` body (comments skipped).
fn parse_sse(body: &str) -> Vec<SseEvent> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|block| {
            let mut kind = String::from("message");
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            (!data.is_empty()).then(|| SseEvent {
                kind,
                data: serde_json::from_str(&data.join("\n")).expect("event data is JSON"),
            })
        })
        .collect()
}

/// A knowledge base with the Chinese samples imported from the sandbox's docs folder.
async fn kb_with_samples(server: &Server, s: &Sandbox, name: &str) -> i64 {
    let kb = server
        .expect_json(
            server.post("/kbs", json!({"name": name})).await,
            StatusCode::CREATED,
        )
        .await;
    let id = kb["id"].as_i64().expect("kb id");
    s.write_samples();
    let summary = server
        .expect_json(
            server
                .post(
                    &format!("/kbs/{id}/ingest"),
                    json!({"paths": [shown(&s.docs())]}),
                )
                .await,
            StatusCode::OK,
        )
        .await;
    assert_eq!(summary["documents"], SAMPLES.len(), "{summary}");
    id
}

#[tokio::test]
async fn serve_kb_ingest_search_ask_and_conversations() {
    let s = Sandbox::new();
    let server = Server::start(&s, &[], &[]);
    let health = server
        .expect_json(server.get("/health").await, StatusCode::OK)
        .await;
    assert_eq!(health["status"], "ok");

    let kb = kb_with_samples(&server, &s, "资料").await;
    let kbs = server
        .expect_json(server.get("/kbs").await, StatusCode::OK)
        .await;
    assert_eq!(kbs[0]["name"], "资料", "{kbs}");
    assert_eq!(kbs[0]["document_count"], SAMPLES.len(), "{kbs}");
    let docs = server
        .expect_json(
            server.get(&format!("/kbs/{kb}/documents")).await,
            StatusCode::OK,
        )
        .await;
    assert_eq!(docs.as_array().map(Vec::len), Some(SAMPLES.len()), "{docs}");
    // Every file's job finished (no vectors configured: stored means done).
    let jobs = server
        .expect_json(server.get(&format!("/kbs/{kb}/jobs")).await, StatusCode::OK)
        .await;
    assert_eq!(jobs["counts"]["done"], SAMPLES.len(), "{jobs}");
    assert_eq!(jobs["unfinished"], json!([]), "{jobs}");

    // Search: the query travels percent-encoded in the URL.
    let hits = server
        .expect_json(
            server
                .request(Method::GET, &format!("/kbs/{kb}/search"))
                .query(&[("q", "大红袍母树"), ("k", "2")])
                .send()
                .await
                .expect("search"),
            StatusCode::OK,
        )
        .await;
    let hits = hits.as_array().expect("hits");
    assert!(!hits.is_empty() && hits.len() <= 2, "{hits:?}");
    assert_eq!(hits[0]["path"], shown(&s.docs().join(SAMPLES[0].0)));

    // Ask, JSON: a retrieval-only answer (no model server) with citations.
    let answer = server
        .expect_json(
            server
                .post(
                    &format!("/kbs/{kb}/ask"),
                    json!({"question": "大熊猫一天吃多少竹子？"}),
                )
                .await,
            StatusCode::OK,
        )
        .await;
    assert_eq!(answer["role"], "assistant", "{answer}");
    assert_eq!(answer["mode"], "retrieval_only", "{answer}");
    assert_eq!(answer["status"], "complete", "{answer}");
    assert!(
        answer["content"]
            .as_str()
            .is_some_and(|c| c.contains("二十公斤")),
        "{answer}"
    );
    let first_conversation = answer["conversation_id"].as_i64().expect("conversation");
    let citation = &answer["citations"][0];
    assert_eq!(citation["path"], shown(&s.docs().join(SAMPLES[1].0)));

    // The cited span in the source viewer.
    let (doc, start, end) = (
        citation["document_id"].as_i64().expect("document id"),
        citation["start_char"].as_i64().expect("start"),
        citation["end_char"].as_i64().expect("end"),
    );
    let view = server
        .expect_json(
            server
                .get(&format!("/documents/{doc}/source?start={start}&end={end}"))
                .await,
            StatusCode::OK,
        )
        .await;
    let text: Vec<char> = view["text"].as_str().expect("text").chars().collect();
    let (hs, he) = (
        view["highlight_start"].as_u64().expect("hs") as usize,
        view["highlight_end"].as_u64().expect("he") as usize,
    );
    let highlighted: String = text[hs..he].iter().collect();
    assert!(highlighted.contains("二十公斤"), "{view}");
    assert_eq!(view["document"]["id"], doc);

    // Ask, SSE: started, then tokens, then finished, and nothing after finished.
    let response = server
        .request(Method::POST, &format!("/kbs/{kb}/ask"))
        .header(header::ACCEPT, "text/event-stream")
        .json(&json!({"question": "长城是为了抵御谁而修建的？"}))
        .send()
        .await
        .expect("ask SSE");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/event-stream")));
    let events = parse_sse(&response.text().await.expect("SSE body"));
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"finished"), "{kinds:?}");
    let first_token = kinds.iter().position(|k| *k == "token").expect("a token");
    assert!(
        first_token > 0 && first_token < kinds.len() - 1,
        "{kinds:?}"
    );
    for e in &events {
        assert_eq!(e.data["kind"], e.kind.as_str(), "{e:?}");
    }
    let finished = &events[events.len() - 1].data["message"];
    assert_eq!(finished["status"], "complete", "{finished}");
    let streamed: String = events
        .iter()
        .filter(|e| e.kind == "token")
        .filter_map(|e| e.data["text"].as_str())
        .collect();
    assert_eq!(finished["content"].as_str(), Some(streamed.as_str()));
    assert!(streamed.contains("游牧民族"), "{streamed}");
    let second_conversation = events[0].data["conversation"]["id"]
        .as_i64()
        .expect("conversation id");
    assert_ne!(first_conversation, second_conversation);

    // A follow-up in the first conversation, with ?stream=1 instead of the Accept header.
    let response = server
        .post(
            &format!("/kbs/{kb}/ask?stream=1"),
            json!({"question": "熊猫生活在哪些省份？", "conversation_id": first_conversation}),
        )
        .await;
    let events = parse_sse(&response.text().await.expect("SSE body"));
    assert_eq!(
        events[0].data["conversation"]["id"].as_i64(),
        Some(first_conversation)
    );

    // Conversations: list, messages, rename, export, delete.
    let list = server
        .expect_json(
            server.get(&format!("/kbs/{kb}/conversations")).await,
            StatusCode::OK,
        )
        .await;
    let ids: Vec<i64> = list
        .as_array()
        .expect("conversations")
        .iter()
        .filter_map(|c| c["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    assert!(ids.contains(&first_conversation) && ids.contains(&second_conversation));
    let messages = server
        .expect_json(
            server
                .get(&format!("/conversations/{first_conversation}/messages"))
                .await,
            StatusCode::OK,
        )
        .await;
    let roles: Vec<&str> = messages
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(
        roles,
        ["user", "assistant", "user", "assistant"],
        "{messages}"
    );

    let renamed = server
        .expect_json(
            server
                .request(
                    Method::PATCH,
                    &format!("/conversations/{first_conversation}"),
                )
                .json(&json!({"title": "熊猫问答"}))
                .send()
                .await
                .expect("rename"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(renamed["title"], "熊猫问答");

    let export = server
        .get(&format!("/conversations/{first_conversation}/export"))
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/markdown")));
    let markdown = export.text().await.expect("markdown");
    assert!(
        markdown.contains("熊猫问答") && markdown.contains("大熊猫一天吃多少竹子"),
        "{markdown}"
    );

    let deleted = server
        .request(
            Method::DELETE,
            &format!("/conversations/{first_conversation}"),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = server
        .get(&format!("/conversations/{first_conversation}/messages"))
        .await;
    let gone = server.expect_json(gone, StatusCode::NOT_FOUND).await;
    assert_eq!(gone["code"], "not_found");
    let status = server
        .expect_json(server.get("/vectors/status").await, StatusCode::OK)
        .await;
    assert_eq!(status["state"], "off", "{status}");
}

#[tokio::test]
async fn serve_errors_are_api_errors_with_http_statuses() {
    let s = Sandbox::new();
    let server = Server::start(&s, &[], &[]);
    let kb = kb_with_samples(&server, &s, "资料").await;

    let check = |value: Value, code: &str| {
        assert_eq!(value["code"], code, "{value}");
        assert!(
            value["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{value}"
        );
        assert_eq!(value.as_object().map(|o| o.len()), Some(2), "{value}");
    };
    // Unknown knowledge base, in every route that names one.
    for path in [
        "/kbs/999/documents",
        "/kbs/999/search?q=熊猫",
        "/kbs/999/conversations",
    ] {
        let r = server.get(path).await;
        check(
            server.expect_json(r, StatusCode::NOT_FOUND).await,
            "not_found",
        );
    }
    let r = server
        .post("/kbs/999/ask", json!({"question": "熊猫吃什么"}))
        .await;
    check(
        server.expect_json(r, StatusCode::NOT_FOUND).await,
        "not_found",
    );
    let r = server
        .post("/kbs/999/ingest", json!({"paths": [shown(&s.docs())]}))
        .await;
    check(
        server.expect_json(r, StatusCode::NOT_FOUND).await,
        "not_found",
    );
    // Empty question: 400 as JSON, and as a plain 400 (not a 200 stream) when SSE was asked for.
    let r = server
        .post(&format!("/kbs/{kb}/ask"), json!({"question": "   "}))
        .await;
    check(
        server.expect_json(r, StatusCode::BAD_REQUEST).await,
        "invalid_input",
    );
    let r = server
        .post(&format!("/kbs/{kb}/ask?stream=1"), json!({"question": ""}))
        .await;
    check(
        server.expect_json(r, StatusCode::BAD_REQUEST).await,
        "invalid_input",
    );
    // Name taken.
    let r = server.post("/kbs", json!({"name": "资料"})).await;
    check(
        server.expect_json(r, StatusCode::CONFLICT).await,
        "already_exists",
    );
    // Malformed requests.
    let r = server
        .request(Method::POST, "/kbs")
        .header(header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .expect("bad JSON");
    check(
        server.expect_json(r, StatusCode::BAD_REQUEST).await,
        "invalid_input",
    );
    let r = server.get(&format!("/kbs/{kb}/search")).await;
    check(
        server.expect_json(r, StatusCode::BAD_REQUEST).await,
        "invalid_input",
    );
    let r = server.get(&format!("/kbs/{kb}/search?q=熊猫&k=0")).await;
    check(
        server.expect_json(r, StatusCode::BAD_REQUEST).await,
        "invalid_input",
    );
    let r = server.get("/kbs/abc/documents").await;
    check(
        server.expect_json(r, StatusCode::BAD_REQUEST).await,
        "invalid_input",
    );
    let r = server
        .post(&format!("/kbs/{kb}/ingest"), json!({"paths": []}))
        .await;
    check(
        server.expect_json(r, StatusCode::BAD_REQUEST).await,
        "invalid_input",
    );
    let r = server.get("/documents/1/source?start=5&end=1").await;
    check(
        server.expect_json(r, StatusCode::BAD_REQUEST).await,
        "invalid_input",
    );
    // Unknown things and routes.
    let r = server.get("/conversations/4242/messages").await;
    check(
        server.expect_json(r, StatusCode::NOT_FOUND).await,
        "not_found",
    );
    let r = server.get("/documents/4242").await;
    check(
        server.expect_json(r, StatusCode::NOT_FOUND).await,
        "not_found",
    );
    let r = server.get("/no/such/route").await;
    check(
        server.expect_json(r, StatusCode::NOT_FOUND).await,
        "not_found",
    );
    let r = server
        .request(Method::PUT, "/kbs")
        .send()
        .await
        .expect("PUT");
    let v = server.expect_json(r, StatusCode::METHOD_NOT_ALLOWED).await;
    check(v.clone(), "invalid_input");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("/api/v1/kbs")),
        "{v}"
    );
    // A JSON body over the 1 MiB limit.
    let r = server
        .post(
            &format!("/kbs/{kb}/ask"),
            json!({"question": "熊".repeat(600_000)}),
        )
        .await;
    check(
        server.expect_json(r, StatusCode::PAYLOAD_TOO_LARGE).await,
        "invalid_input",
    );
}

#[tokio::test]
async fn serve_with_a_token_refuses_requests_without_it() {
    let s = Sandbox::new();
    let server = Server::start(&s, &["--token", "s3cret-团队"], &[]);
    let anonymous = Client::new();

    // Health stays open for monitors.
    let r = anonymous
        .get(server.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), StatusCode::OK);

    for (path, auth) in [
        ("/kbs", None),
        ("/kbs", Some("Bearer wrong")),
        ("/kbs", Some("Basic czNjcmV0")),
        ("/doctor", Some("Bearer s3cret")),
        ("/vectors/status", None),
    ] {
        let mut request = anonymous.get(server.url(path));
        if let Some(a) = auth {
            request = request.header(header::AUTHORIZATION, a);
        }
        let r = request.send().await.expect("request");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} {auth:?}");
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body: Value = r.json().await.expect("JSON");
        assert_eq!(body["code"], "unauthorized", "{body}");
    }
    let r = anonymous
        .post(server.url("/kbs"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // With the token (sent by `server.request`), and with the scheme in another case.
    let kbs = server
        .expect_json(server.get("/kbs").await, StatusCode::OK)
        .await;
    assert_eq!(kbs, json!([]));
    let r = anonymous
        .get(server.url("/kbs"))
        .header(header::AUTHORIZATION, "bearer s3cret-团队")
        .send()
        .await
        .expect("lowercase scheme");
    assert_eq!(r.status(), StatusCode::OK);
    let created = server.post("/kbs", json!({"name": "团队"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let s = Sandbox::new();
    let out = s
        .bare_command()
        .arg("--data-dir")
        .arg(s.data_dir())
        .args(["serve", "--host", "0.0.0.0", "--port", "0"])
        .output()
        .expect("run lexinaut serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without a token"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A `multipart/form-data` body built by hand, so file names go out exactly as written (a
/// browser sends them raw; some clients would escape the `../`).
fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----lexinaut-test-boundary-7d9a";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    // A plain form field is ignored.
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn serve_upload_stores_safe_names_imports_and_reports_bad_files() {
    let s = Sandbox::new();
    let server = Server::start(&s, &[], &[("LEXINAUT_MAX_FILE_MB", "1")]);
    let kb = server
        .expect_json(
            server.post("/kbs", json!({"name": "上传"})).await,
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .expect("kb id");

    let binary: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let big = "大".repeat(400_000); // 1.2 MB: over the 1 MiB limit set above
                                    // The oversized file comes first: the files after it must still arrive whole.
    let (content_type, body) = multipart(&[
        ("大文件.txt", big.as_bytes()),
        (
            "季度报告.txt",
            "营业收入同比增长百分之十二，主要来自新能源汽车业务。\n".as_bytes(),
        ),
        ("坏文件.txt", &binary),
        (
            "../../逃逸.txt",
            "路径穿越的文件必须留在上传目录里。\n".as_bytes(),
        ),
    ]);
    let response = server
        .request(Method::POST, &format!("/kbs/{kb}/upload"))
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    let summary = server.expect_json(response, StatusCode::OK).await;
    assert_eq!(summary["documents"], 2, "{summary}");

    let uploads = s.data_dir().join("uploads").join(kb.to_string());
    let stored = files_under(&uploads);
    assert_eq!(
        stored,
        vec![
            uploads.join("坏文件.txt"),
            uploads.join("季度报告.txt"),
            uploads.join("逃逸.txt"),
        ],
        "{stored:?}"
    );
    // Nothing escaped the upload folder.
    let root = s.docs().parent().expect("sandbox").to_owned();
    assert!(!root.join("逃逸.txt").exists() && !s.data_dir().join("逃逸.txt").exists());

    let failed = summary["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 2, "{summary}");
    let reason = |name: &str| {
        failed
            .iter()
            .find(|f| f["path"] == shown(&uploads.join(name)))
            .and_then(|f| f["reason"].as_str())
            .unwrap_or_else(|| panic!("{name} not failed: {summary}"))
            .to_owned()
    };
    assert!(
        reason("坏文件.txt").contains("binary"),
        "{}",
        reason("坏文件.txt")
    );
    assert!(
        reason("大文件.txt").contains("1 MiB"),
        "{}",
        reason("大文件.txt")
    );

    let hits = server
        .expect_json(
            server
                .request(Method::GET, &format!("/kbs/{kb}/search"))
                .query(&[("q", "新能源汽车")])
                .send()
                .await
                .expect("search"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        hits[0]["path"],
        shown(&uploads.join("季度报告.txt")),
        "{hits}"
    );

    // The original file of a document, by id.
    let doc = hits[0]["document_id"].as_i64().expect("doc id");
    let file = server.get(&format!("/documents/{doc}/file")).await;
    assert_eq!(file.status(), StatusCode::OK);
    assert!(file.text().await.expect("file").contains("新能源汽车业务"));

    // Deleting the document removes it from search and deletes the server's copy of the file.
    let r = server
        .request(Method::DELETE, &format!("/documents/{doc}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!uploads.join("季度报告.txt").exists());
    let hits = server
        .expect_json(
            server
                .request(Method::GET, &format!("/kbs/{kb}/search"))
                .query(&[("q", "新能源汽车")])
                .send()
                .await
                .expect("search"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(hits, json!([]));
    let r = server
        .request(Method::DELETE, &format!("/documents/{doc}"))
        .send()
        .await
        .expect("delete again");
    assert_eq!(
        server.expect_json(r, StatusCode::NOT_FOUND).await["code"],
        "not_found"
    );

    // Upload to an unknown knowledge base, and an upload without files.
    let (content_type, body) = multipart(&[("a.txt", b"text")]);
    let r = server
        .request(Method::POST, "/kbs/999/upload")
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(
        server.expect_json(r, StatusCode::NOT_FOUND).await["code"],
        "not_found"
    );
    let (content_type, body) = multipart(&[]);
    let r = server
        .request(Method::POST, &format!("/kbs/{kb}/upload"))
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(
        server.expect_json(r, StatusCode::BAD_REQUEST).await["code"],
        "invalid_input"
    );
}

#[tokio::test]
async fn serve_ingest_streams_progress_then_the_summary() {
    let s = Sandbox::new();
    let server = Server::start(&s, &[], &[]);
    let kb = server
        .expect_json(
            server.post("/kbs", json!({"name": "进度"})).await,
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .expect("kb id");
    s.write_samples();
    for i in 0..40 {
        s.write(
            &format!("批量/{i:03}.txt"),
            format!("第{i}份文件：长江流经重庆和武汉。\n"),
        );
    }
    let mut events_stream = server
        .request(Method::GET, "/events")
        .send()
        .await
        .expect("events");
    let response = server
        .post(
            &format!("/kbs/{kb}/ingest?stream=1"),
            json!({"paths": [shown(&s.docs())]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let events = parse_sse(&response.text().await.expect("SSE"));
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.last(), Some(&"summary"), "{kinds:?}");
    assert!(
        kinds[..kinds.len() - 1].iter().all(|k| *k == "progress"),
        "{kinds:?}"
    );
    let last_progress = &events[events.len() - 2].data;
    assert_eq!(last_progress["finished"], true, "{last_progress}");
    assert_eq!(last_progress["processed"], 43, "{last_progress}");
    let processed: Vec<u64> = events[..events.len() - 1]
        .iter()
        .filter_map(|e| e.data["processed"].as_u64())
        .collect();
    assert!(processed.windows(2).all(|w| w[0] <= w[1]), "{processed:?}");
    assert_eq!(events[events.len() - 1].data["documents"], 43);

    // The change feed saw the vector status first, then this knowledge base change.
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("catalogue_changed") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), events_stream.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            _ => break,
        }
    }
    let feed = parse_sse(&seen);
    assert_eq!(
        feed.first().map(|e| e.kind.as_str()),
        Some("vector_status"),
        "{seen}"
    );
    assert!(
        feed.iter()
            .any(|e| e.kind == "catalogue_changed" && e.data["kb_id"] == kb),
        "{seen}"
    );

    // Cancelling when nothing runs says so.
    let r = server
        .post(&format!("/kbs/{kb}/ingest/cancel"), json!({}))
        .await;
    assert_eq!(
        server.expect_json(r, StatusCode::OK).await,
        json!({"cancelled": false})
    );
}

#[tokio::test]
async fn serve_pauses_and_resumes_a_running_import() {
    let s = Sandbox::new();
    let server = Server::start(&s, &[], &[]);
    let kb = server
        .expect_json(
            server.post("/kbs", json!({"name": "暂停"})).await,
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .expect("kb id");
    for i in 0..3_000 {
        s.write(
            &format!("批量/{i:04}.txt"),
            format!("第{i}份文件：暂停与继续。\n"),
        );
    }
    let mut response = server
        .post(
            &format!("/kbs/{kb}/ingest?stream=1"),
            json!({"paths": [shown(&s.docs())]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut text = String::new();
    // Reads the stream until `done` says enough.
    async fn read_until(
        response: &mut reqwest::Response,
        text: &mut String,
        done: impl Fn(&[SseEvent]) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(&parse_sse(text)) {
            assert!(Instant::now() < deadline, "stream stalled: {text}");
            match tokio::time::timeout(Duration::from_secs(30), response.chunk()).await {
                Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
                other => panic!("stream ended early ({other:?}): {text}"),
            }
        }
    }
    read_until(&mut response, &mut text, |events| {
        events
            .iter()
            .any(|e| e.data["processed"].as_u64() > Some(0))
    })
    .await;
    let r = server
        .post(&format!("/kbs/{kb}/ingest/pause"), json!({"paused": true}))
        .await;
    assert_eq!(
        server.expect_json(r, StatusCode::OK).await,
        json!({"running": true, "paused": true})
    );
    read_until(&mut response, &mut text, |events| {
        events.iter().any(|e| e.data["paused"] == true)
    })
    .await;
    let held = parse_sse(&text)
        .iter()
        .filter_map(|e| e.data["processed"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(held < 3_000, "paused before the end: {held}");

    let r = server
        .post(&format!("/kbs/{kb}/ingest/pause"), json!({"paused": false}))
        .await;
    assert_eq!(
        server.expect_json(r, StatusCode::OK).await,
        json!({"running": true, "paused": false})
    );
    read_until(&mut response, &mut text, |events| {
        events.iter().any(|e| e.kind == "summary")
    })
    .await;
    let events = parse_sse(&text);
    assert_eq!(
        events.last().map(|e| e.data["documents"].clone()),
        Some(json!(3_000))
    );
    assert!(
        events
            .iter()
            .any(|e| e.data["paused"] == false && e.data["processed"].as_u64() > Some(held)),
        "the resume was reported and the import went on"
    );
    // Nothing runs any more.
    let r = server
        .post(&format!("/kbs/{kb}/ingest/pause"), json!({"paused": true}))
        .await;
    assert_eq!(
        server.expect_json(r, StatusCode::OK).await,
        json!({"running": false, "paused": false})
    );
}

#[tokio::test]
async fn serve_syncs_watched_folders_and_manages_them() {
    let s = Sandbox::new();
    let server = Server::start(&s, &[], &[]);
    let kb = server
        .expect_json(
            server.post("/kbs", json!({"name": "同步"})).await,
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .expect("kb id");
    let folder = s.docs().join("共享");
    s.write("共享/周报.txt", "第一周：仓库盘点完成。\n");
    async fn documents(server: &Server, kb: i64) -> usize {
        server
            .expect_json(
                server.get(&format!("/kbs/{kb}/documents")).await,
                StatusCode::OK,
            )
            .await
            .as_array()
            .map_or(0, Vec::len)
    }
    async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check().await {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let added = server
        .expect_json(
            server
                .post(
                    &format!("/kbs/{kb}/watches"),
                    json!({"path": shown(&folder), "exclude": ["*.tmp"]}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
    let id = added["id"].as_i64().expect("watch id");
    assert_eq!(added["exclude"], json!(["*.tmp"]));
    // The server's watcher scans the new folder, then follows it.
    until("the folder's file was not imported", async || {
        documents(&server, kb).await == 1
    })
    .await;
    s.write("共享/第二周.txt", "第二周：设备维修。\n");
    s.write("共享/草稿.tmp", "临时文件\n");
    until("a new file was not picked up", async || {
        documents(&server, kb).await == 2
    })
    .await;
    let list = server
        .expect_json(
            server.get(&format!("/kbs/{kb}/watches")).await,
            StatusCode::OK,
        )
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    let paused = server
        .expect_json(
            server
                .request(Method::PATCH, &format!("/watches/{id}"))
                .json(&json!({"paused": true}))
                .send()
                .await
                .expect("patch"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(paused["state"], "paused", "{paused}");
    let removed = server
        .expect_json(
            server
                .request(Method::DELETE, &format!("/watches/{id}?documents=true"))
                .send()
                .await
                .expect("delete"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(removed["documents_removed"], 2, "{removed}");
    assert_eq!(documents(&server, kb).await, 0);

    // A folder that does not exist is refused with a reason.
    let missing = server
        .post(
            &format!("/kbs/{kb}/watches"),
            json!({"path": shown(&s.docs().join("不存在"))}),
        )
        .await;
    let body = server.expect_json(missing, StatusCode::NOT_FOUND).await;
    assert_eq!(body["code"], "not_found", "{body}");
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let s = Sandbox::new();
    let mut server = Server::start(&s, &[], &[]);
    let kb = kb_with_samples(&server, &s, "停止").await;
    // An open event stream must not hold the shutdown up.
    let _events = server.get("/events").await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "still running 8 s after SIGTERM; log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}; log:\n{}", server.log_text());
    // The catalogue was closed: its write-ahead log folded back in, the file alone is the library.
    let mut files: Vec<String> = std::fs::read_dir(s.data_dir())
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("catalogue"))
        .collect();
    files.sort();
    assert_eq!(files, ["catalogue.sqlite3"]);
    // The library is intact: the CLI reads it.
    let out = s.json(["docs", "list", "--kb", "停止", "--json"]);
    assert_eq!(
        out.as_array().map(Vec::len),
        Some(SAMPLES.len()),
        "{out} (kb {kb})"
    );
}

/// The live Xinference URL and chat model uid (`scripts/backends.sh start`), or a skip note.
fn live_chat() -> Option<(String, String)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (
        env("LEXINAUT_TEST_XINFERENCE_URL"),
        env("LEXINAUT_TEST_CHAT_MODEL"),
    ) {
        (Some(url), Some(model)) => Some((url, model)),
        _ => {
            assert!(
                env("LEXINAUT_TEST_REQUIRE_BACKENDS").as_deref() != Some("1"),
                "LEXINAUT_TEST_REQUIRE_BACKENDS=1 but LEXINAUT_TEST_XINFERENCE_URL/CHAT_MODEL are unset"
            );
            eprintln!("skip: LEXINAUT_TEST_XINFERENCE_URL/CHAT_MODEL not set");
            None
        }
    }
}

/// The assistant message of a conversation, once stored (waits up to `wait`).
async fn stored_answer(server: &Server, conversation: i64, wait: Duration) -> Value {
    let deadline = Instant::now() + wait;
    loop {
        let messages = server
            .expect_json(
                server
                    .get(&format!("/conversations/{conversation}/messages"))
                    .await,
                StatusCode::OK,
            )
            .await;
        if let Some(answer) = messages
            .as_array()
            .and_then(|m| m.iter().find(|m| m["role"] == "assistant"))
        {
            return answer.clone();
        }
        assert!(Instant::now() < deadline, "no answer stored: {messages}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn serve_streams_a_generated_answer_and_a_disconnect_cancels_it() {
    let Some((xinference, chat)) = live_chat() else {
        return;
    };
    let s = Sandbox::new();
    let mut env = vec![
        ("LEXINAUT_XINFERENCE_URL", xinference.clone()),
        ("LEXINAUT_CHAT_MODEL", chat.clone()),
    ];
    // With an embedding model and Chroma, the server's background embedder must drain the
    // backlog of the import on its own.
    let vectors = match (
        std::env::var("LEXINAUT_TEST_EMBED_MODEL"),
        std::env::var("LEXINAUT_TEST_CHROMA_URL"),
    ) {
        (Ok(embed), Ok(chroma)) if !embed.is_empty() && !chroma.is_empty() => {
            env.push(("LEXINAUT_EMBED_MODEL", embed));
            env.push(("LEXINAUT_CHROMA_URL", chroma));
            true
        }
        _ => false,
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&s, &[], &env);
    let kb = kb_with_samples(&server, &s, "模型").await;
    if vectors {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = server
                .expect_json(server.get("/vectors/status").await, StatusCode::OK)
                .await;
            if status["state"] == "ready" && status["backlog"] == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "vectors not ready after 120 s: {status}\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    // A whole answer written by the model, streamed.
    let response = server
        .post(
            &format!("/kbs/{kb}/ask?stream=1"),
            json!({"question": "大熊猫一天吃多少竹子？"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let events = parse_sse(&response.text().await.expect("SSE"));
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert_eq!(events[0].data["mode"], "generated", "{:?}", events[0]);
    assert_eq!(kinds.last(), Some(&"finished"), "{kinds:?}");
    assert!(
        kinds.iter().filter(|k| **k == "token").count() > 1,
        "{kinds:?}"
    );
    let message = &events[events.len() - 1].data["message"];
    assert!(
        matches!(message["status"].as_str(), Some("complete" | "partial")),
        "{message}"
    );

    // A client that leaves after the first token: the answer stops and is kept as cancelled.
    let mut response = server
        .request(Method::POST, &format!("/kbs/{kb}/ask"))
        .header(header::ACCEPT, "text/event-stream")
        .json(&json!({"question": "请用五百字以上详细介绍大熊猫的食物、栖息地和保护历史。"}))
        .send()
        .await
        .expect("ask");
    let mut seen = String::new();
    while !seen.contains("event: token") {
        let chunk = tokio::time::timeout(Duration::from_secs(60), response.chunk())
            .await
            .expect("a token within 60 s")
            .expect("read")
            .expect("the stream ended before any token");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let started = parse_sse(&seen);
    let conversation = started[0].data["conversation"]["id"]
        .as_i64()
        .expect("conversation id");
    drop(response);
    let answer = stored_answer(&server, conversation, Duration::from_secs(30)).await;
    assert_eq!(answer["status"], "cancelled", "{answer}");
}
