//! Vectors end to end against the real servers: every chunk gets one vector in Chroma, deletes
//! follow, vector and hybrid retrieval work, answers stream from the real chat model, a Chroma
//! that dies leaves a backlog that drains when it is back, and a consistency check repairs
//! differences. Needs the `LEXINAUT_TEST_*` servers (scripts/backends.sh); skips without them.

use std::time::{Duration, Instant};

use lexinaut_core::backends::{collection_name, ChromaClient, ChromaOptions};
use lexinaut_core::chat::{AnswerMode, AskRequest, ChatEvent, MessageStatus, RetrievalMode};
use lexinaut_core::vectors::VectorState;
use lexinaut_core::{CancellationToken, Config, SearchFilter};
use sqlx::Connection;

use crate::backends::{env, free_port, live_chroma, live_xinference, skip, spawn_chroma};
use crate::support::{capture_logs, shown, write, TestLibrary};

/// A library wired to the live servers (Chroma at `chroma_url`).
pub(crate) async fn library(chroma_url: &str, chat: bool) -> Option<TestLibrary> {
    let x = live_xinference()?;
    let chroma = chroma_url.to_owned();
    Some(
        TestLibrary::open_with(move |c: &mut Config| {
            c.xinference_url = Some(x.url.clone());
            c.chroma_url = Some(chroma);
            c.backends.embed_model = Some(x.embed.clone());
            c.backends.rerank_model = Some(x.rerank.clone());
            if chat {
                c.backends.chat_model = Some(x.chat.clone());
            }
            c.backends.request_timeout_secs = 20;
        })
        .await,
    )
}

fn chroma_client(url: &str) -> ChromaClient {
    ChromaClient::new(url, ChromaOptions::default()).expect("chroma client")
}

pub(crate) async fn chunk_ids(t: &TestLibrary) -> Vec<i64> {
    let mut raw = t.raw().await;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM chunks ORDER BY id")
        .fetch_all(&mut raw)
        .await
        .expect("chunk ids");
    raw.close().await.ok();
    ids
}

async fn chroma_ids(t: &TestLibrary, url: &str, kb_id: i64, model: &str) -> Vec<i64> {
    let client = chroma_client(url);
    let Some(col) = client
        .collection(&collection_name(t.lib.library_id(), kb_id, model))
        .await
        .expect("collection lookup")
    else {
        return Vec::new();
    };
    let mut ids: Vec<i64> = client
        .get_ids(&col, None, 100_000, 0)
        .await
        .expect("ids")
        .iter()
        .filter_map(|i| i.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}
/// How many questions have checked the rerank model in a knowledge base.
async fn rerank_checks(t: &TestLibrary, kb_id: i64, model: &str) -> i64 {
    let mut raw = t.raw().await;
    let checks =
        sqlx::query_scalar("SELECT checks FROM rerank_agreement WHERE kb_id = ? AND model = ?")
            .bind(kb_id)
            .bind(model)
            .fetch_one(&mut raw)
            .await
            .expect("rerank checks");
    raw.close().await.ok();
    checks
}

/// Sets what the rerank model's checks in a knowledge base have measured.
async fn set_rerank_measure(t: &TestLibrary, kb_id: i64, checks: i64, agreements: i64) {
    let mut writable = t.writable().await;
    sqlx::query("UPDATE rerank_agreement SET checks = ?, agreements = ? WHERE kb_id = ?")
        .bind(checks)
        .bind(agreements)
        .bind(kb_id)
        .execute(&mut writable)
        .await
        .expect("rerank measure set");
    writable.close().await.ok();
}

/// Import jobs follow the vectors: a job is `embedding` exactly while its document still has a
/// chunk without a vector of `model`, and `done` once every chunk has one. Returns how many
/// jobs wait.
async fn jobs_follow_vectors(t: &TestLibrary, model: &str) -> i64 {
    let mut raw = t.raw().await;
    let missing =
        "EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = j.document_id AND NOT EXISTS \
                   (SELECT 1 FROM chunk_vectors v WHERE v.chunk_id = c.id AND v.model = ?))";
    let early: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM jobs j WHERE j.state = 'done' AND {missing}"
    ))
    .bind(model)
    .fetch_one(&mut raw)
    .await
    .expect("done jobs");
    assert_eq!(
        early, 0,
        "a job is done while its document waits for vectors"
    );
    let late: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM jobs j WHERE j.state = 'embedding' AND NOT {missing}"
    ))
    .bind(model)
    .fetch_one(&mut raw)
    .await
    .expect("embedding jobs");
    assert_eq!(
        late, 0,
        "a job waits although its document has every vector"
    );
    let waiting = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'embedding'")
        .fetch_one(&mut raw)
        .await
        .expect("waiting jobs");
    raw.close().await.ok();
    waiting
}

async fn drain(t: &TestLibrary) -> lexinaut_core::vectors::DrainReport {
    t.lib
        .drain_vectors(None, &|_, _| {}, &CancellationToken::new())
        .await
        .expect("drain")
}

#[tokio::test]
async fn every_chunk_gets_one_vector_and_deletes_reach_chroma() {
    let Some(url) = live_chroma() else { return };
    let Some(t) = library(&url, false).await else {
        return;
    };
    let model = env("LEXINAUT_TEST_EMBED_MODEL").expect("embed model");
    let kb = t.kb("向量").await;
    t.write_samples();
    let extra = write(
        &t.docs_dir().join("藏品.txt"),
        "这块琥珀里封存着一只远古的蚊子，距今约四千万年。",
    );
    t.ingest(kb.id, &[t.docs_dir()]).await;
    assert!(t.lib.vector_backlog().await.expect("backlog") > 0);
    // Stored and keyword-searchable, each file's job waits for its vectors.
    let with_passages = t
        .docs(kb.id)
        .await
        .iter()
        .filter(|d| d.chunk_count > 0)
        .count();
    assert_eq!(jobs_follow_vectors(&t, &model).await, with_passages as i64);

    let report = drain(&t).await;
    assert_eq!(report.backlog, 0);
    assert_eq!(jobs_follow_vectors(&t, &model).await, 0);
    let chunks = chunk_ids(&t).await;
    assert_eq!(report.embedded as usize, chunks.len());
    assert_eq!(
        chroma_ids(&t, &url, kb.id, &model).await,
        chunks,
        "Chroma holds exactly the catalogue's chunks"
    );

    // Vector-only retrieval finds a paraphrase-free but keyword-free match by meaning.
    let found = t
        .lib
        .retrieve(
            kb.id,
            "amber fossil mosquito",
            &SearchFilter::default(),
            RetrievalMode::Vector,
            Default::default(),
        )
        .await
        .expect("vector retrieval");
    assert!(found.vector && !found.keyword);
    assert!(!found.citations.is_empty());
    let hybrid = t
        .lib
        .retrieve(
            kb.id,
            "琥珀",
            &SearchFilter::default(),
            RetrievalMode::HybridRerank,
            Default::default(),
        )
        .await
        .expect("hybrid retrieval");
    assert!(hybrid.keyword && hybrid.vector && hybrid.rerank);
    assert!(hybrid.citations.iter().any(|c| c.text.contains("琥珀")));
    // Keyword search was sure of that one (a single document has the term): the question
    // counted as a check of the embedding model's reliability in this knowledge base.
    let mut raw = t.raw().await;
    let (checks, agreements): (i64, i64) = sqlx::query_as(
        "SELECT agreement_checks, agreements FROM vector_sets WHERE kb_id = ? AND model = ?",
    )
    .bind(kb.id)
    .bind(&model)
    .fetch_one(&mut raw)
    .await
    .expect("vector set");
    raw.close().await.ok();
    assert_eq!(checks, 1);
    assert!(agreements <= checks);

    // The rerank model is checked the same way; one measured as unreliable here (it agreed
    // with 2 of 50 sure keyword answers) leaves the fused order alone.
    for i in 0..6 {
        write(
            &t.docs_dir().join(format!("报告{i}.txt")),
            format!(
                "第{i}份季度报告：{}",
                "营业收入与研发投入的说明。".repeat(i + 1)
            ),
        );
    }
    t.ingest(kb.id, &[t.docs_dir()]).await;
    drain(&t).await;
    let rerank_model = env("LEXINAUT_TEST_RERANK_MODEL").expect("rerank model");
    assert_eq!(rerank_checks(&t, kb.id, &rerank_model).await, 1);
    set_rerank_measure(&t, kb.id, 50, 2).await;
    // (rerank ran, the citations' chunks in order) for a question in a retrieval mode.
    let ranked = |question: &'static str, mode| {
        let lib = &t.lib;
        async move {
            let r = lib
                .retrieve(
                    kb.id,
                    question,
                    &SearchFilter::default(),
                    mode,
                    Default::default(),
                )
                .await
                .expect("retrieval");
            (
                r.rerank,
                r.citations
                    .iter()
                    .map(|c| c.chunk_ids.clone())
                    .collect::<Vec<_>>(),
            )
        }
    };
    let (_, fused) = ranked("季度报告", RetrievalMode::Hybrid).await;
    let (ran, kept) = ranked("季度报告", RetrievalMode::HybridRerank).await;
    assert!(ran && fused.len() >= 6, "{fused:?}");
    assert_eq!(kept, fused, "an unreliable reranker does not reorder");
    // Keyword search was not sure of "季度报告" (six reports have it): nothing to check the
    // model with, and its order would be set aside, so an answer (auto mode) does not ask it.
    let (ran, auto) = ranked("季度报告", RetrievalMode::Auto).await;
    assert!(
        !ran,
        "an unreliable reranker is not asked by a question that cannot check it"
    );
    assert_eq!(auto, fused);
    assert_eq!(
        rerank_checks(&t, kb.id, &rerank_model).await,
        50,
        "an unsure question is not a check"
    );
    // Measured as unreliable but not settled yet (10 checks): a sure question still asks it
    // (each such question checks it again); its order stays unused. (Once settled, one sure
    // question in ten rechecks it: unit-tested with the sampling.)
    set_rerank_measure(&t, kb.id, 10, 1).await;
    let (_, fused) = ranked("琥珀", RetrievalMode::Hybrid).await;
    let (ran, kept) = ranked("琥珀", RetrievalMode::Auto).await;
    assert!(ran, "a sure question asks the reranker");
    assert_eq!(kept, fused, "an unreliable reranker does not reorder");
    assert_eq!(
        rerank_checks(&t, kb.id, &rerank_model).await,
        11,
        "a sure question is a check"
    );

    // The file changes: its old chunk's vector goes, the new chunk gets one.
    write(&extra, "这块翡翠产自缅甸，颜色翠绿。");
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let report = drain(&t).await;
    assert!(report.deleted >= 1, "{report:?}");
    assert_eq!(
        chroma_ids(&t, &url, kb.id, &model).await,
        chunk_ids(&t).await
    );

    // A copy of that file elsewhere is a duplicate: nothing more to embed. When the original is
    // deleted the copy takes over its passages with their vectors: nothing is embedded again
    // and nothing leaves Chroma.
    let copy = write(
        &t.root().join("副本/翡翠.txt"),
        "这块翡翠产自缅甸，颜色翠绿。",
    );
    let summary = t.ingest(kb.id, std::slice::from_ref(&copy)).await;
    assert_eq!(summary.duplicates, 1, "{summary:?}");
    assert_eq!(t.lib.vector_backlog().await.expect("backlog"), 0);
    assert_eq!(jobs_follow_vectors(&t, &model).await, 0);
    let before = chunk_ids(&t).await;
    let original = t.doc(kb.id, &extra).await;
    t.lib
        .delete_documents(&[original.id])
        .await
        .expect("delete the original");
    let report = drain(&t).await;
    assert_eq!((report.embedded, report.deleted), (0, 0), "{report:?}");
    assert_eq!(chunk_ids(&t).await, before);
    assert_eq!(chroma_ids(&t, &url, kb.id, &model).await, before);
    let found = t
        .lib
        .retrieve(
            kb.id,
            "缅甸翡翠",
            &SearchFilter::default(),
            RetrievalMode::Hybrid,
            Default::default(),
        )
        .await
        .expect("retrieval");
    assert!(
        found.citations.iter().any(|c| c.path == shown(&copy)),
        "{:?}",
        found.citations
    );
}

#[tokio::test]
async fn answers_stream_from_the_real_chat_model_with_citations() {
    let Some(url) = live_chroma() else { return };
    let Some(t) = library(&url, true).await else {
        return;
    };
    let kb = t.kb("生成").await;
    write(
        &t.docs_dir().join("policy.md"),
        "# Travel policy\n\nExpense reports must be filed within fifteen working days after the trip.\n",
    );
    t.ingest(kb.id, &[t.docs_dir()]).await;
    drain(&t).await;
    let tokens = std::sync::Mutex::new(0usize);
    let on_event = |e: ChatEvent| {
        if matches!(e, ChatEvent::Token { .. }) {
            *tokens.lock().expect("count") += 1;
        }
    };
    let answer = t
        .lib
        .ask(
            AskRequest {
                kb_id: kb.id,
                question: "When must expense reports be filed?".into(),
                ..AskRequest::default()
            },
            &on_event,
            CancellationToken::new(),
        )
        .await
        .expect("ask");
    assert_eq!(answer.mode, Some(AnswerMode::Generated), "{answer:?}");
    assert_eq!(answer.status, MessageStatus::Complete, "{answer:?}");
    assert!(!answer.content.trim().is_empty());
    assert!(
        *tokens.lock().expect("count") > 1,
        "the answer arrived in pieces"
    );
    assert!(answer
        .citations
        .iter()
        .any(|c| c.text.contains("fifteen working days")));
}

#[tokio::test]
async fn a_chroma_outage_leaves_a_backlog_that_drains_when_it_returns() {
    let Some(bin) = env("LEXINAUT_TEST_CHROMA_BIN") else {
        skip("LEXINAUT_TEST_CHROMA_BIN");
        return;
    };
    let store = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let start = || spawn_chroma(&bin, port, store.path());
    let wait_up = |url: String| async move {
        let client = chroma_client(&url);
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.heartbeat().await.is_err() {
            assert!(Instant::now() < deadline, "chroma did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let mut server = start();
    wait_up(url.clone()).await;
    let Some(t) = library(&url, false).await else {
        return;
    };
    let kb = t.kb("中断").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    drain(&t).await;

    // Chroma dies; new documents arrive.
    server.start_kill().expect("kill");
    server.wait().await.expect("reaped");
    write(
        &t.docs_dir().join("新.txt"),
        "停电期间导入的文档：仓库盘点结果为三千二百件。",
    );
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let err = t
        .lib
        .drain_vectors(None, &|_, _| {}, &CancellationToken::new())
        .await
        .expect_err("chroma is down");
    assert!(err.to_string().contains("unreachable"), "{err}");
    let backlog = t.lib.vector_backlog().await.expect("backlog");
    assert!(backlog >= 1, "the new chunks wait: {backlog}");
    let model = env("LEXINAUT_TEST_EMBED_MODEL").expect("model");
    assert_eq!(
        jobs_follow_vectors(&t, &model).await,
        1,
        "the new file waits"
    );

    // Questions still work from keywords.
    let answer = t
        .lib
        .ask(
            AskRequest {
                kb_id: kb.id,
                question: "仓库盘点结果是多少".into(),
                ..AskRequest::default()
            },
            &|_| {},
            CancellationToken::new(),
        )
        .await
        .expect("keyword answers while Chroma is down");
    assert!(answer
        .citations
        .iter()
        .any(|c| c.text.contains("三千二百件")));

    // The background embedder reports the outage, then drains once Chroma is back.
    let cancel = CancellationToken::new();
    let mut status = t.lib.watch_vector_status();
    let lib = &t.lib;
    let runner = lib.run_embedder(cancel.clone());
    let observe = async {
        let deadline = Duration::from_secs(90);
        tokio::time::timeout(
            deadline,
            status.wait_for(|s| s.state == VectorState::Unavailable),
        )
        .await
        .expect("status turns unavailable")
        .expect("status channel");
        server = start();
        wait_up(url.clone()).await;
        lib.wake_embedder();
        tokio::time::timeout(
            deadline,
            status.wait_for(|s| s.state == VectorState::Ready && s.backlog == 0),
        )
        .await
        .expect("backlog drains after Chroma returns")
        .expect("status channel");
        cancel.cancel();
    };
    tokio::join!(runner, observe);
    assert_eq!(
        chroma_ids(&t, &url, kb.id, &model).await,
        chunk_ids(&t).await
    );
    assert_eq!(jobs_follow_vectors(&t, &model).await, 0);
    drop(server);
}

#[tokio::test]
async fn the_consistency_check_repairs_chroma_and_the_catalogue() {
    let Some(url) = live_chroma() else { return };
    let Some(t) = library(&url, false).await else {
        return;
    };
    let model = env("LEXINAUT_TEST_EMBED_MODEL").expect("model");
    let kb = t.kb("校验").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    drain(&t).await;
    let client = chroma_client(&url);
    let col = client
        .collection(&collection_name(t.lib.library_id(), kb.id, &model))
        .await
        .expect("lookup")
        .expect("collection exists");
    let ids = chroma_ids(&t, &url, kb.id, &model).await;
    // Lose two vectors behind LexiNaut's back, and add a stray one.
    client
        .delete(&col, &[ids[0].to_string(), ids[1].to_string()])
        .await
        .expect("delete");
    let stray = lexinaut_core::backends::VectorRecord {
        id: "999999".into(),
        embedding: vec![0.1; 384],
        document: None,
        metadata: Default::default(),
    };
    client.upsert(&col, &[stray]).await.expect("stray");

    let (requeued, removed) = t.lib.check_vectors().await.expect("check");
    assert_eq!((requeued, removed), (2, 1));
    assert_eq!(t.lib.vector_backlog().await.expect("backlog"), 2);
    drain(&t).await;
    assert_eq!(
        chroma_ids(&t, &url, kb.id, &model).await,
        chunk_ids(&t).await
    );
}

/// The managed Chroma's output so far (`<data dir>/chroma.log`).
fn chroma_log(chroma_dir: &str) -> String {
    std::fs::read_to_string(format!("{chroma_dir}.log")).unwrap_or_default()
}

/// Pids of processes whose command line mentions `needle`.
fn pids_with(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Drains until Chroma answers (a managed one takes a moment to start or restart).
async fn drain_when_up(t: &TestLibrary) -> lexinaut_core::vectors::DrainReport {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match t
            .lib
            .drain_vectors(None, &|_, _| {}, &CancellationToken::new())
            .await
        {
            Ok(r) => return r,
            Err(e) => {
                if Instant::now() >= deadline {
                    let dir = t.lib.config().data_dir.join("chroma");
                    let log = chroma_log(&dir.display().to_string());
                    panic!("Chroma never came up: {e}\nmanaged Chroma's log:\n{log}");
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

/// A library with a managed Chroma (from the cached venv) and the live Xinference.
async fn managed_library() -> Option<TestLibrary> {
    let Some(bin) = env("LEXINAUT_TEST_CHROMA_BIN") else {
        skip("LEXINAUT_TEST_CHROMA_BIN");
        return None;
    };
    let x = live_xinference()?;
    Some(
        TestLibrary::open_with(move |c: &mut Config| {
            c.xinference_url = Some(x.url.clone());
            c.chroma_url = None;
            c.chroma_bin = Some(bin.into());
            c.managed_chroma = true;
            c.backends.embed_model = Some(x.embed.clone());
            c.backends.request_timeout_secs = 20;
        })
        .await,
    )
}

#[tokio::test]
async fn a_managed_chroma_is_started_and_stopped() {
    let _logs = capture_logs();
    let Some(t) = managed_library().await else {
        return;
    };
    let chroma_dir = t.lib.config().data_dir.join("chroma").display().to_string();
    // The process runs once the library is open (the server answers a few seconds later).
    let running = pids_with(&chroma_dir);
    assert_eq!(
        running.len(),
        1,
        "one managed Chroma runs: {running:?}; log: {}",
        chroma_log(&chroma_dir)
    );
    let kb = t.kb("托管").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let report = drain_when_up(&t).await;
    assert_eq!(report.backlog, 0);
    assert!(report.embedded > 0);

    t.lib.shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids_with(&chroma_dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the managed Chroma outlived shutdown"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!std::path::Path::new(&format!("{chroma_dir}.pid")).exists());

    // An app killed outright leaves its Chroma running with its pid file: the next start ends
    // that server before its own opens the same data.
    let bin = env("LEXINAUT_TEST_CHROMA_BIN").expect("chroma bin");
    let mut orphan = spawn_chroma(&bin, free_port(), std::path::Path::new(&chroma_dir));
    let orphan_pid = orphan.id().expect("orphan pid");
    std::fs::write(format!("{chroma_dir}.pid"), orphan_pid.to_string()).expect("pid file");
    let t = t.reopened().await;
    let left = orphan.wait().await.expect("orphan reaped");
    assert!(!left.success(), "the orphan was ended: {left:?}");
    let running = pids_with(&chroma_dir);
    assert_eq!(
        running.len(),
        1,
        "one managed Chroma again: {running:?}; log: {}",
        chroma_log(&chroma_dir)
    );
    assert_ne!(i64::from(running[0]), i64::from(orphan_pid));
    assert!(
        drain_when_up(&t).await.backlog == 0,
        "the new server works; log: {}",
        chroma_log(&chroma_dir)
    );
    t.lib.shutdown().await;
}

/// The supervisor restarts a managed Chroma killed behind LexiNaut's back. (It once failed in
/// a full CI run: the supervisor waited for its one-minute readiness check before restarting a
/// server that had died while starting; now the check runs beside the process.)
#[tokio::test]
async fn a_managed_chroma_killed_behind_our_back_is_restarted() {
    let _logs = capture_logs();
    let Some(t) = managed_library().await else {
        return;
    };
    let chroma_dir = t.lib.config().data_dir.join("chroma").display().to_string();
    let kb = t.kb("重启").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    drain_when_up(&t).await;
    // Killed behind LexiNaut's back: the supervisor starts it again and vectors keep working.
    for pid in pids_with(&chroma_dir) {
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
    }
    write(&t.docs_dir().join("之后.txt"), "重启之后导入的文档。");
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let report = drain_when_up(&t).await;
    assert_eq!(report.backlog, 0);
    assert_eq!(pids_with(&chroma_dir).len(), 1, "restarted once");

    t.lib.shutdown().await;
}
