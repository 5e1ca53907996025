//! Grounded questions and answers: retrieval (keyword, vectors, fusion, rerank), a token-budgeted
//! prompt, streamed generation, and conversations persisted with their citations.
//!
//! Without a chat model the answer is the best passages, labelled as such; without anything
//! found it says so instead of inventing an answer.

pub mod markdown;
pub mod prompt;
pub mod retrieve;
mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::catalogue::{file_name, Document, Hit, SearchFilter};
use crate::error::CoreError;
use crate::Library;
use prompt::{Budget, Language, PromptMessage, TokenRatio};
use retrieve::{Candidate, Passage};
pub use retrieve::{RetrievalMode, RetrievalSettings};

/// Longest question accepted, in characters.
pub const MAX_QUESTION_CHARS: usize = 4000;
/// Passages shown when there is no model to write an answer.
const RETRIEVAL_ONLY_PASSAGES: usize = 5;
/// Context window assumed when a model does not say.
const DEFAULT_CONTEXT_TOKENS: usize = 4096;
/// How often the streaming answer is re-rendered to HTML for the window.
const RENDER_EVERY: Duration = Duration::from_millis(80);

/// What answers need to know of a chat model to budget its prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatModelInfo {
    /// The model's name (its tokenizer family is guessed from it).
    pub name: String,
    /// Its context window in tokens, when known.
    pub context_tokens: Option<usize>,
}

/// A model that writes answers: Xinference's chat endpoint in the app, anything in tests.
pub trait ChatModel: Send + Sync {
    /// Name and context window (may ask the server once).
    fn info(&self) -> BoxFuture<'_, ChatModelInfo>;
    /// Streams the reply to `messages` as text pieces; stops when `cancel` fires or the stream
    /// is dropped.
    fn stream(
        &self,
        messages: Vec<PromptMessage>,
        max_tokens: u32,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<String, CoreError>>, CoreError>>;
}

/// A question to answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct AskRequest {
    /// Knowledge base to answer from.
    #[specta(type = i32)]
    pub kb_id: i64,
    /// The question.
    pub question: String,
    /// Continue this conversation; a new one is started when absent.
    #[specta(type = Option<i32>)]
    pub conversation_id: Option<i64>,
    /// Limits on which documents may be cited.
    pub filter: SearchFilter,
    /// Retrieval stages to use.
    pub mode: RetrievalMode,
    /// Candidates per stage; defaults when absent.
    pub settings: Option<RetrievalSettings>,
}

/// One source an answer may cite: a passage of a document with its exact span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Citation {
    /// The number the answer cites it by: `[n]`.
    pub n: u32,
    /// Document id.
    #[specta(type = i32)]
    pub document_id: i64,
    /// Chunks the passage is made of.
    #[specta(type = Vec<i32>)]
    pub chunk_ids: Vec<i64>,
    /// Path of the document.
    pub path: String,
    /// Display name (title when the document has one, else file name).
    pub name: String,
    /// Page, slide or sheet number.
    pub page: Option<u32>,
    /// Headings the passage sits under, outermost first.
    pub heading_path: Vec<String>,
    /// Span in the document's extracted text (characters).
    #[specta(type = i32)]
    pub start_char: i64,
    /// End of the span (exclusive).
    #[specta(type = i32)]
    pub end_char: i64,
    /// The passage.
    pub text: String,
    /// Relevance after fusion (and rerank, when used); higher is better.
    pub score: f64,
    /// Rank in keyword search (1 = best), when found there.
    pub keyword_rank: Option<u32>,
    /// Rank in vector search, when found there.
    pub vector_rank: Option<u32>,
    /// Score from the rerank model, when one ran.
    pub rerank_score: Option<f64>,
}

impl Citation {
    fn from_passage(n: u32, p: Passage) -> Self {
        let name = p
            .hit
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| file_name(&p.hit.path));
        Self {
            n,
            document_id: p.hit.document_id,
            chunk_ids: p.chunk_ids,
            path: p.hit.path,
            name,
            page: p.hit.page,
            heading_path: p.hit.heading_path,
            start_char: p.hit.start_char,
            end_char: p.hit.end_char,
            text: p.hit.text,
            score: p.score,
            keyword_rank: p.keyword_rank,
            vector_rank: p.vector_rank,
            rerank_score: p.rerank_score,
        }
    }
}

/// What retrieval found and which stages ran.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Retrieval {
    /// Passages, best first, numbered from 1.
    pub citations: Vec<Citation>,
    /// Keyword search ran.
    pub keyword: bool,
    /// Vector search ran.
    pub vector: bool,
    /// The rerank model ran.
    pub rerank: bool,
}

/// How an answer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum AnswerMode {
    /// Written by the chat model from the cited passages.
    Generated,
    /// No chat model: the answer is the best passages.
    RetrievalOnly,
    /// Nothing relevant was found.
    NoPassages,
}

impl AnswerMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Generated => "generated",
            Self::RetrievalOnly => "retrieval_only",
            Self::NoPassages => "no_passages",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "generated" => Some(Self::Generated),
            "retrieval_only" => Some(Self::RetrievalOnly),
            "no_passages" => Some(Self::NoPassages),
            _ => None,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person asking.
    User,
    /// LexiNaut.
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// Whether a message is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Finished normally.
    Complete,
    /// The model failed part-way; the text so far is kept and `error` says why.
    Partial,
    /// The model failed before writing anything.
    Failed,
    /// Stopped by the user.
    Cancelled,
}

impl MessageStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "partial" => Self::Partial,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Complete,
        }
    }
}

/// A message of a conversation.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct ChatMessage {
    /// Stable id.
    #[specta(type = i32)]
    pub id: i64,
    /// Conversation it belongs to.
    #[specta(type = i32)]
    pub conversation_id: i64,
    /// Who wrote it.
    pub role: Role,
    /// Markdown text.
    pub content: String,
    /// `content` rendered to safe HTML (answers only).
    pub html: String,
    /// How an answer was made.
    pub mode: Option<AnswerMode>,
    /// Whether it is whole.
    pub status: MessageStatus,
    /// What went wrong, for partial and failed answers.
    pub error: Option<String>,
    /// Sources the answer may cite.
    pub citations: Vec<Citation>,
    /// The standalone query a follow-up was condensed into for retrieval.
    pub retrieval_query: Option<String>,
    /// Time written, unix milliseconds.
    #[specta(type = f64)]
    pub created_at: i64,
}

/// A conversation in a knowledge base.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct Conversation {
    /// Stable id.
    #[specta(type = i32)]
    pub id: i64,
    /// Knowledge base.
    #[specta(type = i32)]
    pub kb_id: i64,
    /// Title (the first question, until renamed).
    pub title: String,
    /// Started, unix milliseconds.
    #[specta(type = f64)]
    pub created_at: i64,
    /// Last message, unix milliseconds.
    #[specta(type = f64)]
    pub updated_at: i64,
    /// Messages in it.
    #[specta(type = i32)]
    pub message_count: i64,
}

/// What a streaming answer reports, in order: `Started` once, then `Token`s and `Rendered`
/// snapshots, then `Finished` with the stored message.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatEvent {
    /// Retrieval is done; the answer starts.
    Started {
        /// The conversation (new or continued).
        conversation: Conversation,
        /// The stored question.
        question: ChatMessage,
        /// Standalone query used for retrieval (differs from the question for follow-ups).
        retrieval_query: String,
        /// How the answer will be made.
        mode: AnswerMode,
        /// Sources the answer may cite.
        citations: Vec<Citation>,
    },
    /// The sources changed before any text was written: the prompt was too long for the
    /// model and was rebuilt with fewer passages.
    Sources {
        /// Sources the answer may cite now.
        citations: Vec<Citation>,
    },
    /// A piece of the answer's text.
    Token {
        /// The new text.
        text: String,
    },
    /// The answer so far, rendered to safe HTML (at most every 80 ms, and at the end).
    Rendered {
        /// The HTML.
        html: String,
    },
    /// The answer as stored (complete, partial, failed or cancelled).
    Finished {
        /// The stored answer.
        message: ChatMessage,
    },
}

/// A stretch of a document's text around a cited span, for the source viewer.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SourceView {
    /// The document.
    pub document: Document,
    /// The page shown, for paged documents.
    pub page: Option<u32>,
    /// The text shown: the whole page, or a window around the span.
    pub text: String,
    /// Offset of `text` in the document's extracted text (characters).
    #[specta(type = i32)]
    pub text_start: i64,
    /// Start of the cited span within `text` (characters).
    #[specta(type = i32)]
    pub highlight_start: i64,
    /// End of the cited span within `text` (characters, exclusive).
    #[specta(type = i32)]
    pub highlight_end: i64,
    /// Text of the document exists before `text`.
    pub more_before: bool,
    /// Text of the document exists after `text`.
    pub more_after: bool,
}

/// Characters shown on each side of a span in a document without pages.
const VIEW_CONTEXT_CHARS: i64 = 3000;

impl Library {
    /// The chat model answers are written with, when one is configured.
    pub(crate) fn chat_model(&self) -> Option<Arc<dyn ChatModel>> {
        self.chat_model
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Finds the passages for a query: keyword and vector search (when configured) in parallel,
    /// fused by reciprocal rank, reranked when a rerank model is configured, neighbours merged.
    #[instrument(skip(self, filter), err)]
    pub async fn retrieve(
        &self,
        kb_id: i64,
        query: &str,
        filter: &SearchFilter,
        mode: RetrievalMode,
        settings: RetrievalSettings,
    ) -> Result<Retrieval, CoreError> {
        self.catalogue.kb(kb_id).await?;
        let want_keyword = !matches!(mode, RetrievalMode::Vector);
        let want_vector = !matches!(mode, RetrievalMode::Keyword);
        let keyword = async {
            if want_keyword {
                let k = settings.keyword_k.clamp(1, crate::MAX_SEARCH_K);
                self.search_with(kb_id, query, k, filter).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let vector = async {
            if want_vector {
                self.vector_search(
                    kb_id,
                    query,
                    settings.vector_k.clamp(1, crate::MAX_SEARCH_K),
                    filter,
                )
                .await
            } else {
                Ok(None)
            }
        };
        let (keyword, vector) = tokio::join!(keyword, vector);
        let keyword = keyword?;
        let vector = match (vector, mode) {
            (Ok(v), _) => v,
            // Auto degrades to keyword search when the vector backends fail; an explicit
            // vector mode reports the failure.
            (Err(e), RetrievalMode::Auto) => {
                tracing::warn!(error = %e, "vector retrieval failed; answering from keyword search");
                None
            }
            (Err(e), _) => return Err(e),
        };
        if vector.is_none()
            && matches!(
                mode,
                RetrievalMode::Vector | RetrievalMode::Hybrid | RetrievalMode::HybridRerank
            )
        {
            return Err(CoreError::InvalidInput(
                "vector retrieval needs an embedding model and a vector store (Xinference and Chroma)".into(),
            ));
        }
        let used_keyword = keyword.is_some();
        let used_vector = vector.is_some();
        let keyword = keyword.unwrap_or_default();
        let scores = |hits: &[Hit]| hits.iter().map(|h| h.score).collect::<Vec<_>>();
        let keyword_confidence = retrieve::confidence(&scores(&keyword), None);
        let (vector, vector_confidence) = match vector {
            Some(found) if !found.hits.is_empty() => {
                let confidence = retrieve::confidence(&scores(&found.hits), Some(1.0));
                let reliability = if used_keyword {
                    self.calibrate_vectors(kb_id, &found, &keyword, keyword_confidence)
                        .await?
                } else {
                    1.0
                };
                (found.hits, confidence * reliability)
            }
            _ => (Vec::new(), 0.0),
        };
        let weights = retrieve::weights(keyword_confidence, vector_confidence);
        tracing::debug!(
            keyword_confidence,
            vector_confidence,
            keyword = weights.0,
            vector = weights.1,
            "fusion weights"
        );
        let sure_first = keyword
            .first()
            .filter(|_| keyword_confidence >= crate::vectors::SURE_KEYWORD)
            .map(|h| h.document_id);
        let mut candidates = retrieve::dedupe(retrieve::fuse(keyword, vector, weights));
        let mut used_rerank = false;
        if matches!(mode, RetrievalMode::Auto | RetrievalMode::HybridRerank) {
            candidates.truncate(settings.rerank_k.max(settings.final_k) as usize);
            let before = candidates.clone();
            let explicit = mode == RetrievalMode::HybridRerank;
            match self
                .rerank(kb_id, query, candidates, sure_first, explicit)
                .await
            {
                Ok((reranked, ran)) => {
                    candidates = reranked;
                    used_rerank = ran;
                }
                // Auto keeps the fused order when the rerank model fails.
                Err(e) if mode == RetrievalMode::Auto => {
                    tracing::warn!(error = %e, "rerank failed; keeping the fused order");
                    candidates = before;
                }
                Err(e) => return Err(e),
            }
            if !used_rerank && mode == RetrievalMode::HybridRerank {
                return Err(CoreError::InvalidInput(
                    "rerank needs a rerank model (LEXINAUT_RERANK_MODEL)".into(),
                ));
            }
        }
        candidates.truncate(settings.final_k.max(1) as usize);
        let citations = retrieve::merge_neighbours(candidates)
            .into_iter()
            .zip(1u32..)
            .map(|(p, n)| Citation::from_passage(n, p))
            .collect();
        Ok(Retrieval {
            citations,
            keyword: used_keyword,
            vector: used_vector,
            rerank: used_rerank,
        })
    }

    /// The embedding model's measured reliability in this knowledge base (see
    /// [`crate::vectors::Reliability`]), counting this question as a check of it when keyword
    /// search is sure of its first document.
    async fn calibrate_vectors(
        &self,
        kb_id: i64,
        found: &crate::vectors::VectorHits,
        keyword: &[Hit],
        keyword_confidence: f64,
    ) -> Result<f64, CoreError> {
        let reliability = self.vector_reliability(kb_id, &found.model).await?;
        if keyword_confidence >= crate::vectors::SURE_KEYWORD {
            if let (Some(k), Some(v)) = (keyword.first(), found.hits.first()) {
                self.record_vector_agreement(kb_id, &found.model, k.document_id == v.document_id)
                    .await?;
            }
        }
        Ok(reliability.estimate())
    }

    /// Reranks candidates with the rerank model, when one is configured; returns them and
    /// whether the model ran.
    ///
    /// The model's order is used only while it proves reliable in this knowledge base (see
    /// [`crate::vectors::RERANK_TRUST`]): `sure_first` is keyword search's first document when
    /// keyword search was sure of it, and each such question checks the model.
    ///
    /// Unless `explicit` (the caller asked for reranking), a model measured as unreliable is not
    /// asked where its order would be set aside anyway: its latency (over a second a question for
    /// a small cross-encoder on this CPU, against 70 ms for the whole hybrid retrieval) buys
    /// nothing. It is still asked by the questions that check it again, all of them until
    /// [`RERANK_SETTLED`] checks, then one in [`RERANK_RECHECK_EVERY`] (the knowledge base's
    /// content changes, and the model's agreement with it may too).
    async fn rerank(
        &self,
        kb_id: i64,
        query: &str,
        candidates: Vec<Candidate>,
        sure_first: Option<i64>,
        explicit: bool,
    ) -> Result<(Vec<Candidate>, bool), CoreError> {
        let Some(model) = self.backends().rerank_model else {
            return Ok((candidates, false));
        };
        // Measured before this question counts: one read of the measure a question.
        let reliability = self.rerank_reliability(kb_id, &model).await?;
        let trusted = reliability.estimate() >= crate::vectors::RERANK_TRUST;
        if !explicit && !trusted {
            let recheck =
                sure_first.is_some() && (reliability.checks < RERANK_SETTLED || rechecks(query));
            if !recheck {
                return Ok((candidates, false));
            }
        }
        let fallback = candidates.clone();
        let Some((model, reranked)) = self.rerank_candidates(query, candidates).await? else {
            return Ok((fallback, false));
        };
        if let Some(agreed) = sure_first
            .zip(reranked.first())
            .map(|(doc, top)| top.hit.document_id == doc)
        {
            self.record_rerank_check(kb_id, &model, agreed).await?;
        }
        if trusted {
            return Ok((reranked, true));
        }
        tracing::debug!(
            model,
            checks = reliability.checks,
            agreements = reliability.agreements,
            "rerank model unreliable here; keeping the fused order"
        );
        // The fused order, with the scores the model gave.
        let scores: std::collections::HashMap<i64, Option<f64>> = reranked
            .iter()
            .map(|c| (c.hit.chunk_id, c.rerank_score))
            .collect();
        let kept = fallback
            .into_iter()
            .map(|mut c| {
                c.rerank_score = scores.get(&c.hit.chunk_id).copied().flatten();
                c
            })
            .collect();
        Ok((kept, true))
    }

    /// Answers a question from a knowledge base, streaming `ChatEvent`s to `on_event`, and
    /// stores the question and the answer in a conversation. A model failing part-way or a
    /// cancel keeps the partial answer (status `partial`/`cancelled`); errors before the answer
    /// starts (unknown knowledge base, empty question) are returned.
    #[instrument(skip_all, fields(kb_id = req.kb_id), err)]
    pub async fn ask(
        &self,
        req: AskRequest,
        on_event: &(dyn Fn(ChatEvent) + Send + Sync),
        cancel: CancellationToken,
    ) -> Result<ChatMessage, CoreError> {
        let question = req.question.trim();
        if question.is_empty() {
            return Err(CoreError::InvalidInput("the question is empty".into()));
        }
        if question.chars().count() > MAX_QUESTION_CHARS {
            return Err(CoreError::InvalidInput(format!(
                "the question is longer than {MAX_QUESTION_CHARS} characters"
            )));
        }
        self.catalogue.kb(req.kb_id).await?;
        let pool = &self.catalogue.pool;
        let conversation = match req.conversation_id {
            Some(id) => {
                let c = store::get(pool, id).await?;
                if c.kb_id != req.kb_id {
                    return Err(CoreError::InvalidInput(format!(
                        "conversation {id} belongs to another knowledge base"
                    )));
                }
                c
            }
            None => store::create(pool, req.kb_id, &title_of(question)).await?,
        };
        let history = store::messages(pool, conversation.id).await?;
        let lang = prompt::detect_language(question);
        let model = self.chat_model();

        let user = store::insert(
            &self.catalogue,
            store::NewMessage {
                conversation_id: conversation.id,
                role: Role::User,
                content: question,
                mode: None,
                status: MessageStatus::Complete,
                error: None,
                citations: &[],
                retrieval_query: None,
            },
        )
        .await?;

        let history: Vec<PromptMessage> = history
            .iter()
            .filter(|m| m.status == MessageStatus::Complete || m.role == Role::User)
            .map(|m| PromptMessage::new(m.role.as_str(), m.content.clone()))
            .collect();
        let retrieval_query = match (&model, history.is_empty()) {
            (Some(model), false) => {
                condense(model.as_ref(), &history, question, lang, &cancel).await
            }
            _ => question.to_owned(),
        };
        let settings = req.settings.unwrap_or_default();
        let retrieval = self
            .retrieve(req.kb_id, &retrieval_query, &req.filter, req.mode, settings)
            .await?;

        let (mode, citations) = match (&model, retrieval.citations.is_empty()) {
            (_, true) => (AnswerMode::NoPassages, Vec::new()),
            (None, false) => {
                let mut c = retrieval.citations;
                c.truncate(RETRIEVAL_ONLY_PASSAGES);
                (AnswerMode::RetrievalOnly, c)
            }
            (Some(_), false) => (AnswerMode::Generated, retrieval.citations),
        };
        let conversation = store::get(pool, conversation.id).await?;

        let mut status = MessageStatus::Complete;
        let mut error = None;
        let (content, citations) = match (mode, &model) {
            (AnswerMode::Generated, Some(model)) => {
                let info = model.info().await;
                let ratio = TokenRatio::for_model(&info.name);
                let mut context = info.context_tokens.unwrap_or(DEFAULT_CONTEXT_TOKENS);
                let system = prompt::system_prompt(lang);
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let budget = Budget::for_context(context);
                    let history = fit_history(&history, budget.context / 4, ratio);
                    let fixed = ratio.estimate(system)
                        + ratio.estimate(question)
                        + history
                            .iter()
                            .map(|m| ratio.estimate(&m.content))
                            .sum::<usize>()
                        + 32;
                    // Renumbered 1..n: the model and the reader see the sources it was given.
                    let chosen: Vec<Citation> = prompt::pack(&citations, fixed, budget, ratio)
                        .into_iter()
                        .cloned()
                        .zip(1u32..)
                        .map(|(c, n)| Citation { n, ..c })
                        .collect();
                    if attempt == 1 {
                        on_event(ChatEvent::Started {
                            conversation: conversation.clone(),
                            question: user.clone(),
                            retrieval_query: retrieval_query.clone(),
                            mode,
                            citations: chosen.clone(),
                        });
                    } else {
                        on_event(ChatEvent::Sources {
                            citations: chosen.clone(),
                        });
                    }
                    let sources: Vec<&Citation> = chosen.iter().collect();
                    let mut messages = vec![PromptMessage::new("system", system)];
                    messages.extend(history);
                    messages.push(PromptMessage::new(
                        "user",
                        prompt::grounded_question(question, &sources, lang),
                    ));
                    let max_tokens = u32::try_from(budget.answer).unwrap_or(1024);
                    let (text, outcome) =
                        stream_answer(model.as_ref(), messages, max_tokens, on_event, &cancel)
                            .await;
                    match outcome {
                        StreamOutcome::Done => {}
                        StreamOutcome::Cancelled => status = MessageStatus::Cancelled,
                        // The server's real window is smaller than it says (llama.cpp splits
                        // it between parallel slots): try again with fewer passages.
                        StreamOutcome::Failed(e)
                            if text.is_empty() && attempt < 4 && is_context_overflow(&e) =>
                        {
                            tracing::warn!(context, error = %e, "prompt too long for the model; retrying with fewer passages");
                            context = context * 3 / 5;
                            continue;
                        }
                        StreamOutcome::Failed(e) => {
                            status = if text.is_empty() {
                                MessageStatus::Failed
                            } else {
                                MessageStatus::Partial
                            };
                            error = Some(e.to_string());
                        }
                    }
                    break (text, chosen);
                }
            }
            _ => {
                on_event(ChatEvent::Started {
                    conversation: conversation.clone(),
                    question: user.clone(),
                    retrieval_query: retrieval_query.clone(),
                    mode,
                    citations: citations.clone(),
                });
                let text = if mode == AnswerMode::NoPassages {
                    prompt::no_passages_answer(lang)
                } else {
                    prompt::retrieval_only_answer(&citations, lang)
                };
                on_event(ChatEvent::Token { text: text.clone() });
                (text, citations)
            }
        };
        let mut message = store::insert(
            &self.catalogue,
            store::NewMessage {
                conversation_id: conversation.id,
                role: Role::Assistant,
                content: &content,
                mode: Some(mode),
                status,
                error: error.as_deref(),
                citations: &citations,
                retrieval_query: (retrieval_query != question).then_some(retrieval_query.as_str()),
            },
        )
        .await?;
        message.html = markdown::render(&message.content);
        on_event(ChatEvent::Rendered {
            html: message.html.clone(),
        });
        on_event(ChatEvent::Finished {
            message: message.clone(),
        });
        Ok(message)
    }

    /// Asks the last question of a conversation again, replacing its answer.
    pub async fn regenerate(
        &self,
        conversation_id: i64,
        on_event: &(dyn Fn(ChatEvent) + Send + Sync),
        cancel: CancellationToken,
    ) -> Result<ChatMessage, CoreError> {
        let conversation = store::get(&self.catalogue.pool, conversation_id).await?;
        let question = store::pop_last_exchange(&self.catalogue, conversation_id).await?;
        self.ask(
            AskRequest {
                kb_id: conversation.kb_id,
                question,
                conversation_id: Some(conversation_id),
                ..AskRequest::default()
            },
            on_event,
            cancel,
        )
        .await
    }

    /// Conversations of a knowledge base, most recent first.
    pub async fn conversations(&self, kb_id: i64) -> Result<Vec<Conversation>, CoreError> {
        self.catalogue.kb(kb_id).await?;
        store::list(&self.catalogue.pool, kb_id).await
    }

    /// The messages of a conversation, answers rendered to HTML.
    pub async fn conversation_messages(
        &self,
        conversation_id: i64,
    ) -> Result<Vec<ChatMessage>, CoreError> {
        store::get(&self.catalogue.pool, conversation_id).await?;
        let mut messages = store::messages(&self.catalogue.pool, conversation_id).await?;
        for m in &mut messages {
            if m.role == Role::Assistant {
                m.html = markdown::render(&m.content);
            }
        }
        Ok(messages)
    }

    /// Renames a conversation.
    pub async fn rename_conversation(
        &self,
        conversation_id: i64,
        title: &str,
    ) -> Result<Conversation, CoreError> {
        store::rename(&self.catalogue.pool, conversation_id, title).await
    }

    /// Deletes a conversation and its messages.
    pub async fn delete_conversation(&self, conversation_id: i64) -> Result<(), CoreError> {
        store::delete(&self.catalogue.pool, conversation_id).await
    }

    /// A conversation as a Markdown document: questions, answers and their sources.
    pub async fn export_conversation(&self, conversation_id: i64) -> Result<String, CoreError> {
        let conversation = store::get(&self.catalogue.pool, conversation_id).await?;
        let messages = store::messages(&self.catalogue.pool, conversation_id).await?;
        Ok(export_markdown(&conversation, &messages))
    }

    /// Writes a conversation as Markdown to `path` (the export dialog's choice).
    pub async fn export_conversation_to(
        &self,
        conversation_id: i64,
        path: &std::path::Path,
    ) -> Result<(), CoreError> {
        let markdown = self.export_conversation(conversation_id).await?;
        tokio::fs::write(path, markdown)
            .await
            .map_err(|source| CoreError::Io {
                path: path.to_owned(),
                source,
            })
    }

    /// The text around a cited span, for the source viewer: the whole page for paged
    /// documents, else a window of a few thousand characters.
    pub async fn source_view(
        &self,
        document_id: i64,
        start_char: i64,
        end_char: i64,
    ) -> Result<SourceView, CoreError> {
        if start_char < 0 || end_char < start_char {
            return Err(CoreError::InvalidInput(format!(
                "bad span {start_char}..{end_char}"
            )));
        }
        let document = self.catalogue.document(document_id).await?;
        let chunks = self.catalogue.document_chunks(document_id).await?;
        let page = chunks
            .iter()
            .find(|c| c.start_char <= start_char && start_char < c.end_char.max(c.start_char + 1))
            .and_then(|c| c.page);
        let shown: Vec<&Hit> = match page {
            Some(p) => chunks.iter().filter(|c| c.page == Some(p)).collect(),
            None => chunks
                .iter()
                .filter(|c| {
                    c.end_char > start_char - VIEW_CONTEXT_CHARS
                        && c.start_char < end_char + VIEW_CONTEXT_CHARS
                })
                .collect(),
        };
        let (text, text_start) = stitch(&shown);
        let text_len = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
        let last_end = chunks.last().map_or(0, |c| c.end_char);
        Ok(SourceView {
            page,
            more_before: text_start > 0,
            more_after: text_start + text_len < last_end,
            highlight_start: (start_char - text_start).clamp(0, text_len),
            highlight_end: (end_char - text_start).clamp(0, text_len),
            text,
            text_start,
            document,
        })
    }
}
/// Checks after which a rerank model measured as unreliable is only sampled (see `rerank`).
const RERANK_SETTLED: i64 = 20;

/// One question in this many rechecks a rerank model measured as unreliable, once settled.
const RERANK_RECHECK_EVERY: u64 = 10;

/// Whether `query` is one of the questions that recheck a settled, unreliable rerank model: a
/// fixed share of distinct questions, the same answer for the same question.
fn rechecks(query: &str) -> bool {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same on every run.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    query.trim().hash(&mut h);
    h.finish().is_multiple_of(RERANK_RECHECK_EVERY)
}

/// Joins chunks (in document order, possibly overlapping) back into the text they were cut
/// from; gaps (whitespace the chunker dropped) become spaces so offsets stay exact.
fn stitch(chunks: &[&Hit]) -> (String, i64) {
    let Some(first) = chunks.first() else {
        return (String::new(), 0);
    };
    let start = first.start_char;
    let mut text = String::new();
    let mut cursor = start;
    for c in chunks {
        if c.end_char <= cursor {
            continue;
        }
        if c.start_char > cursor {
            text.extend(std::iter::repeat_n(
                ' ',
                usize::try_from(c.start_char - cursor).unwrap_or(0),
            ));
            cursor = c.start_char;
        }
        let skip = usize::try_from(cursor - c.start_char).unwrap_or(0);
        text.extend(c.text.chars().skip(skip));
        cursor = c.end_char;
    }
    (text, start)
}

fn title_of(question: &str) -> String {
    let line = question.lines().next().unwrap_or(question).trim();
    let mut title: String = line.chars().take(40).collect();
    if line.chars().count() > 40 {
        title.push('…');
    }
    title
}

/// The most recent messages of the history that fit `budget` tokens, whole, in order.
fn fit_history(history: &[PromptMessage], budget: usize, ratio: TokenRatio) -> Vec<PromptMessage> {
    let mut left = budget;
    let mut kept = Vec::new();
    for m in history.iter().rev() {
        let cost = ratio.estimate(&m.content) + 4;
        if cost > left {
            break;
        }
        left -= cost;
        kept.push(m.clone());
    }
    kept.reverse();
    kept
}

/// Turns a follow-up into a standalone query with the chat model; on any failure the question
/// itself is used (retrieval still works, only less well for pronouns).
async fn condense(
    model: &dyn ChatModel,
    history: &[PromptMessage],
    question: &str,
    lang: Language,
    cancel: &CancellationToken,
) -> String {
    let ratio = TokenRatio::for_model(&model.info().await.name);
    let recent = fit_history(history, 1500, ratio);
    let prompt = prompt::condense_prompt(&recent, question, lang);
    let result = tokio::time::timeout(Duration::from_secs(60), async {
        let mut stream = model
            .stream(
                vec![PromptMessage::new("user", prompt)],
                128,
                cancel.child_token(),
            )
            .await?;
        let mut out = String::new();
        while let Some(piece) = stream.next().await {
            out.push_str(&piece?);
        }
        Ok::<_, CoreError>(out)
    })
    .await;
    match result {
        Ok(Ok(text)) if !text.trim().is_empty() => {
            let text = text
                .trim()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            if text.is_empty() {
                question.to_owned()
            } else {
                text
            }
        }
        Ok(Ok(_)) => question.to_owned(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not condense the follow-up; retrieving with it as asked");
            question.to_owned()
        }
        Err(_) => {
            tracing::warn!("condensing the follow-up timed out; retrieving with it as asked");
            question.to_owned()
        }
    }
}

/// Whether a model may have refused the prompt for its length: the wording of llama.cpp, vLLM
/// and OpenAI-style servers, or an in-stream error before any text (Xinference hides the
/// reason of llama.cpp's refusal behind "The chat completion request failed").
fn is_context_overflow(e: &CoreError) -> bool {
    let message = e.to_string().to_lowercase();
    message.contains("context size")
        || message.contains("context length")
        || message.contains("context window")
        || message.contains("maximum context")
        || matches!(
            e,
            CoreError::Backend(crate::backends::BackendError::Stream { .. })
        )
}

enum StreamOutcome {
    Done,
    Cancelled,
    Failed(CoreError),
}

/// Streams the model's answer to `on_event`, re-rendering the HTML at most every 80 ms.
async fn stream_answer(
    model: &dyn ChatModel,
    messages: Vec<PromptMessage>,
    max_tokens: u32,
    on_event: &(dyn Fn(ChatEvent) + Send + Sync),
    cancel: &CancellationToken,
) -> (String, StreamOutcome) {
    let mut text = String::new();
    let mut stream = match model
        .stream(messages, max_tokens, cancel.child_token())
        .await
    {
        Ok(s) => s,
        Err(e) => return (text, StreamOutcome::Failed(e)),
    };
    let mut last_render = Instant::now();
    loop {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => return (text, StreamOutcome::Cancelled),
            next = stream.next() => next,
        };
        match next {
            None => return (text, StreamOutcome::Done),
            Some(Err(e)) => return (text, StreamOutcome::Failed(e)),
            Some(Ok(piece)) => {
                if piece.is_empty() {
                    continue;
                }
                text.push_str(&piece);
                on_event(ChatEvent::Token { text: piece });
                if last_render.elapsed() >= RENDER_EVERY {
                    on_event(ChatEvent::Rendered {
                        html: markdown::render(&text),
                    });
                    last_render = Instant::now();
                }
            }
        }
    }
}

fn export_markdown(conversation: &Conversation, messages: &[ChatMessage]) -> String {
    let mut out = format!("# {}\n\n", conversation.title.trim());
    for m in messages {
        let lang = prompt::detect_language(&m.content);
        match m.role {
            Role::User => {
                out.push_str(match lang {
                    Language::Zh => "## 问\n\n",
                    Language::En => "## Question\n\n",
                });
                out.push_str(m.content.trim());
                out.push_str("\n\n");
            }
            Role::Assistant => {
                out.push_str(match lang {
                    Language::Zh => "## 答\n\n",
                    Language::En => "## Answer\n\n",
                });
                out.push_str(m.content.trim());
                out.push_str("\n\n");
                if let Some(e) = &m.error {
                    out.push_str(&format!("> ⚠ {e}\n\n"));
                }
                if !m.citations.is_empty() {
                    out.push_str(match lang {
                        Language::Zh => "**来源**\n\n",
                        Language::En => "**Sources**\n\n",
                    });
                    for c in &m.citations {
                        out.push_str(&format!(
                            "{}. {} — `{}` (chars {}–{})\n",
                            c.n,
                            prompt::source_label(c, lang),
                            c.path,
                            c.start_char,
                            c.end_char
                        ));
                    }
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(start: i64, text: &str, page: Option<u32>) -> Hit {
        Hit {
            path: "/d/a.txt".into(),
            title: None,
            format: None,
            document_id: 1,
            chunk_id: start,
            text: text.into(),
            score: 0.0,
            page,
            heading_path: Vec::new(),
            start_char: start,
            end_char: start + i64::try_from(text.chars().count()).unwrap_or(0),
        }
    }

    #[test]
    fn stitching_restores_offsets_across_overlaps_and_gaps() {
        // "甲乙丙丁" at 0, overlapping "丙丁戊" at 2, a dropped space at 5, "己庚" at 6.
        let a = chunk(0, "甲乙丙丁", None);
        let b = chunk(2, "丙丁戊", None);
        let c = chunk(6, "己庚", None);
        let (text, start) = stitch(&[&a, &b, &c]);
        assert_eq!(start, 0);
        assert_eq!(text, "甲乙丙丁戊 己庚");
        assert_eq!(text.chars().nth(6), Some('己'));
    }

    #[test]
    fn history_keeps_the_most_recent_messages_that_fit() {
        let ratio = TokenRatio::for_model("qwen");
        let history = vec![
            PromptMessage::new("user", "第一个问题".repeat(50)),
            PromptMessage::new("assistant", "回答一"),
            PromptMessage::new("user", "追问"),
        ];
        let kept = fit_history(&history, 40, ratio);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].content, "追问");
    }

    #[test]
    fn titles_are_the_first_line_cut_to_forty_characters() {
        assert_eq!(title_of("合同金额是多少？\n第二行"), "合同金额是多少？");
        assert_eq!(title_of(&"长".repeat(50)).chars().count(), 41);
    }

    #[test]
    fn a_settled_unreliable_reranker_is_rechecked_by_a_tenth_of_the_questions() {
        let asked = (0..2000)
            .filter(|i| rechecks(&format!("问题{i}：营业收入是多少？")))
            .count();
        assert!((100..=300).contains(&asked), "{asked} of 2000");
        // The same question gets the same answer (surrounding spaces aside).
        let q = "季度报告里的研发投入";
        assert_eq!(rechecks(q), rechecks(&format!("  {q} ")));
    }
}
