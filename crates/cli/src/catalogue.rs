//! Changing the catalogue from the command line: renaming and deleting knowledge bases,
//! changing their settings, deleting and re-indexing documents.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use lexinaut_core::{Document, ImportProgress, KbSettings, Library};

/// `kb settings`: what to change (unset options keep their value).
#[derive(Args)]
pub struct KbSettingsArgs {
    /// Knowledge base name.
    pub name: String,
    /// Chunk size, for files imported (or re-indexed) from now on.
    #[arg(long)]
    pub chunk_size: Option<u32>,
    /// Chunk overlap, for files imported (or re-indexed) from now on.
    #[arg(long)]
    pub chunk_overlap: Option<u32>,
    /// What size and overlap count: chars, or tokens (estimated for the embedding model).
    #[arg(long, value_name = "UNIT")]
    pub chunk_unit: Option<lexinaut_core::ChunkUnit>,
    /// Embedding model uid on Xinference; `default` for the configured default.
    #[arg(long, value_name = "UID")]
    pub embedding_model: Option<String>,
    /// Print the knowledge base as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Documents named on the command line: by path (a folder names every document under it) or id.
#[derive(Args)]
pub struct DocSelection {
    /// Knowledge base name.
    #[arg(long)]
    pub kb: String,
    /// Files (or folders: every document under them) as imported.
    pub paths: Vec<PathBuf>,
    /// Document ids (see `docs list --json`); repeatable.
    #[arg(long = "id", value_name = "ID")]
    pub ids: Vec<i64>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kb rename OLD NEW`.
pub async fn rename_kb(lib: &Library, old: &str, new: &str, json: bool) -> anyhow::Result<()> {
    let kb = lib.kb_by_name(old).await?;
    let kb = lib.rename_kb(kb.id, new).await?;
    if json {
        crate::output::json(&kb)?;
    } else {
        println!(
            "renamed knowledge base {old:?} to {:?} (#{})",
            kb.name, kb.id
        );
    }
    Ok(())
}

/// `kb delete NAME --yes`.
pub async fn delete_kb(lib: &Library, name: &str, yes: bool, json: bool) -> anyhow::Result<()> {
    let kb = lib.kb_by_name(name).await?;
    if !yes {
        anyhow::bail!(
            "deleting knowledge base {:?} removes its {} documents, its conversations and its \
             watched folders (files on disk are not touched); run again with --yes to confirm",
            kb.name,
            kb.document_count
        );
    }
    let deleted = lib.delete_kb(kb.id).await?;
    if json {
        crate::output::json(&deleted)?;
    } else {
        println!(
            "deleted knowledge base {:?}: {} documents, {} conversations, {} watched folders",
            kb.name, deleted.documents, deleted.conversations, deleted.watched_folders
        );
    }
    Ok(())
}

/// `kb settings NAME [--chunk-size N] [--chunk-overlap N] [--embedding-model UID|default]`.
pub async fn kb_settings(lib: &Library, args: KbSettingsArgs) -> anyhow::Result<()> {
    let kb = lib.kb_by_name(&args.name).await?;
    let embedding_model = match args.embedding_model.as_deref().map(str::trim) {
        None => kb.embedding_model.clone(),
        Some("default" | "") => None,
        Some(uid) => Some(uid.to_owned()),
    };
    let settings = KbSettings {
        chunk_size: args.chunk_size.unwrap_or(kb.chunk_size),
        chunk_overlap: args.chunk_overlap.unwrap_or(kb.chunk_overlap),
        chunk_unit: args.chunk_unit.unwrap_or(kb.chunk_unit),
        embedding_model,
    };
    let kb = lib.update_kb_settings(kb.id, &settings).await?;
    if args.json {
        crate::output::json(&kb)?;
    } else {
        println!(
            "{}: chunks of {} {} overlapping by {} (for files imported from now on; \
             `lexinaut docs reindex` applies them to stored documents), embedding model {}",
            kb.name,
            kb.chunk_size,
            match kb.chunk_unit {
                lexinaut_core::ChunkUnit::Chars => "characters",
                lexinaut_core::ChunkUnit::Tokens => "tokens",
            },
            kb.chunk_overlap,
            kb.embedding_model.as_deref().unwrap_or("default")
        );
    }
    Ok(())
}

/// The documents a selection names, in the order of the catalogue; fails naming anything that
/// matches no document, so nothing is changed by a typo.
async fn select(lib: &Library, sel: &DocSelection) -> anyhow::Result<(i64, Vec<Document>)> {
    let kb = lib.kb_by_name(&sel.kb).await?;
    if sel.paths.is_empty() && sel.ids.is_empty() {
        anyhow::bail!("name the documents: file or folder paths, or --id ID");
    }
    let docs = lib.list_documents(kb.id).await?;
    let mut chosen = std::collections::BTreeSet::new();
    for id in &sel.ids {
        if !docs.iter().any(|d| d.id == *id) {
            anyhow::bail!("no document #{id} in knowledge base {:?}", kb.name);
        }
        chosen.insert(*id);
    }
    for path in &sel.paths {
        let forms = path_forms(path);
        let matching: Vec<i64> = docs
            .iter()
            .filter(|d| forms.iter().any(|f| Path::new(&d.path).starts_with(f)))
            .map(|d| d.id)
            .collect();
        if matching.is_empty() {
            anyhow::bail!(
                "no document at {} in knowledge base {:?} (see lexinaut docs list --kb {:?})",
                path.display(),
                kb.name,
                kb.name
            );
        }
        chosen.extend(matching);
    }
    Ok((
        kb.id,
        docs.into_iter()
            .filter(|d| chosen.contains(&d.id))
            .collect(),
    ))
}

/// A path as given, absolute, and with symlinks resolved (when it still exists).
fn path_forms(path: &Path) -> Vec<PathBuf> {
    let mut forms = vec![std::path::absolute(path).unwrap_or_else(|_| path.to_owned())];
    if let Ok(c) = std::fs::canonicalize(path) {
        if !forms.contains(&c) {
            forms.push(c);
        }
    }
    forms
}

/// `docs delete --kb NAME PATH... [--id ID]...`.
pub async fn delete_docs(lib: &Library, sel: DocSelection) -> anyhow::Result<()> {
    let (_, docs) = select(lib, &sel).await?;
    let ids: Vec<i64> = docs.iter().map(|d| d.id).collect();
    let removed = lib
        .delete_documents(&ids)
        .await
        .context("cannot delete the documents")?;
    if sel.json {
        crate::output::json(&serde_json::json!({
            "removed": removed,
            "documents": docs.iter().map(|d| serde_json::json!({"id": d.id, "path": d.path})).collect::<Vec<_>>(),
        }))?;
    } else {
        for d in &docs {
            println!("removed {}", d.path);
        }
        println!("{removed} documents removed");
    }
    Ok(())
}

/// `docs reindex --kb NAME PATH... [--id ID]...`: extract and chunk the files again.
pub async fn reindex_docs(lib: &Library, sel: DocSelection) -> anyhow::Result<bool> {
    let (kb_id, docs) = select(lib, &sel).await?;
    let ids: Vec<i64> = docs.iter().map(|d| d.id).collect();
    let show_bar = std::io::stderr().is_terminal();
    let progress = move |p: ImportProgress| {
        if show_bar {
            eprint!("\rre-indexing {}/{} files", p.processed, p.total);
            if p.finished {
                eprintln!();
            }
        }
    };
    let cancel = crate::cancel_on_ctrl_c();
    let summary = lib
        .reindex_documents(&ids, &progress, cancel.clone())
        .await?;
    if lib.vectors_enabled() && !summary.cancelled {
        // New chunks need vectors; the CLI stores them before it exits, as `ingest` does.
        if let Err(e) = lib.drain_vectors(Some(kb_id), &|_, _| {}, &cancel).await {
            tracing::warn!(
                "the documents are searchable by keyword; their vectors wait until the backends answer: {e}"
            );
        }
    }
    if sel.json {
        crate::output::json(&summary)?;
    } else {
        crate::output::summary(&summary);
    }
    Ok(summary.failed.is_empty())
}
