//! `ask` and `eval`: questions answered from a knowledge base (streamed to the terminal, or
//! as JSON), and retrieval/answer evaluation on SQuAD-format sets.

use std::io::Write;
use std::path::PathBuf;

use lexinaut_core::chat::{AskRequest, ChatEvent, ChatMessage, RetrievalMode};
use lexinaut_core::eval::{EvalOptions, EvalReport};
use lexinaut_core::{Library, SearchFilter};
use serde::Serialize;

/// Options of `lexinaut ask`.
pub struct AskArgs {
    pub question: String,
    pub kb: String,
    pub conversation: Option<i64>,
    pub stream: bool,
    pub json: bool,
    pub mode: RetrievalMode,
    pub formats: Vec<String>,
    pub folder: Option<String>,
}

/// `ask --json`: the answer and its citations.
#[derive(Serialize)]
struct AskOutput<'a> {
    answer: &'a str,
    mode: Option<lexinaut_core::chat::AnswerMode>,
    status: lexinaut_core::chat::MessageStatus,
    error: Option<&'a str>,
    conversation_id: i64,
    retrieval_query: Option<&'a str>,
    citations: &'a [lexinaut_core::chat::Citation],
}

pub async fn ask(lib: &Library, args: AskArgs) -> anyhow::Result<ChatMessage> {
    let kb = lib.kb_by_name(&args.kb).await?;
    let request = AskRequest {
        kb_id: kb.id,
        question: args.question,
        conversation_id: args.conversation,
        filter: SearchFilter {
            folder: args.folder,
            formats: args.formats,
            ..SearchFilter::default()
        },
        mode: args.mode,
        settings: None,
    };
    let (stream, json) = (args.stream, args.json);
    let on_event = move |event: ChatEvent| {
        let mut out = std::io::stdout().lock();
        // A closed stdout (piped into `head`) must not abort the answer being stored.
        let _ = match (&event, stream, json) {
            // JSON lines: every event as it happens.
            (_, true, true) => serde_json::to_writer(&mut out, &event)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out)),
            (ChatEvent::Token { text }, true, false) => {
                write!(out, "{text}").and_then(|()| out.flush())
            }
            _ => Ok(()),
        };
    };
    let message = lib
        .ask(request, &on_event, crate::cancel_on_ctrl_c())
        .await?;
    let mut out = std::io::stdout().lock();
    match (stream, json) {
        (true, true) => {}
        (_, true) => {
            serde_json::to_writer_pretty(
                &mut out,
                &AskOutput {
                    answer: &message.content,
                    mode: message.mode,
                    status: message.status,
                    error: message.error.as_deref(),
                    conversation_id: message.conversation_id,
                    retrieval_query: message.retrieval_query.as_deref(),
                    citations: &message.citations,
                },
            )?;
            writeln!(out)?;
        }
        (streamed, false) => {
            if streamed {
                writeln!(out)?;
            } else {
                writeln!(out, "{}", message.content.trim_end())?;
            }
            if let Some(e) = &message.error {
                writeln!(out, "\n[{:?}] {e}", message.status)?;
            }
            if !message.citations.is_empty() {
                writeln!(out, "\nSources:")?;
                for c in &message.citations {
                    let page = c.page.map(|p| format!(" p.{p}")).unwrap_or_default();
                    writeln!(
                        out,
                        "  [{}] {}{page}  chars {}..{}  score {:.4}",
                        c.n, c.path, c.start_char, c.end_char, c.score
                    )?;
                }
            }
            writeln!(out, "\n(conversation {})", message.conversation_id)?;
        }
    }
    Ok(message)
}

pub async fn eval(
    lib: &Library,
    kb: &str,
    file: PathBuf,
    options: EvalOptions,
    json: bool,
) -> anyhow::Result<EvalReport> {
    let kb = match lib.kb_by_name(kb).await {
        Ok(kb) => kb,
        Err(lexinaut_core::CoreError::NotFound(_)) => lib.create_kb(kb).await?,
        Err(e) => return Err(e.into()),
    };
    let progress = |done: usize, total: usize| {
        if done.is_multiple_of(100) || done == total {
            tracing::info!(done, total, "evaluating");
        }
    };
    let report = lib.evaluate(kb.id, &file, options, &progress).await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{} — {} questions over {} contexts, mode {:?} ({})",
            report.file,
            report.questions,
            report.documents,
            report.mode,
            report.stages.join("+")
        )?;
        writeln!(out, "hit@1      {:.3}", report.hit_at_1)?;
        writeln!(out, "hit@5      {:.3}", report.hit_at_5)?;
        writeln!(out, "MRR@10     {:.3}", report.mrr_at_10)?;
        writeln!(
            out,
            "answer@5   {:.3}  (gold answer text in the top 5 passages)",
            report.answer_in_top_5
        )?;
        writeln!(out, "median     {:.1} ms per question", report.median_ms)?;
        if let Some(a) = &report.answers {
            writeln!(
                out,
                "answers    EM {:.3}  F1 {:.3}  contains {:.3}  ({} generated)",
                a.exact_match, a.f1, a.contains, a.generated
            )?;
        }
    }
    Ok(report)
}
