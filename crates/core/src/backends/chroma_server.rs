//! A Chroma server run by LexiNaut itself ("managed" mode): `chroma run` on a free loopback
//! port with its data under the data directory, health-checked, restarted if it dies, stopped
//! with the handle. Its pid is kept beside the data (`chroma.pid`): a server left behind by an
//! app that was killed (no exit event, so no stop) is ended before a new one opens the same
//! data, and its output goes to `chroma.log` there for diagnosis.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
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
    /// process exits unexpectedly it is started again (backing off up to 30 s). The process is
    /// running when this returns (unless it could not be started, which the supervisor logs and
    /// retries); the server answers a few seconds later (clients retry until then).
    pub fn start(bin: &Path, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        end_orphan(dir);
        // A new log per app session; restarts within it append.
        std::fs::File::create(log_path(dir))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let server = Server {
            bin: bin.to_owned(),
            dir: dir.to_owned(),
            port,
            url: url.clone(),
        };
        let first = server.spawn();
        let stop = CancellationToken::new();
        let task = tokio::spawn(supervise(server, first, stop.clone()));
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

/// Logs once when the server at `url` first answers, or that it did not within a minute.
async fn report_ready(health: Option<ChromaClient>, url: String) {
    let Some(h) = health else { return };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if h.heartbeat().await.is_ok() {
            tracing::info!(%url, "managed Chroma is ready");
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::warn!(%url, "managed Chroma did not answer within a minute");
}

/// What the supervisor starts: `bin run --path dir` on `port`, answering at `url`.
struct Server {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    url: String,
}

impl Server {
    /// Starts one server process, its output appended to the log and its pid recorded.
    fn spawn(&self) -> std::io::Result<Child> {
        let (out, err) = log_file(&self.dir)?;
        let child = Command::new(&self.bin)
            .arg("run")
            .arg("--path")
            .arg(&self.dir)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .env("ANONYMIZED_TELEMETRY", "False")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()?;
        if let Some(pid) = child.id() {
            if let Err(e) = std::fs::write(pid_path(&self.dir), pid.to_string()) {
                tracing::warn!("cannot record the managed Chroma's pid: {e}");
            }
        }
        Ok(child)
    }
}

/// Keeps a server running until `stop`: `first` is the process `start` spawned (or its error).
async fn supervise(server: Server, first: std::io::Result<Child>, stop: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    let health = ChromaClient::new(&server.url, ChromaOptions::default()).ok();
    let mut next = Some(first);
    loop {
        let mut child = match next.take().unwrap_or_else(|| server.spawn()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(bin = %server.bin.display(), "cannot start Chroma: {e}");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        // Report readiness once, for the logs; clients retry on their own meanwhile. Watched
        // beside the process, never waited for: a server that dies while starting is started
        // again after the backoff, not once the readiness check gives up.
        let ready = tokio::spawn(report_ready(health.clone(), server.url.clone()));
        let started = std::time::Instant::now();
        let stopped = tokio::select! {
            () = stop.cancelled() => {
                let _ = child.kill().await;
                let _ = std::fs::remove_file(pid_path(&server.dir));
                true
            }
            status = child.wait() => {
                tracing::warn!(
                    ?status,
                    log = %log_path(&server.dir).display(),
                    "managed Chroma exited; restarting it"
                );
                false
            }
        };
        ready.abort();
        if stopped {
            return;
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

/// `<data dir>/chroma.pid` for the Chroma data in `<data dir>/chroma`.
fn pid_path(dir: &Path) -> PathBuf {
    dir.with_extension("pid")
}

/// `<data dir>/chroma.log`.
fn log_path(dir: &Path) -> PathBuf {
    dir.with_extension("log")
}

/// The log file, opened for appending, as the child's stdout and stderr.
fn log_file(dir: &Path) -> std::io::Result<(Stdio, Stdio)> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir))?;
    Ok((Stdio::from(file.try_clone()?), Stdio::from(file)))
}

/// Ends a managed Chroma that an earlier run of the app left running on the same data (the app
/// was killed, so it never stopped it): two servers on one data directory would corrupt it. Only
/// a process whose command line still names this data directory is touched (a pid can be
/// reused); it gets SIGTERM, and SIGKILL after five seconds.
#[cfg(target_os = "linux")]
fn end_orphan(dir: &Path) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let Ok(recorded) = std::fs::read_to_string(pid_path(dir)) else {
        return;
    };
    let Ok(pid) = recorded.trim().parse::<i32>() else {
        return;
    };
    let ours = |pid: i32| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains("chroma") && cmdline.contains(&*dir.to_string_lossy())
        })
    };
    if !ours(pid) {
        return;
    }
    tracing::warn!(pid, dir = %dir.display(), "ending a managed Chroma left behind by an earlier run");
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ours(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if ours(pid) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Without `/proc`, an orphan cannot be told apart from an unrelated process: left alone.
#[cfg(not(target_os = "linux"))]
fn end_orphan(_dir: &Path) {}
