//! `lexinaut docs list`, `docs delete` and `docs reindex`.

use crate::support::{assert_success, shown, Sandbox, SAMPLES};

#[test]
fn docs_list_json_lists_indexed_and_failed_documents() {
    let s = Sandbox::new();
    s.create_kb("资料");
    let samples = s.write_samples();
    let empty = s.write("空白.txt", b"");
    s.ingest("资料", &[&s.docs()]);

    let docs = s.json(["docs", "list", "--kb", "资料", "--json"]);
    let docs = docs.as_array().expect("array");
    assert_eq!(docs.len(), SAMPLES.len() + 1);
    for p in &samples {
        let d = docs
            .iter()
            .find(|d| d["path"] == shown(p))
            .unwrap_or_else(|| panic!("{} not listed", p.display()));
        assert_eq!(d["status"], "indexed", "{d}");
        assert!(d["error"].is_null(), "{d}");
        assert!(d["chunk_count"].as_i64().is_some_and(|c| c >= 1), "{d}");
        assert_eq!(
            d["name"].as_str(),
            p.file_name().and_then(|n| n.to_str()),
            "{d}"
        );
        assert!(d["hash"].as_str().is_some_and(|h| h.len() == 64), "{d}");
    }
    let failed = docs
        .iter()
        .find(|d| d["path"] == shown(&empty))
        .expect("failed file listed");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["chunk_count"], 0);
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("empty")),
        "{failed}"
    );
    let md = docs
        .iter()
        .find(|d| d["path"].as_str().is_some_and(|p| p.ends_with(".md")))
        .expect("markdown listed");
    assert_eq!(md["format"], "markdown");
}

#[test]
fn docs_list_json_is_empty_for_a_new_kb() {
    let s = Sandbox::new();
    s.create_kb("空库");
    assert_eq!(
        s.json(["docs", "list", "--kb", "空库", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn docs_delete_by_path_folder_and_id_and_refuses_unknown_paths() {
    let s = Sandbox::new();
    s.create_kb("资料");
    let samples = s.write_samples();
    s.ingest("资料", &[&s.docs()]);
    let listed = s.json(["docs", "list", "--kb", "资料", "--json"]);
    let id_of = |p: &std::path::Path| {
        listed
            .as_array()
            .expect("array")
            .iter()
            .find(|d| d["path"] == shown(p))
            .and_then(|d| d["id"].as_i64())
            .expect("listed")
    };
    let panda_id = id_of(&samples[1]);

    // A typo changes nothing.
    let missing = s.docs().join("没有.txt");
    let out = s.run([
        "docs".as_ref(),
        "delete".as_ref(),
        "--kb".as_ref(),
        "资料".as_ref(),
        samples[0].as_os_str(),
        missing.as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(
        crate::support::stderr(&out).contains("没有.txt"),
        "{}",
        crate::support::stderr(&out)
    );
    assert_eq!(
        s.json(["docs", "list", "--kb", "资料", "--json"])
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    let out = s.json([
        "docs".as_ref(),
        "delete".as_ref(),
        "--kb".as_ref(),
        "资料".as_ref(),
        samples[0].as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(out["removed"], 1);
    let out = s.json([
        "docs",
        "delete",
        "--kb",
        "资料",
        "--id",
        &panda_id.to_string(),
        "--json",
    ]);
    assert_eq!(out["removed"], 1);
    // A folder names every document under it.
    let folder = s.docs().join("历史");
    let out = s.json([
        "docs".as_ref(),
        "delete".as_ref(),
        "--kb".as_ref(),
        "资料".as_ref(),
        folder.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(out["removed"], 1);
    assert_eq!(
        s.json(["docs", "list", "--kb", "资料", "--json"]),
        serde_json::json!([])
    );
    assert_eq!(
        s.json(["search", "大红袍", "--kb", "资料", "--json"]),
        serde_json::json!([])
    );
    assert!(
        samples.iter().all(|p| p.is_file()),
        "files on disk are untouched"
    );
}

#[test]
fn docs_reindex_applies_new_chunking_and_reports_a_vanished_file() {
    let s = Sandbox::new();
    s.create_kb("资料");
    let samples = s.write_samples();
    s.ingest("资料", &[&s.docs()]);
    let chunks = |path: &std::path::Path| {
        let docs = s.json(["docs", "list", "--kb", "资料", "--json"]);
        let d = docs
            .as_array()
            .expect("array")
            .iter()
            .find(|d| d["path"] == shown(path))
            .cloned()
            .expect("listed");
        (
            d["id"].as_i64().expect("id"),
            d["chunk_count"].as_i64().expect("chunks"),
            d["error"].clone(),
        )
    };
    let (id, before, _) = chunks(&samples[0]);
    assert_success(&s.run([
        "kb",
        "settings",
        "资料",
        "--chunk-size",
        "32",
        "--chunk-overlap",
        "4",
    ]));
    let summary = s.json([
        "docs".as_ref(),
        "reindex".as_ref(),
        "--kb".as_ref(),
        "资料".as_ref(),
        samples[0].as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(summary["documents"], 1, "{summary}");
    let (same_id, after, _) = chunks(&samples[0]);
    assert_eq!(same_id, id, "the document keeps its id");
    assert!(after > before, "{before} -> {after} chunks");

    std::fs::remove_file(&samples[1]).expect("remove");
    let (panda, panda_chunks, _) = chunks(&samples[1]);
    let out = s.run([
        "docs",
        "reindex",
        "--kb",
        "资料",
        "--id",
        &panda.to_string(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "a failed file exits with 3");
    let summary = crate::support::stdout_json(&out);
    assert_eq!(
        summary["failed"][0]["path"],
        shown(&samples[1]),
        "{summary}"
    );
    let (_, kept, error) = chunks(&samples[1]);
    assert_eq!(kept, panda_chunks, "the document keeps what it had");
    assert!(
        error.as_str().is_some_and(|e| e.contains("cannot")),
        "{error}"
    );
}
