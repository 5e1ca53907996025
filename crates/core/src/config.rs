//! Typed configuration: where the data lives and which backends to use, from defaults,
//! the settings file, `LEXINAUT_*` environment variables and explicit arguments (each
//! overriding the one before).

use std::path::{Path, PathBuf};

use std::time::Duration;

use lexinaut_extract::Limits;
use serde::Serialize;

use crate::backends::{
    BackendError, ChromaClient, ChromaOptions, XinferenceClient, XinferenceOptions,
};

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
    /// Models, credentials and limits for the backends.
    pub backends: BackendConfig,
    /// The `chroma` executable for a managed Chroma (`LEXINAUT_CHROMA_BIN`; found in the
    /// set-up's cache or on the PATH when unset).
    pub chroma_bin: Option<PathBuf>,
    /// Run a Chroma of LexiNaut's own when vectors are configured without a Chroma URL
    /// (`LEXINAUT_MANAGED_CHROMA`, default on; `0` turns it off).
    pub managed_chroma: bool,
}

/// Which models to use and how to reach the backends (`LEXINAUT_*` environment variables).
#[derive(Debug, Clone, Serialize)]
pub struct BackendConfig {
    /// Uid of the Xinference embedding model (`LEXINAUT_EMBED_MODEL`).
    pub embed_model: Option<String>,
    /// Uid of the Xinference chat model (`LEXINAUT_CHAT_MODEL`).
    pub chat_model: Option<String>,
    /// Uid of the Xinference rerank model (`LEXINAUT_RERANK_MODEL`).
    pub rerank_model: Option<String>,
    /// Xinference API key (`LEXINAUT_XINFERENCE_API_KEY`); never printed.
    #[serde(skip_serializing)]
    pub xinference_api_key: Option<String>,
    /// Chroma token (`LEXINAUT_CHROMA_TOKEN`); never printed.
    #[serde(skip_serializing)]
    pub chroma_token: Option<String>,
    /// Chroma tenant (`LEXINAUT_CHROMA_TENANT`, default `default_tenant`).
    pub chroma_tenant: String,
    /// Chroma database (`LEXINAUT_CHROMA_DATABASE`, default `default_database`).
    pub chroma_database: String,
    /// Texts per embedding request (`LEXINAUT_EMBED_BATCH_SIZE`, default 32).
    pub embed_batch_size: usize,
    /// Embedding requests in flight at once (`LEXINAUT_EMBED_CONCURRENCY`, default 2).
    pub embed_concurrency: usize,
    /// Limit for one backend request in seconds (`LEXINAUT_BACKEND_TIMEOUT_SECS`, default 120).
    pub request_timeout_secs: u64,
}

impl Default for BackendConfig {
    fn default() -> Self {
        let x = XinferenceOptions::default();
        let c = ChromaOptions::default();
        Self {
            embed_model: None,
            chat_model: None,
            rerank_model: None,
            xinference_api_key: None,
            chroma_token: None,
            chroma_tenant: c.tenant,
            chroma_database: c.database,
            embed_batch_size: x.embed_batch_size,
            embed_concurrency: x.embed_concurrency,
            request_timeout_secs: x.request_timeout.as_secs(),
        }
    }
}

impl BackendConfig {
    fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let d = Self::default();
        let number = |name: &str| {
            var(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
        };
        Self {
            embed_model: var("LEXINAUT_EMBED_MODEL"),
            chat_model: var("LEXINAUT_CHAT_MODEL"),
            rerank_model: var("LEXINAUT_RERANK_MODEL"),
            xinference_api_key: var("LEXINAUT_XINFERENCE_API_KEY"),
            chroma_token: var("LEXINAUT_CHROMA_TOKEN"),
            chroma_tenant: var("LEXINAUT_CHROMA_TENANT").unwrap_or(d.chroma_tenant),
            chroma_database: var("LEXINAUT_CHROMA_DATABASE").unwrap_or(d.chroma_database),
            embed_batch_size: number("LEXINAUT_EMBED_BATCH_SIZE")
                .map_or(d.embed_batch_size, |n| n as usize),
            embed_concurrency: number("LEXINAUT_EMBED_CONCURRENCY")
                .map_or(d.embed_concurrency, |n| n as usize),
            request_timeout_secs: number("LEXINAUT_BACKEND_TIMEOUT_SECS")
                .unwrap_or(d.request_timeout_secs),
        }
    }

    /// Xinference client options from this configuration.
    pub fn xinference_options(&self) -> XinferenceOptions {
        XinferenceOptions {
            api_key: self.xinference_api_key.clone(),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            stream_idle_timeout: Duration::from_secs(self.request_timeout_secs),
            embed_batch_size: self.embed_batch_size,
            embed_concurrency: self.embed_concurrency,
            ..XinferenceOptions::default()
        }
    }

    /// Chroma client options from this configuration.
    pub fn chroma_options(&self) -> ChromaOptions {
        ChromaOptions {
            tenant: self.chroma_tenant.clone(),
            database: self.chroma_database.clone(),
            token: self.chroma_token.clone(),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            ..ChromaOptions::default()
        }
    }
}

impl Config {
    /// Configuration from the environment; `data_dir` (e.g. a `--data-dir` flag) wins over it.
    /// Values come from the environment first, then from the settings file
    /// (`<data dir>/config.toml`, keys named like the variables without `LEXINAUT_`).
    pub fn from_env(data_dir: Option<PathBuf>) -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let data_dir = data_dir
            .or_else(|| env(DATA_DIR_ENV).map(PathBuf::from))
            .unwrap_or_else(default_data_dir);
        let path = data_dir.join(crate::settings::SETTINGS_FILE);
        let file = crate::settings::read_file(&path).unwrap_or_else(|e| {
            tracing::warn!("ignoring the settings file: {e}");
            Default::default()
        });
        let var = |name: &str| {
            env(name).or_else(|| {
                let key = name
                    .strip_prefix("LEXINAUT_")
                    .unwrap_or(name)
                    .to_lowercase();
                file.get(&key).cloned().filter(|v| !v.trim().is_empty())
            })
        };
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
            backends: BackendConfig::from_env(&var),
            chroma_bin: var("LEXINAUT_CHROMA_BIN").map(PathBuf::from),
            managed_chroma: var("LEXINAUT_MANAGED_CHROMA")
                .is_none_or(|v| !matches!(v.trim(), "0" | "false" | "off" | "no")),
        }
    }

    /// A client of the configured Xinference server; `None` when no URL is configured.
    pub fn xinference_client(&self) -> Result<Option<XinferenceClient>, BackendError> {
        self.xinference_url
            .as_deref()
            .map(|url| XinferenceClient::new(url, self.backends.xinference_options()))
            .transpose()
    }

    /// A client of the configured Chroma server; `None` when no URL is configured.
    pub fn chroma_client(&self) -> Result<Option<ChromaClient>, BackendError> {
        self.chroma_url
            .as_deref()
            .map(|url| ChromaClient::new(url, self.backends.chroma_options()))
            .transpose()
    }

    /// Whether this configuration asks for a managed Chroma: vectors are configured (Xinference
    /// and an embedding model) but no Chroma URL is.
    pub fn wants_managed_chroma(&self) -> bool {
        self.managed_chroma
            && self.chroma_url.is_none()
            && self.xinference_url.is_some()
            && self.backends.embed_model.is_some()
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
