//! Typed configuration: where the data lives and which backends to use, from defaults,
//! overridden by `LEXINAUT_*` environment variables and explicit arguments.

use std::path::{Path, PathBuf};

use lexinaut_extract::Limits;
use serde::Serialize;

/// Environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "LEXINAUT_DATA_DIR";

/// The configuration of one LexiNaut library.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Directory holding the catalogue and every other piece of state.
    pub data_dir: PathBuf,
    /// Xinference base URL (`LEXINAUT_XINFERENCE_URL`), when one is configured.
    pub xinference_url: Option<String>,
    /// Chroma base URL (`LEXINAUT_CHROMA_URL`), when one is configured.
    pub chroma_url: Option<String>,
    /// Largest file LexiNaut will read, in bytes (`LEXINAUT_MAX_FILE_MB`, default 200 MiB).
    pub max_file_bytes: u64,
    /// How long one file's extraction may take before it is reported as failed
    /// (`LEXINAUT_FILE_TIMEOUT_SECS`, default 300; OCR of long scans is the slow case).
    pub file_timeout_secs: u64,
}

impl Config {
    /// Configuration from the environment; `data_dir` (e.g. a `--data-dir` flag) wins over it.
    pub fn from_env(data_dir: Option<PathBuf>) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let data_dir = data_dir
            .or_else(|| var(DATA_DIR_ENV).map(PathBuf::from))
            .unwrap_or_else(default_data_dir);
        let max_file_bytes = var("LEXINAUT_MAX_FILE_MB")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Limits::default().max_file_bytes, |mb| mb * 1024 * 1024);
        let file_timeout_secs = var("LEXINAUT_FILE_TIMEOUT_SECS")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(300);
        Self {
            data_dir,
            xinference_url: var("LEXINAUT_XINFERENCE_URL"),
            chroma_url: var("LEXINAUT_CHROMA_URL"),
            max_file_bytes,
            file_timeout_secs,
        }
    }

    /// The SQLite catalogue file.
    pub fn catalogue_path(&self) -> PathBuf {
        self.data_dir.join("catalogue.sqlite3")
    }

    /// Extraction limits derived from this configuration.
    pub fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            ..Limits::default()
        }
    }
}

/// The platform data directory for LexiNaut (`~/.local/share/lexinaut` on Linux).
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| Path::new(".").to_owned())
        .join("lexinaut")
}
