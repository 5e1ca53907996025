//! What the CLI prints on stdout: JSON for scripts, short tables for people.

use std::io::Write;
use std::path::Path;

use lexinaut_core::backends::RunningModel;
use lexinaut_core::{
    DoctorReport, Document, Extracted, Hit, ImportJobs, ImportSummary, KnowledgeBase,
};
use serde::Serialize;

/// Writes `value` as pretty JSON and a newline to stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `extract --json`: the file, its text, and each page's text.
#[derive(Serialize)]
pub struct ExtractOutput<'a> {
    path: String,
    format: lexinaut_extract::Format,
    encoding: Option<&'a str>,
    text: &'a str,
    pages: Vec<PageOutput<'a>>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct PageOutput<'a> {
    number: u32,
    start: usize,
    end: usize,
    text: &'a str,
}

impl<'a> ExtractOutput<'a> {
    pub fn new(path: &Path, x: &'a Extracted) -> Self {
        let bounds: Vec<usize> = x
            .text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(x.text.len()))
            .collect();
        let slice = |s: usize, e: usize| {
            let s = bounds.get(s).copied().unwrap_or(x.text.len());
            let e = bounds.get(e).copied().unwrap_or(x.text.len());
            x.text.get(s..e).unwrap_or("")
        };
        Self {
            path: path.display().to_string(),
            format: x.format,
            encoding: x.encoding.as_deref(),
            text: &x.text,
            pages: x
                .pages
                .iter()
                .map(|p| PageOutput {
                    number: p.number,
                    start: p.start,
                    end: p.end,
                    text: slice(p.start, p.end),
                })
                .collect(),
            warnings: &x.warnings,
        }
    }
}

pub fn kb_table(kbs: &[KnowledgeBase]) {
    if kbs.is_empty() {
        println!("no knowledge bases yet: lexinaut kb create NAME");
    }
    for kb in kbs {
        println!("{:<24} {:>6} documents", kb.name, kb.document_count);
    }
}

pub fn models_table(models: &[RunningModel]) {
    if models.is_empty() {
        println!("no models running: lexinaut models launch NAME --type embedding|LLM|rerank");
    }
    for m in models {
        let size = match (m.dimensions, m.context_length) {
            (Some(d), _) => format!("{d} dims"),
            (None, Some(c)) => format!("{c} ctx"),
            (None, None) => String::new(),
        };
        println!(
            "{:<24} {:<10} {:<28} {:<22} {size}",
            m.uid,
            m.model_type,
            m.model_name,
            m.engine.as_deref().unwrap_or("")
        );
    }
}

pub fn docs_table(docs: &[Document]) {
    for d in docs {
        let status = match (&d.error, &d.duplicate_of_path) {
            (Some(e), _) => format!("{:?}: {e}", d.status),
            (None, Some(original)) => format!("duplicate of {original}"),
            (None, None) => format!("{:?}", d.status),
        };
        println!(
            "{:>5} chunks  {:>10} B  {}  [{status}]",
            d.chunk_count, d.size, d.path
        );
    }
}

pub fn jobs(jobs: &ImportJobs) {
    if jobs.counts.is_empty() {
        println!("no import jobs");
        return;
    }
    let counts: Vec<String> = jobs
        .counts
        .iter()
        .map(|(state, n)| format!("{n} {}", state.as_str()))
        .collect();
    println!("{}", counts.join(", "));
    for j in &jobs.unfinished {
        println!("{:>10}  {}", j.state.as_str(), j.path);
    }
}

pub fn summary(s: &ImportSummary) {
    println!(
        "{} documents indexed ({} duplicates of files already imported; {} chunks), {} skipped ({} unchanged), {} failed",
        s.documents,
        s.duplicates,
        s.chunks,
        s.skipped,
        s.unchanged,
        s.failed.len()
    );
    for f in &s.failed {
        println!("failed: {}: {}", f.path, f.reason);
    }
    if s.cancelled {
        println!("cancelled before every file was processed");
    }
}

pub fn hits(hits: &[Hit]) {
    if hits.is_empty() {
        println!("no hits");
    }
    for (i, h) in hits.iter().enumerate() {
        let page = h.page.map(|p| format!(" p.{p}")).unwrap_or_default();
        let snippet: String = h
            .text
            .chars()
            .take(120)
            .collect::<String>()
            .replace('\n', " ");
        println!(
            "{:>2}. {:.3}  {}{page}\n    {snippet}",
            i + 1,
            h.score,
            h.path
        );
    }
}

pub fn doctor(r: &DoctorReport) {
    println!("lexinaut {}", r.version);
    println!("data dir:   {}", r.data_dir);
    println!("catalogue:  {} (SQLite {})", r.catalogue, r.sqlite_version);
    println!(
        "contents:   {} knowledge bases, {} documents, {} chunks",
        r.counts.knowledge_bases, r.counts.documents, r.counts.chunks
    );
    for b in &r.backends {
        println!(
            "{:<11} {} {}{}",
            format!("{}:", b.name),
            b.state,
            b.url.as_deref().unwrap_or(""),
            b.detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        for m in &b.models {
            println!("{:<11} {} {} ({})", "", m.uid, m.model_type, m.model_name);
        }
    }
}
