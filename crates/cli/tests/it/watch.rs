//! `lexinaut watch add|list|pause|resume|remove` and `watch run`, the foreground daemon: it
//! picks up a change made while it runs, prints JSON lines, and exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{assert_success, shown, stderr, Sandbox};

/// How long any single expected change may take to show up.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn watch_add_list_pause_resume_and_remove() {
    let s = Sandbox::new();
    s.create_kb("资料");
    let samples = s.write_samples();
    let docs = s.docs();
    let docs_arg = docs.to_string_lossy().into_owned();

    let added = s.json([
        "watch",
        "add",
        &docs_arg,
        "--kb",
        "资料",
        "--include",
        "*.txt",
        "--include",
        "*.md",
        "--exclude",
        "历史/**",
        "--json",
    ]);
    assert_eq!(added["path"], shown(&docs));
    assert_eq!(added["state"], "active");
    assert_eq!(added["include"], serde_json::json!(["*.txt", "*.md"]));
    assert_eq!(added["exclude"], serde_json::json!(["历史/**"]));
    assert_eq!(added["pending"], 0);
    assert!(added["last_sync_at"].is_null());
    let id = added["id"].as_i64().expect("id");

    let listed = s.json(["watch", "list", "--json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], id);
    assert_eq!(
        s.json(["watch", "list", "--kb", "资料", "--json"])[0]["id"],
        id
    );
    let human = s.run(["watch", "list"]);
    assert_success(&human);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&shown(&docs)) && text.contains("active"),
        "{text}"
    );

    // Refusals: a missing folder, a file, the same folder again, a folder inside it, an
    // unknown knowledge base. Errors on stderr, nothing on stdout.
    let nested = docs.join("历史").to_string_lossy().into_owned();
    let file = samples[0].to_string_lossy().into_owned();
    let missing = docs.join("不存在").to_string_lossy().into_owned();
    for (args, says) in [
        (vec!["watch", "add", &missing, "--kb", "资料"], "not found"),
        (vec!["watch", "add", &file, "--kb", "资料"], "not a folder"),
        (
            vec!["watch", "add", &docs_arg, "--kb", "资料"],
            "already exists",
        ),
        (vec!["watch", "add", &nested, "--kb", "资料"], "inside"),
        (
            vec!["watch", "add", &docs_arg, "--kb", "没有这个库"],
            "没有这个库",
        ),
        (
            vec!["watch", "add", &docs_arg, "--kb", "资料", "--include", "a["],
            "glob",
        ),
    ] {
        let out = s.run(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }

    assert_success(&s.run(["watch", "pause", &id.to_string()]));
    assert_eq!(s.json(["watch", "list", "--json"])[0]["state"], "paused");
    assert_success(&s.run(["watch", "resume", &id.to_string()]));
    assert_eq!(s.json(["watch", "list", "--json"])[0]["state"], "active");

    // Documents imported from the folder go with it only when asked.
    s.ingest("资料", &[&docs]);
    let removed = s.json(["watch", "remove", &id.to_string(), "--json"]);
    assert_eq!(removed["removed_documents"], 0);
    assert_eq!(
        s.json(["docs", "list", "--kb", "资料", "--json"])
            .as_array()
            .map(Vec::len),
        Some(samples.len())
    );
    let again = s.json(["watch", "add", &docs_arg, "--kb", "资料", "--json"]);
    let id = again["id"].as_i64().expect("id");
    let removed = s.json([
        "watch",
        "remove",
        &id.to_string(),
        "--delete-documents",
        "--json",
    ]);
    assert_eq!(removed["removed_documents"], samples.len());
    assert_eq!(
        s.json(["docs", "list", "--kb", "资料", "--json"]),
        serde_json::json!([])
    );
    assert_eq!(s.json(["watch", "list", "--json"]), serde_json::json!([]));
    let out = s.run(["watch", "remove", &id.to_string()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

/// `watch run --json` in the background, its stdout lines delivered through a channel.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Daemon {
    fn start(s: &Sandbox, wrapper: &[&str]) -> Self {
        let exe = env!("CARGO_BIN_EXE_lexinaut");
        let mut cmd: Command = if wrapper.is_empty() {
            s.bare_command()
        } else {
            let mut c = Command::new(wrapper[0]);
            c.args(&wrapper[1..]).arg(exe);
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("LEXINAUT_") {
                    c.env_remove(key);
                }
            }
            c
        };
        cmd.arg("--data-dir")
            .arg(s.data_dir())
            .args(["watch", "run", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn watch run");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next JSON line satisfying `pred`, within the deadline.
    fn line(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line for: {what}"));
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
            if pred(&v) {
                return v;
            }
        }
    }

    /// Sends SIGTERM and expects a clean exit.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let out = Command::new("kill")
            .args(["-TERM", &pid])
            .output()
            .expect("run kill");
        assert!(out.status.success(), "kill failed");
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll") {
                assert!(status.success(), "watch run exited with {status}");
                return;
            }
            assert!(Instant::now() < end, "watch run did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_run_picks_up_changes_and_stops_on_sigterm() {
    let s = Sandbox::new();
    s.create_kb("资料");
    s.write_samples();
    let docs = s.docs();
    assert_success(&s.run(["watch", "add", &docs.to_string_lossy(), "--kb", "资料"]));

    let daemon = Daemon::start(&s, &[]);
    let first = daemon.line("the start-up scan", |v| v["full_scan"] == true);
    assert_eq!(first["added"], 3, "{first}");
    assert_eq!(first["path"], shown(&docs));

    let new = s.write("新闻/袋熊.txt", "袋熊的粪便是立方体形状的：wombat。\n");
    let synced = daemon.line("the new file", |v| v["added"] == 1);
    assert_eq!(synced["full_scan"], false, "{synced}");
    let hits = s.json(["search", "wombat", "--kb", "资料", "--json"]);
    assert_eq!(hits[0]["path"], shown(&new), "{hits}");

    std::fs::rename(&new, docs.join("袋熊.txt")).expect("rename");
    let moved = daemon.line("the rename", |v| v["moved"] == 1);
    assert_eq!(
        (moved["added"].as_u64(), moved["removed"].as_u64()),
        (Some(0), Some(0))
    );

    let listed = s.json(["watch", "list", "--json"]);
    assert_eq!(listed[0]["state"], "active");
    assert!(listed[0]["last_sync_at"].as_i64().is_some(), "{listed}");
    daemon.terminate();

    // Only one watcher may run per library.
    let a = Daemon::start(&s, &[]);
    a.line("the second start-up scan", |v| v["full_scan"] == true);
    let out = s.run(["watch", "run"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already"), "{}", stderr(&out));
    a.terminate();
}

/// Whether unprivileged user namespaces work here (for the inotify-limit test).
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--user", "--map-root-user", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn watch_run_reports_the_inotify_limit_with_the_fix() {
    if !can_unshare() {
        eprintln!("skipped: `unshare --user` is not available to lower the inotify limit");
        return;
    }
    let s = Sandbox::new();
    s.create_kb("资料");
    for i in 0..20 {
        s.write(&format!("子目录{i}/文件.txt"), "内容：dugong 儒艮。\n");
    }
    let docs = s.docs();
    assert_success(&s.run(["watch", "add", &docs.to_string_lossy(), "--kb", "资料"]));

    // In a user namespace of its own the daemon gets an inotify watch limit of 5 (Linux keeps
    // the limit per user namespace); the folder has 21 directories to watch.
    let wrapper = [
        "unshare",
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        r#"echo 5 > /proc/sys/user/max_inotify_watches && exec "$0" "$@""#,
    ];
    let daemon = Daemon::start(&s, &wrapper);
    let end = Instant::now() + DEADLINE;
    let folder = loop {
        let listed = s.json(["watch", "list", "--json"]);
        if listed[0]["state"] == "error" {
            break listed[0].clone();
        }
        assert!(Instant::now() < end, "no error state: {listed}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let message = folder["last_error"].as_str().expect("error message");
    assert!(
        message.contains("fs.inotify.max_user_watches") && message.contains("sysctl"),
        "{message}"
    );
    assert!(message.contains(&shown(&docs)), "{message}");
    // Not followed live, but synced by a scan all the same.
    let scanned = daemon.line("the fallback scan", |v| v["full_scan"] == true);
    assert_eq!(scanned["added"], 20, "{scanned}");
    assert_eq!(s.json(["watch", "list", "--json"])[0]["state"], "error");
    let human = s.run(["watch", "list"]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("max_user_watches"),
        "the list shows the fix"
    );
    daemon.terminate();
}

#[test]
fn watch_run_for_an_unknown_kb_fails() {
    let s = Sandbox::new();
    let out = s.run(["watch", "run", "--kb", "没有"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("没有"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}
