//! Shared test fixtures: a library in a temporary directory, Chinese sample documents, and
//! direct reads of the catalogue file to check what the API reports against what is stored.

use std::path::{Path, PathBuf};

use lexinaut_core::{
    CancellationToken, Config, Document, Hit, ImportProgress, ImportSummary, KnowledgeBase, Library,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

/// Tea from Wuyi: a short plain-text document.
pub const TEA: &str = "武夷山位于福建省北部，是中国著名的乌龙茶产区。当地的岩茶生长在丹霞地貌的岩缝之间，\
土壤富含矿物质，因此茶汤带有独特的岩韵。每年四月下旬，茶农开始采摘新梢，经过萎凋、做青、杀青、揉捻和焙火等工序，\
才能制成一泡好茶。大红袍是武夷岩茶中最负盛名的品种，母树生长在九龙窠的峭壁上，如今已停止采摘，受到严格保护。\n";

/// Giant pandas: a short plain-text document.
pub const PANDA: &str = "大熊猫是中国特有的珍稀动物，主要生活在四川、陕西和甘肃的山区。\n\
卧龙自然保护区建立于一九六三年，是最早以保护大熊猫为主的保护区之一。\n\
大熊猫每天要花十几个小时进食竹子，一只成年大熊猫一天可以吃掉二十公斤以上的竹叶和竹笋。\n\
科研人员通过红外相机记录野外个体的活动，并利用粪便中的DNA估算种群数量。\n";

/// The Great Wall: Markdown with headings, a list and emphasis.
pub const GREAT_WALL_MD: &str = "# 长城简史\n\n\
长城是古代中国为抵御北方游牧民族而修筑的军事防御工程。\n\n\
## 修建过程\n\n\
- 春秋战国时期，各诸侯国开始修筑长城。\n\
- 秦始皇统一六国后，把各段城墙连接起来。\n\
- 明朝大规模重修，今天看到的八达岭长城多为明代遗存。\n\n\
长城沿线设有烽火台，**遇到敌情时**白天放烟、夜间举火，消息可以在一天之内传出数百里。\n";

/// Crewed spaceflight: Markdown.
pub const SPACE_MD: &str = "# 载人航天\n\n\
中国载人航天工程于一九九二年正式启动。二〇〇三年，杨利伟乘坐神舟五号飞船进入太空，成为中国第一位航天员。\n\n\
天宫空间站由天和核心舱、问天实验舱和梦天实验舱组成，航天员在轨开展了大量空间科学实验，\
包括在微重力环境中培育水稻和拟南芥。\n";

/// The game of Go: the longest sample, several chunks at small chunk sizes.
pub const GO: &str = "围棋起源于中国，古称“弈”，至今已有四千多年的历史。\
棋盘由纵横各十九条线组成，共有三百六十一个交叉点。\
对局双方分别执黑子和白子，黑方先行，轮流在交叉点上落子。\
一块棋如果没有了气，就会被对方提掉，这是围棋最基本的规则。\
终局时，比较双方所围的地盘大小，地多者获胜。\
由于黑方先行占有优势，现代规则规定黑方需要贴还一定的目数。\n\
唐代设有棋待诏一职，专门陪伴皇帝下棋，说明当时围棋已十分兴盛。\
宋代的《忘忧清乐集》收录了大量古谱，是研究古代棋艺的重要文献。\
明清两代出现了许多职业棋手，黄龙士和范西屏都是名噪一时的国手。\
围棋在隋唐时期传入日本，后来日本形成了本因坊等四大家族。\n\
二十世纪八十年代的中日围棋擂台赛，让围棋在中国掀起了全民热潮。\
聂卫平在擂台赛中连胜多位日本超一流棋手，被誉为“棋圣”。\
二〇一六年，人工智能程序阿尔法围棋以四比一战胜了韩国棋手李世石。\
此后，职业棋手纷纷借助人工智能研究布局，许多传统定式被重新评价。\n\
学习围棋可以锻炼孩子的计算能力、专注力和大局观。\
初学者通常从九路小棋盘开始练习，熟悉吃子和做活的基本技巧。\n";

/// The sample set: (relative path, contents). Two formats, one nested folder.
pub const SAMPLES: [(&str, &str); 5] = [
    ("茶叶.txt", TEA),
    ("熊猫.txt", PANDA),
    ("历史/长城.md", GREAT_WALL_MD),
    ("航天.md", SPACE_MD),
    ("围棋.txt", GO),
];

/// Bytes that claim to be text by their name but are a PNG header (with NUL bytes).
pub const PNG_BYTES: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0";

/// A library whose data directory lives in a temporary directory removed on drop.
pub struct TestLibrary {
    pub lib: Library,
    root: TempDir,
}

impl TestLibrary {
    /// A fresh library with no backends configured.
    pub async fn open() -> Self {
        Self::open_with(|_| {}).await
    }

    /// A fresh library, with the configuration adjusted first.
    pub async fn open_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let root = tempfile::tempdir().expect("temporary directory");
        let mut config = test_config(root.path());
        adjust(&mut config);
        Self::open_in(root, config).await
    }

    /// The library of `config`, whose data directory is inside `root` (removed on drop).
    pub async fn open_in(root: TempDir, config: Config) -> Self {
        let lib = Library::open(config).await.expect("library opens");
        Self { lib, root }
    }

    /// The same library closed and opened again from its data directory.
    pub async fn reopened(self) -> Self {
        let config = self.lib.config().clone();
        drop(self.lib);
        let lib = Library::open(config).await.expect("library reopens");
        Self {
            lib,
            root: self.root,
        }
    }

    /// The temporary directory holding `data/` and the test's documents.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A folder for documents, outside the data directory.
    pub fn docs_dir(&self) -> PathBuf {
        let dir = self.root.path().join("docs");
        std::fs::create_dir_all(&dir).expect("docs dir");
        dir
    }

    /// The catalogue file.
    pub fn catalogue_path(&self) -> PathBuf {
        self.lib.config().catalogue_path()
    }

    /// Creates a knowledge base with the default chunking.
    pub async fn kb(&self, name: &str) -> KnowledgeBase {
        self.lib.create_kb(name).await.expect("create kb")
    }

    /// Writes the sample documents into `docs/` and returns their paths, in `SAMPLES` order.
    pub fn write_samples(&self) -> Vec<PathBuf> {
        let dir = self.docs_dir();
        SAMPLES
            .iter()
            .map(|(rel, text)| write(&dir.join(rel), text))
            .collect()
    }

    /// Imports `paths` with no progress listener and no cancellation.
    pub async fn ingest(&self, kb_id: i64, paths: &[PathBuf]) -> ImportSummary {
        self.lib
            .ingest(kb_id, paths.to_vec(), &|_| {}, CancellationToken::new())
            .await
            .expect("ingest runs")
    }

    /// Imports `paths`, recording every progress message.
    pub async fn ingest_recording(
        &self,
        kb_id: i64,
        paths: &[PathBuf],
    ) -> (ImportSummary, Vec<ImportProgress>) {
        let seen = std::sync::Mutex::new(Vec::new());
        let record = |p: ImportProgress| seen.lock().expect("progress lock").push(p);
        let summary = self
            .lib
            .ingest(kb_id, paths.to_vec(), &record, CancellationToken::new())
            .await
            .expect("ingest runs");
        (summary, seen.into_inner().expect("progress lock"))
    }

    /// Searches and expects success.
    pub async fn search(&self, kb_id: i64, query: &str, k: u32) -> Vec<Hit> {
        self.lib.search(kb_id, query, k).await.expect("search runs")
    }

    /// The documents of a knowledge base.
    pub async fn docs(&self, kb_id: i64) -> Vec<Document> {
        self.lib
            .list_documents(kb_id)
            .await
            .expect("list documents")
    }

    /// The document imported from `path`.
    pub async fn doc(&self, kb_id: i64, path: &Path) -> Document {
        let shown = path.display().to_string();
        self.docs(kb_id)
            .await
            .into_iter()
            .find(|d| d.path == shown)
            .unwrap_or_else(|| panic!("no document for {shown}"))
    }

    /// A second connection to the catalogue file, as another process would open it.
    pub async fn raw(&self) -> SqliteConnection {
        let options = SqliteConnectOptions::new()
            .filename(self.catalogue_path())
            .read_only(true);
        SqliteConnection::connect_with(&options)
            .await
            .expect("second connection to the catalogue")
    }

    /// A writable second connection to the catalogue file, as another process would open it
    /// (to set up states an older release or a crash would leave).
    pub async fn writable(&self) -> SqliteConnection {
        let options = SqliteConnectOptions::new().filename(self.catalogue_path());
        SqliteConnection::connect_with(&options)
            .await
            .expect("writable connection to the catalogue")
    }

    /// Checks that what the API reports agrees with the rows in the catalogue file: the kb's
    /// document count, the listed documents, their chunk counts, the chunks and the keyword index.
    pub async fn assert_consistent(&self, kb_id: i64) {
        let docs = self.docs(kb_id).await;
        let kb = self
            .lib
            .list_kbs()
            .await
            .expect("list kbs")
            .into_iter()
            .find(|k| k.id == kb_id)
            .expect("kb listed");
        assert_eq!(kb.document_count, docs.len() as i64, "kb.document_count");

        let mut raw = self.raw().await;
        let stored_docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE kb_id = ?")
            .bind(kb_id)
            .fetch_one(&mut raw)
            .await
            .expect("count documents");
        assert_eq!(stored_docs, docs.len() as i64, "documents rows");
        for d in &docs {
            let chunks: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM chunks WHERE document_id = ?")
                    .bind(d.id)
                    .fetch_one(&mut raw)
                    .await
                    .expect("count chunks");
            assert_eq!(chunks, d.chunk_count, "chunk rows of {}", d.path);
        }
        let chunks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
            .fetch_one(&mut raw)
            .await
            .expect("count chunks");
        let indexed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunk_fts")
            .fetch_one(&mut raw)
            .await
            .expect("count keyword rows");
        assert_eq!(indexed, chunks, "keyword index rows vs chunk rows");
    }

    /// Chunk ids whose keyword index row holds `token` (read straight from the FTS table).
    pub async fn indexed_rowids(&self, token: &str) -> Vec<i64> {
        let mut raw = self.raw().await;
        sqlx::query_scalar("SELECT rowid FROM chunk_fts WHERE chunk_fts MATCH ?")
            .bind(format!("\"{token}\""))
            .fetch_all(&mut raw)
            .await
            .expect("query keyword index")
    }
}

/// A configuration rooted in `root`, with no backends and the default size limit.
pub fn test_config(root: &Path) -> Config {
    Config {
        data_dir: root.join("data"),
        xinference_url: None,
        chroma_url: None,
        backends: Default::default(),
        max_file_bytes: 200 * 1024 * 1024,
        file_timeout_secs: 300,
        chroma_bin: None,
        managed_chroma: false,
    }
}

/// Sends the core's log lines (info and up) on this thread to the test's captured output, shown
/// when the test fails, until the guard is dropped. Tasks of a current-thread runtime run on it.
pub fn capture_logs() -> tracing::subscriber::DefaultGuard {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("lexinaut_core=info")
        .with_test_writer()
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_default(subscriber)
}

/// Writes `contents` to `path`, creating parent folders; returns the path.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> PathBuf {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("parent dir");
    }
    std::fs::write(path, contents).expect("write file");
    path.to_owned()
}

/// The characters `[start, end)` of `text`, counted in Unicode scalar values.
pub fn char_span(text: &str, start: i64, end: i64) -> String {
    let start = usize::try_from(start).expect("start >= 0");
    let end = usize::try_from(end).expect("end >= 0");
    text.chars().skip(start).take(end - start).collect()
}

/// `path` as the catalogue shows it.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}
