//! `doctor`: a health report of the configuration, the catalogue and the model backends.

use std::time::Duration;

use serde::Serialize;

use crate::backends::{
    ChromaClient, ChromaOptions, RetryPolicy, XinferenceClient, XinferenceOptions,
};
use crate::catalogue::CatalogueCounts;
use crate::Config;

/// Reachability of one backend.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct BackendStatus {
    /// `xinference` or `chroma`.
    pub name: String,
    /// Configured URL, if any.
    pub url: Option<String>,
    /// `not_configured`, `reachable` or `unreachable`.
    pub state: String,
    /// Details: a summary of what answered, or why it failed.
    pub detail: Option<String>,
    /// The server's version, when it answered.
    pub version: Option<String>,
    /// Xinference: the models running (empty for Chroma).
    pub models: Vec<ModelStatus>,
    /// Chroma: how many collections the configured database holds.
    pub collections: Option<u32>,
}

/// A model running on Xinference, as `doctor` shows it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ModelStatus {
    /// The uid requests name it by.
    pub uid: String,
    /// `embedding`, `LLM`, `rerank`, ...
    pub model_type: String,
    /// The registered model it runs.
    pub model_name: String,
    /// Vector size, for embedding models.
    pub dimensions: Option<u32>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DoctorReport {
    /// LexiNaut version.
    pub version: String,
    /// Data directory in use.
    pub data_dir: String,
    /// Catalogue file.
    pub catalogue: String,
    /// SQLite library version.
    pub sqlite_version: String,
    /// Row counts.
    pub counts: CatalogueCounts,
    /// Backends: without any, LexiNaut runs on its embedded keyword search.
    pub backends: Vec<BackendStatus>,
    /// Models in use: embedding, chat and rerank uids (when configured).
    pub models: ConfiguredModels,
    /// Chunks still waiting for their vector (0 when vectors are off).
    #[specta(type = f64)]
    pub vector_backlog: i64,
}

/// The models LexiNaut is configured to use.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ConfiguredModels {
    /// Embedding model uid (`LEXINAUT_EMBED_MODEL`).
    pub embedding: Option<String>,
    /// Chat model uid (`LEXINAUT_CHAT_MODEL`).
    pub chat: Option<String>,
    /// Rerank model uid (`LEXINAUT_RERANK_MODEL`).
    pub rerank: Option<String>,
}

/// Doctor's patience: a report must come back quickly even when a backend hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

fn status(name: &str, url: Option<&str>, state: &str, detail: String) -> BackendStatus {
    BackendStatus {
        name: name.into(),
        url: url.map(str::to_owned),
        state: state.into(),
        detail: Some(detail),
        version: None,
        models: Vec::new(),
        collections: None,
    }
}

/// Asks Xinference for its version and running models.
pub(crate) async fn probe_xinference(config: &Config) -> BackendStatus {
    const NAME: &str = "xinference";
    let url = config.xinference_url.as_deref();
    let Some(url) = url else {
        return status(
            NAME,
            None,
            "not_configured",
            "embedded keyword search only".into(),
        );
    };
    let options = XinferenceOptions {
        connect_timeout: PROBE_TIMEOUT,
        request_timeout: PROBE_TIMEOUT,
        retry: RetryPolicy::none(),
        ..config.backends.xinference_options()
    };
    let result = async {
        let client = XinferenceClient::new(url, options)?;
        tokio::try_join!(client.version(), client.list_models())
    }
    .await;
    match result {
        Ok((version, models)) => {
            let mut s = status(
                NAME,
                Some(url),
                "reachable",
                format!("Xinference {version}, {} models running", models.len()),
            );
            s.version = Some(version);
            s.models = models
                .into_iter()
                .map(|m| ModelStatus {
                    uid: m.uid,
                    model_type: m.model_type,
                    model_name: m.model_name,
                    dimensions: m.dimensions,
                })
                .collect();
            s
        }
        Err(e) => status(NAME, Some(url), "unreachable", e.to_string()),
    }
}

/// Asks Chroma for its version and how many collections it holds.
pub(crate) async fn probe_chroma(config: &Config) -> BackendStatus {
    const NAME: &str = "chroma";
    let url = config.chroma_url.as_deref();
    let Some(url) = url else {
        return status(
            NAME,
            None,
            "not_configured",
            "embedded keyword search only".into(),
        );
    };
    let options = ChromaOptions {
        connect_timeout: PROBE_TIMEOUT,
        request_timeout: PROBE_TIMEOUT,
        retry: RetryPolicy::none(),
        ..config.backends.chroma_options()
    };
    let result = async {
        let client = ChromaClient::new(url, options)?;
        tokio::try_join!(client.version(), client.collection_count())
    }
    .await;
    match result {
        Ok((version, collections)) => {
            let mut s = status(
                NAME,
                Some(url),
                "reachable",
                format!("Chroma API {version}, {collections} collections"),
            );
            s.version = Some(version);
            s.collections = Some(u32::try_from(collections).unwrap_or(u32::MAX));
            s
        }
        Err(e) => status(NAME, Some(url), "unreachable", e.to_string()),
    }
}
