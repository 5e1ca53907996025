//! `lexinaut serve`: the headless HTTP server over lexinaut-core, the second wrapper of the one
//! API (the desktop commands are the first). It owns start-up, the embedder and shutdown.
//!
//! Every handler calls the one shared `Library`; answers and imports run as tasks with their
//! own cancellation token, so nothing holds the async runtime and a disconnect stops the work.

mod error;
mod routes;
mod sse;
mod state;
mod upload;

#[cfg(test)]
mod tests;

use std::future::IntoFuture;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{header, HeaderValue, Method};
use lexinaut_core::{CancellationToken, Library, WatchEvent, Watcher, WatcherOptions};
use tokio::sync::broadcast::error::RecvError;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;

use state::ServerState;

/// How long open requests may take to finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Options of `lexinaut serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (0.0.0.0 for every interface: then a token is required).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port; 0 picks a free one. The address is printed as the first line of stdout.
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// Require `Authorization: Bearer TOKEN` on every route but /api/v1/health.
    #[arg(long, env = "LEXINAUT_SERVER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Serve a non-loopback address without a token (anyone who reaches it can import and
    /// read any file the server can).
    #[arg(long)]
    allow_anonymous: bool,
    /// Questions answered at once; more wait up to 30 s, then get 503.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_answers: u32,
    /// Imports (ingest, upload, resume) running at once; more wait up to 60 s, then get 503.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    max_imports: u32,
    /// Largest upload request in MiB (each file is also limited by LEXINAUT_MAX_FILE_MB).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    max_upload_mb: u64,
    /// A browser origin allowed to call the API (repeatable), e.g. http://localhost:5173.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Do not sync watched folders (by default the server runs the library's folder watcher
    /// unless the app or `lexinaut watch run` already does).
    #[arg(long)]
    no_watch: bool,
}

/// Serves `library` until SIGINT or SIGTERM.
pub async fn run(library: Arc<Library>, args: ServeArgs) -> anyhow::Result<()> {
    let token = args.token.filter(|t| !t.trim().is_empty());
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    if token.is_none() && !addr.ip().is_loopback() && !args.allow_anonymous {
        anyhow::bail!(
            "refusing to serve {addr} without a token: anyone who reaches it could read the \
             server's files. Set --token or LEXINAUT_SERVER_TOKEN (or pass --allow-anonymous)"
        );
    }
    let cors = cors_layer(&args.cors_origins)?;
    let max_upload_bytes =
        usize::try_from(args.max_upload_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);

    let shutdown = CancellationToken::new();
    library.warm_up();
    let embedder = tokio::spawn({
        let library = Arc::clone(&library);
        let shutdown = shutdown.clone();
        async move { library.run_embedder(shutdown).await }
    });
    let state = Arc::new(ServerState::new(
        library,
        token,
        args.max_answers as usize,
        args.max_imports as usize,
        shutdown.clone(),
    ));
    tokio::spawn(routes::resume_interrupted_imports(Arc::clone(&state)));
    // Watched folders stay in sync while the server runs, unless the app or `lexinaut watch
    // run` already syncs this library (one watcher per library: the lock says who).
    // A sync that changed a knowledge base is announced on GET /events like an import.
    tokio::spawn({
        let mut events = state.library.subscribe_watch();
        let changes = state.changes.clone();
        let shutdown = shutdown.clone();
        async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    event = events.recv() => match event {
                        Ok(WatchEvent::Synced(r)) => {
                            let _ = changes.send(r.kb_id);
                        }
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => break,
                    },
                }
            }
        }
    });
    let watcher = if args.no_watch {
        None
    } else {
        match Watcher::start(&state.library, WatcherOptions::default()).await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("watched folders are not synced by this server: {e}");
                None
            }
        }
    };

    let mut app =
        routes::router(Arc::clone(&state), max_upload_bytes).layer(TraceLayer::new_for_http());
    if let Some(cors) = cors {
        app = app.layer(cors);
    }

    // The first line of stdout is the address, so scripts and tests can use `--port 0`.
    let mut out = std::io::stdout().lock();
    writeln!(out, "http://{addr}")?;
    out.flush()?;
    drop(out);
    tracing::info!(%addr, auth = state.token.is_some(), "serving the LexiNaut API");

    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            lexinaut_core::stop_requested().await;
            tracing::info!("stopping: answers and imports are cancelled, open requests finish");
            shutdown.cancel();
        }
    });
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    tokio::select! {
        result = server => result.context("the HTTP server failed")?,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("requests still open {SHUTDOWN_GRACE:?} after the stop signal; closing them"),
    }
    // A failing server ends here too: stop the background work either way.
    shutdown.cancel();
    if let Some(w) = watcher {
        if let Err(e) = w.stop().await {
            tracing::warn!("the folder watcher did not stop cleanly: {e}");
        }
    }
    if tokio::time::timeout(Duration::from_secs(5), embedder)
        .await
        .is_err()
    {
        tracing::warn!("the embedder did not stop within 5 s");
    }
    // The caller then shuts the library down (managed Chroma, catalogue), as after `watch run`.
    Ok(())
}

/// CORS for the listed origins; none: same-origin only (no CORS headers at all).
fn cors_layer(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).with_context(|| format!("bad --cors-origin {o:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT]),
    ))
}
