//! Opening a library (catalogue file, WAL, reopening) and knowledge bases: create, list,
//! rename, settings, delete, re-indexing documents, and the errors adapters rely on; plus the
//! doctor report and the boundary error shape.

use lexinaut_core::{
    ApiError, CancellationToken, ChunkSpec, ChunkUnit, CoreError, ErrorCode, KbSettings, Library,
};

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

/// `PRAGMA page_size` of the library's catalogue.
async fn page_size(t: &TestLibrary) -> i64 {
    let mut raw = t.raw().await;
    sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut raw)
        .await
        .expect("page size")
}

#[tokio::test]
async fn a_new_catalogue_has_16_kib_pages_and_an_older_one_keeps_its_own() {
    let t = TestLibrary::open().await;
    assert_eq!(page_size(&t).await, 16 * 1024);

    // A catalogue created with SQLite's default 4 KiB pages (as releases before this one did)
    // keeps them, and works as before: imports, searches, reopens.
    let root = tempfile::tempdir().expect("tempdir");
    let config = test_config(root.path());
    std::fs::create_dir_all(&config.data_dir).expect("data dir");
    {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(config.catalogue_path())
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut raw = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("create a 4 KiB catalogue");
        sqlx::query("CREATE TABLE created_before (x)")
            .execute(&mut raw)
            .await
            .expect("first table");
    }
    let older = TestLibrary::open_in(root, config).await;
    assert_eq!(page_size(&older).await, 4096);
    let kb = older.kb("旧库").await;
    let file = write(&older.docs_dir().join("茶叶.txt"), TEA);
    assert_eq!(older.ingest(kb.id, &[file]).await.documents, 1);
    let older = older.reopened().await;
    assert_eq!(page_size(&older).await, 4096);
    assert_eq!(older.search(kb.id, "大红袍", 5).await.len(), 1);
    older.assert_consistent(kb.id).await;
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
        .create_kb_with("小块", ChunkSpec::chars(100, 10))
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
async fn chunk_sizes_can_count_tokens() {
    let t = TestLibrary::open().await;
    let spec = ChunkSpec {
        size: 96,
        overlap: 12,
        unit: ChunkUnit::Tokens,
    };
    let kb = t
        .lib
        .create_kb_with("按词元", spec)
        .await
        .expect("create with a token spec");
    assert_eq!(kb.chunk_spec(), spec);
    let file = write(
        &t.docs_dir().join("长文.txt"),
        "营业收入同比增长，研发投入继续增加。".repeat(60),
    );
    t.ingest(kb.id, &[file]).await;
    let hits = t.search(kb.id, "研发投入", 50).await;
    assert!(hits.len() > 5, "{} passages", hits.len());
    // No embedding model: a cautious 1.5 tokens a Chinese character, so at most 64 characters.
    for h in &hits {
        assert!(
            h.text.chars().count() <= 64,
            "{} characters",
            h.text.chars().count()
        );
    }
    // Settings keep the unit unless told otherwise; back to characters, a re-index follows it.
    let back = t
        .lib
        .update_kb_settings(
            kb.id,
            &KbSettings {
                chunk_size: 96,
                chunk_overlap: 12,
                chunk_unit: ChunkUnit::Chars,
                embedding_model: None,
            },
        )
        .await
        .expect("settings");
    assert_eq!(back.chunk_unit, ChunkUnit::Chars);
    let ids: Vec<i64> = t.docs(kb.id).await.iter().map(|d| d.id).collect();
    t.lib
        .reindex_documents(&ids, &|_| {}, CancellationToken::new())
        .await
        .expect("reindex");
    let hits = t.search(kb.id, "研发投入", 50).await;
    assert!(hits.iter().any(|h| h.text.chars().count() > 64));
    assert!(hits.iter().all(|h| h.text.chars().count() <= 96));
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
            .create_kb_with("坏参数", ChunkSpec::chars(size, overlap))
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

#[tokio::test]
async fn rename_kb_keeps_documents_and_rejects_bad_names() {
    let t = TestLibrary::open().await;
    let kb = t.kb("旧名").await;
    let other = t.kb("其他").await;
    let file = write(&t.docs_dir().join("茶叶.txt"), TEA);
    t.ingest(kb.id, std::slice::from_ref(&file)).await;

    let renamed = t.lib.rename_kb(kb.id, "  新名  ").await.expect("rename");
    assert_eq!((renamed.id, renamed.name.as_str()), (kb.id, "新名"));
    assert_eq!(renamed.document_count, 1);
    assert!(matches!(
        t.lib.kb_by_name("旧名").await,
        Err(CoreError::NotFound(_))
    ));
    assert_eq!(t.search(kb.id, "大红袍", 5).await.len(), 1);

    match t.lib.rename_kb(kb.id, "其他").await {
        Err(CoreError::AlreadyExists(what)) => assert!(what.contains("其他"), "{what}"),
        r => panic!("expected AlreadyExists, got {r:?}"),
    }
    assert!(matches!(
        t.lib.rename_kb(kb.id, "  ").await,
        Err(CoreError::InvalidInput(_))
    ));
    assert!(matches!(
        t.lib.rename_kb(424_242, "无").await,
        Err(CoreError::NotFound(_))
    ));
    // A kb may keep its own name.
    assert_eq!(
        t.lib.rename_kb(other.id, "其他").await.expect("same").name,
        "其他"
    );
}

#[tokio::test]
async fn kb_settings_change_chunking_for_later_imports_and_the_embedding_model() {
    let t = TestLibrary::open().await;
    let kb = t.kb("设置").await;
    assert_eq!(kb.embedding_model, None);
    let go = write(&t.docs_dir().join("围棋.txt"), crate::support::GO);
    t.ingest(kb.id, std::slice::from_ref(&go)).await;
    let before = t.doc(kb.id, &go).await.chunk_count;

    let settings = KbSettings {
        chunk_size: 100,
        chunk_overlap: 10,
        chunk_unit: ChunkUnit::Chars,
        embedding_model: Some(" bge-small-zh ".into()),
    };
    let updated = t
        .lib
        .update_kb_settings(kb.id, &settings)
        .await
        .expect("update");
    assert_eq!(updated.chunk_spec(), ChunkSpec::chars(100, 10));
    assert_eq!(updated.embedding_model.as_deref(), Some("bge-small-zh"));
    // Stored documents keep their chunks until they are imported again.
    assert_eq!(t.doc(kb.id, &go).await.chunk_count, before);

    let doc = t.doc(kb.id, &go).await;
    let summary = t
        .lib
        .reindex_documents(&[doc.id], &|_| {}, CancellationToken::new())
        .await
        .expect("reindex");
    assert_eq!(summary.documents, 1, "{summary:?}");
    let after = t.doc(kb.id, &go).await;
    assert_eq!(after.id, doc.id, "re-indexing keeps the document");
    assert!(
        after.chunk_count > before,
        "smaller chunks after re-index: {before} -> {}",
        after.chunk_count
    );
    t.assert_consistent(kb.id).await;

    // Back to the default model; bad chunking is refused and changes nothing.
    let default = KbSettings {
        embedding_model: None,
        ..settings.clone()
    };
    let kb2 = t
        .lib
        .update_kb_settings(kb.id, &default)
        .await
        .expect("update");
    assert_eq!(kb2.embedding_model, None);
    let bad = KbSettings {
        chunk_size: 100,
        chunk_overlap: 60,
        chunk_unit: ChunkUnit::Chars,
        embedding_model: Some("other".into()),
    };
    assert!(matches!(
        t.lib.update_kb_settings(kb.id, &bad).await,
        Err(CoreError::InvalidInput(_))
    ));
    let unchanged = t.lib.kb_by_name("设置").await.expect("kb");
    assert_eq!(unchanged.chunk_spec(), ChunkSpec::chars(100, 10));
    assert_eq!(unchanged.embedding_model, None);
    assert!(matches!(
        t.lib.update_kb_settings(424_242, &default).await,
        Err(CoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn reindex_extracts_unchanged_files_again_and_reports_vanished_ones() {
    let t = TestLibrary::open().await;
    let kb = t.kb("重建").await;
    let tea = write(&t.docs_dir().join("茶叶.txt"), TEA);
    let gone = write(&t.docs_dir().join("消失.txt"), crate::support::PANDA);
    t.ingest(kb.id, &[tea.clone(), gone.clone()]).await;
    let tea_doc = t.doc(kb.id, &tea).await;
    let gone_doc = t.doc(kb.id, &gone).await;
    let old_chunks = t.indexed_rowids("大红袍").await;
    std::fs::remove_file(&gone).expect("remove");

    // A plain import of the unchanged file skips it; a re-index does not.
    assert_eq!(
        t.ingest(kb.id, std::slice::from_ref(&tea)).await.unchanged,
        1
    );
    let summary = t
        .lib
        .reindex_documents(
            &[tea_doc.id, gone_doc.id],
            &|_| {},
            CancellationToken::new(),
        )
        .await
        .expect("reindex");
    assert_eq!(summary.documents, 1, "{summary:?}");
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(summary.failed[0].path, gone.display().to_string());
    let new_chunks = t.indexed_rowids("大红袍").await;
    assert_eq!(new_chunks.len(), old_chunks.len());
    assert!(
        new_chunks.iter().all(|id| !old_chunks.contains(id)),
        "chunks written afresh: {old_chunks:?} -> {new_chunks:?}"
    );
    // The vanished file's document keeps its chunks and carries the reason.
    let kept = t.doc(kb.id, &gone).await;
    assert_eq!(kept.chunk_count, gone_doc.chunk_count);
    assert!(
        kept.error.is_some_and(|e| e.contains("cannot")),
        "reason recorded"
    );
    t.assert_consistent(kb.id).await;

    assert!(matches!(
        t.lib
            .reindex_documents(&[424_242], &|_| {}, CancellationToken::new())
            .await,
        Err(CoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn delete_kb_removes_documents_conversations_watches_and_leaves_vector_tombstones() {
    let t = TestLibrary::open().await;
    let kb = t.kb("待删").await;
    let keep = t.kb("保留").await;
    let paths = t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    t.ingest(keep.id, &paths[..1]).await;
    let watched = t.root().join("watched");
    std::fs::create_dir_all(&watched).expect("mkdir");
    t.lib
        .add_watch(kb.id, &watched, Default::default())
        .await
        .expect("watch");
    let mut events = t.lib.subscribe_watch();

    let mut raw = t.writable().await;
    sqlx::query(
        "INSERT INTO conversations (kb_id, title, created_at, updated_at) VALUES (?, '问题', 0, 0)",
    )
    .bind(kb.id)
    .execute(&mut raw)
    .await
    .expect("conversation");
    // Pretend every chunk of the kb has a vector in Chroma.
    let stored = sqlx::query(
        "INSERT INTO chunk_vectors (chunk_id, kb_id, model) \
         SELECT c.id, d.kb_id, 'm' FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.kb_id = ?",
    )
    .bind(kb.id)
    .execute(&mut raw)
    .await
    .expect("vectors")
    .rows_affected();
    assert!(stored > 0);

    let deleted = t.lib.delete_kb(kb.id).await.expect("delete");
    assert_eq!(
        deleted,
        lexinaut_core::KbDeletion {
            documents: paths.len() as u64,
            conversations: 1,
            watched_folders: 1,
        }
    );
    assert!(matches!(
        t.lib.list_documents(kb.id).await,
        Err(CoreError::NotFound(_))
    ));
    assert_eq!(
        t.lib
            .list_kbs()
            .await
            .expect("list")
            .iter()
            .map(|k| k.id)
            .collect::<Vec<_>>(),
        [keep.id]
    );
    assert!(t.lib.list_watches(None).await.expect("watches").is_empty());
    assert!(
        matches!(
            events.try_recv(),
            Ok(lexinaut_core::WatchEvent::FolderRemoved { .. })
        ),
        "subscribers hear the folder go"
    );
    for (table, expected) in [
        ("documents", 1),
        ("conversations", 0),
        ("chunk_vectors", 0),
        ("vector_tombstones", stored as i64),
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut raw)
            .await
            .expect("count");
        assert_eq!(n, expected, "{table}");
    }
    t.assert_consistent(keep.id).await;
    assert!(matches!(
        t.lib.delete_kb(kb.id).await,
        Err(CoreError::NotFound(_))
    ));
    // The name is free again.
    t.kb("待删").await;
}

#[tokio::test]
async fn words_jieba_cut_into_letters_are_indexed_whole_once_the_library_reopens() {
    let t = TestLibrary::open().await;
    let kb = t.kb("欧洲").await;
    let chinese = t.kb("中文").await;
    let file = write(
        &t.docs_dir().join("分店.txt"),
        "苏黎世（Zürich）的 Café Москва 分店开业。",
    );
    t.ingest(kb.id, std::slice::from_ref(&file)).await;
    let other = write(&t.docs_dir().join("茶叶.txt"), TEA);
    t.ingest(chinese.id, std::slice::from_ref(&other)).await;
    for query in ["Zurich", "zürich", "cafe", "МОСКВА", "分店"] {
        assert_eq!(t.search(kb.id, query, 5).await.len(), 1, "{query}");
    }
    // Back to what the releases before migration 12 stored: those words letter by letter.
    {
        let mut raw = t.writable().await;
        for sql in [
            "DELETE FROM _sqlx_migrations WHERE version = 12",
            "DELETE FROM chunk_fts WHERE rowid IN \
             (SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id \
              WHERE d.kb_id = (SELECT id FROM knowledge_bases WHERE name = '欧洲'))",
            "INSERT INTO chunk_fts (rowid, tokens) SELECT c.id, \
             '苏黎世 z u rich caf e м о с к в а 分店 开业' FROM chunks c \
             JOIN documents d ON d.id = c.document_id \
             WHERE d.kb_id = (SELECT id FROM knowledge_bases WHERE name = '欧洲')",
            // A marker in the Chinese passages' rows: it stays if they are left alone.
            "DELETE FROM chunk_fts WHERE rowid IN \
             (SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id \
              WHERE d.kb_id = (SELECT id FROM knowledge_bases WHERE name = '中文'))",
            "INSERT INTO chunk_fts (rowid, tokens) SELECT c.id, '大红袍 untouched' \
             FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE d.kb_id = (SELECT id FROM knowledge_bases WHERE name = '中文')",
        ] {
            sqlx::query(sql).execute(&mut raw).await.expect(sql);
        }
    }
    assert!(t.search(kb.id, "Zurich", 5).await.is_empty());
    let t = t.reopened().await;
    for query in ["Zurich", "zürich", "cafe", "Café", "МОСКВА", "分店"] {
        assert_eq!(t.search(kb.id, query, 5).await.len(), 1, "{query}");
    }
    // Only the passages with such words were indexed again.
    assert_eq!(t.search(chinese.id, "untouched", 5).await.len(), 1);
    assert_eq!(t.search(chinese.id, "大红袍", 5).await.len(), 1);
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn a_catalogue_indexed_by_the_older_tokenizer_is_reindexed_when_opened() {
    let t = TestLibrary::open().await;
    let kb = t.kb("升级").await;
    let file = write(
        &t.docs_dir().join("菜单.txt"),
        "Café Zürich 的营业收入同比增长。WI-FI 免费。",
    );
    t.ingest(kb.id, std::slice::from_ref(&file)).await;
    // Take the catalogue back to what the release before migration 11 left: a keyword index
    // tokenized by `unicode61` inside SQLite, from tokens as jieba cut them.
    {
        let mut raw = t.writable().await;
        for sql in [
            "DELETE FROM _sqlx_migrations WHERE version = 11",
            "ALTER TABLE library DROP COLUMN keyword_index_stale",
            "DROP TABLE chunk_fts",
            "CREATE VIRTUAL TABLE chunk_fts USING fts5 (tokens, content = '', \
             contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')",
            "INSERT INTO chunk_fts (rowid, tokens) SELECT id, text FROM chunks",
        ] {
            sqlx::query(sql).execute(&mut raw).await.expect(sql);
        }
    }
    let t = t.reopened().await;
    let mut raw = t.raw().await;
    let (table, stale): (String, bool) = sqlx::query_as(
        "SELECT (SELECT sql FROM sqlite_master WHERE name = 'chunk_fts'), keyword_index_stale \
         FROM library",
    )
    .fetch_one(&mut raw)
    .await
    .expect("catalogue state");
    assert!(table.contains("'ascii'"), "{table}");
    assert!(!stale);
    t.assert_consistent(kb.id).await;
    // Found in Chinese and in Latin script, whatever the case.
    for query in ["营业收入", "café", "CAFÉ", "ZÜRICH", "wi-fi", "Wi Fi"] {
        let hits = t.search(kb.id, query, 5).await;
        assert_eq!(hits.len(), 1, "{query}: {hits:?}");
    }
    // Opened again, nothing is rebuilt.
    let t = t.reopened().await;
    assert_eq!(t.search(kb.id, "营业收入", 5).await.len(), 1);
}
