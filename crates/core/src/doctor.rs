//! `doctor`: a health report of the configuration, the catalogue and the model backends.

use std::time::Duration;

use serde::Serialize;

use crate::catalogue::CatalogueCounts;

/// Reachability of one backend.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct BackendStatus {
    /// `xinference` or `chroma`.
    pub name: String,
    /// Configured URL, if any.
    pub url: Option<String>,
    /// `not_configured`, `reachable` or `unreachable`.
    pub state: String,
    /// Details: the version answered, or why it failed.
    pub detail: Option<String>,
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
}

/// Probes `base` + `probe_path` with a short timeout.
pub(crate) async fn probe(name: &str, url: Option<&str>, probe_path: &str) -> BackendStatus {
    let Some(url) = url else {
        return BackendStatus {
            name: name.into(),
            url: None,
            state: "not_configured".into(),
            detail: Some("embedded keyword search only".into()),
        };
    };
    let target = format!("{}{probe_path}", url.trim_end_matches('/'));
    let result = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        let resp = client.get(&target).send().await?.error_for_status()?;
        resp.text().await
    }
    .await;
    let (state, detail) = match result {
        Ok(body) => ("reachable", body.chars().take(200).collect()),
        Err(e) => ("unreachable", e.to_string()),
    };
    BackendStatus {
        name: name.into(),
        url: Some(url.into()),
        state: state.into(),
        detail: Some(detail),
    }
}
