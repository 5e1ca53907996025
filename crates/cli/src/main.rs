//! `lexinaut`: the headless command line over lexinaut-core. JSON and results go to stdout;
//! diagnostics go to stderr through `tracing`.

mod output;
mod watch;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lexinaut_core::{CancellationToken, ChunkSpec, Config, ImportProgress, Library};

#[derive(Parser)]
#[command(
    name = "lexinaut",
    version,
    about = "LexiNaut: a local knowledge base you can search and ask"
)]
struct Cli {
    /// Data directory (default: $LEXINAUT_DATA_DIR, else the platform data dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Knowledge bases.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Import files and folders (recursively) into a knowledge base.
    Ingest {
        /// Files or folders.
        #[arg(required_unless_present = "resume")]
        paths: Vec<PathBuf>,
        /// Continue an interrupted import of this knowledge base (then also import PATHs, if any).
        #[arg(long)]
        resume: bool,
        /// Knowledge base name.
        #[arg(long)]
        kb: String,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Exit with status 3 when any file failed.
        #[arg(long)]
        strict: bool,
    },
    /// Documents in the catalogue.
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
    /// Keyword search in a knowledge base.
    Search {
        /// What to look for.
        query: String,
        /// Knowledge base name.
        #[arg(long)]
        kb: String,
        /// How many hits.
        #[arg(short = 'k', long = "top-k", default_value_t = 10)]
        k: u32,
        /// Print hits as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Extract the text of one file (no catalogue involved).
    Extract {
        /// The file.
        file: PathBuf,
        /// Print text, pages and warnings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Watched folders: knowledge bases that mirror folders on disk.
    Watch {
        #[command(subcommand)]
        command: watch::WatchCommand,
    },
    /// Check configuration, data directory, versions and backends.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KbCommand {
    /// Create a knowledge base.
    Create {
        /// Its name.
        name: String,
        /// Chunk size in characters.
        #[arg(long, default_value_t = ChunkSpec::default().size)]
        chunk_size: u32,
        /// Chunk overlap in characters.
        #[arg(long, default_value_t = ChunkSpec::default().overlap)]
        chunk_overlap: u32,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List knowledge bases.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DocsCommand {
    /// List the documents of a knowledge base.
    List {
        /// Knowledge base name.
        #[arg(long)]
        kb: String,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEXINAUT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,lopdf=error")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open(data_dir: Option<PathBuf>) -> anyhow::Result<Library> {
    let config = Config::from_env(data_dir);
    let shown = config.data_dir.display().to_string();
    Library::open(config)
        .await
        .with_context(|| format!("cannot open the library in {shown}"))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Extract { file, json } => {
            let config = Config::from_env(cli.data_dir);
            let extracted = lexinaut_core::extract_file(&file, &config).await?;
            if json {
                output::json(&output::ExtractOutput::new(&file, &extracted))?;
            } else {
                for w in &extracted.warnings {
                    eprintln!("warning: {}: {w}", file.display());
                }
                println!("{}", extracted.text);
            }
        }
        Command::Kb { command } => {
            let lib = open(cli.data_dir).await?;
            match command {
                KbCommand::Create {
                    name,
                    chunk_size,
                    chunk_overlap,
                    json,
                } => {
                    let spec = ChunkSpec {
                        size: chunk_size,
                        overlap: chunk_overlap,
                    };
                    let kb = lib.create_kb_with(&name, spec).await?;
                    if json {
                        output::json(&kb)?;
                    } else {
                        println!("created knowledge base {:?} (#{})", kb.name, kb.id);
                    }
                }
                KbCommand::List { json } => {
                    let kbs = lib.list_kbs().await?;
                    if json {
                        output::json(&kbs)?;
                    } else {
                        output::kb_table(&kbs);
                    }
                }
            }
        }
        Command::Ingest {
            paths,
            resume,
            kb,
            json,
            strict,
        } => {
            let lib = open(cli.data_dir).await?;
            let kb = lib
                .kb_by_name(&kb)
                .await
                .with_context(|| format!("create it first with: lexinaut kb create {kb:?}"))?;
            let show_bar = std::io::stderr().is_terminal();
            let progress = move |p: ImportProgress| {
                if show_bar {
                    eprint!("\rimporting {}/{} files", p.processed, p.total);
                    if p.finished {
                        eprintln!();
                    }
                }
            };
            let cancel = CancellationToken::new();
            let on_ctrl_c = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    on_ctrl_c.cancel();
                }
            });
            let mut summary = if resume {
                lib.resume(kb.id, &progress, cancel.clone()).await?
            } else {
                lexinaut_core::ImportSummary::default()
            };
            if !paths.is_empty() && !summary.cancelled {
                let more = lib.ingest(kb.id, paths, &progress, cancel).await?;
                summary.merge(more);
            }
            if json {
                output::json(&summary)?;
            } else {
                output::summary(&summary);
            }
            if strict && !summary.failed.is_empty() {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Docs {
            command: DocsCommand::List { kb, json },
        } => {
            let lib = open(cli.data_dir).await?;
            let kb = lib.kb_by_name(&kb).await?;
            let docs = lib.list_documents(kb.id).await?;
            if json {
                output::json(&docs)?;
            } else {
                output::docs_table(&docs);
            }
        }
        Command::Search { query, kb, k, json } => {
            let lib = open(cli.data_dir).await?;
            let kb = lib.kb_by_name(&kb).await?;
            let hits = lib.search(kb.id, &query, k).await?;
            if json {
                output::json(&hits)?;
            } else {
                output::hits(&hits);
            }
        }
        Command::Watch { command } => {
            return watch::run(open(cli.data_dir).await?, command).await;
        }
        Command::Doctor { json } => {
            let lib = open(cli.data_dir).await?;
            let report = lib.doctor().await?;
            if json {
                output::json(&report)?;
            } else {
                output::doctor(&report);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
