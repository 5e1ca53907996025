//! Watched folders with real file-system events (inotify through notify; nothing mocked):
//! create, modify, touch, delete, rename, move across folders, atomic saves, a 10,000-file
//! burst, changes while stopped, a folder that disappears and comes back, symlink loops,
//! excluded names; plus the configuration API and the catalogue's delete and move operations.
//! Every wait polls the catalogue against a deadline, so a loaded machine is slower, not flaky.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lexinaut_core::{
    CoreError, Document, Library, WatchEvent, WatchOptions, WatchState, WatchedFolder, Watcher,
    WatcherOptions,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use crate::support::{shown, test_config, write, GO, PANDA, TEA};

/// How long any single expected change may take to show up.
const DEADLINE: Duration = Duration::from_secs(20);

/// A library in a temporary directory, shared as the watcher needs it.
struct Fixture {
    lib: Arc<Library>,
    root: TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let root = tempfile::tempdir().expect("temporary directory");
        let lib = Library::open(test_config(root.path()))
            .await
            .expect("library opens");
        Self {
            lib: Arc::new(lib),
            root,
        }
    }

    /// A folder for documents (created), outside the data directory.
    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).expect("create folder");
        dir
    }

    async fn kb(&self, name: &str) -> i64 {
        self.lib.create_kb(name).await.expect("create kb").id
    }

    async fn watch(&self, kb_id: i64, dir: &Path) -> WatchedFolder {
        self.watch_with(kb_id, dir, WatchOptions::default()).await
    }

    async fn watch_with(&self, kb_id: i64, dir: &Path, options: WatchOptions) -> WatchedFolder {
        self.lib
            .add_watch(kb_id, dir, options)
            .await
            .expect("add watch")
    }

    async fn start(&self) -> Watcher {
        Watcher::start(&self.lib, WatcherOptions::default())
            .await
            .expect("watcher starts")
    }

    async fn docs(&self, kb_id: i64) -> Vec<Document> {
        self.lib
            .list_documents(kb_id)
            .await
            .expect("list documents")
    }

    async fn doc(&self, kb_id: i64, path: &Path) -> Option<Document> {
        let shown = shown(path);
        self.docs(kb_id).await.into_iter().find(|d| d.path == shown)
    }

    /// Paths of the documents whose chunks hold `word`.
    async fn found(&self, kb_id: i64, word: &str) -> Vec<String> {
        let mut paths: Vec<String> = self
            .lib
            .search(kb_id, word, 50)
            .await
            .expect("search")
            .into_iter()
            .map(|h| h.path)
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    async fn folder(&self, id: i64) -> WatchedFolder {
        self.lib
            .list_watches(None)
            .await
            .expect("list watches")
            .into_iter()
            .find(|w| w.id == id)
            .expect("folder listed")
    }

    async fn raw(&self) -> SqliteConnection {
        let options = SqliteConnectOptions::new()
            .filename(self.lib.config().catalogue_path())
            .read_only(true);
        SqliteConnection::connect_with(&options)
            .await
            .expect("second connection to the catalogue")
    }

    /// A document's chunk ids, in order: new ids mean it was indexed again.
    async fn chunk_ids(&self, doc_id: i64) -> Vec<i64> {
        sqlx::query_scalar("SELECT id FROM chunks WHERE document_id = ? ORDER BY ordinal")
            .bind(doc_id)
            .fetch_all(&mut self.raw().await)
            .await
            .expect("chunk ids")
    }

    /// States of the import jobs queued for `path`, oldest first: none means never imported.
    async fn jobs(&self, path: &Path) -> Vec<String> {
        sqlx::query_scalar("SELECT state FROM jobs WHERE path = ? ORDER BY id")
            .bind(shown(path))
            .fetch_all(&mut self.raw().await)
            .await
            .expect("jobs")
    }

    /// Chunks and keyword index rows agree, and no chunk is orphaned.
    async fn assert_index_consistent(&self) {
        let mut raw = self.raw().await;
        let chunks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
            .fetch_one(&mut raw)
            .await
            .expect("count chunks");
        let indexed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunk_fts")
            .fetch_one(&mut raw)
            .await
            .expect("count keyword rows");
        let orphans: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)",
        )
        .fetch_one(&mut raw)
        .await
        .expect("count orphans");
        assert_eq!((indexed, orphans), (chunks, 0));
    }
}

/// Polls `check` until it returns `Some` or the deadline passes.
async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the document at `path` exists (and satisfies `ok`).
async fn doc_eventually(
    f: &Fixture,
    kb_id: i64,
    path: &Path,
    ok: impl Fn(&Document) -> bool,
) -> Document {
    eventually(
        &format!("document {}", path.display()),
        DEADLINE,
        || async { f.doc(kb_id, path).await.filter(|d| ok(d)) },
    )
    .await
}

/// Waits until `path` has no document.
async fn no_doc_eventually(f: &Fixture, kb_id: i64, path: &Path) {
    eventually(
        &format!("no document for {}", path.display()),
        DEADLINE,
        || async { f.doc(kb_id, path).await.is_none().then_some(()) },
    )
    .await;
}

/// Waits until the folder has been synced at least once after `since` (unix ms) with nothing
/// left pending.
async fn synced_after(f: &Fixture, folder: i64, since: i64) -> WatchedFolder {
    eventually("the folder to be synced", DEADLINE, || async {
        let w = f.folder(folder).await;
        (w.state == WatchState::Active && w.pending == 0 && w.last_sync_at.unwrap_or(0) >= since)
            .then_some(w)
    })
    .await
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms fit")
}

/// Sets a file's modification time to now (like `touch`), content unchanged.
fn touch(path: &Path) {
    let file = std::fs::File::options()
        .append(true)
        .open(path)
        .expect("open for touch");
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .expect("set mtime");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_modify_touch_and_delete_are_mirrored() {
    let f = Fixture::new().await;
    let kb = f.kb("实时").await;
    let dir = f.dir("docs");
    let tea = write(&dir.join("茶叶.txt"), TEA);
    let folder = f.watch(kb, &dir).await;
    let started = now_ms();
    let watcher = f.start().await;

    // Start-up scan imports what is there.
    let first = doc_eventually(&f, kb, &tea, |_| true).await;
    synced_after(&f, folder.id, started).await;

    // Create.
    let panda = write(&dir.join("子目录/熊猫.txt"), PANDA);
    doc_eventually(&f, kb, &panda, |_| true).await;
    assert_eq!(f.found(kb, "卧龙").await, [shown(&panda)]);

    // Modify: new content is searchable, the old is not, the document keeps its id.
    std::fs::write(&tea, format!("{GO}\n新加的一段：quokka 袋鼠岛。\n")).expect("rewrite");
    let modified = doc_eventually(&f, kb, &tea, |d| d.hash != first.hash).await;
    assert_eq!(modified.id, first.id);
    assert_eq!(f.found(kb, "quokka").await, [shown(&tea)]);
    assert!(f.found(kb, "大红袍").await.is_empty());

    // Touch without change: read (a skipped job), not extracted again (same chunk ids).
    let chunks = f.chunk_ids(modified.id).await;
    let jobs_before = f.jobs(&tea).await.len();
    touch(&tea);
    eventually("the touched file to be looked at", DEADLINE, || async {
        let jobs = f.jobs(&tea).await;
        (jobs.len() > jobs_before).then_some(())
    })
    .await;
    eventually("the touch to be recorded", DEADLINE, || async {
        let d = f.doc(kb, &tea).await?;
        (d.mtime_ms != modified.mtime_ms).then_some(())
    })
    .await;
    assert_eq!(
        f.jobs(&tea).await.last().map(String::as_str),
        Some("skipped")
    );
    assert_eq!(f.chunk_ids(modified.id).await, chunks);

    // Delete.
    std::fs::remove_file(&panda).expect("delete");
    no_doc_eventually(&f, kb, &panda).await;
    assert!(f.found(kb, "卧龙").await.is_empty());
    f.assert_index_consistent().await;

    watcher.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_within_a_folder_keeps_the_document_and_its_chunks() {
    let f = Fixture::new().await;
    let kb = f.kb("改名").await;
    let dir = f.dir("docs");
    let old = write(&dir.join("旧名字.txt"), TEA);
    let sub_file = write(&dir.join("项目/围棋.txt"), GO);
    f.watch(kb, &dir).await;
    let _watcher = f.start().await;
    let doc = doc_eventually(&f, kb, &old, |_| true).await;
    let sub_doc = doc_eventually(&f, kb, &sub_file, |_| true).await;
    let chunks = f.chunk_ids(doc.id).await;
    let sub_chunks = f.chunk_ids(sub_doc.id).await;

    // A file renamed.
    let new = dir.join("新名字.txt");
    std::fs::rename(&old, &new).expect("rename");
    let moved = doc_eventually(&f, kb, &new, |_| true).await;
    assert_eq!(moved.id, doc.id, "same document");
    assert_eq!(moved.name, "新名字.txt");
    assert_eq!(f.chunk_ids(doc.id).await, chunks, "same chunks");
    assert!(
        f.jobs(&new).await.is_empty(),
        "never imported: not extracted"
    );
    assert!(f.doc(kb, &old).await.is_none());
    assert_eq!(f.found(kb, "大红袍").await, [shown(&new)]);

    // A folder renamed: its files move with it.
    std::fs::rename(dir.join("项目"), dir.join("归档")).expect("rename folder");
    let sub_new = dir.join("归档/围棋.txt");
    let sub_moved = doc_eventually(&f, kb, &sub_new, |_| true).await;
    assert_eq!(sub_moved.id, sub_doc.id);
    assert_eq!(f.chunk_ids(sub_doc.id).await, sub_chunks);
    assert!(f.jobs(&sub_new).await.is_empty());
    assert_eq!(f.docs(kb).await.len(), 2);
    f.assert_index_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_across_two_watched_folders_of_one_kb_keeps_the_document() {
    let f = Fixture::new().await;
    let kb = f.kb("两个文件夹").await;
    let inbox = f.dir("收件箱");
    let archive = f.dir("归档");
    let file = write(&inbox.join("熊猫.txt"), PANDA);
    let a = f.watch(kb, &inbox).await;
    let b = f.watch(kb, &archive).await;
    let mut events = f.lib.subscribe_watch();
    let _watcher = f.start().await;
    let doc = doc_eventually(&f, kb, &file, |_| true).await;
    let chunks = f.chunk_ids(doc.id).await;

    let dest = archive.join("2024/熊猫.txt");
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    std::fs::rename(&file, &dest).expect("move across folders");
    let moved = doc_eventually(&f, kb, &dest, |_| true).await;
    assert_eq!(moved.id, doc.id);
    assert_eq!(f.chunk_ids(doc.id).await, chunks);
    assert!(f.jobs(&dest).await.is_empty(), "not imported again");
    assert_eq!(f.docs(kb).await.len(), 1);

    // The destination folder's sync reported the move.
    let report = eventually("a Synced event with the move", DEADLINE, || {
        let mut found = None;
        while let Ok(e) = events.try_recv() {
            if let WatchEvent::Synced(r) = e {
                if r.folder_id == b.id && r.moved == 1 {
                    found = Some(r);
                }
            }
        }
        std::future::ready(found)
    })
    .await;
    assert_eq!((report.added, report.removed), (0, 0), "{report:?}");
    assert_ne!(a.id, b.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_save_through_a_temporary_file_updates_in_place() {
    let f = Fixture::new().await;
    let kb = f.kb("原子保存").await;
    let dir = f.dir("docs");
    let doc_path = write(&dir.join("报告.md"), "# 报告\n\n初稿：platypus 鸭嘴兽。\n");
    f.watch(kb, &dir).await;
    let _watcher = f.start().await;
    let doc = doc_eventually(&f, kb, &doc_path, |_| true).await;

    // The way editors save: write a temporary file, then rename it over the original.
    for (round, tmp_name) in ["报告.md.tmp", ".报告.md.swx", "报告.md.new"]
        .iter()
        .enumerate()
    {
        let word = ["wombat", "echidna", "dingo"][round];
        let tmp = write(
            &dir.join(tmp_name),
            format!("# 报告\n\n第{round}稿：{word}。\n"),
        );
        std::fs::rename(&tmp, &doc_path).expect("rename over");
        let saved = doc_eventually(&f, kb, &doc_path, |d| {
            d.hash
                == blake3::hash(format!("# 报告\n\n第{round}稿：{word}。\n").as_bytes())
                    .to_hex()
                    .to_string()
        })
        .await;
        assert_eq!(saved.id, doc.id, "same document after save {round}");
        assert_eq!(f.found(kb, word).await, [shown(&doc_path)]);
    }
    assert!(f.found(kb, "platypus").await.is_empty());
    assert_eq!(f.docs(kb).await.len(), 1, "no temporary file catalogued");
    f.assert_index_consistent().await;
}

/// Peak resident memory of this process so far, in KiB (`VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_ten_thousand_files_is_indexed_with_bounded_memory() {
    const FILES: usize = 10_000;
    let f = Fixture::new().await;
    let kb = f.kb("批量").await;
    let dir = f.dir("docs");
    let folder = f.watch(kb, &dir).await;
    let started = now_ms();
    let _watcher = f.start().await;
    synced_after(&f, folder.id, started).await;
    // Measure this burst: reset the high-water mark (Linux ≥ 4.0); other tests in this binary
    // run at the same time, so the figure is an upper bound for the watcher.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = peak_rss_kib();

    let t0 = Instant::now();
    let writer = std::thread::spawn({
        let dir = dir.clone();
        move || {
            for i in 0..FILES {
                let path = dir.join(format!("批次{:02}/报告{i:05}.txt", i % 100));
                if i < 100 {
                    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                }
                std::fs::write(
                    &path,
                    format!("第{i}号报告：编号{i}的项目营业收入同比增长。token{i}x\n"),
                )
                .expect("write");
            }
        }
    });
    writer.join().expect("writer");
    let written = t0.elapsed();
    eventually(
        "all 10,000 files indexed",
        Duration::from_secs(600),
        || async {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE kb_id = ?")
                .bind(kb)
                .fetch_one(&mut f.raw().await)
                .await
                .expect("count");
            (n == FILES as i64).then_some(())
        },
    )
    .await;
    let indexed = t0.elapsed();
    let peak = peak_rss_kib();
    eprintln!(
        "burst: {FILES} files written in {written:.1?}, all indexed after {indexed:.1?}; \
         peak RSS (VmHWM) {} MiB, {} MiB before the burst",
        peak.map_or("?".into(), |k| (k / 1024).to_string()),
        rss_before.map_or("?".into(), |k| (k / 1024).to_string()),
    );
    assert_eq!(f.found(kb, "token9999x").await.len(), 1);
    let w = synced_after(&f, folder.id, started).await;
    assert_eq!(w.pending, 0);
    if let Some(peak) = peak {
        // The watcher holds paths, not file contents: a 10,000-file burst must not cost
        // anything like the files' total.
        assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
    }
    f.assert_index_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_stopped_are_applied_at_the_next_start() {
    let f = Fixture::new().await;
    let kb = f.kb("离线").await;
    let dir = f.dir("docs");
    let keep = write(&dir.join("保留.txt"), TEA);
    let edit = write(&dir.join("修改.txt"), PANDA);
    let gone = write(&dir.join("删除.md"), "# 删除\n\n将被删除的文件：kakapo。\n");
    let rename = write(&dir.join("改名前.txt"), GO);
    let folder = f.watch(kb, &dir).await;
    let started = now_ms();
    let watcher = f.start().await;
    synced_after(&f, folder.id, started).await;
    assert_eq!(f.docs(kb).await.len(), 4);
    let kept = f.doc(kb, &keep).await.expect("kept");
    let renamed = f.doc(kb, &rename).await.expect("to rename");
    let chunks = f.chunk_ids(renamed.id).await;
    watcher.stop().await.expect("stop");

    // While stopped.
    std::fs::write(&edit, "改过的内容：numbat 袋食蚁兽。\n").expect("edit");
    std::fs::remove_file(&gone).expect("delete");
    let renamed_to = dir.join("新目录/改名后.txt");
    std::fs::create_dir_all(renamed_to.parent().expect("parent")).expect("mkdir");
    std::fs::rename(&rename, &renamed_to).expect("rename");
    let added = write(&dir.join("新增.txt"), "新文件：bilby 兔耳袋狸。\n");

    let restarted = now_ms();
    let mut events = f.lib.subscribe_watch();
    let watcher = f.start().await;
    let report = eventually("a Synced event of the start-up scan", DEADLINE, || {
        let mut found = None;
        while let Ok(e) = events.try_recv() {
            if let WatchEvent::Synced(r) = e {
                found = Some(r);
            }
        }
        std::future::ready(found)
    })
    .await;
    assert!(report.full_scan);
    assert_eq!(
        (
            report.added,
            report.updated,
            report.moved,
            report.removed,
            report.unchanged
        ),
        (1, 1, 1, 1, 1),
        "{report:?}"
    );
    synced_after(&f, folder.id, restarted).await;
    assert_eq!(f.found(kb, "numbat").await, [shown(&edit)]);
    assert_eq!(f.found(kb, "bilby").await, [shown(&added)]);
    assert!(f.doc(kb, &gone).await.is_none());
    let moved = f.doc(kb, &renamed_to).await.expect("renamed document");
    assert_eq!(moved.id, renamed.id);
    assert_eq!(f.chunk_ids(renamed.id).await, chunks);
    assert!(f.jobs(&renamed_to).await.is_empty());
    let still = f.doc(kb, &keep).await.expect("kept");
    assert_eq!((still.id, still.updated_at), (kept.id, kept.updated_at));
    assert_eq!(f.docs(kb).await.len(), 4);

    watcher.stop().await.expect("stop");
    f.assert_index_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_that_disappears_is_missing_keeps_its_documents_and_resumes_when_back() {
    let f = Fixture::new().await;
    let kb = f.kb("移动硬盘").await;
    let dir = f.dir("drive");
    let tea = write(&dir.join("茶叶.txt"), TEA);
    let panda = write(&dir.join("熊猫.txt"), PANDA);
    let folder = f.watch(kb, &dir).await;
    let started = now_ms();
    let _watcher = f.start().await;
    synced_after(&f, folder.id, started).await;

    // "Unplugged": the folder is gone (moved out of reach, as an unmount looks).
    let away = f.root.path().join("unplugged");
    std::fs::rename(&dir, &away).expect("take the folder away");
    let missing = eventually("the folder to be missing", DEADLINE, || async {
        let w = f.folder(folder.id).await;
        (w.state == WatchState::Missing).then_some(w)
    })
    .await;
    assert!(
        missing
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("kept")),
        "{missing:?}"
    );
    // Its documents stay, and stay searchable, however long it is away.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(f.docs(kb).await.len(), 2);
    assert_eq!(f.found(kb, "大红袍").await, [shown(&tea)]);

    // Changed while away, then "plugged in" again.
    std::fs::remove_file(away.join("熊猫.txt")).expect("delete while away");
    write(&away.join("新.txt"), "离线时新增：wallaby 沙袋鼠。\n");
    std::fs::rename(&away, &dir).expect("bring the folder back");
    let back = eventually("the folder to be active again", DEADLINE, || async {
        let w = f.folder(folder.id).await;
        (w.state == WatchState::Active && w.last_error.is_none()).then_some(w)
    })
    .await;
    assert_eq!(back.state, WatchState::Active);
    no_doc_eventually(&f, kb, &panda).await;
    doc_eventually(&f, kb, &dir.join("新.txt"), |_| true).await;

    // And it is followed live again.
    let live = write(&dir.join("之后.txt"), "回来之后：quoll 袋鼬。\n");
    doc_eventually(&f, kb, &live, |_| true).await;
    assert_eq!(f.docs(kb).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_loops_do_not_hang_the_scan() {
    let f = Fixture::new().await;
    let kb = f.kb("链接").await;
    let dir = f.dir("docs");
    let real = write(&dir.join("a/b/茶叶.txt"), TEA);
    std::os::unix::fs::symlink(&dir, dir.join("a/b/loop")).expect("symlink to the root");
    std::os::unix::fs::symlink("..", dir.join("a/up")).expect("symlink to the parent");
    std::os::unix::fs::symlink("self", dir.join("self")).expect("symlink to itself");
    std::os::unix::fs::symlink(&real, dir.join("link.txt")).expect("symlink to a file");
    let folder = f.watch(kb, &dir).await;
    let started = now_ms();
    let _watcher = f.start().await;
    synced_after(&f, folder.id, started).await;
    let docs = f.docs(kb).await;
    assert_eq!(docs.len(), 1, "links are not followed: {docs:?}");
    assert_eq!(docs[0].path, shown(&real));

    // Live events still flow.
    let more = write(&dir.join("a/熊猫.txt"), PANDA);
    doc_eventually(&f, kb, &more, |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_names_and_globs_are_ignored() {
    let f = Fixture::new().await;
    let kb = f.kb("排除").await;
    let dir = f.dir("docs");
    let junk = [
        "~$报告.docx",
        ".~lock.报告.docx#",
        "草稿.tmp",
        ".报告.txt.swp",
        "报告.txt~",
        ".DS_Store",
        "Thumbs.db",
        ".隐藏/秘密.txt",
        "drafts/草稿.txt",
        "build/node_modules/readme.md",
        "图片.png",
    ];
    for name in &junk[..5] {
        write(&dir.join(name), "排除的内容：excludedword。\n");
    }
    let options = WatchOptions {
        include: vec![],
        exclude: vec!["drafts/**".into(), "node_modules".into()],
    };
    let folder = f.watch_with(kb, &dir, options).await;
    let started = now_ms();
    let _watcher = f.start().await;
    synced_after(&f, folder.id, started).await;
    assert!(f.docs(kb).await.is_empty());

    // Live: the same names, then one real document; by the time it is indexed, the junk
    // written before it has been through the same event stream.
    for name in &junk[5..] {
        write(&dir.join(name), "排除的内容：excludedword。\n");
    }
    for name in &junk[..5] {
        std::fs::write(dir.join(name), "改过的排除内容：excludedword。\n").expect("rewrite");
    }
    let real = write(&dir.join("正文.txt"), TEA);
    doc_eventually(&f, kb, &real, |_| true).await;
    let docs = f.docs(kb).await;
    assert_eq!(
        docs.len(),
        1,
        "{:?}",
        docs.iter().map(|d| &d.path).collect::<Vec<_>>()
    );
    assert!(f.found(kb, "excludedword").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_pause_and_remove_watches() {
    let f = Fixture::new().await;
    let kb = f.kb("配置").await;
    let other_kb = f.kb("另一个").await;
    let top = f.dir("top");
    let dir = f.dir("top/docs");
    let nested = f.dir("top/docs/子目录");
    let file = write(&dir.join("茶叶.txt"), TEA);
    // The user picks the folder through a symbolic link: documents are catalogued under the
    // path as given, the watch and the comparisons use the resolved one.
    let link = f.root.path().join("链接");
    std::os::unix::fs::symlink(&dir, &link).expect("symlink");

    let err = |r: Result<WatchedFolder, CoreError>| r.expect_err("rejected");
    assert!(matches!(
        err(f
            .lib
            .add_watch(kb, &f.root.path().join("nope"), WatchOptions::default())
            .await),
        CoreError::NotFound(_)
    ));
    assert!(matches!(
        err(f.lib.add_watch(kb, &file, WatchOptions::default()).await),
        CoreError::InvalidInput(_)
    ));
    assert!(matches!(
        err(f.lib.add_watch(kb, f.root.path(), WatchOptions::default()).await),
        CoreError::InvalidInput(m) if m.contains("data folder")
    ));
    let bad_glob = WatchOptions {
        include: vec!["[".into()],
        exclude: vec![],
    };
    assert!(matches!(
        err(f.lib.add_watch(kb, &dir, bad_glob).await),
        CoreError::InvalidInput(m) if m.contains("glob")
    ));
    assert!(matches!(
        err(f.lib.add_watch(999, &dir, WatchOptions::default()).await),
        CoreError::NotFound(_)
    ));

    let options = WatchOptions {
        include: vec!["*.txt".into()],
        exclude: vec!["old/**".into()],
    };
    let w = f.lib.add_watch(kb, &link, options).await.expect("add");
    assert_eq!(w.kb_id, kb);
    assert_eq!(w.path, shown(&link));
    assert_eq!(
        w.canonical_path,
        shown(&std::fs::canonicalize(&dir).expect("canonical"))
    );
    assert_eq!(w.include, ["*.txt"]);
    assert_eq!(w.exclude, ["old/**"]);
    assert_eq!(
        (w.state, w.pending, w.last_sync_at),
        (WatchState::Active, 0, None)
    );

    assert!(matches!(
        err(f.lib.add_watch(kb, &dir, WatchOptions::default()).await),
        CoreError::AlreadyExists(_)
    ));
    assert!(matches!(
        err(f.lib.add_watch(kb, &nested, WatchOptions::default()).await),
        CoreError::InvalidInput(m) if m.contains("inside")
    ));
    assert!(matches!(
        err(f.lib.add_watch(kb, &top, WatchOptions::default()).await),
        CoreError::InvalidInput(m) if m.contains("contains")
    ));
    // Another knowledge base may watch the same folder, or part of it.
    let o = f.watch(other_kb, &nested).await;

    assert_eq!(
        f.lib.list_watches(Some(kb)).await.expect("list"),
        std::slice::from_ref(&w)
    );
    assert_eq!(f.lib.list_watches(None).await.expect("list").len(), 2);
    assert!(matches!(
        f.lib.list_watches(Some(999)).await,
        Err(CoreError::NotFound(_))
    ));

    let paused = f.lib.pause_watch(w.id, true).await.expect("pause");
    assert_eq!(paused.state, WatchState::Paused);
    assert_eq!(
        f.lib.pause_watch(w.id, false).await.expect("resume").state,
        WatchState::Active
    );

    // Sync once so there are documents, then remove with and without them.
    let started = now_ms();
    let watcher = f.start().await;
    // One watcher per library.
    assert!(matches!(
        Watcher::start(&f.lib, WatcherOptions::default()).await,
        Err(CoreError::AlreadyExists(_))
    ));
    doc_eventually(&f, kb, &link.join("茶叶.txt"), |_| true).await;
    assert!(f.doc(kb, &file).await.is_none());
    synced_after(&f, w.id, started).await;
    synced_after(&f, o.id, started).await;
    watcher.stop().await.expect("stop");

    assert_eq!(f.lib.remove_watch(o.id, false).await.expect("remove"), 0);
    assert_eq!(f.lib.remove_watch(w.id, true).await.expect("remove"), 1);
    assert!(f.docs(kb).await.is_empty());
    assert!(f.lib.list_watches(None).await.expect("list").is_empty());
    assert!(matches!(
        f.lib.remove_watch(w.id, false).await,
        Err(CoreError::NotFound(_))
    ));
    f.assert_index_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_folders_are_left_alone_and_caught_up_on_resume() {
    let f = Fixture::new().await;
    let kb = f.kb("暂停").await;
    let dir = f.dir("docs");
    let folder = f.watch(kb, &dir).await;
    let started = now_ms();
    let _watcher = f.start().await;
    synced_after(&f, folder.id, started).await;

    f.lib.pause_watch(folder.id, true).await.expect("pause");
    let file = write(&dir.join("茶叶.txt"), TEA);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(f.doc(kb, &file).await.is_none(), "paused: not followed");
    assert_eq!(f.folder(folder.id).await.state, WatchState::Paused);

    f.lib.pause_watch(folder.id, false).await.expect("resume");
    doc_eventually(&f, kb, &file, |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_move_document_keep_the_index_consistent() {
    let f = Fixture::new().await;
    let kb = f.kb("目录操作").await;
    let dir = f.dir("docs");
    let a = write(&dir.join("a.txt"), TEA);
    let b = write(&dir.join("b.txt"), PANDA);
    let c = write(&dir.join("c.txt"), GO);
    f.lib
        .ingest(
            kb,
            vec![dir.clone()],
            &|_| {},
            lexinaut_core::CancellationToken::new(),
        )
        .await
        .expect("ingest");
    let doc_a = f.doc(kb, &a).await.expect("a");
    let doc_b = f.doc(kb, &b).await.expect("b");
    let doc_c = f.doc(kb, &c).await.expect("c");
    let chunks_a = f.chunk_ids(doc_a.id).await;
    let chunks_b = f.chunk_ids(doc_b.id).await;

    // Swap a and b on disk, then record it: ids and chunks follow the files.
    let tmp = dir.join("swap");
    std::fs::rename(&a, &tmp).expect("rename");
    std::fs::rename(&b, &a).expect("rename");
    std::fs::rename(&tmp, &b).expect("rename");
    let catalogue = lexinaut_core::Catalogue::open(&f.lib.config().catalogue_path())
        .await
        .expect("catalogue");
    let moves: Vec<lexinaut_core::DocumentMove> = [(doc_a.id, &b), (doc_b.id, &a)]
        .into_iter()
        .map(|(id, p)| lexinaut_core::DocumentMove {
            id,
            path: shown(p),
            canonical_path: shown(p),
            size: std::fs::metadata(p).expect("meta").len() as i64,
            mtime_ms: 0,
        })
        .collect();
    catalogue.move_documents(&moves).await.expect("swap");
    assert_eq!(f.doc(kb, &b).await.expect("b").id, doc_a.id);
    assert_eq!(f.doc(kb, &a).await.expect("a").id, doc_b.id);
    assert_eq!(f.chunk_ids(doc_a.id).await, chunks_a);
    assert_eq!(f.chunk_ids(doc_b.id).await, chunks_b);
    assert_eq!(f.found(kb, "大红袍").await, [shown(&b)]);

    // Moving onto a catalogued path replaces that document.
    let c2 = dir.join("c2.txt");
    std::fs::rename(&c, &c2).expect("rename");
    f.lib.move_document(doc_c.id, &c2).await.expect("move");
    f.lib
        .move_document(doc_c.id, &a)
        .await
        .expect("move onto a");
    assert_eq!(f.docs(kb).await.len(), 2);
    assert_eq!(f.doc(kb, &a).await.expect("a").id, doc_c.id);
    assert!(matches!(
        f.lib.move_document(doc_c.id, &dir.join("nope.txt")).await,
        Err(CoreError::Io { .. })
    ));

    // Delete: document, chunks and keyword rows go together.
    f.lib.delete_document(doc_a.id).await.expect("delete");
    assert!(f.chunk_ids(doc_a.id).await.is_empty());
    assert!(f.found(kb, "大红袍").await.is_empty());
    assert!(matches!(
        f.lib.delete_document(doc_a.id).await,
        Err(CoreError::NotFound(_))
    ));
    f.assert_index_consistent().await;

    // Lookups by place and by content.
    let canonical_dir = shown(&std::fs::canonicalize(&dir).expect("canonical"));
    let under = catalogue
        .documents_under(kb, &canonical_dir)
        .await
        .expect("under");
    assert_eq!(under.len(), 1);
    assert!(catalogue
        .documents_under(kb, &format!("{canonical_dir}x"))
        .await
        .expect("sibling prefix")
        .is_empty());
    let hash = &under[0].hash;
    assert_eq!(
        catalogue
            .documents_with_hash(kb, hash)
            .await
            .expect("by hash")
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_moved_in_and_out_are_imported_and_removed() {
    let f = Fixture::new().await;
    let kb = f.kb("搬家").await;
    let dir = f.dir("docs");
    let outside = f.dir("outside");
    for i in 0..300 {
        write(
            &outside.join(format!("项目/{:02}/文件{i}.txt", i % 10)),
            format!("搬进来的文件{i}：marker{i}z。\n"),
        );
    }
    let folder = f.watch(kb, &dir).await;
    let started = now_ms();
    let _watcher = f.start().await;
    synced_after(&f, folder.id, started).await;

    // A whole tree moved in: one event for its top folder, none for the files inside.
    std::fs::rename(outside.join("项目"), dir.join("项目")).expect("move in");
    eventually("300 files imported", DEADLINE, || async {
        (f.docs(kb).await.len() == 300).then_some(())
    })
    .await;
    assert_eq!(
        f.found(kb, "marker299z").await,
        [shown(&dir.join("项目/09/文件299.txt"))]
    );

    // Moved out of every watched folder: gone from the knowledge base.
    std::fs::rename(dir.join("项目/03"), outside.join("03")).expect("move out");
    eventually("30 documents removed", DEADLINE, || async {
        (f.docs(kb).await.len() == 270).then_some(())
    })
    .await;
    assert!(f.found(kb, "marker3z").await.is_empty());
    f.assert_index_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_and_its_subfolder_watched_by_two_kbs() {
    let f = Fixture::new().await;
    let all = f.kb("全部").await;
    let part = f.kb("部分").await;
    let dir = f.dir("docs");
    let sub = f.dir("docs/sub");
    let outer = f.watch(all, &dir).await;
    let inner = f.watch(part, &sub).await;
    let started = now_ms();
    let _watcher = f.start().await;
    synced_after(&f, outer.id, started).await;
    synced_after(&f, inner.id, started).await;

    // One OS watch on the outer folder serves both knowledge bases.
    let a = write(&sub.join("a.txt"), TEA);
    doc_eventually(&f, all, &a, |_| true).await;
    doc_eventually(&f, part, &a, |_| true).await;
    let top = write(&dir.join("top.txt"), PANDA);
    doc_eventually(&f, all, &top, |_| true).await;

    // The outer one goes; the inner one is still followed (now through its own watch).
    f.lib.remove_watch(outer.id, false).await.expect("remove");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = write(&sub.join("b.txt"), GO);
    doc_eventually(&f, part, &b, |_| true).await;
    assert_eq!(f.docs(part).await.len(), 2);
    // The removed folder's documents stay as they were, no longer synced.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(f.doc(all, &b).await.is_none());
    assert_eq!(f.docs(all).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_then_deleted_at_once_leaves_no_document_behind() {
    let f = Fixture::new().await;
    let kb = f.kb("快速").await;
    let dir = f.dir("docs");
    let old = write(&dir.join("旧.txt"), TEA);
    let other = write(&dir.join("另一个.txt"), PANDA);
    f.watch(kb, &dir).await;
    let _watcher = f.start().await;
    doc_eventually(&f, kb, &old, |_| true).await;
    doc_eventually(&f, kb, &other, |_| true).await;

    // Within one debounce window the debouncer reports only the deletion of the new name.
    let new = dir.join("新.txt");
    std::fs::rename(&old, &new).expect("rename");
    std::fs::remove_file(&new).expect("delete");
    no_doc_eventually(&f, kb, &old).await;
    assert!(f.doc(kb, &new).await.is_none());
    assert_eq!(f.docs(kb).await.len(), 1);
    f.assert_index_consistent().await;
}
