//! `lexinaut kb create` and `kb list`.

use serde_json::Value;

use crate::support::{assert_success, stderr, Sandbox};

#[test]
fn kb_list_json_is_an_empty_array_in_a_new_library() {
    let s = Sandbox::new();
    assert_eq!(s.json(["kb", "list", "--json"]), Value::Array(Vec::new()));
    assert!(s.data_dir().join("catalogue.sqlite3").is_file());
}

#[test]
fn kb_create_then_list_json_has_the_names() {
    let s = Sandbox::new();
    let created = s.json(["kb", "create", "法规", "--json"]);
    assert_eq!(created["name"], "法规");
    assert!(created["id"].as_i64().is_some(), "{created}");
    assert_eq!(created["chunk_size"], 512);
    assert_eq!(created["chunk_overlap"], 64);
    assert_eq!(created["document_count"], 0);

    let out = s.run(["kb", "create", "合同"]);
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("合同"),
        "human output names the kb"
    );

    let listed = s.json(["kb", "list", "--json"]);
    let kbs = listed.as_array().expect("array");
    let names: Vec<&str> = kbs.iter().filter_map(|k| k["name"].as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "listed by name");
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"法规") && names.contains(&"合同"),
        "{listed}"
    );
    for kb in kbs {
        assert_eq!(kb["document_count"], 0, "{kb}");
    }
}

#[test]
fn kb_create_with_chunk_options() {
    let s = Sandbox::new();
    let kb = s.json([
        "kb",
        "create",
        "小块",
        "--chunk-size",
        "100",
        "--chunk-overlap",
        "10",
        "--json",
    ]);
    assert_eq!(
        (kb["chunk_size"].as_u64(), kb["chunk_overlap"].as_u64()),
        (Some(100), Some(10))
    );

    let out = s.run(["kb", "create", "太小", "--chunk-size", "8", "--json"]);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr(&out).contains("too small"), "{}", stderr(&out));
}

#[test]
fn kb_create_duplicate_fails_and_says_so() {
    let s = Sandbox::new();
    s.create_kb("合同");
    let out = s.run(["kb", "create", "合同", "--json"]);
    assert!(!out.status.success(), "duplicate accepted");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = stderr(&out);
    assert!(
        err.contains("合同") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(
        s.json(["kb", "list", "--json"]).as_array().map(Vec::len),
        Some(1)
    );
}
