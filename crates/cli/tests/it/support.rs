//! Running the built `lexinaut` binary in a sandbox: its own data directory, documents
//! beside it, and no `LEXINAUT_*` settings inherited from the developer's environment.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

/// Chinese sample documents: (relative path, contents).
pub const SAMPLES: [(&str, &str); 3] = [
    (
        "茶叶.txt",
        "武夷山位于福建省北部，是中国著名的乌龙茶产区。大红袍是武夷岩茶中最负盛名的品种，\
         母树生长在九龙窠的峭壁上，如今已停止采摘，受到严格保护。\n",
    ),
    (
        "熊猫.txt",
        "大熊猫是中国特有的珍稀动物，主要生活在四川、陕西和甘肃的山区。\n\
         大熊猫每天要花十几个小时进食竹子，一只成年大熊猫一天可以吃掉二十公斤以上的竹叶和竹笋。\n",
    ),
    (
        "历史/长城.md",
        "# 长城简史\n\n长城是古代中国为抵御北方游牧民族而修筑的军事防御工程。\n\n\
         - 秦始皇统一六国后，把各段城墙连接起来。\n- 明朝大规模重修八达岭长城。\n",
    ),
];

/// A temporary directory holding `data/` (the library) and `docs/` (files to import).
pub struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The data directory passed with `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The folder of documents.
    pub fn docs(&self) -> PathBuf {
        self.dir.path().join("docs")
    }

    /// Writes a file under `docs/` and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.docs().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// Writes `SAMPLES` under `docs/`.
    pub fn write_samples(&self) -> Vec<PathBuf> {
        SAMPLES
            .iter()
            .map(|(rel, text)| self.write(rel, text))
            .collect()
    }

    /// `lexinaut` with a clean environment; no data directory argument.
    pub fn bare_command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lexinaut"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LEXINAUT_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// Runs `lexinaut --data-dir DATA args...`.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.bare_command();
        cmd.arg("--data-dir").arg(self.data_dir()).args(args);
        cmd.output().expect("run lexinaut")
    }

    /// Runs a command that must succeed and print only JSON; returns that JSON.
    pub fn json<I, S>(&self, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(args);
        assert_success(&out);
        stdout_json(&out)
    }

    /// Creates a knowledge base and checks the command succeeded.
    pub fn create_kb(&self, name: &str) {
        let out = self.run(["kb", "create", name]);
        assert_success(&out);
    }

    /// Imports `paths` into `kb` and returns the JSON summary.
    pub fn ingest(&self, kb: &str, paths: &[&Path]) -> Value {
        let mut args: Vec<&OsStr> = vec!["ingest".as_ref(), "--kb".as_ref(), kb.as_ref()];
        args.extend(paths.iter().map(|p| p.as_os_str()));
        args.push("--json".as_ref());
        self.json(args)
    }
}

/// Fails with the command's output when it did not exit with status 0.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The whole of stdout parsed as one JSON value: anything else on stdout fails the test.
pub fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON value ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `path` as the CLI prints it.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}
