//! Retrieval for questions: ranked lists from keyword and vector search fused by reciprocal
//! rank fusion, optionally reranked, then neighbouring chunks of a document merged into passages.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::catalogue::Hit;

/// How many candidates each retrieval stage keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct RetrievalSettings {
    /// Keyword (BM25) candidates.
    pub keyword_k: u32,
    /// Vector candidates.
    pub vector_k: u32,
    /// Fused candidates sent to the reranker.
    pub rerank_k: u32,
    /// Passages offered to the answer at most (the token budget may take fewer).
    pub final_k: u32,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        Self {
            keyword_k: 40,
            vector_k: 40,
            rerank_k: 20,
            final_k: 8,
        }
    }
}

/// Which retrieval stages a question uses; `Auto` uses everything that is configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum RetrievalMode {
    /// Keyword, plus vectors and rerank when the backends are configured.
    #[default]
    Auto,
    /// BM25 over jieba tokens only.
    Keyword,
    /// Vector similarity only (what the old system did).
    Vector,
    /// Keyword and vector fused, no rerank.
    Hybrid,
    /// Keyword and vector fused, then reranked.
    HybridRerank,
}

impl std::str::FromStr for RetrievalMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.replace('-', "_").as_str() {
            "auto" => Ok(Self::Auto),
            "keyword" => Ok(Self::Keyword),
            "vector" => Ok(Self::Vector),
            "hybrid" => Ok(Self::Hybrid),
            "hybrid_rerank" => Ok(Self::HybridRerank),
            other => Err(format!(
                "unknown retrieval mode {other:?} (auto, keyword, vector, hybrid, hybrid-rerank)"
            )),
        }
    }
}

/// The constant of reciprocal rank fusion (Cormack et al.): 60 damps the top ranks' weight.
const RRF_K: f64 = 60.0;

/// One candidate after fusion: the chunk and where each stage ranked it (1-based).
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub hit: Hit,
    pub keyword_rank: Option<u32>,
    pub vector_rank: Option<u32>,
    pub rerank_score: Option<f64>,
    /// The fused score (RRF), or the rerank score once reranked.
    pub score: f64,
}

/// How much a ranked list stands behind its best hit, from 0 to 1: the gap between the top
/// score and the mean of the next nine, relative to the room above that mean (`ceiling` is the
/// best possible score: 1 for cosine similarity; `None` for unbounded BM25, where the gap is
/// taken relative to the top score). A retriever
/// that ranks everything about the same (an English embedding model on Chinese text scores
/// every chunk 0.4 ± 0.02) gets little say; one with a clear winner gets a lot.
pub(crate) fn confidence(scores: &[f64], ceiling: Option<f64>) -> f64 {
    let Some(&top) = scores.first() else {
        return 0.0;
    };
    let rest: Vec<f64> = scores.iter().skip(1).take(9).copied().collect();
    if rest.is_empty() {
        return 1.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = rest.iter().sum::<f64>() / rest.len() as f64;
    let room = match ceiling {
        Some(c) => c - mean,
        None => top,
    };
    if room <= f64::EPSILON {
        return 0.0;
    }
    ((top - mean) / room).clamp(0.0, 1.0)
}

/// A list clearly less sure than the other (under 90 % of its confidence), or unsure in itself,
/// only breaks ties: with RRF's flat
/// 1/(60 + rank) curve even a small weight lets a noisy list's agreement outvote the other
/// list's clear first place (measured: plain RRF of BM25 with MiniLM vectors on CMRC 2018 fell
/// from hit@1 0.96 to 0.49; see docs/BENCHMARKS.md).
pub(crate) const RELATIVE_CONFIDENCE: f64 = 0.9;

/// Below this confidence the less sure list only breaks ties.
pub(crate) const MIN_CONFIDENCE: f64 = 0.35;

/// A tie-breaking list's weight relative to the surer list's `w`: its best contribution
/// (`0.005 w / 61` ≈ `w / 12,200`) is smaller than any step between two of the surer list's
/// first 40 ranks (at least `w / 100 − w / 101` ≈ `w / 10,100`), so within the default
/// `keyword_k`/`vector_k` it reorders only true ties.
const TIE_BREAK: f64 = 0.005;

/// Fusion weights of the keyword and vector lists from their confidences (the vector list's
/// already scaled by its measured reliability).
pub(crate) fn weights(keyword: f64, vector: f64) -> (f64, f64) {
    let best = keyword.max(vector);
    let weight = |c: f64| {
        // The surer list always counts; the other only when it is sure enough too.
        if c >= best || (c >= RELATIVE_CONFIDENCE * best && c >= MIN_CONFIDENCE) {
            c
        } else {
            TIE_BREAK * best
        }
    };
    (weight(keyword), weight(vector))
}

/// Fuses ranked lists by weighted reciprocal rank fusion: each list adds
/// `weight / (60 + rank)` to a chunk. A chunk found by both stages beats one found high by a
/// single stage only when both ranks are decent, which is what makes exact terms (keyword) and
/// paraphrases (vector) both count; the weights (see [`confidence`]) keep a retriever that
/// cannot tell its hits apart from reordering the other's.
pub(crate) fn fuse(keyword: Vec<Hit>, vector: Vec<Hit>, weights: (f64, f64)) -> Vec<Candidate> {
    let mut by_chunk: HashMap<i64, Candidate> = HashMap::new();
    let mut order = Vec::new();
    for (list, is_keyword, weight) in [(keyword, true, weights.0), (vector, false, weights.1)] {
        for (i, hit) in list.into_iter().enumerate() {
            let rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let add = weight / (RRF_K + f64::from(rank));
            let entry = by_chunk.entry(hit.chunk_id).or_insert_with(|| {
                order.push(hit.chunk_id);
                Candidate {
                    hit,
                    keyword_rank: None,
                    vector_rank: None,
                    rerank_score: None,
                    score: 0.0,
                }
            });
            entry.score += add;
            if is_keyword {
                entry.keyword_rank.get_or_insert(rank);
            } else {
                entry.vector_rank.get_or_insert(rank);
            }
        }
    }
    let mut fused: Vec<Candidate> = order
        .into_iter()
        .filter_map(|id| by_chunk.remove(&id))
        .collect();
    // Stable: among equal scores the keyword list's order wins.
    fused.sort_by(|a, b| b.score.total_cmp(&a.score));
    fused
}

/// Keeps one of each identical passage text (the same file imported twice, say): the first,
/// which ranks higher.
pub(crate) fn dedupe(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut seen = std::collections::HashSet::new();
    candidates
        .into_iter()
        .filter(|c| seen.insert(squash(&c.hit.text)))
        .collect()
}

fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A passage offered to the answer: one chunk, or neighbouring chunks of one document merged.
#[derive(Debug, Clone)]
pub(crate) struct Passage {
    pub hit: Hit,
    pub chunk_ids: Vec<i64>,
    pub score: f64,
    pub keyword_rank: Option<u32>,
    pub vector_rank: Option<u32>,
    pub rerank_score: Option<f64>,
}

/// Merges selected chunks of the same document whose spans overlap or touch (chunking's
/// overlap makes neighbours share text) into one passage, so the answer reads the text once.
/// The merged passage takes the place of its best-ranked part.
pub(crate) fn merge_neighbours(selected: Vec<Candidate>) -> Vec<Passage> {
    let mut passages: Vec<Passage> = Vec::with_capacity(selected.len());
    for c in selected {
        let mut merged = false;
        for p in &mut passages {
            if p.hit.document_id == c.hit.document_id
                && c.hit.start_char <= p.hit.end_char
                && p.hit.start_char <= c.hit.end_char
                && p.hit.page == c.hit.page
            {
                absorb(p, &c);
                merged = true;
                break;
            }
        }
        if !merged {
            passages.push(Passage {
                chunk_ids: vec![c.hit.chunk_id],
                score: c.score,
                keyword_rank: c.keyword_rank,
                vector_rank: c.vector_rank,
                rerank_score: c.rerank_score,
                hit: c.hit,
            });
        }
    }
    passages
}

/// Joins `c` into `p` by character spans: the text of the later span continues where the
/// earlier one ends.
fn absorb(p: &mut Passage, c: &Candidate) {
    let (first, second) = if c.hit.start_char < p.hit.start_char {
        (c.hit.clone(), p.hit.clone())
    } else {
        (p.hit.clone(), c.hit.clone())
    };
    let mut text = first.text.clone();
    if second.end_char > first.end_char {
        let skip = usize::try_from(first.end_char - second.start_char).unwrap_or(0);
        text.extend(second.text.chars().skip(skip));
    }
    p.hit.text = text;
    p.hit.start_char = first.start_char;
    p.hit.end_char = first.end_char.max(second.end_char);
    p.chunk_ids.push(c.hit.chunk_id);
    p.chunk_ids.sort_unstable();
    p.score = p.score.max(c.score);
    p.keyword_rank = min_opt(p.keyword_rank, c.keyword_rank);
    p.vector_rank = min_opt(p.vector_rank, c.vector_rank);
    p.rerank_score = match (p.rerank_score, c.rerank_score) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
}

fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(chunk_id: i64, document_id: i64, start: i64, text: &str) -> Hit {
        Hit {
            path: format!("/d/{document_id}.txt"),
            title: None,
            format: Some("txt".into()),
            document_id,
            chunk_id,
            text: text.into(),
            score: 0.0,
            page: None,
            heading_path: Vec::new(),
            start_char: start,
            end_char: start + i64::try_from(text.chars().count()).unwrap_or(0),
        }
    }

    #[test]
    fn fusion_rewards_agreement_between_stages() {
        let keyword = vec![hit(1, 1, 0, "a"), hit(2, 1, 10, "b"), hit(3, 2, 0, "c")];
        let vector = vec![hit(4, 3, 0, "d"), hit(3, 2, 0, "c"), hit(1, 1, 0, "a")];
        let fused = fuse(keyword, vector, (1.0, 1.0));
        let ids: Vec<i64> = fused.iter().map(|c| c.hit.chunk_id).collect();
        // 1: ranks 1 and 3; 3: ranks 3 and 2; then single-stage hits by rank.
        assert_eq!(ids, vec![1, 3, 4, 2]);
        assert_eq!(fused[0].keyword_rank, Some(1));
        assert_eq!(fused[0].vector_rank, Some(3));
    }

    #[test]
    fn a_retriever_that_cannot_tell_hits_apart_gets_little_say() {
        // Flat cosine scores (a model that does not know the language) vs a clear BM25 winner.
        let flat = confidence(
            &[0.41, 0.40, 0.40, 0.39, 0.39, 0.39, 0.38, 0.38, 0.38, 0.37],
            Some(1.0),
        );
        let sharp = confidence(
            &[0.82, 0.55, 0.50, 0.49, 0.47, 0.45, 0.44, 0.44, 0.43, 0.40],
            Some(1.0),
        );
        let bm25 = confidence(&[24.0, 15.4, 6.0, 4.9, 4.4, 4.0, 3.9, 3.5, 3.1, 3.0], None);
        assert!(flat < 0.05, "{flat}");
        assert!(sharp > 0.4, "{sharp}");
        assert!(bm25 > 0.6, "{bm25}");
        assert!((confidence(&[], None)).abs() < f64::EPSILON);
        assert!((confidence(&[3.0], None) - 1.0).abs() < f64::EPSILON);

        // Keyword's clear first hit stays first when the vector list is noise.
        let keyword = vec![hit(1, 1, 0, "a"), hit(2, 2, 0, "b"), hit(3, 3, 0, "c")];
        let vector = vec![hit(3, 3, 0, "c"), hit(2, 2, 0, "b"), hit(9, 9, 0, "z")];
        let fused = fuse(keyword, vector, weights(bm25, flat));
        // Two lists about as sure of themselves both count.
        let (k, v) = weights(0.7, 0.65);
        assert!((k - 0.7).abs() < 1e-9 && (v - 0.65).abs() < 1e-9);
        // No keyword hits at all: a sure vector list decides.
        assert!(weights(0.0, 0.5).1 > 0.4);
        assert_eq!(fused[0].hit.chunk_id, 1);
    }

    #[test]
    fn a_vector_model_earns_its_say_by_agreeing_with_sure_keyword_answers() {
        use crate::vectors::Reliability;
        let unmeasured = Reliability {
            checks: 0,
            agreements: 0,
        };
        assert!((unmeasured.estimate() - 0.5).abs() < 1e-9);
        // Measured on CMRC 2018 with an English model on Chinese text: 78 of 926.
        let poor = Reliability {
            checks: 926,
            agreements: 78,
        }
        .estimate();
        let good = Reliability {
            checks: 500,
            agreements: 430,
        }
        .estimate();
        assert!(poor < 0.1 && good > 0.85);
        // Keyword search unsure (a flat BM25 list), the vector list sharper: a good model
        // decides, a poor one only breaks ties (CMRC question 394: 0.26 vs 0.41).
        let (k, v) = weights(0.26, 0.41 * good);
        assert!(v > k);
        let (k, v) = weights(0.26, 0.41 * poor);
        assert!(k > 0.25 && v < 0.01);
    }

    #[test]
    fn a_tie_breaking_list_never_reorders_the_surer_lists_ranks() {
        // Keyword confidence tiny (0.05), vector even less sure: keyword's order within its
        // first 40 ranks survives the vector list's strongest possible disagreement.
        let keyword: Vec<Hit> = (1..=40).map(|i| hit(i, i, 0, &format!("k{i}"))).collect();
        let vector: Vec<Hit> = (1..=40)
            .rev()
            .map(|i| hit(i, i, 0, &format!("k{i}")))
            .collect();
        let fused = fuse(keyword, vector, weights(0.05, 0.04));
        let ids: Vec<i64> = fused.iter().map(|c| c.hit.chunk_id).collect();
        assert_eq!(ids, (1..=40).collect::<Vec<i64>>());
    }

    #[test]
    fn fusion_of_one_list_keeps_its_order() {
        let keyword = vec![hit(5, 1, 0, "a"), hit(2, 1, 10, "b"), hit(9, 2, 0, "c")];
        let ids: Vec<i64> = fuse(keyword, Vec::new(), (1.0, 1.0))
            .iter()
            .map(|c| c.hit.chunk_id)
            .collect();
        assert_eq!(ids, vec![5, 2, 9]);
    }

    #[test]
    fn overlapping_neighbours_merge_into_one_passage() {
        // Chunk 2 starts inside chunk 1 (overlap "CD").
        let c1 = hit(1, 7, 0, "ABCD");
        let c2 = hit(2, 7, 2, "CDEF");
        let other = hit(3, 8, 0, "XYZ");
        let passages = merge_neighbours(fuse(vec![c2, other, c1], Vec::new(), (1.0, 1.0)));
        assert_eq!(passages.len(), 2);
        assert_eq!(passages[0].hit.text, "ABCDEF");
        assert_eq!(
            (passages[0].hit.start_char, passages[0].hit.end_char),
            (0, 6)
        );
        assert_eq!(passages[0].chunk_ids, vec![1, 2]);
        assert_eq!(passages[1].hit.text, "XYZ");
    }

    #[test]
    fn distant_chunks_of_a_document_stay_apart() {
        let passages = merge_neighbours(fuse(
            vec![hit(1, 7, 0, "ABCD"), hit(2, 7, 100, "WXYZ")],
            Vec::new(),
            (1.0, 1.0),
        ));
        assert_eq!(passages.len(), 2);
    }

    #[test]
    fn identical_texts_are_kept_once() {
        let fused = fuse(
            vec![hit(1, 1, 0, "同一段 文字"), hit(2, 2, 0, "同一段文字")],
            Vec::new(),
            (1.0, 1.0),
        );
        assert_eq!(dedupe(fused).len(), 1);
    }
}
