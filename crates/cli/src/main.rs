//! `lexinaut`: the headless command line over lexinaut-core. JSON and results go to stdout;
//! diagnostics go to stderr through `tracing`.

mod ask;
mod catalogue;
mod models;
mod output;
mod progress;
mod serve;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
        /// Print the summary as JSON on stdout, and progress as JSON lines on stderr
        /// (`{"type":"import",...}`, then `{"type":"embedding",...}` when vectors are built).
        #[arg(long)]
        json: bool,
        /// Exit with status 3 when any file failed.
        #[arg(long)]
        strict: bool,
    },
    /// Import jobs of a knowledge base: how many files stand at each step (queued, extracting,
    /// chunking, indexing, embedding, done, failed, skipped) and which are not finished.
    Jobs {
        /// Knowledge base name.
        #[arg(long)]
        kb: String,
        /// List at most this many unfinished files.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
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
    /// Ask a question; the answer cites the passages it comes from.
    Ask {
        /// The question.
        question: String,
        /// Knowledge base name.
        #[arg(long)]
        kb: String,
        /// Continue this conversation (its id, printed after each answer).
        #[arg(long, value_name = "ID")]
        conversation: Option<i64>,
        /// Print the answer as it is written (with --json: one JSON event a line).
        #[arg(long)]
        stream: bool,
        /// Print the answer and its citations as JSON.
        #[arg(long)]
        json: bool,
        /// Retrieval: auto, keyword, vector, hybrid, hybrid-rerank.
        #[arg(long, default_value = "auto")]
        mode: lexinaut_core::chat::RetrievalMode,
        /// Only cite documents of this format (repeatable): pdf, docx, markdown, text, ...
        #[arg(long = "format", value_name = "FORMAT")]
        formats: Vec<String>,
        /// Only cite documents under this folder.
        #[arg(long, value_name = "DIR")]
        folder: Option<String>,
    },
    /// Evaluate retrieval (and answers) on a SQuAD-format file, e.g. CMRC 2018.
    Eval {
        /// The SQuAD-format JSON file.
        file: PathBuf,
        /// Knowledge base to import the contexts into (created if missing).
        #[arg(long)]
        kb: String,
        /// Retrieval: auto, keyword, vector, hybrid, hybrid-rerank.
        #[arg(long, default_value = "auto")]
        mode: lexinaut_core::chat::RetrievalMode,
        /// Only the first N questions.
        #[arg(long)]
        limit: Option<usize>,
        /// Also generate answers with the chat model and score them (EM, F1).
        #[arg(long)]
        generate: bool,
        /// Print the report as JSON.
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
    /// Models on the Xinference server: list, launch, terminate.
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Serve the API over HTTP (JSON under /api/v1, answers and imports as server-sent events).
    Serve(serve::ServeArgs),
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
        /// Chunk size.
        #[arg(long, default_value_t = ChunkSpec::default().size)]
        chunk_size: u32,
        /// Chunk overlap.
        #[arg(long, default_value_t = ChunkSpec::default().overlap)]
        chunk_overlap: u32,
        /// What size and overlap count: chars, or tokens (estimated for the embedding model).
        #[arg(long, value_name = "UNIT", default_value = "chars")]
        chunk_unit: lexinaut_core::ChunkUnit,
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
    /// Rename a knowledge base.
    Rename {
        /// Its current name.
        name: String,
        /// The new name.
        new_name: String,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a knowledge base with its documents, conversations and watched folders.
    Delete {
        /// Its name.
        name: String,
        /// Confirm the deletion (nothing is deleted without it).
        #[arg(long)]
        yes: bool,
        /// Print what was removed as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a knowledge base's chunking (for later imports) or embedding model.
    Settings(catalogue::KbSettingsArgs),
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
    /// Remove documents (with their passages and vectors) from a knowledge base; files on disk
    /// are not touched.
    Delete(catalogue::DocSelection),
    /// Import documents' files again, extracted and chunked afresh (e.g. after changing the
    /// chunking); exits with status 3 when a file failed.
    Reindex(catalogue::DocSelection),
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

/// A token cancelled when Ctrl+C is pressed: a one-shot command's long work stops there (and
/// keeps what it finished).
fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    cancel
}

async fn open(data_dir: Option<PathBuf>) -> anyhow::Result<Library> {
    let config = Config::from_env(data_dir);
    let shown = config.data_dir.display().to_string();
    Library::open(config)
        .await
        .with_context(|| format!("cannot open the library in {shown}"))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Two commands work without opening (or creating) a library.
    let command = match cli.command {
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
            return Ok(ExitCode::SUCCESS);
        }
        Command::Models { command } => {
            models::run(&Config::from_env(cli.data_dir), command).await?;
            return Ok(ExitCode::SUCCESS);
        }
        command => command,
    };
    let long_running = matches!(
        command,
        Command::Serve(_)
            | Command::Watch {
                command: watch::WatchCommand::Run { .. }
            }
    );
    let lib = Arc::new(open(cli.data_dir).await?);
    let result = with_library(&lib, command).await;
    if long_running {
        // Closes the catalogue too, folding its write-ahead log back into the file.
        lib.shutdown().await;
    } else {
        // A one-shot command leaves the log to the next opener, as SQLite's WAL mode intends:
        // folding it in costs a command like `ingest` ~15 ms (docs/BENCHMARKS.md).
        lib.stop_managed_chroma().await;
    }
    result
}

/// Runs a command that works on the library.
async fn with_library(lib: &Arc<Library>, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Kb { command } => match command {
            KbCommand::Create {
                name,
                chunk_size,
                chunk_overlap,
                chunk_unit,
                json,
            } => {
                let spec = ChunkSpec {
                    size: chunk_size,
                    overlap: chunk_overlap,
                    unit: chunk_unit,
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
            KbCommand::Rename {
                name,
                new_name,
                json,
            } => catalogue::rename_kb(lib, &name, &new_name, json).await?,
            KbCommand::Delete { name, yes, json } => {
                catalogue::delete_kb(lib, &name, yes, json).await?;
            }
            KbCommand::Settings(args) => catalogue::kb_settings(lib, args).await?,
        },
        Command::Ingest {
            paths,
            resume,
            kb,
            json,
            strict,
        } => {
            let kb = lib
                .kb_by_name(&kb)
                .await
                .with_context(|| format!("create it first with: lexinaut kb create {kb:?}"))?;
            let reporter = progress::Reporter::new(json);
            let progress = |p: ImportProgress| reporter.import(&p);
            let cancel = cancel_on_ctrl_c();
            let mut summary = if resume {
                lib.resume(kb.id, &progress, cancel.clone()).await?
            } else {
                lexinaut_core::ImportSummary::default()
            };
            if !paths.is_empty() && !summary.cancelled {
                let more = lib.ingest(kb.id, paths, &progress, cancel.clone()).await?;
                summary.merge(more);
            }
            let reporter = reporter.next_stage();
            if lib.vectors_enabled() && !summary.cancelled {
                // The app embeds in the background; the CLI finishes the job before it exits.
                let progress = |done: u64, left: i64| reporter.embedding(done, left);
                match lib.drain_vectors(Some(kb.id), &progress, &cancel).await {
                    Ok(report) => {
                        tracing::info!(embedded = report.embedded, deleted = report.deleted, backlog = report.backlog, "vectors stored in Chroma");
                    }
                    Err(e) => tracing::warn!(
                        "the documents are searchable by keyword; their vectors wait until the backends answer: {e}"
                    ),
                }
            }
            reporter.finish();
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
            let kb = lib.kb_by_name(&kb).await?;
            let docs = lib.list_documents(kb.id).await?;
            if json {
                output::json(&docs)?;
            } else {
                output::docs_table(&docs);
            }
        }
        Command::Jobs { kb, limit, json } => {
            let kb = lib.kb_by_name(&kb).await?;
            let jobs = lib.import_jobs(kb.id, limit).await?;
            if json {
                output::json(&jobs)?;
            } else {
                output::jobs(&jobs);
            }
        }
        Command::Docs {
            command: DocsCommand::Delete(selection),
        } => catalogue::delete_docs(lib, selection).await?,
        Command::Docs {
            command: DocsCommand::Reindex(selection),
        } => {
            if !catalogue::reindex_docs(lib, selection).await? {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Search { query, kb, k, json } => {
            let kb = lib.kb_by_name(&kb).await?;
            let hits = lib.search(kb.id, &query, k).await?;
            if json {
                output::json(&hits)?;
            } else {
                output::hits(&hits);
            }
        }
        Command::Ask {
            question,
            kb,
            conversation,
            stream,
            json,
            mode,
            formats,
            folder,
        } => {
            let args = ask::AskArgs {
                question,
                kb,
                conversation,
                stream,
                json,
                mode,
                formats,
                folder,
            };
            let message = ask::ask(lib, args).await?;
            if message.error.is_some() {
                return Ok(ExitCode::from(4));
            }
        }
        Command::Eval {
            file,
            kb,
            mode,
            limit,
            generate,
            json,
        } => {
            let options = lexinaut_core::eval::EvalOptions {
                mode,
                limit,
                generate,
            };
            ask::eval(lib, &kb, file, options, json).await?;
        }
        Command::Serve(args) => {
            serve::run(Arc::clone(lib), args).await?;
        }
        Command::Watch { command } => {
            return watch::run(Arc::clone(lib), command).await;
        }
        Command::Extract { .. } | Command::Models { .. } => {
            anyhow::bail!("internal error: this command runs without opening a library")
        }
        Command::Doctor { json } => {
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
