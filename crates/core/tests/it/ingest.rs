//! Import: folders of text and Markdown, unsupported and broken files, re-imports of unchanged,
//! changed and spoiled files, progress, cancellation and non-UTF-8 text.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use lexinaut_core::{
    CancellationToken, CoreError, DocumentStatus, ImportControl, ImportJobs, ImportProgress,
    JobState,
};

use crate::support::{shown, write, TestLibrary, GO, PANDA, PNG_BYTES, SAMPLES, TEA};

#[tokio::test]
async fn folder_of_txt_and_md_is_indexed_and_counts_match_catalogue() {
    let t = TestLibrary::open().await;
    let kb = t.kb("样例").await;
    let paths = t.write_samples();

    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(summary.documents as usize, SAMPLES.len(), "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!((summary.skipped, summary.unchanged), (0, 0));
    assert!(summary.skipped_files.is_empty());
    assert!(!summary.cancelled);

    let docs = t.docs(kb.id).await;
    assert_eq!(docs.len(), SAMPLES.len());
    let mut listed: Vec<&str> = docs.iter().map(|d| d.path.as_str()).collect();
    let mut expected: Vec<String> = paths.iter().map(|p| shown(p)).collect();
    listed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(listed, expected);

    let total_chunks: i64 = docs.iter().map(|d| d.chunk_count).sum();
    assert_eq!(total_chunks, i64::from(summary.chunks));
    for (path, (rel, text)) in paths.iter().zip(SAMPLES) {
        let d = t.doc(kb.id, path).await;
        assert_eq!(d.status, DocumentStatus::Indexed, "{d:?}");
        assert_eq!(d.error, None);
        assert!(d.chunk_count >= 1, "{d:?}");
        assert_eq!(d.kb_id, kb.id);
        assert_eq!(d.size, text.len() as i64);
        assert_eq!(d.hash, blake3::hash(text.as_bytes()).to_hex().to_string());
        assert_eq!(Some(d.name.as_str()), rel.rsplit('/').next());
        let format = if rel.ends_with(".md") {
            "markdown"
        } else {
            "text"
        };
        assert_eq!(d.format.as_deref(), Some(format), "{rel}");
        assert_eq!(d.encoding.as_deref(), Some("UTF-8"), "{rel}");
        assert!(d.warnings.is_empty(), "{rel}: {:?}", d.warnings);
        assert!(d.added_at > 0 && d.updated_at >= d.added_at);
    }
    assert_eq!(
        t.lib.kb_by_name("样例").await.expect("kb").document_count,
        SAMPLES.len() as i64
    );
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn unsupported_files_in_folders_are_skipped_with_reason() {
    let t = TestLibrary::open().await;
    let kb = t.kb("混合").await;
    t.write_samples();
    let docs_dir = t.docs_dir();
    let unsupported = [
        write(&docs_dir.join("图片.png"), PNG_BYTES),
        write(&docs_dir.join("报表.numbers"), b"PK\x03\x04 not really"),
        write(&docs_dir.join("子目录/说明.exe"), b"MZ\x90\x00"),
        write(&docs_dir.join("无扩展名"), "没有扩展名的文件"),
    ];
    // Hidden files and folders are neither imported nor reported.
    write(&docs_dir.join(".隐藏.txt"), "隐藏文件里的内容：秘密口令。");
    write(
        &docs_dir.join(".git/说明.txt"),
        "版本库里的说明：秘密口令。",
    );

    let summary = t.ingest(kb.id, &[docs_dir]).await;
    assert_eq!(summary.documents as usize, SAMPLES.len(), "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(summary.skipped as usize, unsupported.len(), "{summary:?}");
    assert_eq!(summary.unchanged, 0);
    let mut skipped: Vec<&str> = summary
        .skipped_files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let mut expected: Vec<String> = unsupported.iter().map(|p| shown(p)).collect();
    skipped.sort_unstable();
    expected.sort_unstable();
    assert_eq!(skipped, expected);
    for f in &summary.skipped_files {
        assert!(f.reason.contains("unsupported"), "{f:?}");
    }

    let docs = t.docs(kb.id).await;
    assert_eq!(
        docs.len(),
        SAMPLES.len(),
        "skipped files are not catalogued"
    );
    assert!(t.search(kb.id, "秘密口令", 10).await.is_empty());
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn broken_inputs_fail_with_reasons_while_other_files_import() {
    let t = TestLibrary::open().await;
    let kb = t.kb("坏文件").await;
    t.write_samples();
    let docs_dir = t.docs_dir();
    let binary = write(&docs_dir.join("坏/截图.txt"), PNG_BYTES);
    let empty = write(&docs_dir.join("坏/空白.txt"), b"");
    let missing = docs_dir.join("不存在的文件.txt");
    let outside_pdf = write(&t.root().join("外部.pdf"), b"%PDF-1.7");
    let outside_exe = write(&t.root().join("外部.exe"), b"MZ\x90\x00");

    let summary = t
        .ingest(
            kb.id,
            &[
                docs_dir,
                missing.clone(),
                outside_pdf.clone(),
                outside_exe.clone(),
            ],
        )
        .await;
    assert_eq!(summary.documents as usize, SAMPLES.len(), "{summary:?}");
    assert_eq!(summary.failed.len(), 5, "{summary:?}");
    let reason = |p: &PathBuf| {
        summary
            .failed
            .iter()
            .find(|f| f.path == shown(p))
            .map(|f| f.reason.to_lowercase())
            .unwrap_or_else(|| panic!("{} not in failed: {:?}", p.display(), summary.failed))
    };
    let r = reason(&missing);
    assert!(
        r.contains("cannot open") && r.contains("no such file"),
        "{r}"
    );
    assert!(reason(&binary).contains("binary"), "{}", reason(&binary));
    assert!(reason(&empty).contains("empty"), "{}", reason(&empty));
    assert!(
        reason(&outside_pdf).contains("not a valid pdf"),
        "{}",
        reason(&outside_pdf)
    );
    assert!(
        reason(&outside_exe).contains("unsupported"),
        "{}",
        reason(&outside_exe)
    );

    // Files that exist are catalogued as failed with their reason; nothing is indexed for them.
    for p in [&binary, &empty, &outside_pdf] {
        let d = t.doc(kb.id, p).await;
        assert_eq!(d.status, DocumentStatus::Failed, "{d:?}");
        assert_eq!(d.chunk_count, 0);
        assert_eq!(d.error.as_deref().map(str::to_lowercase), Some(reason(p)));
    }
    let docs = t.docs(kb.id).await;
    assert_eq!(docs.len(), SAMPLES.len() + 3);
    assert_eq!(
        docs.iter()
            .filter(|d| d.status == DocumentStatus::Indexed)
            .count(),
        SAMPLES.len()
    );
    assert!(!t.search(kb.id, "大红袍", 3).await.is_empty());
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn file_over_the_size_limit_fails_and_names_the_limit() {
    let t = TestLibrary::open_with(|c| c.max_file_bytes = 64).await;
    let kb = t.kb("限额").await;
    let big = write(&t.docs_dir().join("长文.txt"), TEA);
    let small = write(&t.docs_dir().join("短文.txt"), "短短一句话。");

    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(summary.documents, 1, "{summary:?}");
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(summary.failed[0].path, shown(&big));
    assert!(
        summary.failed[0].reason.contains("64-byte limit"),
        "{:?}",
        summary.failed[0]
    );
    assert_eq!(t.doc(kb.id, &small).await.status, DocumentStatus::Indexed);
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn reingest_of_unchanged_files_indexes_nothing() {
    let t = TestLibrary::open().await;
    let kb = t.kb("重复导入").await;
    let paths = t.write_samples();
    let first = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(first.documents as usize, SAMPLES.len());
    let before = t.docs(kb.id).await;

    let again = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(again.documents, 0, "{again:?}");
    assert_eq!(again.chunks, 0);
    assert_eq!(again.unchanged as usize, SAMPLES.len());
    assert_eq!(again.skipped as usize, SAMPLES.len());
    assert!(again.failed.is_empty() && again.skipped_files.is_empty());

    // A new modification time alone is not a change: recorded, not re-indexed.
    let touched = &paths[0];
    let mtime = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(touched)
        .expect("open for touch")
        .set_modified(mtime)
        .expect("set mtime");
    let third = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(third.documents, 0, "{third:?}");
    assert_eq!(third.unchanged as usize, SAMPLES.len());

    let after = t.docs(kb.id).await;
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (a.id, &a.hash, a.chunk_count),
            (b.id, &b.hash, b.chunk_count)
        );
        assert_eq!(a.updated_at, b.updated_at, "{} was rewritten", a.path);
        if a.path == shown(touched) {
            assert_eq!(a.mtime_ms, 1_600_000_000_000);
        } else {
            assert_eq!(a.mtime_ms, b.mtime_ms);
        }
    }
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn modified_file_is_reindexed_and_its_old_chunks_are_gone() {
    let t = TestLibrary::open().await;
    let kb = t.kb("修改").await;
    t.write_samples();
    let file = write(
        &t.docs_dir().join("藏品.txt"),
        "这块琥珀里封存着一只远古的蚊子，距今约有四千万年，是博物馆的镇馆之宝。",
    );
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let old = t.doc(kb.id, &file).await;
    let hits = t.search(kb.id, "琥珀", 10).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].path, shown(&file));
    assert!(!t.indexed_rowids("琥珀").await.is_empty());

    write(
        &file,
        "这块翡翠产自缅甸，颜色翠绿，质地细腻，\n经过雕刻师三个月的打磨才完成。",
    );
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(summary.documents, 1, "{summary:?}");
    assert_eq!(summary.unchanged as usize, SAMPLES.len());

    let new = t.doc(kb.id, &file).await;
    assert_eq!(new.id, old.id, "re-indexed in place");
    assert_ne!(new.hash, old.hash);
    assert_eq!(new.status, DocumentStatus::Indexed);
    assert!(t.search(kb.id, "琥珀", 10).await.is_empty());
    assert!(
        t.indexed_rowids("琥珀").await.is_empty(),
        "old chunk left in the keyword index"
    );
    let hits = t.search(kb.id, "翡翠", 10).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].path, shown(&file));
    assert!(hits[0].text.contains("翡翠"));
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn indexed_file_that_turns_invalid_keeps_its_chunks_and_records_the_error() {
    let t = TestLibrary::open().await;
    let kb = t.kb("损坏").await;
    let tea = t.write_samples().remove(0);
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let good = t.doc(kb.id, &tea).await;

    write(&tea, PNG_BYTES);
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(summary.documents, 0, "{summary:?}");
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(summary.failed[0].path, shown(&tea));
    assert!(summary.failed[0].reason.contains("binary"), "{summary:?}");

    let spoiled = t.doc(kb.id, &tea).await;
    assert_eq!(spoiled.status, DocumentStatus::Indexed, "stays searchable");
    assert_eq!(spoiled.chunk_count, good.chunk_count);
    assert!(
        spoiled
            .error
            .as_deref()
            .is_some_and(|e| e.contains("binary")),
        "{spoiled:?}"
    );
    let hits = t.search(kb.id, "大红袍", 5).await;
    assert_eq!(
        hits.first().map(|h| h.path.as_str()),
        Some(shown(&tea).as_str())
    );
    t.assert_consistent(kb.id).await;

    // Restoring the indexed content (even with its old mtime, as `cp -p` would) clears the
    // error without re-indexing.
    write(&tea, TEA);
    let old_mtime =
        UNIX_EPOCH + Duration::from_millis(u64::try_from(good.mtime_ms).expect("mtime"));
    std::fs::File::options()
        .write(true)
        .open(&tea)
        .expect("open for touch")
        .set_modified(old_mtime)
        .expect("set mtime");
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(summary.documents, 0, "{summary:?}");
    assert_eq!(summary.unchanged as usize, SAMPLES.len(), "{summary:?}");
    let restored = t.doc(kb.id, &tea).await;
    assert_eq!(restored.status, DocumentStatus::Indexed);
    assert_eq!(restored.error, None, "error of the spoiled version lingers");
    assert_eq!(restored.chunk_count, good.chunk_count);
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn failed_file_that_is_fixed_gets_indexed() {
    let t = TestLibrary::open().await;
    let kb = t.kb("修复").await;
    let file = write(&t.docs_dir().join("稍后填写.txt"), b"");
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(t.doc(kb.id, &file).await.status, DocumentStatus::Failed);

    write(&file, PANDA);
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(summary.documents, 1, "{summary:?}");
    assert!(summary.failed.is_empty());
    let d = t.doc(kb.id, &file).await;
    assert_eq!(d.status, DocumentStatus::Indexed);
    assert_eq!(d.error, None);
    assert!(d.chunk_count > 0);
    assert_eq!(t.docs(kb.id).await.len(), 1);
    assert!(!t.search(kb.id, "卧龙", 3).await.is_empty());
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn progress_hears_every_file_and_finishes_last() {
    let t = TestLibrary::open().await;
    let kb = t.kb("进度").await;
    t.write_samples();
    let docs_dir = t.docs_dir();
    write(&docs_dir.join("图片.png"), PNG_BYTES);
    write(&docs_dir.join("坏.txt"), PNG_BYTES);
    let missing = docs_dir.join("缺失.md");

    let (summary, seen) = t.ingest_recording(kb.id, &[docs_dir, missing]).await;
    // 5 samples + 1 binary .txt are read; the .png is skipped and the missing path failed.
    let read = SAMPLES.len() + 1;
    let total = read + 2;
    // One after the scan, one per written batch (at most one per file), one final.
    assert!(
        (3..=read + 2).contains(&seen.len()),
        "one after the scan, at least one batch, one final: {seen:#?}"
    );

    let first = &seen[0];
    assert_eq!(first.total as usize, total);
    assert_eq!((first.processed, first.skipped, first.failed), (2, 1, 1));
    assert!(!first.finished && first.current.is_none());
    for pair in seen.windows(2) {
        assert!(pair[1].processed >= pair[0].processed, "{pair:?}");
        assert_eq!(pair[1].total, pair[0].total);
    }
    for p in &seen[1..seen.len() - 1] {
        assert!(p.current.is_some(), "{p:?}");
    }
    let finished: Vec<&ImportProgress> = seen.iter().filter(|p| p.finished).collect();
    assert_eq!(finished.len(), 1, "only the last message is final");
    let last = seen.last().expect("messages");
    assert!(last.finished);
    assert_eq!(last.processed, last.total);
    assert_eq!(last.documents, summary.documents);
    assert_eq!(last.skipped, summary.skipped);
    assert_eq!(last.failed as usize, summary.failed.len());
    assert_eq!(summary.documents as usize, SAMPLES.len());
    assert_eq!(summary.failed.len(), 2);
    // Bytes: every file found counts; all of it processed at the end, no time left to guess.
    assert!(first.bytes_total > 0);
    assert_eq!(last.bytes_processed, last.bytes_total);
    assert_eq!(last.eta_seconds, None);
    assert!(last.files_per_second > 0.0 && !last.paused);
}

/// The documents of a knowledge base holding `term`'s passages, by path.
async fn paths_found(t: &TestLibrary, kb_id: i64, term: &str) -> Vec<String> {
    let mut paths: Vec<String> = t
        .search(kb_id, term, 10)
        .await
        .into_iter()
        .map(|h| h.path)
        .collect();
    paths.dedup();
    paths
}

#[tokio::test]
async fn identical_files_are_stored_once_and_a_duplicate_takes_over_when_the_original_goes() {
    let t = TestLibrary::open().await;
    let kb = t.kb("重复").await;
    let text = "季度报告：营业收入同比增长百分之十二，研发投入创新高。";
    let first = write(&t.docs_dir().join("甲/报告.txt"), text);
    let second = write(&t.docs_dir().join("乙/报告副本.txt"), text);
    write(&t.docs_dir().join("丙.txt"), "另一份不同的文件。");
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(
        (summary.documents, summary.duplicates),
        (3, 1),
        "{summary:?}"
    );
    let docs = t.docs(kb.id).await;
    let dups: Vec<_> = docs
        .iter()
        .filter(|d| d.status == DocumentStatus::Duplicate)
        .collect();
    assert_eq!(dups.len(), 1, "one of the pair is the duplicate: {docs:#?}");
    let (copy, original) = if dups[0].path == shown(&second) {
        (&second, &first)
    } else {
        (&first, &second)
    };
    let original_doc = t.doc(kb.id, original).await;
    assert_eq!(dups[0].duplicate_of, Some(original_doc.id));
    assert_eq!(
        dups[0].duplicate_of_path.as_deref(),
        Some(shown(original).as_str())
    );
    assert_eq!(dups[0].chunk_count, 0, "no passages of its own");
    assert!(original_doc.chunk_count > 0);
    // Its passages are stored once: a question finds them once, under the original.
    assert_eq!(
        paths_found(&t, kb.id, "研发投入").await,
        vec![shown(original)]
    );
    t.assert_consistent(kb.id).await;
    // A search limited to the copy's folder still finds them.
    let in_copy_folder = lexinaut_core::SearchFilter {
        folder: copy.parent().map(shown),
        ..Default::default()
    };
    let hits = t
        .lib
        .search_with(kb.id, "研发投入", 5, &in_copy_folder)
        .await
        .expect("search in the copy's folder");
    assert_eq!(hits.len(), 1, "{hits:?}");

    // A later copy elsewhere points at the same original; re-importing changes nothing.
    let third = write(&t.root().join("别处/报告.txt"), text);
    let later = t.ingest(kb.id, std::slice::from_ref(&third)).await;
    assert_eq!(later.duplicates, 1);
    assert_eq!(
        t.doc(kb.id, &third).await.duplicate_of,
        Some(original_doc.id)
    );
    let again = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert_eq!(again.unchanged, 3, "{again:?}");

    // The original is deleted: the oldest duplicate takes its passages; the other points at it.
    t.lib
        .delete_documents(&[original_doc.id])
        .await
        .expect("delete the original");
    let heir = t.doc(kb.id, copy).await;
    assert_eq!(heir.status, DocumentStatus::Indexed, "{heir:?}");
    assert_eq!(heir.chunk_count, original_doc.chunk_count);
    assert_eq!(heir.duplicate_of, None);
    assert_eq!(t.doc(kb.id, &third).await.duplicate_of, Some(heir.id));
    assert_eq!(paths_found(&t, kb.id, "研发投入").await, vec![shown(copy)]);
    t.assert_consistent(kb.id).await;

    // The heir's file is edited: the remaining duplicate keeps the old passages, the heir gets
    // the new ones.
    write(copy, "季度报告（修订）：营业收入同比增长百分之十五。");
    t.ingest(kb.id, std::slice::from_ref(copy)).await;
    assert_eq!(
        paths_found(&t, kb.id, "研发投入").await,
        vec![shown(&third)]
    );
    assert_eq!(paths_found(&t, kb.id, "修订").await, vec![shown(copy)]);
    let last = t.doc(kb.id, &third).await;
    assert_eq!(
        (last.status, last.duplicate_of),
        (DocumentStatus::Indexed, None)
    );
    t.assert_consistent(kb.id).await;

    // A knowledge base with duplicates can be deleted whole.
    write(
        &t.root().join("别处/又一份.txt"),
        "又一份：营业收入同比增长百分之十二，研发投入创新高。",
    );
    t.ingest(kb.id, &[t.root().join("别处")]).await;
    t.lib
        .delete_kb(kb.id)
        .await
        .expect("delete the knowledge base");
}

#[tokio::test]
async fn a_duplicate_whose_file_changes_becomes_a_document_of_its_own() {
    let t = TestLibrary::open().await;
    let kb = t.kb("副本变化").await;
    let text = "会议纪要：下周一上午九点召开预算评审会。";
    let a = write(&t.docs_dir().join("a/纪要.txt"), text);
    t.ingest(kb.id, std::slice::from_ref(&a)).await;
    let b = write(&t.docs_dir().join("b/纪要.txt"), text);
    t.ingest(kb.id, std::slice::from_ref(&b)).await;
    assert_eq!(t.doc(kb.id, &b).await.status, DocumentStatus::Duplicate);
    write(&b, "会议纪要：预算评审会改到下周二下午。");
    t.ingest(kb.id, std::slice::from_ref(&b)).await;
    let doc = t.doc(kb.id, &b).await;
    assert_eq!(
        (doc.status, doc.duplicate_of),
        (DocumentStatus::Indexed, None)
    );
    assert!(doc.chunk_count > 0);
    assert_eq!(paths_found(&t, kb.id, "下周二").await, vec![shown(&b)]);
    assert_eq!(paths_found(&t, kb.id, "九点").await, vec![shown(&a)]);
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn a_paused_import_starts_no_file_until_resumed() {
    let t = TestLibrary::open().await;
    let kb = t.kb("暂停").await;
    for i in 0..60 {
        write(
            &t.docs_dir().join(format!("笔记{i:02}.txt")),
            format!("第{i}份笔记：暂停以后不应再开始新的文件。"),
        );
    }
    let control = ImportControl::default();
    control.pause();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<ImportProgress>::new()));
    let record = {
        let seen = std::sync::Arc::clone(&seen);
        move |p: ImportProgress| seen.lock().expect("progress").push(p)
    };
    let last = || seen.lock().expect("progress").last().cloned();
    let import = t
        .lib
        .ingest(kb.id, vec![t.docs_dir()], &record, control.clone());
    let observe = async {
        // Paused from the start: the scan is reported, then nothing is read.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let p = last().expect("the scan was reported");
        assert!(p.paused && !p.finished, "{p:?}");
        assert_eq!((p.total, p.processed), (60, 0), "{p:?}");
        assert!(t.docs(kb.id).await.is_empty(), "no document while paused");
        control.resume();
    };
    let (summary, ()) = tokio::join!(import, observe);
    let summary = summary.expect("import");
    assert_eq!(summary.documents, 60);
    let seen = seen.lock().expect("progress");
    assert!(
        seen.iter().any(|p| !p.paused && !p.finished),
        "the resume was reported"
    );
    let done = seen.last().expect("final");
    assert!(done.finished && !done.paused);
    assert_eq!(done.processed, 60);
}

#[tokio::test]
async fn a_pause_right_after_the_scan_is_reported() {
    // The window's Pause button appears with the scan report; a click before the first file is
    // read (while jobs are queued) must still come back as "paused", or the button looks dead.
    let t = TestLibrary::open().await;
    let kb = t.kb("扫描后暂停").await;
    for i in 0..200 {
        write(
            &t.docs_dir().join(format!("记录{i:03}.txt")),
            format!("第{i}份记录：扫描一结束就暂停。"),
        );
    }
    let control = ImportControl::default();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<ImportProgress>::new()));
    let record = {
        let control = control.clone();
        let seen = std::sync::Arc::clone(&seen);
        move |p: ImportProgress| {
            // The first report is the scan: pause at once, as the fastest click would.
            if seen.lock().expect("progress").is_empty() {
                control.pause();
            }
            seen.lock().expect("progress").push(p);
        }
    };
    let import = t
        .lib
        .ingest(kb.id, vec![t.docs_dir()], &record, control.clone());
    let observe = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !seen.lock().expect("progress").iter().any(|p| p.paused) {
            if std::time::Instant::now() > deadline {
                // Resume so the import ends and the assertion below reports the failure.
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let reported = seen.lock().expect("progress").iter().any(|p| p.paused);
        control.resume();
        reported
    };
    let (summary, reported) = tokio::join!(import, observe);
    assert!(reported, "the pause was never reported");
    assert_eq!(summary.expect("import").documents, 200);
}

#[tokio::test]
async fn pausing_midway_stops_new_files_and_cancel_still_works_while_paused() {
    let t = TestLibrary::open().await;
    let kb = t.kb("中途暂停").await;
    for i in 0..3_000 {
        write(
            &t.docs_dir().join(format!("文件{i:04}.txt")),
            format!("第{i}份文件：中途暂停，然后在暂停状态下取消导入。"),
        );
    }
    let control = ImportControl::default();
    let paused_at = std::sync::Arc::new(std::sync::Mutex::new(None::<u32>));
    let record = {
        let control = control.clone();
        let paused_at = std::sync::Arc::clone(&paused_at);
        move |p: ImportProgress| {
            if p.processed > 0 && !control.is_paused() && !p.finished {
                control.pause();
            }
            if p.paused {
                paused_at.lock().expect("paused").get_or_insert(p.processed);
            }
        }
    };
    let import = t
        .lib
        .ingest(kb.id, vec![t.docs_dir()], &record, control.clone());
    let observe = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while paused_at.lock().expect("paused").is_none() {
            assert!(std::time::Instant::now() < deadline, "never paused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Files already being read are stored; then nothing moves.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let settled = t.docs(kb.id).await.len();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            t.docs(kb.id).await.len(),
            settled,
            "nothing new while paused"
        );
        assert!(settled < 3_000, "paused before the end: {settled}");
        control.cancel();
    };
    let (summary, ()) = tokio::join!(import, observe);
    let summary = summary.expect("a cancelled import still returns its summary");
    assert!(summary.cancelled);
    assert!((summary.documents as usize) < 3_000);
    t.assert_consistent(kb.id).await;
    // The rest is still queued: resuming finishes it.
    let resumed = t
        .lib
        .resume(kb.id, &|_| {}, CancellationToken::new())
        .await
        .expect("resume");
    assert_eq!(summary.documents + resumed.documents, 3_000);
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn cancelled_before_start_imports_nothing_and_catalogue_stays_consistent() {
    let t = TestLibrary::open().await;
    let kb = t.kb("取消").await;
    t.write_samples();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let finished = std::sync::atomic::AtomicBool::new(false);
    let on_progress = |p: ImportProgress| {
        if p.finished {
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };

    let summary = t
        .lib
        .ingest(kb.id, vec![t.docs_dir()], &on_progress, cancel)
        .await
        .expect("a cancelled ingest still returns its summary");
    assert!(summary.cancelled, "{summary:?}");
    assert!(finished.into_inner(), "a final progress message is sent");
    let docs = t.docs(kb.id).await;
    assert_eq!(docs.len(), summary.documents as usize, "{summary:?}");
    assert_eq!(
        docs.iter().map(|d| d.chunk_count).sum::<i64>(),
        i64::from(summary.chunks)
    );
    t.assert_consistent(kb.id).await;

    // Nothing half-done blocks the next import.
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert!(!summary.cancelled);
    assert_eq!(t.docs(kb.id).await.len(), SAMPLES.len());
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn cancelled_midway_keeps_what_was_stored_and_resumes() {
    let t = TestLibrary::open().await;
    let kb = t.kb("中途取消").await;
    // More files than one write batch, so the cancel lands between batches.
    let files = 2_200;
    for i in 0..files {
        write(
            &t.docs_dir().join(format!("{:02}/记录{i:04}.txt", i % 20)),
            format!("第{i}号记录：本季度营业收入同比增长。"),
        );
    }
    let cancel = CancellationToken::new();
    let on_progress = |p: ImportProgress| {
        if p.current.is_some() {
            cancel.cancel();
        }
    };

    let summary = t
        .lib
        .ingest(kb.id, vec![t.docs_dir()], &on_progress, cancel.clone())
        .await
        .expect("ingest");
    assert!(summary.cancelled, "{summary:?}");
    let stored = summary.documents as usize;
    assert!(
        stored > 0 && stored < files,
        "stops after the batch in hand: {summary:?}"
    );
    let docs = t.docs(kb.id).await;
    assert_eq!(docs.len(), stored);
    assert_eq!(
        docs.iter().map(|d| d.chunk_count).sum::<i64>(),
        i64::from(summary.chunks)
    );
    t.assert_consistent(kb.id).await;

    // Resume imports exactly the files the cancel left queued.
    let rest = t
        .lib
        .resume(kb.id, &|_| {}, CancellationToken::new())
        .await
        .expect("resume");
    assert_eq!(
        rest.documents as usize + rest.unchanged as usize,
        files - stored,
        "{rest:?}"
    );
    assert_eq!(t.docs(kb.id).await.len(), files);
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn interrupted_imports_are_finished_at_start_up_one_knowledge_base_after_the_other() {
    let t = TestLibrary::open().await;
    let first = t.kb("第一").await;
    let second = t.kb("第二").await;
    let untouched = t.kb("无事").await;
    // Two imports stopped before their first file: every job is left queued, as after a kill.
    for (kb, dir) in [(first.id, "一"), (second.id, "二")] {
        for i in 0..3 {
            write(
                &t.docs_dir().join(format!("{dir}/记录{i}.txt")),
                format!("{dir}号库第{i}号记录：营业收入同比增长。"),
            );
        }
        let stopped = CancellationToken::new();
        stopped.cancel();
        let summary = t
            .lib
            .ingest(kb, vec![t.docs_dir().join(dir)], &|_| {}, stopped)
            .await
            .expect("ingest");
        assert!(summary.cancelled && summary.documents == 0, "{summary:?}");
    }

    let running = lexinaut_core::Running::<i64, ImportControl>::default();
    let shutdown = CancellationToken::new();
    let finished = std::sync::Mutex::new(Vec::new());
    t.lib
        .resume_interrupted_imports(&running, &shutdown, |kb_id| {
            // Told once the import ended: it is no longer registered.
            assert!(running.get(&kb_id).is_none());
            finished.lock().expect("lock").push(kb_id);
        })
        .await;
    assert_eq!(finished.into_inner().expect("lock"), [first.id, second.id]);
    for kb in [first.id, second.id] {
        assert_eq!(t.docs(kb).await.len(), 3);
        t.assert_consistent(kb).await;
    }
    assert!(t.docs(untouched.id).await.is_empty());
    // Nothing is left to resume.
    let again = std::sync::Mutex::new(0);
    t.lib
        .resume_interrupted_imports(&running, &shutdown, |_| *again.lock().expect("lock") += 1)
        .await;
    assert_eq!(again.into_inner().expect("lock"), 0);
}

/// GBK text long enough for the detector to be sure.
const GBK_TEXT: &str = "本公司二〇二三年上半年实现营业收入十二亿元，同比增长百分之十八，净利润创历史新高。\n\
董事会决定向全体股东每十股派发现金红利三元。公司将继续加大研发投入，拓展海外市场，提升核心竞争力。\n";

#[tokio::test]
async fn gbk_text_is_decoded_and_searchable_in_chinese() {
    let t = TestLibrary::open().await;
    let kb = t.kb("编码").await;
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(GBK_TEXT);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the fixture is not UTF-8"
    );
    let file = write(&t.docs_dir().join("半年报.txt"), &bytes);

    let summary = t.ingest(kb.id, std::slice::from_ref(&file)).await;
    assert_eq!(summary.documents, 1, "{summary:?}");
    let d = t.doc(kb.id, &file).await;
    assert_eq!(d.encoding.as_deref(), Some("gb18030"), "{d:?}");
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);

    let extracted = lexinaut_core::extract_file(&file, t.lib.config())
        .await
        .expect("extract");
    assert_eq!(extracted.text, GBK_TEXT);
    let hits = t.search(kb.id, "净利润", 5).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].path, shown(&file));
    assert!(
        hits[0].text.contains("净利润创历史新高"),
        "{:?}",
        hits[0].text
    );
    assert!(!t.search(kb.id, "现金红利", 5).await.is_empty());
}

#[tokio::test]
async fn ingest_into_missing_kb_is_not_found() {
    let t = TestLibrary::open().await;
    t.write_samples();
    let result = t
        .lib
        .ingest(9_999, vec![t.docs_dir()], &|_| {}, CancellationToken::new())
        .await;
    assert!(matches!(result, Err(CoreError::NotFound(_))), "{result:?}");
    assert_eq!(t.lib.doctor().await.expect("doctor").counts.documents, 0);
}

#[tokio::test]
async fn knowledge_bases_are_separate() {
    let t = TestLibrary::open().await;
    let tea_kb = t.kb("茶").await;
    let go_kb = t.kb("棋").await;
    let tea = write(&t.docs_dir().join("茶叶.txt"), TEA);
    let go = write(&t.docs_dir().join("围棋.txt"), GO);
    t.ingest(tea_kb.id, std::slice::from_ref(&tea)).await;
    t.ingest(go_kb.id, std::slice::from_ref(&go)).await;

    assert!(t.search(tea_kb.id, "围棋", 10).await.is_empty());
    assert!(t.search(go_kb.id, "大红袍", 10).await.is_empty());
    assert_eq!(t.search(go_kb.id, "围棋", 10).await[0].path, shown(&go));

    // The same file in another knowledge base is imported there, not "unchanged".
    let summary = t.ingest(go_kb.id, std::slice::from_ref(&tea)).await;
    assert_eq!(
        (summary.documents, summary.unchanged),
        (1, 0),
        "{summary:?}"
    );
    assert_eq!(t.docs(tea_kb.id).await.len(), 1);
    assert_eq!(t.docs(go_kb.id).await.len(), 2);
    t.assert_consistent(tea_kb.id).await;
    t.assert_consistent(go_kb.id).await;
}

#[tokio::test]
async fn chunk_ids_are_never_reused_after_a_document_is_deleted() {
    let t = TestLibrary::open().await;
    let kb = t.kb("编号").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    // Imported last, so its chunks hold the highest ids: MAX(id) + 1 would hand them out again.
    let file = write(
        &t.root().join("最后.txt"),
        "第一版内容：琥珀封存着远古的蚊子。",
    );
    t.ingest(kb.id, std::slice::from_ref(&file)).await;
    let old = t.search(kb.id, "琥珀", 10).await;
    assert_eq!(old.len(), 1);
    t.lib
        .delete_document(old[0].document_id)
        .await
        .expect("delete");

    let other = write(&t.root().join("新的.txt"), "新文档：翡翠产自缅甸。");
    t.ingest(kb.id, std::slice::from_ref(&other)).await;
    let new = t.search(kb.id, "翡翠", 10).await;
    assert_eq!(new.len(), 1);
    assert!(
        new[0].chunk_id > old[0].chunk_id,
        "chunk id {} reused or went back (deleted {})",
        new[0].chunk_id,
        old[0].chunk_id
    );
    t.assert_consistent(kb.id).await;
}

/// A FIFO nobody writes to: reading it blocks, like a file on a hung network mount.
fn stuck_file(path: &std::path::Path) -> PathBuf {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    path.to_owned()
}

/// Lets the reader stuck on `fifo` go (a writer opens it, writes and closes it).
async fn release(fifo: PathBuf) {
    tokio::task::spawn_blocking(move || std::fs::write(fifo, "终于读到了内容。"))
        .await
        .expect("writer task")
        .expect("write to the FIFO");
}

/// The import jobs of `kb_id` once the file at `path` is recorded as being extracted (polled
/// for up to 20 s); `None` if it never was.
async fn when_extracting(
    t: &TestLibrary,
    kb_id: i64,
    path: &std::path::Path,
) -> Option<ImportJobs> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let jobs = t.lib.import_jobs(kb_id, 10).await.expect("jobs");
        if jobs
            .unfinished
            .iter()
            .any(|j| j.path == shown(path) && j.state == JobState::Extracting)
        {
            return Some(jobs);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

#[tokio::test]
async fn links_to_files_are_imported_and_other_special_entries_are_skipped_with_a_reason() {
    let t = TestLibrary::open().await;
    let kb = t.kb("链接").await;
    let outside = t.root().join("别处");
    let target = write(&outside.join("原件.txt"), "链接指向的文件：麒麟茶具。");
    write(
        &outside.join("子目录/更多.txt"),
        "链接目录里的文件不会被导入。",
    );
    let dir = t.docs_dir();
    write(&dir.join("笔记.txt"), "普通文件。");
    let link = dir.join("链接.txt");
    std::os::unix::fs::symlink(&target, &link).expect("link to a file");
    let folder_link = dir.join("目录链接");
    std::os::unix::fs::symlink(&outside, &folder_link).expect("link to a folder");
    let dangling = dir.join("断开.txt");
    std::os::unix::fs::symlink(outside.join("不存在.txt"), &dangling).expect("dangling link");
    // A pipe in a folder is never opened (reading it would wait for a writer).
    let pipe = stuck_file(&dir.join("管道.txt"));

    let summary = tokio::time::timeout(Duration::from_secs(30), t.ingest(kb.id, &[dir]))
        .await
        .expect("the import did not open the pipe");
    assert_eq!(summary.documents, 2, "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    let reasons: std::collections::HashMap<&str, &str> = summary
        .skipped_files
        .iter()
        .map(|f| (f.path.as_str(), f.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{summary:?}");
    assert!(reasons[shown(&folder_link).as_str()].contains("link to a folder"));
    assert!(reasons[shown(&dangling).as_str()].contains("target is missing"));
    assert!(reasons[shown(&pipe).as_str()].contains("not a regular file"));
    // The link is listed under its own path and its target's text is searchable.
    let hits = t.search(kb.id, "麒麟茶具", 5).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].path, shown(&link));
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn a_file_whose_reader_hangs_fails_after_the_timeout_and_the_import_ends() {
    let t = TestLibrary::open_with(|c| c.file_timeout_secs = 1).await;
    let kb = t.kb("卡住").await;
    let note = write(&t.docs_dir().join("笔记.txt"), "超时之后导入照样结束。");
    let stuck = stuck_file(&t.docs_dir().join("卡住.txt"));
    let started = std::time::Instant::now();
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        t.lib.ingest(
            kb.id,
            vec![note, stuck.clone()],
            &|_| {},
            CancellationToken::new(),
        ),
    )
    .await;
    let took = started.elapsed();
    // The abandoned reader is let go either way (a runtime waits for its threads at the end).
    release(stuck.clone()).await;
    let summary = summary
        .expect("the import did not end while a reader was stuck")
        .expect("import");
    assert_eq!(summary.documents, 1, "{summary:?}");
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(summary.failed[0].path, shown(&stuck));
    assert!(
        summary.failed[0].reason.contains("longer than 1 s"),
        "{:?}",
        summary.failed[0]
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let jobs = t.lib.import_jobs(kb.id, 10).await.expect("jobs");
    assert!(jobs.unfinished.is_empty(), "{jobs:?}");
    assert_eq!(jobs.counts.get(&JobState::Failed), Some(&1), "{jobs:?}");
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn a_cancel_while_a_reader_hangs_returns_at_once_and_the_resume_redoes_that_file() {
    let t = TestLibrary::open().await;
    let kb = t.kb("取消").await;
    let note = write(&t.docs_dir().join("笔记.txt"), "取消不必等卡住的文件。");
    let stuck = stuck_file(&t.docs_dir().join("卡住.txt"));
    let control = ImportControl::default();
    let import = t.lib.ingest(
        kb.id,
        vec![note.clone(), stuck.clone()],
        &|_| {},
        control.clone(),
    );
    let cancel = async {
        // Once the stuck file is being read, cancel.
        when_extracting(&t, kb.id, &stuck).await;
        control.cancel();
    };
    let summary = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(import, cancel)
    })
    .await;
    // The abandoned reader gets its content (and goes away unheard): let go either way, as a
    // runtime waits for its threads at the end.
    release(stuck.clone()).await;
    let (summary, ()) = summary.expect("the cancelled import did not end while a reader was stuck");
    let summary = summary.expect("import");
    assert!(summary.cancelled, "{summary:?}");
    let jobs = t.lib.import_jobs(kb.id, 10).await.expect("jobs");
    assert!(
        jobs.unfinished.iter().any(|j| j.path == shown(&stuck)),
        "the stuck file is left for a resume: {jobs:?}"
    );
    t.assert_consistent(kb.id).await;

    // The resume imports whatever is left, the stuck file included (this time it gets content),
    // and nothing twice.
    let resume = t.lib.resume(kb.id, &|_| {}, CancellationToken::new());
    let (summary, ()) = tokio::join!(resume, release(stuck.clone()));
    let summary = summary.expect("resume");
    assert!(!summary.cancelled);
    assert!(summary.failed.is_empty(), "{summary:?}");
    let docs = t.docs(kb.id).await;
    let mut paths: Vec<&str> = docs.iter().map(|d| d.path.as_str()).collect();
    paths.sort_unstable();
    let mut expected = vec![shown(&note), shown(&stuck)];
    expected.sort_unstable();
    assert_eq!(paths, expected);
    let jobs = t.lib.import_jobs(kb.id, 10).await.expect("jobs");
    assert!(jobs.unfinished.is_empty(), "{jobs:?}");
    t.assert_consistent(kb.id).await;
}

#[tokio::test]
async fn every_step_of_a_file_is_recorded_and_a_finished_job_names_its_document() {
    let t = TestLibrary::open().await;
    let kb = t.kb("步骤").await;
    let note = write(&t.docs_dir().join("笔记.txt"), "每一步都记在目录里。");
    // A reader stuck on a file (a FIFO nobody writes yet) shows where it stands: extracting.
    let stuck = stuck_file(&t.docs_dir().join("卡住.txt"));
    let import = t.lib.ingest(
        kb.id,
        vec![note.clone(), stuck.clone()],
        &|_| {},
        CancellationToken::new(),
    );
    let observe = async {
        let seen = when_extracting(&t, kb.id, &stuck).await;
        release(stuck.clone()).await;
        seen
    };
    let (summary, seen) = tokio::join!(import, observe);
    let seen = seen.expect("the stuck file was never recorded as extracting");
    assert!(
        seen.counts
            .get(&JobState::Extracting)
            .is_some_and(|n| *n >= 1),
        "{seen:?}"
    );
    assert_eq!(summary.expect("import").documents, 2);

    // No vectors configured: stored means done, and each job names the document it produced.
    let jobs = t.lib.import_jobs(kb.id, 10).await.expect("jobs");
    assert_eq!(jobs.counts.get(&JobState::Done), Some(&2), "{jobs:?}");
    assert_eq!(jobs.counts.len(), 1, "{jobs:?}");
    assert!(jobs.unfinished.is_empty());
    let mut raw = t.raw().await;
    let unlinked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs j LEFT JOIN documents d ON d.id = j.document_id \
         WHERE d.path IS NOT j.path",
    )
    .fetch_one(&mut raw)
    .await
    .expect("jobs and documents");
    assert_eq!(unlinked, 0, "a done job names its document");
}

#[tokio::test]
async fn a_file_named_twice_in_one_import_is_stored_once() {
    // A folder and a file inside it, plus a symlink to that file: one document, its passages
    // once, every job finished.
    let t = TestLibrary::open().await;
    let kb = t.kb("重复路径").await;
    let file = write(
        &t.docs_dir().join("报告.txt"),
        "年度报告：全年营业收入增长百分之九。",
    );
    let link = t.root().join("链接.txt");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    let summary = t.ingest(kb.id, &[t.docs_dir(), file.clone(), link]).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    let docs = t.docs(kb.id).await;
    assert_eq!(docs.len(), 1, "{docs:#?}");
    assert_eq!(docs[0].status, DocumentStatus::Indexed);
    assert_eq!(t.search(kb.id, "营业收入", 10).await.len(), 1);
    t.assert_consistent(kb.id).await;
    let jobs = t.lib.import_jobs(kb.id, 10).await.expect("jobs");
    assert!(jobs.unfinished.is_empty(), "{jobs:?}");
    assert_eq!(jobs.counts.get(&JobState::Done), Some(&3), "{jobs:?}");
}
