//! A Chroma server run by LexiNaut itself ("managed" mode): `chroma run` on a free loopback
//! port with its data under the data directory, health-checked, restarted if it dies, stopped
//! with the handle.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::{ChromaClient, ChromaOptions};

/// Where to find the `chroma` executable: `LEXINAUT_CHROMA_BIN`, else the newest venv made by
/// `scripts/backends.sh install` under `~/.cache/lexinaut`, else `chroma` on the `PATH`.
pub fn find_chroma_bin(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = configured {
        return p.is_file().then(|| p.to_owned());
    }
    let cache = std::env::var_os("LEXINAUT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("lexinaut")))?;
    let newest = std::fs::read_dir(&cache)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("venv-chroma-"))
        .map(|e| e.path().join("bin").join("chroma"))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    newest.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("chroma"))
                .find(|p| p.is_file())
        })
    })
}

/// A running managed Chroma; dropping it (or `stop`) ends the server.
pub struct ChromaServer {
    url: String,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ChromaServer {
    /// Starts `bin run --path <dir>` on a free 127.0.0.1 port and supervises it: when the
    /// process exits unexpectedly it is started again (backing off up to 30 s). Returns at
    /// once; the server answers a few seconds later (clients retry until then).
    pub fn start(bin: &Path, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let stop = CancellationToken::new();
        let task = tokio::spawn(supervise(
            bin.to_owned(),
            dir.to_owned(),
            port,
            url.clone(),
            stop.clone(),
        ));
        tracing::info!(%url, bin = %bin.display(), "starting a managed Chroma");
        Ok(Self {
            url,
            stop,
            task: Some(task),
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server and waits until the process is gone.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ChromaServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn supervise(bin: PathBuf, dir: PathBuf, port: u16, url: String, stop: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    let health = ChromaClient::new(&url, ChromaOptions::default()).ok();
    loop {
        let child = Command::new(&bin)
            .arg("run")
            .arg("--path")
            .arg(&dir)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env("ANONYMIZED_TELEMETRY", "False")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(bin = %bin.display(), "cannot start Chroma: {e}");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        // Report readiness once, for the logs; clients retry on their own meanwhile.
        let ready = async {
            if let Some(h) = &health {
                for _ in 0..300 {
                    if h.heartbeat().await.is_ok() {
                        tracing::info!(%url, "managed Chroma is ready");
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                tracing::warn!(%url, "managed Chroma did not answer within a minute");
            }
        };
        let started = std::time::Instant::now();
        tokio::select! {
            () = stop.cancelled() => {
                let _ = child.kill().await;
                return;
            }
            status = async { tokio::join!(ready, child.wait()).1 } => {
                tracing::warn!(?status, "managed Chroma exited; restarting it");
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
