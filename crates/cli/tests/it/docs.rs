//! `lexinaut docs list`.

use crate::support::{shown, Sandbox, SAMPLES};

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
