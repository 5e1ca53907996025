//! The stop request a long-running process (the app, `lexinaut serve`, `lexinaut watch run`)
//! ends on: written once, shared by the desktop and the CLI.

/// Resolves when the process is asked to stop: SIGINT (Ctrl+C) or, on Unix, SIGTERM (a session
/// ending, `kill`). A signal that cannot be listened for is logged and left out; if neither can
/// be, this never resolves.
pub async fn stop_requested() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl+C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM; Ctrl+C still stops: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
