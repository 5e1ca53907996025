//! The shared news corpus (1,930 Chinese articles, one a line) as a folder of files: every
//! article is indexed, and a phrase unique to one article finds that article first.

use std::path::{Path, PathBuf};

use lexinaut_core::DocumentStatus;

use crate::support::{shown, write, TestLibrary};

/// Articles probed for their unique phrase.
const PROBES: usize = 20;
/// Characters in a probe phrase.
const PHRASE_CHARS: usize = 20;

fn corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/corpus/crud_news_zh.txt")
}

#[tokio::test]
async fn news_corpus_articles_are_indexed_and_found_by_a_unique_phrase() {
    let path = corpus_path();
    let Ok(corpus) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: shared corpus not found at {}", path.display());
        return;
    };
    let articles: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        articles.len() > PROBES * 10,
        "corpus too small: {}",
        articles.len()
    );

    let t = TestLibrary::open().await;
    let kb = t.kb("新闻").await;
    let dir = t.docs_dir();
    let files: Vec<PathBuf> = articles
        .iter()
        .enumerate()
        .map(|(i, a)| write(&dir.join(format!("{:04}.txt", i + 1)), a))
        .collect();

    let summary = t.ingest(kb.id, &[dir]).await;
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    assert_eq!(summary.documents as usize, articles.len(), "{summary:?}");
    let docs = t.docs(kb.id).await;
    assert_eq!(docs.len(), articles.len());
    assert!(docs
        .iter()
        .all(|d| d.status == DocumentStatus::Indexed && d.chunk_count > 0));
    assert_eq!(
        docs.iter().map(|d| d.chunk_count).sum::<i64>(),
        i64::from(summary.chunks)
    );

    let stride = articles.len() / PROBES;
    let mut misses = Vec::new();
    let mut probed = 0;
    for i in (0..PROBES).map(|n| n * stride + stride / 2) {
        let Some(phrase) = unique_phrase(&articles, i) else {
            continue;
        };
        probed += 1;
        let hits = t.search(kb.id, &phrase, 5).await;
        let want = shown(&files[i]);
        if hits.first().map(|h| &h.path) != Some(&want) {
            let got: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
            misses.push(format!("{phrase:?}: want {want}, got {got:?}"));
        }
    }
    assert!(
        probed >= PROBES - 2,
        "only {probed} probes had a unique phrase"
    );
    assert!(misses.is_empty(), "top hit wrong:\n{}", misses.join("\n"));
}

/// A phrase from the middle of article `i` (no whitespace) that no other article contains.
fn unique_phrase(articles: &[&str], i: usize) -> Option<String> {
    let chars: Vec<char> = articles[i].chars().collect();
    let mid = chars.len() / 2;
    (0..40)
        .map(|step| {
            let shift = (step / 2) * 7;
            if step % 2 == 0 {
                mid + shift
            } else {
                mid.saturating_sub(shift)
            }
        })
        .filter(|&s| s + PHRASE_CHARS <= chars.len())
        .map(|s| chars[s..s + PHRASE_CHARS].iter().collect::<String>())
        .filter(|p| !p.chars().any(char::is_whitespace))
        .find(|p| articles.iter().filter(|a| a.contains(p.as_str())).count() == 1)
}
