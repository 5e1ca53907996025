//! `lexinaut kb create`, `kb list`, `kb rename`, `kb delete` and `kb settings`.

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
    assert_eq!(kb["chunk_unit"], "chars");

    // Sizes in tokens (estimated for the embedding model); a settings change keeps the unit.
    let kb = s.json([
        "kb",
        "create",
        "词元",
        "--chunk-size",
        "256",
        "--chunk-overlap",
        "32",
        "--chunk-unit",
        "tokens",
        "--json",
    ]);
    assert_eq!(kb["chunk_unit"], "tokens");
    let kb = s.json(["kb", "settings", "词元", "--chunk-size", "300", "--json"]);
    assert_eq!(
        (kb["chunk_size"].as_u64(), kb["chunk_unit"].as_str()),
        (Some(300), Some("tokens"))
    );
    let kb = s.json(["kb", "settings", "词元", "--chunk-unit", "chars", "--json"]);
    assert_eq!(kb["chunk_unit"], "chars");
    let out = s.run(["kb", "create", "坏单位", "--chunk-unit", "words"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chars or tokens"), "{}", stderr(&out));
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

#[test]
fn kb_rename_keeps_documents_and_refuses_a_taken_name() {
    let s = Sandbox::new();
    s.create_kb("旧名");
    s.create_kb("其他");
    s.write_samples();
    s.ingest("旧名", &[&s.docs()]);

    let kb = s.json(["kb", "rename", "旧名", "新名", "--json"]);
    assert_eq!(kb["name"], "新名");
    assert_eq!(kb["document_count"], 3);
    let hits = s.json(["search", "大红袍", "--kb", "新名", "--json"]);
    assert_eq!(hits.as_array().map(Vec::len), Some(1), "{hits}");

    let out = s.run(["kb", "rename", "新名", "其他"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let out = s.run(["kb", "rename", "不存在", "随便"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("不存在"), "{}", stderr(&out));
}

#[test]
fn kb_delete_needs_yes_then_removes_documents_and_watched_folders() {
    let s = Sandbox::new();
    s.create_kb("待删");
    s.create_kb("保留");
    s.write_samples();
    s.ingest("待删", &[&s.docs()]);
    let watched = s
        .write("监视/说明.txt", "监视文件夹里的说明。")
        .parent()
        .expect("dir")
        .to_owned();
    let out = s.run([
        "watch",
        "add",
        watched.to_str().expect("utf-8"),
        "--kb",
        "待删",
    ]);
    assert_success(&out);

    let out = s.run(["kb", "delete", "待删"]);
    assert!(!out.status.success(), "deleted without --yes");
    let err = stderr(&out);
    assert!(
        err.contains("--yes") && err.contains("3 documents"),
        "{err}"
    );
    assert_eq!(
        s.json(["kb", "list", "--json"]).as_array().map(Vec::len),
        Some(2)
    );

    let deleted = s.json(["kb", "delete", "待删", "--yes", "--json"]);
    assert_eq!(deleted["documents"], 3, "{deleted}");
    assert_eq!(deleted["watched_folders"], 1, "{deleted}");
    assert_eq!(deleted["conversations"], 0, "{deleted}");
    let kbs = s.json(["kb", "list", "--json"]);
    let names: Vec<&str> = kbs
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(names, ["保留"]);
    assert_eq!(
        s.json(["watch", "list", "--json"]),
        Value::Array(Vec::new())
    );
    assert!(
        s.docs().join("茶叶.txt").is_file(),
        "files on disk are untouched"
    );
}

#[test]
fn kb_settings_change_chunking_and_embedding_model() {
    let s = Sandbox::new();
    s.create_kb("设置");
    let kb = s.json([
        "kb",
        "settings",
        "设置",
        "--chunk-size",
        "100",
        "--chunk-overlap",
        "10",
        "--embedding-model",
        "bge-m3",
        "--json",
    ]);
    assert_eq!(
        (kb["chunk_size"].as_u64(), kb["chunk_overlap"].as_u64()),
        (Some(100), Some(10))
    );
    assert_eq!(kb["embedding_model"], "bge-m3");
    let kb = s.json([
        "kb",
        "settings",
        "设置",
        "--embedding-model",
        "default",
        "--json",
    ]);
    assert!(kb["embedding_model"].is_null(), "{kb}");
    assert_eq!(kb["chunk_size"], 100, "unset options keep their value");
    let out = s.run(["kb", "settings", "设置", "--chunk-overlap", "60"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("overlap"), "{}", stderr(&out));
}
