//! `lexinaut watch`: watched folders from the command line (add, list, pause, resume, remove)
//! and `watch run`, the foreground daemon that keeps knowledge bases in sync with them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use lexinaut_core::{
    Library, SyncReport, WatchEvent, WatchOptions, WatchState, WatchedFolder, Watcher,
    WatcherOptions,
};
use tokio::sync::broadcast::error::RecvError;

#[derive(Subcommand)]
pub enum WatchCommand {
    /// Mirror a folder into a knowledge base (synced by `watch run` or the desktop app).
    Add {
        /// The folder.
        path: PathBuf,
        /// Knowledge base name.
        #[arg(long)]
        kb: String,
        /// Only files matching this glob (relative to the folder, e.g. `*.pdf`); repeatable.
        #[arg(long = "include", value_name = "GLOB")]
        include: Vec<String>,
        /// Never files or folders matching this glob (e.g. `drafts/**`, `node_modules`); repeatable.
        /// Hidden files and editor temporary files are always left out.
        #[arg(long = "exclude", value_name = "GLOB")]
        exclude: Vec<String>,
        /// Print the folder as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List watched folders with their state, pending changes, last sync and error.
    List {
        /// Only this knowledge base's folders.
        #[arg(long)]
        kb: Option<String>,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop syncing a folder until `watch resume`.
    Pause {
        /// Watched folder id (see `watch list`).
        id: i64,
    },
    /// Sync a paused folder again (catching up on what changed meanwhile).
    Resume {
        /// Watched folder id (see `watch list`).
        id: i64,
    },
    /// Stop watching a folder; its documents stay unless --delete-documents.
    Remove {
        /// Watched folder id (see `watch list`).
        id: i64,
        /// Also remove the folder's documents from the knowledge base.
        #[arg(long)]
        delete_documents: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sync the watched folders in the foreground: scan them, then follow their changes until
    /// Ctrl+C or SIGTERM. Prints one line per applied batch on stdout; logs go to stderr.
    Run {
        /// Only this knowledge base's folders.
        #[arg(long)]
        kb: Option<String>,
        /// Print each batch as a JSON line.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(lib: Arc<Library>, command: WatchCommand) -> anyhow::Result<ExitCode> {
    match command {
        WatchCommand::Add {
            path,
            kb,
            include,
            exclude,
            json,
        } => {
            let kb = lib
                .kb_by_name(&kb)
                .await
                .with_context(|| format!("create it first with: lexinaut kb create {kb:?}"))?;
            let folder = lib
                .add_watch(kb.id, &path, WatchOptions { include, exclude })
                .await?;
            if json {
                crate::output::json(&folder)?;
            } else {
                println!(
                    "watching {} for knowledge base {:?} (#{}); `lexinaut watch run` keeps it in sync",
                    folder.path, kb.name, folder.id
                );
            }
        }
        WatchCommand::List { kb, json } => {
            let kb_id = match kb {
                Some(name) => Some(lib.kb_by_name(&name).await?.id),
                None => None,
            };
            let folders = lib.list_watches(kb_id).await?;
            if json {
                crate::output::json(&folders)?;
            } else {
                let names: HashMap<i64, String> = lib
                    .list_kbs()
                    .await?
                    .into_iter()
                    .map(|k| (k.id, k.name))
                    .collect();
                table(&folders, &names);
            }
        }
        WatchCommand::Pause { id } => {
            let f = lib.pause_watch(id, true).await?;
            println!("paused #{} {}", f.id, f.path);
        }
        WatchCommand::Resume { id } => {
            let f = lib.pause_watch(id, false).await?;
            println!("resumed #{} {}", f.id, f.path);
        }
        WatchCommand::Remove {
            id,
            delete_documents,
            json,
        } => {
            let removed = lib.remove_watch(id, delete_documents).await?;
            if json {
                crate::output::json(&serde_json::json!({
                    "id": id,
                    "removed_documents": removed,
                }))?;
            } else if delete_documents {
                println!("stopped watching #{id}; removed {removed} documents");
            } else {
                println!("stopped watching #{id}; its documents stay in the knowledge base");
            }
        }
        WatchCommand::Run { kb, json } => return daemon(lib, kb, json).await,
    }
    Ok(ExitCode::SUCCESS)
}

fn ago(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let s = (now - ms).max(0) / 1000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86400),
    }
}

fn table(folders: &[WatchedFolder], kb_names: &HashMap<i64, String>) {
    if folders.is_empty() {
        println!("no watched folders yet: lexinaut watch add FOLDER --kb NAME");
    }
    for f in folders {
        let state = match f.state {
            WatchState::Active => "active",
            WatchState::Paused => "paused",
            WatchState::Missing => "missing",
            WatchState::Error => "error",
        };
        let kb = kb_names.get(&f.kb_id).map_or("?", String::as_str);
        println!(
            "#{:<4} {:<8} {:<16} pending {:<5} synced {:<10} {}",
            f.id,
            state,
            kb,
            f.pending,
            ago(f.last_sync_at),
            f.path
        );
        if !f.include.is_empty() || !f.exclude.is_empty() {
            println!("      include {:?} exclude {:?}", f.include, f.exclude);
        }
        if let Some(e) = &f.last_error {
            println!("      {e}");
        }
    }
}

fn report_line(r: &SyncReport) -> String {
    format!(
        "synced {}: {} added, {} updated, {} moved, {} removed, {} failed, {} unchanged{}",
        r.path,
        r.added,
        r.updated,
        r.moved,
        r.removed,
        r.failed,
        r.unchanged,
        if r.full_scan { " (full scan)" } else { "" }
    )
}

async fn daemon(lib: Arc<Library>, kb: Option<String>, json: bool) -> anyhow::Result<ExitCode> {
    let kb_id = match &kb {
        Some(name) => Some(lib.kb_by_name(name).await?.id),
        None => None,
    };
    let folders = lib.list_watches(kb_id).await?;
    if folders.is_empty() {
        eprintln!(
            "no watched folders yet (add one with: lexinaut watch add FOLDER --kb NAME); \
             waiting for some"
        );
    } else {
        eprintln!(
            "syncing {} watched folder(s); Ctrl+C to stop",
            folders.len()
        );
    }
    let mut events = lib.subscribe_watch();
    let watcher = Watcher::start(
        &lib,
        WatcherOptions {
            kb_id,
            ..WatcherOptions::default()
        },
    )
    .await?;
    let stop = lexinaut_core::stop_requested();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            event = events.recv() => match event {
                Ok(WatchEvent::Synced(r)) => {
                    if json {
                        println!("{}", serde_json::to_string(&r)?);
                    } else {
                        println!("{}", report_line(&r));
                    }
                }
                // Errors and missing folders are logged on stderr by the watcher itself.
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "output fell behind; some batches were not printed");
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
    eprintln!("stopping");
    watcher.stop().await?;
    Ok(ExitCode::SUCCESS)
}
