//! Keyword-index benchmark: builds the same chunks into SQLite FTS5 (exactly as lexinaut-core
//! does) and into tantivy with tantivy-jieba, then measures build time, size, latency, accuracy.
//!
//! Usage: keyword-index-bench [CORPUS] [WORK_DIR]. Prints a Markdown report on stdout.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use jieba_rs::Jieba;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED};
use tantivy::tokenizer::{LowerCaser, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, Term};

const DEFAULT_CORPUS: &str = "/work/shared/data/corpus/crud_news_zh.txt";
const CHUNK_SIZE: usize = 512;
const CHUNK_OVERLAP: usize = 64;
const PHRASE_QUERIES: usize = 190;
const PHRASE_CHARS: usize = 20;
const KEYWORD_QUERIES: [&str; 10] = [
    "营业收入 同比增长",
    "人工智能",
    "新能源汽车",
    "芯片",
    "苹果 iPhone",
    "暴雨 预警",
    "房地产 政策",
    "股价 下跌",
    "英特尔 XeSS",
    "自动驾驶",
];
const RUNS: usize = 3;
const TIMED_PASSES: usize = 5;
const TOP_K: usize = 10;
const TANTIVY_MEMORY_BUDGET: usize = 50_000_000;

/// The keyword index of lexinaut-core, copied from crates/core/migrations/0001_catalogue.sql.
const CHUNK_FTS_SQL: &str = "CREATE VIRTUAL TABLE chunk_fts USING fts5 (
    tokens,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
)";

/// The app's search, without its joins to `chunks`/`documents` (tantivy returns ids only too).
const FTS_QUERY_SQL: &str =
    "SELECT rowid FROM chunk_fts WHERE chunk_fts MATCH ? ORDER BY bm25(chunk_fts) LIMIT ?";

struct Chunk {
    id: u64,
    doc: usize,
    text: String,
}

struct BenchQuery {
    text: String,
    /// The document a phrase was cut from; `None` for keyword queries.
    source_doc: Option<usize>,
}

/// Fixed 512-char windows, each starting 64 chars before the previous one ends.
fn chunk_docs(docs: &[String]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for (doc, text) in docs.iter().enumerate() {
        let chars: Vec<char> = text.chars().collect();
        let mut start = 0;
        loop {
            let end = (start + CHUNK_SIZE).min(chars.len());
            chunks.push(Chunk {
                id: chunks.len() as u64 + 1,
                doc,
                text: chars[start..end].iter().collect(),
            });
            if end == chars.len() {
                break;
            }
            start = end - CHUNK_OVERLAP;
        }
    }
    chunks
}

fn make_queries(docs: &[String]) -> Vec<BenchQuery> {
    let mut queries: Vec<BenchQuery> = (0..PHRASE_QUERIES)
        .map(|i| {
            let doc = i * docs.len() / PHRASE_QUERIES;
            let chars: Vec<char> = docs[doc].chars().collect();
            let start = (chars.len() / 2).saturating_sub(PHRASE_CHARS / 2);
            let end = (start + PHRASE_CHARS).min(chars.len());
            BenchQuery {
                text: chars[start..end].iter().collect(),
                source_doc: Some(doc),
            }
        })
        .collect();
    queries.extend(KEYWORD_QUERIES.iter().map(|q| BenchQuery {
        text: (*q).to_owned(),
        source_doc: None,
    }));
    queries
}

// ---- SQLite FTS5: the same tokens, table and query as crates/core ----

/// crates/core/src/keyword.rs `Segmenter::tokens`.
fn core_tokens<'a>(jieba: &Jieba, text: &'a str) -> impl Iterator<Item = &'a str> {
    jieba
        .cut_for_search(text, true)
        .into_iter()
        .map(|t| t.word)
        .filter(|w| w.chars().any(char::is_alphanumeric))
}

/// crates/core/src/keyword.rs `Segmenter::index_text`.
fn index_text(jieba: &Jieba, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for t in core_tokens(jieba, text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

/// crates/core/src/keyword.rs `Segmenter::match_expression`.
fn match_expression(jieba: &Jieba, query: &str) -> Option<String> {
    let mut seen = HashSet::new();
    let terms: Vec<String> = core_tokens(jieba, query)
        .map(str::to_lowercase)
        .filter(|t| seen.insert(t.clone()))
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

/// Same connection options as `Catalogue::open`.
async fn open_sqlite(path: &Path) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?)
}

/// Builds the FTS5 index one transaction per document, as `Catalogue::store_document` does.
async fn build_fts(jieba: &Jieba, chunks: &[Chunk], path: &Path) -> Result<(Duration, u64)> {
    let started = Instant::now();
    let pool = open_sqlite(path).await?;
    sqlx::query(CHUNK_FTS_SQL).execute(&pool).await?;
    let mut i = 0;
    while i < chunks.len() {
        let doc = chunks[i].doc;
        let mut j = i;
        let mut rows = Vec::new();
        while j < chunks.len() && chunks[j].doc == doc {
            rows.push((chunks[j].id, index_text(jieba, &chunks[j].text)));
            j += 1;
        }
        let mut tx = pool.begin().await?;
        for (id, tokens) in &rows {
            sqlx::query("INSERT INTO chunk_fts (rowid, tokens) VALUES (?, ?)")
                .bind(*id as i64)
                .bind(tokens)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        i = j;
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await?;
    pool.close().await;
    let elapsed = started.elapsed();
    let mut size = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        size += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
    }
    Ok((elapsed, size))
}

async fn search_fts(pool: &SqlitePool, jieba: &Jieba, query: &str) -> Result<Vec<u64>> {
    let Some(expr) = match_expression(jieba, query) else {
        return Ok(Vec::new());
    };
    let ids: Vec<i64> = sqlx::query_scalar(FTS_QUERY_SQL)
        .bind(expr)
        .bind(TOP_K as i64)
        .fetch_all(pool)
        .await?;
    Ok(ids.into_iter().map(|id| id as u64).collect())
}

// ---- tantivy + tantivy-jieba ----

/// Drops tokens without an alphanumeric character (punctuation, spaces), like the core's filter.
#[derive(Clone)]
struct AlphanumericFilter;

impl TokenFilter for AlphanumericFilter {
    type Tokenizer<T: Tokenizer> = AlphanumericWrapper<T>;
    fn transform<T: Tokenizer>(self, tokenizer: T) -> AlphanumericWrapper<T> {
        AlphanumericWrapper(tokenizer)
    }
}

#[derive(Clone)]
struct AlphanumericWrapper<T>(T);

impl<T: Tokenizer> Tokenizer for AlphanumericWrapper<T> {
    type TokenStream<'a> = AlphanumericStream<T::TokenStream<'a>>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        AlphanumericStream(self.0.token_stream(text))
    }
}

struct AlphanumericStream<S>(S);

impl<S: TokenStream> TokenStream for AlphanumericStream<S> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            if self.0.token().text.chars().any(char::is_alphanumeric) {
                return true;
            }
        }
        false
    }
    fn token(&self) -> &Token {
        self.0.token()
    }
    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

fn jieba_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(tantivy_jieba::JiebaTokenizer::new())
        .filter(AlphanumericFilter)
        .filter(LowerCaser)
        .build()
}

fn analyzer_tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

struct TantivyIndex {
    reader: IndexReader,
    tokens: tantivy::schema::Field,
    analyzer: TextAnalyzer,
}

/// One writer thread (FTS5 has one writer too); `commit_per_doc` mimics per-document
/// durability, otherwise one commit at the end (tantivy's bulk path).
fn build_tantivy(
    chunks: &[Chunk],
    dir: &Path,
    commit_per_doc: bool,
) -> Result<(Duration, u64, TantivyIndex)> {
    let started = Instant::now();
    let mut schema = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("jieba")
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let tokens = schema.add_text_field(
        "tokens",
        TextOptions::default().set_indexing_options(indexing),
    );
    let chunk_id = schema.add_u64_field("chunk", INDEXED | FAST);
    std::fs::create_dir_all(dir)?;
    let index = Index::create_in_dir(dir, schema.build())?;
    index.tokenizers().register("jieba", jieba_analyzer());
    let mut writer: IndexWriter = index.writer_with_num_threads(1, TANTIVY_MEMORY_BUDGET)?;
    let mut previous_doc = None;
    for c in chunks {
        if commit_per_doc && previous_doc.is_some_and(|d| d != c.doc) {
            writer.commit()?;
        }
        writer.add_document(doc!(chunk_id => c.id, tokens => c.text.as_str()))?;
        previous_doc = Some(c.doc);
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    let elapsed = started.elapsed();
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    Ok((
        elapsed,
        dir_size(dir)?,
        TantivyIndex {
            reader,
            tokens,
            analyzer: jieba_analyzer(),
        },
    ))
}

impl TantivyIndex {
    /// The same semantics as the FTS5 expression: OR of the query's unique tokens, BM25.
    fn query(&mut self, query: &str) -> Option<BooleanQuery> {
        let mut seen = HashSet::new();
        let clauses: Vec<(Occur, Box<dyn Query>)> = analyzer_tokens(&mut self.analyzer, query)
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.tokens, &t),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, q)
            })
            .collect();
        (!clauses.is_empty()).then(|| BooleanQuery::new(clauses))
    }

    fn search(&mut self, query: &str) -> Result<Vec<u64>> {
        let Some(q) = self.query(query) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&q, &TopDocs::with_limit(TOP_K).order_by_score())?;
        let mut ids = Vec::with_capacity(top.len());
        for (_score, addr) in top {
            let column = searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("chunk")?;
            ids.push(column.first(addr.doc_id).context("chunk id missing")?);
        }
        Ok(ids)
    }

    fn count(&mut self, query: &str) -> Result<usize> {
        match self.query(query) {
            Some(q) => Ok(self.reader.searcher().search(&q, &Count)?),
            None => Ok(0),
        }
    }

    fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

// ---- measuring ----

#[derive(Default, Clone)]
struct Measure {
    build_s: f64,
    size_mb: f64,
    p50_ms: f64,
    p95_ms: f64,
    phrase_p50_ms: f64,
    keyword_p50_ms: f64,
    top1_doc: usize,
    top1_contains: usize,
}

/// One engine's measurements in one run, plus what the report compares across engines.
struct EngineRun {
    measure: Measure,
    /// Top-1 chunk id of every query.
    tops: Vec<Option<u64>>,
    /// Chunks matched by each query.
    counts: Vec<usize>,
    /// tantivy segments after merging (0 for FTS5).
    segments: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn latency_stats(samples: &[(bool, f64)]) -> (f64, f64, f64, f64) {
    let mut all: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let mut phrase: Vec<f64> = samples.iter().filter(|s| s.0).map(|s| s.1).collect();
    let mut keyword: Vec<f64> = samples.iter().filter(|s| !s.0).map(|s| s.1).collect();
    for v in [&mut all, &mut phrase, &mut keyword] {
        v.sort_by(f64::total_cmp);
    }
    (
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        percentile(&phrase, 0.5),
        percentile(&keyword, 0.5),
    )
}

/// Top-1 of each phrase query: its source document, and whether the hit chunk holds the phrase.
fn accuracy(chunks: &[Chunk], queries: &[BenchQuery], tops: &[Option<u64>]) -> (usize, usize) {
    let mut by_doc = 0;
    let mut contains = 0;
    for (q, top) in queries.iter().zip(tops) {
        let (Some(src), Some(id)) = (q.source_doc, top) else {
            continue;
        };
        let hit = &chunks[(*id - 1) as usize];
        by_doc += usize::from(hit.doc == src);
        contains += usize::from(hit.doc == src || hit.text.contains(&q.text));
    }
    (by_doc, contains)
}

async fn measure_fts(
    jieba: &Jieba,
    chunks: &[Chunk],
    queries: &[BenchQuery],
    work: &Path,
    run: usize,
) -> Result<EngineRun> {
    let path = work.join(format!("fts-{run}.sqlite3"));
    let (build, size) = build_fts(jieba, chunks, &path).await?;
    let pool = open_sqlite(&path).await?;
    let mut tops = Vec::new();
    for q in queries {
        tops.push(search_fts(&pool, jieba, &q.text).await?.first().copied());
    }
    let mut samples = Vec::new();
    for _ in 0..TIMED_PASSES {
        for q in queries {
            let t = Instant::now();
            let hits = search_fts(&pool, jieba, &q.text).await?;
            samples.push((q.source_doc.is_some(), t.elapsed().as_secs_f64() * 1e3));
            std::hint::black_box(hits);
        }
    }
    let mut counts = Vec::new();
    for q in queries {
        let expr = match_expression(jieba, &q.text).context("empty query")?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk_fts WHERE chunk_fts MATCH ?")
            .bind(expr)
            .fetch_one(&pool)
            .await?;
        counts.push(n as usize);
    }
    pool.close().await;
    let (p50, p95, pp50, kp50) = latency_stats(&samples);
    let (top1_doc, top1_contains) = accuracy(chunks, queries, &tops);
    Ok(EngineRun {
        measure: Measure {
            build_s: build.as_secs_f64(),
            size_mb: size as f64 / 1e6,
            p50_ms: p50,
            p95_ms: p95,
            phrase_p50_ms: pp50,
            keyword_p50_ms: kp50,
            top1_doc,
            top1_contains,
        },
        tops,
        counts,
        segments: 0,
    })
}

fn measure_tantivy(
    chunks: &[Chunk],
    queries: &[BenchQuery],
    work: &Path,
    run: usize,
    commit_per_doc: bool,
) -> Result<EngineRun> {
    let dir = work.join(format!(
        "tantivy-{run}-{}",
        if commit_per_doc { "perdoc" } else { "bulk" }
    ));
    let (build, size, mut index) = build_tantivy(chunks, &dir, commit_per_doc)?;
    let mut tops = Vec::new();
    for q in queries {
        tops.push(index.search(&q.text)?.first().copied());
    }
    let mut samples = Vec::new();
    for _ in 0..TIMED_PASSES {
        for q in queries {
            let t = Instant::now();
            let hits = index.search(&q.text)?;
            samples.push((q.source_doc.is_some(), t.elapsed().as_secs_f64() * 1e3));
            std::hint::black_box(hits);
        }
    }
    let counts = queries
        .iter()
        .map(|q| index.count(&q.text))
        .collect::<Result<Vec<_>>>()?;
    let segments = index.segments();
    let (p50, p95, pp50, kp50) = latency_stats(&samples);
    let (top1_doc, top1_contains) = accuracy(chunks, queries, &tops);
    Ok(EngineRun {
        measure: Measure {
            build_s: build.as_secs_f64(),
            size_mb: size as f64 / 1e6,
            p50_ms: p50,
            p95_ms: p95,
            phrase_p50_ms: pp50,
            keyword_p50_ms: kp50,
            top1_doc,
            top1_contains,
        },
        tops,
        counts,
        segments,
    })
}

/// p50 of `SELECT 1` through the same pool: the sqlx cost every FTS5 query pays.
async fn sqlx_round_trip_ms(path: &Path) -> Result<f64> {
    let pool = open_sqlite(path).await?;
    let mut samples = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(one);
    }
    pool.close().await;
    Ok(median(samples))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn median_measure(runs: &[Measure]) -> Measure {
    let m = |f: fn(&Measure) -> f64| median(runs.iter().map(f).collect());
    Measure {
        build_s: m(|x| x.build_s),
        size_mb: m(|x| x.size_mb),
        p50_ms: m(|x| x.p50_ms),
        p95_ms: m(|x| x.p95_ms),
        phrase_p50_ms: m(|x| x.phrase_p50_ms),
        keyword_p50_ms: m(|x| x.keyword_p50_ms),
        top1_doc: m(|x| x.top1_doc as f64) as usize,
        top1_contains: m(|x| x.top1_contains as f64) as usize,
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(args.next().unwrap_or_else(|| DEFAULT_CORPUS.into()));
    let work = PathBuf::from(
        args.next()
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-runs").into()),
    );
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;
    let load_before = loadavg();

    let text = std::fs::read_to_string(&corpus)
        .with_context(|| format!("reading {}", corpus.display()))?;
    let docs: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let chunks = chunk_docs(&docs);
    let queries = make_queries(&docs);

    // Load both dictionaries before any timer starts (the app warms jieba at start-up too).
    let jieba = Jieba::new();
    let mut analyzer = jieba_analyzer();
    analyzer_tokens(&mut analyzer, "预热词典");

    // Do the two tokenizations agree? (tantivy-jieba uses tokenize(Search), the core cut_for_search.)
    let mut same_tokens = 0;
    for c in &chunks {
        let mut a: Vec<String> = core_tokens(&jieba, &c.text)
            .map(str::to_lowercase)
            .collect();
        let mut b = analyzer_tokens(&mut analyzer, &c.text);
        a.sort();
        b.sort();
        same_tokens += usize::from(a == b);
    }

    let sqlite_version: String = {
        let pool = SqlitePoolOptions::new().connect("sqlite::memory:").await?;
        sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&pool)
            .await?
    };

    let mut fts_runs = Vec::new();
    let mut tan_runs = Vec::new();
    let mut perdoc_runs = Vec::new();
    let mut fts_tops = Vec::new();
    let mut tan_tops = Vec::new();
    let mut fts_counts = Vec::new();
    let mut tan_counts = Vec::new();
    let mut tokenize_s = Vec::new();
    let mut roundtrip_ms = Vec::new();
    let mut bulk_segments = 0;
    let mut perdoc_segments = 0;
    for run in 0..RUNS {
        // Alternate which engine goes first, so neither always gets the quieter moment.
        let order: [u8; 3] = if run % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for engine in order {
            match engine {
                0 => {
                    let EngineRun {
                        measure: m,
                        tops,
                        counts,
                        ..
                    } = measure_fts(&jieba, &chunks, &queries, &work, run).await?;
                    fts_runs.push(m);
                    fts_tops = tops;
                    fts_counts = counts;
                }
                1 => {
                    let EngineRun {
                        measure: m,
                        tops,
                        counts,
                        segments: segs,
                    } = measure_tantivy(&chunks, &queries, &work, run, false)?;
                    tan_runs.push(m);
                    tan_tops = tops;
                    tan_counts = counts;
                    bulk_segments = segs;
                }
                _ => {
                    let EngineRun {
                        measure: m,
                        segments: segs,
                        ..
                    } = measure_tantivy(&chunks, &queries, &work, run, true)?;
                    perdoc_runs.push(m);
                    perdoc_segments = segs;
                }
            }
        }
        let t = Instant::now();
        for c in &chunks {
            std::hint::black_box(index_text(&jieba, &c.text));
        }
        tokenize_s.push(t.elapsed().as_secs_f64());
        roundtrip_ms.push(sqlx_round_trip_ms(&work.join(format!("fts-{run}.sqlite3"))).await?);
        eprintln!("run {} of {RUNS} done (load {})", run + 1, loadavg());
    }
    let load_after = loadavg();
    let fts = median_measure(&fts_runs);
    let tan = median_measure(&tan_runs);
    let perdoc = median_measure(&perdoc_runs);
    let agree = fts_tops
        .iter()
        .zip(&tan_tops)
        .filter(|(a, b)| a == b)
        .count();

    let phrases = PHRASE_QUERIES;
    println!(
        "Corpus: {} ({} docs, {:.2} MB) → {} chunks ({CHUNK_SIZE} chars, {CHUNK_OVERLAP} overlap). \
         Queries: {phrases} phrases ({PHRASE_CHARS} chars from the middle of doc ⌊i·{}/{phrases}⌋, i < {phrases}) + {} keyword queries; \
         top {TOP_K}; latency over {TIMED_PASSES} passes after a warm-up pass. Medians of {RUNS} runs.",
        corpus.display(),
        docs.len(),
        text.len() as f64 / 1e6,
        chunks.len(),
        docs.len(),
        KEYWORD_QUERIES.len(),
    );
    println!(
        "SQLite {sqlite_version} (sqlx 0.8, bundled), tantivy 0.27 + tantivy-jieba 0.21, jieba-rs 0.11. \
         Load average: {load_before} before, {load_after} after; {} CPUs.",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!();
    println!("| measure | tantivy + jieba | SQLite FTS5 + jieba | tantivy / FTS5 |");
    println!("| --- | ---: | ---: | ---: |");
    let row = |name: &str, t: f64, f: f64, digits: usize| {
        println!("| {name} | {t:.digits$} | {f:.digits$} | {:.2} |", t / f);
    };
    row(
        "index build incl. tokenizing (s)",
        tan.build_s,
        fts.build_s,
        2,
    );
    row("index size on disk (MB)", tan.size_mb, fts.size_mb, 2);
    row("query p50, all 200 (ms)", tan.p50_ms, fts.p50_ms, 3);
    row("query p95, all 200 (ms)", tan.p95_ms, fts.p95_ms, 3);
    row(
        "query p50, 190 phrases (ms)",
        tan.phrase_p50_ms,
        fts.phrase_p50_ms,
        3,
    );
    row(
        "query p50, 10 keyword queries (ms)",
        tan.keyword_p50_ms,
        fts.keyword_p50_ms,
        3,
    );
    println!(
        "| top-1 is the source document ({phrases} phrases) | {} ({:.1}%) | {} ({:.1}%) | |",
        tan.top1_doc,
        100.0 * tan.top1_doc as f64 / phrases as f64,
        fts.top1_doc,
        100.0 * fts.top1_doc as f64 / phrases as f64
    );
    println!(
        "| top-1 is the source or contains the phrase | {} ({:.1}%) | {} ({:.1}%) | |",
        tan.top1_contains,
        100.0 * tan.top1_contains as f64 / phrases as f64,
        fts.top1_contains,
        100.0 * fts.top1_contains as f64 / phrases as f64
    );
    println!();
    println!(
        "tantivy committing after every document (as durable per document as the FTS5 transaction, \
         still a second store): build {:.2} s ({:.2}× FTS5), {:.2} MB, {perdoc_segments} segments after merges \
         (bulk: {bulk_segments}), query p50 {:.3} ms, p95 {:.3} ms.",
        perdoc.build_s,
        perdoc.build_s / fts.build_s,
        perdoc.size_mb,
        perdoc.p50_ms,
        perdoc.p95_ms
    );
    println!(
        "Same top-1 chunk in both engines: {agree}/{} queries. Chunks whose jieba token multiset is \
         identical in both engines: {same_tokens}/{}.",
        queries.len(),
        chunks.len()
    );
    println!(
        "Chunks matched per keyword query (OR semantics in both), tantivy vs FTS5: {}.",
        KEYWORD_QUERIES
            .iter()
            .zip(tan_counts[phrases..].iter().zip(&fts_counts[phrases..]))
            .map(|(q, (t, f))| format!("{q} {t}/{f}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    let phrase_terms: Vec<usize> = queries[..phrases]
        .iter()
        .map(|q| match_expression(&jieba, &q.text).map_or(0, |e| e.split(" OR ").count()))
        .collect();
    println!(
        "A phrase query is an OR of {:.1} unique tokens on average and matches {:.0} (tantivy) / \
         {:.0} (FTS5) of the {} chunks on average.",
        mean(&phrase_terms),
        mean(&tan_counts[..phrases]),
        mean(&fts_counts[..phrases]),
        chunks.len()
    );
    println!(
        "Of the build times, jieba tokenizing alone (cut_for_search of every chunk) takes {:.2} s; \
         of the FTS5 latencies, one sqlx round trip (`SELECT 1`, same pool) takes {:.3} ms (p50).",
        median(tokenize_s),
        median(roundtrip_ms)
    );
    println!();
    println!("Per run (build s / p50 ms / p95 ms):");
    for (name, runs) in [
        ("tantivy", &tan_runs),
        ("FTS5", &fts_runs),
        ("tantivy per-doc commit", &perdoc_runs),
    ] {
        let cells: Vec<String> = runs
            .iter()
            .map(|m| format!("{:.2} / {:.3} / {:.3}", m.build_s, m.p50_ms, m.p95_ms))
            .collect();
        println!("- {name}: {}", cells.join("; "));
    }
    Ok(())
}
