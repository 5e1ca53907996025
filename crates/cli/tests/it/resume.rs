//! A real `kill -9` of `lexinaut ingest` at several points, then `ingest --resume`: every file
//! ends up indexed exactly once, no chunk is duplicated, and the keyword index matches.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{assert_success, Sandbox};

const FILES: usize = 3000;

fn write_many(sb: &Sandbox) {
    for i in 0..FILES {
        let text = format!(
            "第{i}号报告。本季度编号{i}的项目营业收入同比增长，研发投入继续增加。\n\
             项目{i}的负责人表示，下一阶段将扩大产能并优化供应链管理。\n{}",
            "补充说明：各部门需按时提交材料。".repeat(8)
        );
        sb.write(&format!("批量/{:02}/报告{i:05}.txt", i % 50), text);
    }
}

/// Documents stored so far, read by a second process while the import runs (WAL allows it).
fn stored(sb: &Sandbox) -> usize {
    let out = sb.run(["docs", "list", "--kb", "批量", "--json"]);
    if !out.status.success() {
        return 0;
    }
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0)
}

fn kill_during_import(sb: &Sandbox, after_docs: usize) -> bool {
    let mut cmd: Command = sb.bare_command();
    cmd.arg("--data-dir")
        .arg(sb.data_dir())
        .args(["ingest", "--kb", "批量", "--json"])
        .arg(sb.docs())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn ingest");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("poll child").is_some() {
            return false; // finished before the kill point
        }
        if stored(sb) >= after_docs || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: no destructors, no transaction commit, no cleanup.
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    true
}

#[test]
fn kill_9_then_resume_leaves_a_consistent_complete_catalogue() {
    let sb = Sandbox::new();
    write_many(&sb);
    sb.create_kb("批量");
    let mut kills = 0;
    for point in [1, FILES / 3, (FILES * 2) / 3] {
        // A kill counts when it landed before every document was stored; a kill that arrives
        // after the last commit (the process was only exiting) proves nothing either way.
        if kill_during_import(&sb, point) && stored(&sb) < FILES {
            kills += 1;
        }
    }
    eprintln!("killed the import {kills} times");
    assert!(
        kills >= 1,
        "the import always finished before it could be killed"
    );

    // The catalogue kept where each file stood: the files not yet stored are unfinished jobs.
    let jobs = sb.json(["jobs", "--kb", "批量", "--limit", "5", "--json"]);
    let unfinished: u64 = ["queued", "extracting", "chunking", "indexing"]
        .iter()
        .filter_map(|s| jobs["counts"][s].as_u64())
        .sum();
    assert!(unfinished > 0, "{jobs}");
    assert_eq!(
        jobs["unfinished"].as_array().map(Vec::len),
        Some(5),
        "{jobs}"
    );

    let out = sb.run(["ingest", "--resume", "--kb", "批量", "--json"]);
    assert_success(&out);
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(
        summary["failed"].as_array().map(Vec::len),
        Some(0),
        "{summary}"
    );

    let docs = sb.json(["docs", "list", "--kb", "批量", "--json"]);
    let docs = docs.as_array().expect("array");
    assert_eq!(docs.len(), FILES, "every file is a document exactly once");
    assert!(docs.iter().all(|d| d["status"] == "indexed"), "all indexed");
    let chunks: i64 = docs
        .iter()
        .map(|d| d["chunk_count"].as_i64().unwrap_or(-1))
        .sum();
    assert!(chunks >= FILES as i64);

    // The catalogue's own counts agree: no duplicated or orphaned chunks.
    let doctor = sb.json(["doctor", "--json"]);
    assert_eq!(doctor["counts"]["documents"].as_i64(), Some(FILES as i64));
    assert_eq!(
        doctor["counts"]["chunks"].as_i64(),
        Some(chunks),
        "chunk rows = sum of chunk_count"
    );

    // Every document is searchable once: a unique number finds exactly its file first.
    for i in [0usize, FILES / 2, FILES - 1] {
        let hits = sb.json([
            "search",
            &format!("第{i}号报告"),
            "--kb",
            "批量",
            "-k",
            "3",
            "--json",
        ]);
        let top = hits[0]["path"].as_str().unwrap_or_default().to_owned();
        assert!(
            top.ends_with(&format!("报告{i:05}.txt")),
            "query {i}: top hit {top}"
        );
    }

    let jobs = sb.json(["jobs", "--kb", "批量", "--json"]);
    assert_eq!(jobs["unfinished"], serde_json::json!([]), "{jobs}");
    assert_eq!(
        jobs["counts"]["done"].as_u64(),
        Some(FILES as u64),
        "each file stored once"
    );

    // A second resume has nothing left to do, and re-importing finds everything unchanged.
    let again = sb.json(["ingest", "--resume", "--kb", "批量", "--json"]);
    assert_eq!(again["documents"], 0);
    let docs_dir = sb.docs();
    let again = sb.ingest("批量", &[docs_dir.as_path()]);
    assert_eq!(again["unchanged"].as_u64(), Some(FILES as u64));
}
