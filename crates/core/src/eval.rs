//! Retrieval and answer evaluation on SQuAD-format sets (CMRC 2018 and the like): contexts are
//! imported as documents, each question is retrieved for, and hit@k, MRR and answer scores reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::catalogue::SearchFilter;
use crate::chat::{AnswerMode, AskRequest, RetrievalMode, RetrievalSettings};
use crate::error::CoreError;
use crate::Library;

#[derive(Deserialize)]
struct SquadFile {
    data: Vec<SquadArticle>,
}

#[derive(Deserialize)]
struct SquadArticle {
    paragraphs: Vec<SquadParagraph>,
}

#[derive(Deserialize)]
struct SquadParagraph {
    #[serde(default)]
    id: Option<String>,
    context: String,
    qas: Vec<SquadQuestion>,
}

#[derive(Deserialize)]
struct SquadQuestion {
    question: String,
    #[serde(default)]
    answers: Vec<SquadAnswer>,
}

#[derive(Deserialize)]
struct SquadAnswer {
    text: String,
}

/// How to run an evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Retrieval stages to evaluate.
    pub mode: RetrievalMode,
    /// Evaluate only the first N questions.
    pub limit: Option<usize>,
    /// Also generate answers with the chat model and score them (exact match, F1).
    pub generate: bool,
}

/// The scores of one run.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The set evaluated.
    pub file: String,
    /// Retrieval stages used.
    pub mode: RetrievalMode,
    /// Which stages actually ran (keyword, vector, rerank).
    pub stages: Vec<String>,
    /// Contexts imported as documents.
    pub documents: usize,
    /// Questions evaluated.
    pub questions: usize,
    /// Share of questions whose context is the first document retrieved.
    pub hit_at_1: f64,
    /// Share whose context is among the first five documents.
    pub hit_at_5: f64,
    /// Mean reciprocal rank of the context among the first ten documents.
    pub mrr_at_10: f64,
    /// Share whose gold answer text appears in the first five passages.
    pub answer_in_top_5: f64,
    /// Median retrieval time per question, milliseconds.
    pub median_ms: f64,
    /// Answer scores, when answers were generated.
    pub answers: Option<AnswerScores>,
    /// The questions whose own context was not ranked first, in set order.
    pub misses: Vec<EvalMiss>,
}

/// A question whose own context was not the first document retrieved.
#[derive(Debug, Clone, Serialize)]
pub struct EvalMiss {
    /// 0-based position of the question in the set.
    pub index: usize,
    /// The question.
    pub question: String,
    /// The context the question belongs to.
    pub expected: String,
    /// Where that context was ranked among the documents (1-based), if within the top ten.
    pub rank: Option<usize>,
    /// The document ranked first instead, if any.
    pub top: Option<String>,
}

/// Scores of generated answers (CMRC style: character level, punctuation and spaces ignored).
#[derive(Debug, Clone, Serialize)]
pub struct AnswerScores {
    /// Answers equal to a gold answer.
    pub exact_match: f64,
    /// Mean best character F1 against the gold answers.
    pub f1: f64,
    /// Answers that contain a gold answer.
    pub contains: f64,
    /// Answers generated (others failed or had no passages).
    pub generated: usize,
}

impl Library {
    /// Evaluates retrieval (and optionally answers) on a SQuAD-format file: imports every
    /// context into `kb_id` as a text file under the data directory, then asks each question.
    pub async fn evaluate(
        &self,
        kb_id: i64,
        file: &Path,
        options: EvalOptions,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<EvalReport, CoreError> {
        let bytes = tokio::fs::read(file)
            .await
            .map_err(|source| CoreError::Io {
                path: file.to_owned(),
                source,
            })?;
        let set: SquadFile = serde_json::from_slice(&bytes).map_err(|e| {
            CoreError::InvalidInput(format!("{}: not a SQuAD-format file: {e}", file.display()))
        })?;
        let dir = self
            .config
            .data_dir
            .join("eval")
            .join(&blake3::hash(&bytes).to_hex()[..12]);
        std::fs::create_dir_all(&dir).map_err(|source| CoreError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut contexts: Vec<PathBuf> = Vec::new();
        let mut questions: Vec<(String, Vec<String>, PathBuf)> = Vec::new();
        for (i, p) in set.data.iter().flat_map(|a| &a.paragraphs).enumerate() {
            let name =
                p.id.clone()
                    .unwrap_or_else(|| format!("context-{i}"))
                    .replace(['/', '\\'], "_");
            let path = dir.join(format!("{name}.txt"));
            if !path.exists() {
                std::fs::write(&path, &p.context).map_err(|source| CoreError::Io {
                    path: path.clone(),
                    source,
                })?;
            }
            for q in &p.qas {
                questions.push((
                    q.question.clone(),
                    q.answers.iter().map(|a| a.text.clone()).collect(),
                    path.clone(),
                ));
            }
            contexts.push(path);
        }
        let summary = self
            .ingest(kb_id, contexts.clone(), &|_| {}, CancellationToken::new())
            .await?;
        if !summary.failed.is_empty() {
            tracing::warn!(
                failed = summary.failed.len(),
                "some contexts failed to import"
            );
        }
        if self.vectors_enabled() {
            // Vector modes need every context embedded before the first question.
            let report = self
                .drain_vectors(Some(kb_id), &|_, _| {}, &CancellationToken::new())
                .await?;
            tracing::info!(embedded = report.embedded, "contexts embedded");
        }
        let doc_ids: HashMap<String, i64> = self
            .list_documents(kb_id)
            .await?
            .into_iter()
            .map(|d| (d.path, d.id))
            .collect();
        if let Some(limit) = options.limit {
            questions.truncate(limit);
        }

        let settings = RetrievalSettings {
            final_k: 10,
            ..RetrievalSettings::default()
        };
        let total = questions.len();
        let (mut hit1, mut hit5, mut rr, mut in_top5) = (0usize, 0usize, 0.0f64, 0usize);
        let mut times = Vec::with_capacity(total);
        let mut misses = Vec::new();
        let doc_paths: HashMap<i64, &str> =
            doc_ids.iter().map(|(p, id)| (*id, p.as_str())).collect();
        let mut stages = Vec::new();
        let (mut em, mut f1, mut contains, mut generated) = (0.0f64, 0.0f64, 0usize, 0usize);
        for (i, (question, answers, path)) in questions.iter().enumerate() {
            let expected = doc_ids.get(&path.display().to_string()).copied();
            let started = Instant::now();
            let retrieval = self
                .retrieve(
                    kb_id,
                    question,
                    &SearchFilter::default(),
                    options.mode,
                    settings,
                )
                .await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if stages.is_empty() {
                for (ran, name) in [
                    (retrieval.keyword, "keyword"),
                    (retrieval.vector, "vector"),
                    (retrieval.rerank, "rerank"),
                ] {
                    if ran {
                        stages.push(name.to_owned());
                    }
                }
            }
            let mut ranked_docs: Vec<i64> = Vec::new();
            for c in &retrieval.citations {
                if !ranked_docs.contains(&c.document_id) {
                    ranked_docs.push(c.document_id);
                }
            }
            let found = expected.and_then(|d| ranked_docs.iter().position(|x| *x == d));
            if found != Some(0) {
                misses.push(EvalMiss {
                    index: i,
                    question: question.clone(),
                    expected: path.display().to_string(),
                    rank: found.filter(|r| *r < 10).map(|r| r + 1),
                    top: ranked_docs
                        .first()
                        .and_then(|d| doc_paths.get(d))
                        .map(|p| (*p).to_owned()),
                });
            }
            if let Some(rank) = found {
                if rank == 0 {
                    hit1 += 1;
                }
                if rank < 5 {
                    hit5 += 1;
                }
                if rank < 10 {
                    #[allow(clippy::cast_precision_loss)]
                    let r = 1.0 / (rank + 1) as f64;
                    rr += r;
                }
            }
            if retrieval.citations.iter().take(5).any(|c| {
                answers
                    .iter()
                    .any(|a| !a.is_empty() && c.text.contains(a.as_str()))
            }) {
                in_top5 += 1;
            }
            if options.generate {
                let answer = self
                    .ask(
                        AskRequest {
                            kb_id,
                            question: question.clone(),
                            mode: options.mode,
                            ..AskRequest::default()
                        },
                        &|_| {},
                        CancellationToken::new(),
                    )
                    .await?;
                self.delete_conversation(answer.conversation_id).await?;
                if answer.mode == Some(AnswerMode::Generated) && answer.error.is_none() {
                    generated += 1;
                    let prediction = strip_citations(&answer.content);
                    let (e, f) = best_scores(&prediction, answers);
                    em += e;
                    f1 += f;
                    if answers
                        .iter()
                        .any(|a| normalize(&prediction).contains(&normalize(a)))
                    {
                        contains += 1;
                    }
                }
            }
            progress(i + 1, total);
        }
        #[allow(clippy::cast_precision_loss)]
        let share = |n: f64| if total == 0 { 0.0 } else { n / total as f64 };
        #[allow(clippy::cast_precision_loss)]
        let answers = options.generate.then(|| AnswerScores {
            exact_match: share(em),
            f1: share(f1),
            contains: share(contains as f64),
            generated,
        });
        times.sort_by(f64::total_cmp);
        #[allow(clippy::cast_precision_loss)]
        Ok(EvalReport {
            file: file.display().to_string(),
            mode: options.mode,
            stages,
            documents: contexts.len(),
            questions: total,
            hit_at_1: share(hit1 as f64),
            hit_at_5: share(hit5 as f64),
            mrr_at_10: share(rr),
            answer_in_top_5: share(in_top5 as f64),
            median_ms: times.get(times.len() / 2).copied().unwrap_or(0.0),
            answers,
            misses,
        })
    }
}

fn strip_citations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_bracket = false;
    for c in text.chars() {
        match c {
            '[' => in_bracket = true,
            ']' if in_bracket => in_bracket = false,
            _ if in_bracket => {}
            _ => out.push(c),
        }
    }
    out
}

/// Lower case, no whitespace, no punctuation (CMRC's normalisation).
fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation() && !is_cjk_punctuation(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_cjk_punctuation(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303F}' | '\u{FF00}'..='\u{FF0F}' | '\u{FF1A}'..='\u{FF20}'
        | '\u{FF3B}'..='\u{FF40}' | '\u{FF5B}'..='\u{FF65}' | '“' | '”' | '‘' | '’' | '…' | '—' | '·')
}

/// Exact match and character F1 of a prediction against the best gold answer.
fn best_scores(prediction: &str, answers: &[String]) -> (f64, f64) {
    let p: Vec<char> = normalize(prediction).chars().collect();
    let mut best = (0.0f64, 0.0f64);
    for a in answers {
        let g: Vec<char> = normalize(a).chars().collect();
        let em = if p == g { 1.0 } else { 0.0 };
        let f = char_f1(&p, &g);
        best = (best.0.max(em), best.1.max(f));
    }
    best
}

/// F1 over the longest common substring (CMRC 2018's official metric).
fn char_f1(prediction: &[char], gold: &[char]) -> f64 {
    if prediction.is_empty() || gold.is_empty() {
        return 0.0;
    }
    let mut longest = 0usize;
    let mut prev = vec![0usize; gold.len() + 1];
    for p in prediction {
        let mut cur = vec![0usize; gold.len() + 1];
        for (j, g) in gold.iter().enumerate() {
            if p == g {
                cur[j + 1] = prev[j] + 1;
                longest = longest.max(cur[j + 1]);
            }
        }
        prev = cur;
    }
    if longest == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let (precision, recall) = (
        longest as f64 / prediction.len() as f64,
        longest as f64 / gold.len() as f64,
    );
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmrc_style_scores() {
        let gold = vec!["踢爆".to_owned()];
        assert_eq!(best_scores("踢爆。", &gold), (1.0, 1.0));
        let (em, f1) = best_scores("算为踢爆", &gold);
        assert!(em.abs() < f64::EPSILON);
        assert!((f1 - 2.0 * 0.5 * 1.0 / 1.5).abs() < 1e-9, "{f1}");
        assert_eq!(best_scores("无关", &gold), (0.0, 0.0));
        assert_eq!(strip_citations("即为踢爆[1]。[2, 3]"), "即为踢爆。");
    }
}
