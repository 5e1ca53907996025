//! Opening a library (catalogue file, WAL, reopening) and knowledge bases: create, list,
//! and the errors adapters rely on; plus the doctor report and the boundary error shape.

use lexinaut_core::{ApiError, ChunkSpec, CoreError, ErrorCode, Library};

use crate::support::{test_config, write, TestLibrary, TEA};

#[tokio::test]
async fn open_creates_catalogue_in_wal_mode() {
    let root = tempfile::tempdir().expect("tempdir");
    let config = test_config(root.path());
    let path = config.catalogue_path();
    assert!(!config.data_dir.exists());
    let lib = Library::open(config).await.expect("open");
    assert!(
        path.is_file(),
        "catalogue file created at {}",
        path.display()
    );
    drop(lib);

    // WAL is recorded in the file header (bytes 18 and 19 are 2 in WAL mode, 1 in rollback).
    let header = std::fs::read(&path).expect("read catalogue");
    assert_eq!(
        (header[18], header[19]),
        (2, 2),
        "header write/read versions"
    );

    // A second connection that does not ask for a journal mode sees the persistent one.
    let t = TestLibrary::open().await;
    let mut raw = t.raw().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .expect("pragma");
    assert_eq!(mode.to_lowercase(), "wal");

    // After a write, while the library is open, the write-ahead log exists beside the file.
    t.kb("写入").await;
    let wal = t.catalogue_path().with_extension("sqlite3-wal");
    assert!(wal.is_file(), "{} exists after a write", wal.display());
}

#[tokio::test]
async fn reopening_keeps_knowledge_bases_and_documents() {
    let t = TestLibrary::open().await;
    let kb = t.kb("持久").await;
    let file = write(&t.docs_dir().join("茶叶.txt"), TEA);
    let summary = t.ingest(kb.id, std::slice::from_ref(&file)).await;
    assert_eq!(summary.documents, 1);

    let t = t.reopened().await;
    let kb = t.lib.kb_by_name("持久").await.expect("kb survives reopen");
    assert_eq!(kb.document_count, 1);
    let hits = t.search(kb.id, "大红袍", 5).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].path, file.display().to_string());
}

#[tokio::test]
async fn create_kb_and_list_sorted_by_name() {
    let t = TestLibrary::open().await;
    assert!(t.lib.list_kbs().await.expect("list").is_empty());

    let b = t.kb("法规").await;
    let a = t.kb("  aaa 项目  ").await;
    assert_eq!(a.name, "aaa 项目", "name is trimmed");
    assert_eq!(b.chunk_spec(), ChunkSpec::default());
    assert_eq!(b.document_count, 0);
    assert!(b.created_at > 0);
    assert_ne!(a.id, b.id);

    let custom = t
        .lib
        .create_kb_with(
            "小块",
            ChunkSpec {
                size: 100,
                overlap: 10,
            },
        )
        .await
        .expect("create with spec");
    assert_eq!((custom.chunk_size, custom.chunk_overlap), (100, 10));

    let listed = t.lib.list_kbs().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|k| k.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "listed by name");
    assert_eq!(names.len(), 3);
    assert!(names.contains(&"法规") && names.contains(&"aaa 项目") && names.contains(&"小块"));

    let found = t.lib.kb_by_name(" 法规 ").await.expect("by name, trimmed");
    assert_eq!(found.id, b.id);
}

#[tokio::test]
async fn duplicate_kb_name_is_already_exists() {
    let t = TestLibrary::open().await;
    t.kb("合同").await;
    for name in ["合同", " 合同 "] {
        match t.lib.create_kb(name).await {
            Err(CoreError::AlreadyExists(what)) => assert!(what.contains("合同"), "{what}"),
            other => panic!("{name:?}: expected AlreadyExists, got {other:?}"),
        }
    }
    assert_eq!(t.lib.list_kbs().await.expect("list").len(), 1);
}

#[tokio::test]
async fn empty_kb_name_is_invalid_input() {
    let t = TestLibrary::open().await;
    for name in ["", "   ", "\t\n"] {
        let result = t.lib.create_kb(name).await;
        assert!(
            matches!(result, Err(CoreError::InvalidInput(_))),
            "{name:?}: {result:?}"
        );
    }
    assert!(t.lib.list_kbs().await.expect("list").is_empty());
}

#[tokio::test]
async fn unusable_chunk_spec_is_invalid_input() {
    let t = TestLibrary::open().await;
    for (size, overlap) in [(8, 0), (100, 50), (100, 80)] {
        let result = t
            .lib
            .create_kb_with("坏参数", ChunkSpec { size, overlap })
            .await;
        assert!(
            matches!(result, Err(CoreError::InvalidInput(_))),
            "{size}/{overlap}: {result:?}"
        );
    }
    assert!(t.lib.list_kbs().await.expect("list").is_empty());
}

#[tokio::test]
async fn missing_kb_is_not_found() {
    let t = TestLibrary::open().await;
    match t.lib.kb_by_name("不存在").await {
        Err(CoreError::NotFound(what)) => assert!(what.contains("不存在"), "{what}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let listed = t.lib.list_documents(424_242).await;
    assert!(matches!(listed, Err(CoreError::NotFound(_))), "{listed:?}");
}

#[tokio::test]
async fn api_error_has_stable_code_and_message() {
    let t = TestLibrary::open().await;
    let err = ApiError::from(t.lib.kb_by_name("缺失").await.expect_err("missing kb"));
    assert_eq!(err.code, ErrorCode::NotFound);
    let json = serde_json::to_value(&err).expect("serialize");
    assert_eq!(json["code"], "not_found");
    assert!(
        json["message"].as_str().is_some_and(|m| m.contains("缺失")),
        "{json}"
    );

    t.kb("重复").await;
    let err = ApiError::from(t.lib.create_kb("重复").await.expect_err("duplicate"));
    assert_eq!(
        serde_json::to_value(&err).expect("serialize")["code"],
        "already_exists"
    );
    let err = ApiError::from(t.lib.create_kb(" ").await.expect_err("empty"));
    assert_eq!(
        serde_json::to_value(&err).expect("serialize")["code"],
        "invalid_input"
    );
}

#[tokio::test]
async fn doctor_reports_counts_and_unconfigured_backends() {
    let t = TestLibrary::open().await;
    let kb = t.kb("体检").await;
    let paths = t.write_samples();
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(summary.documents as usize, paths.len());

    let report = t.lib.doctor().await.expect("doctor");
    assert_eq!(
        report.data_dir,
        t.lib.config().data_dir.display().to_string()
    );
    assert_eq!(report.catalogue, t.catalogue_path().display().to_string());
    assert!(
        report.sqlite_version.starts_with('3'),
        "{}",
        report.sqlite_version
    );
    assert_eq!(report.counts.knowledge_bases, 1);
    assert_eq!(report.counts.documents, paths.len() as i64);
    assert_eq!(report.counts.chunks, i64::from(summary.chunks));
    let names: Vec<&str> = report.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["xinference", "chroma"]);
    for b in &report.backends {
        assert_eq!(b.state, "not_configured", "{b:?}");
        assert!(b.url.is_none(), "{b:?}");
    }
}
