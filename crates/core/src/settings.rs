//! The settings file (`<data dir>/config.toml`): the backend settings a user changes in the
//! settings screen, under the `LEXINAUT_*` environment variables, which win over it.
//!
//! Every key is the environment variable's name without `LEXINAUT_`, in lower case
//! (`xinference_url`, `embed_model`, ...), so anything settable in the environment can be
//! written in the file too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// The settings file's name inside the data directory.
pub const SETTINGS_FILE: &str = "config.toml";

/// The settings shown and edited in the settings screen. `None`/empty: not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct Settings {
    /// Xinference base URL, e.g. `http://127.0.0.1:9997`.
    pub xinference_url: Option<String>,
    /// Xinference API key, when the server has authentication on.
    pub xinference_api_key: Option<String>,
    /// Chroma base URL; empty with an embedding model set: LexiNaut runs its own Chroma.
    pub chroma_url: Option<String>,
    /// Chroma token, for a remote Chroma with authentication.
    pub chroma_token: Option<String>,
    /// Chroma tenant (default `default_tenant`).
    pub chroma_tenant: Option<String>,
    /// Chroma database (default `default_database`).
    pub chroma_database: Option<String>,
    /// Embedding model uid on Xinference.
    pub embed_model: Option<String>,
    /// Chat model uid on Xinference.
    pub chat_model: Option<String>,
    /// Rerank model uid on Xinference.
    pub rerank_model: Option<String>,
}

/// The settings as the screen shows them: what the file says, what is in force, and which
/// keys the environment overrides (those cannot be changed from the screen).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SettingsView {
    /// Values from the settings file.
    pub file: Settings,
    /// Values in force (environment over file).
    pub effective: Settings,
    /// Keys set by `LEXINAUT_*` environment variables.
    pub from_environment: Vec<String>,
    /// Where the file is.
    pub path: String,
}

const KEYS: [&str; 9] = [
    "xinference_url",
    "xinference_api_key",
    "chroma_url",
    "chroma_token",
    "chroma_tenant",
    "chroma_database",
    "embed_model",
    "chat_model",
    "rerank_model",
];

/// The raw key/value pairs of a settings file (missing file: none).
pub(crate) fn read_file(path: &Path) -> Result<BTreeMap<String, String>, CoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(CoreError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        CoreError::InvalidInput(format!(
            "{}: not a valid settings file: {e}",
            path.display()
        ))
    })?;
    Ok(table
        .into_iter()
        .filter_map(|(k, v)| {
            let value = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => return None,
            };
            Some((k, value))
        })
        .collect())
}

fn env_name(key: &str) -> String {
    format!("LEXINAUT_{}", key.to_uppercase())
}

impl Settings {
    fn get(&self, key: &str) -> Option<&String> {
        match key {
            "xinference_url" => self.xinference_url.as_ref(),
            "xinference_api_key" => self.xinference_api_key.as_ref(),
            "chroma_url" => self.chroma_url.as_ref(),
            "chroma_token" => self.chroma_token.as_ref(),
            "chroma_tenant" => self.chroma_tenant.as_ref(),
            "chroma_database" => self.chroma_database.as_ref(),
            "embed_model" => self.embed_model.as_ref(),
            "chat_model" => self.chat_model.as_ref(),
            "rerank_model" => self.rerank_model.as_ref(),
            _ => None,
        }
    }

    fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "xinference_url" => &mut self.xinference_url,
            "xinference_api_key" => &mut self.xinference_api_key,
            "chroma_url" => &mut self.chroma_url,
            "chroma_token" => &mut self.chroma_token,
            "chroma_tenant" => &mut self.chroma_tenant,
            "chroma_database" => &mut self.chroma_database,
            "embed_model" => &mut self.embed_model,
            "chat_model" => &mut self.chat_model,
            "rerank_model" => &mut self.rerank_model,
            _ => return None,
        })
    }

    fn from_pairs(pairs: &BTreeMap<String, String>) -> Self {
        let mut s = Self::default();
        for key in KEYS {
            if let (Some(v), Some(slot)) = (pairs.get(key), s.slot(key)) {
                *slot = Some(v.clone()).filter(|v| !v.trim().is_empty());
            }
        }
        s
    }

    /// Trims values and turns blanks into "not set"; checks URLs.
    fn normalized(mut self) -> Result<Self, CoreError> {
        for key in KEYS {
            if let Some(slot) = self.slot(key) {
                *slot = slot
                    .take()
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty());
            }
        }
        for (name, url) in [
            ("Xinference", &self.xinference_url),
            ("Chroma", &self.chroma_url),
        ] {
            if let Some(url) = url {
                let ok = reqwest::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if !ok {
                    return Err(CoreError::InvalidInput(format!(
                        "{name} URL {url:?} is not an http(s) address"
                    )));
                }
            }
        }
        Ok(self)
    }
}

/// Reads the settings file and the environment for the settings screen.
pub fn view(data_dir: &Path) -> Result<SettingsView, CoreError> {
    let path = data_dir.join(SETTINGS_FILE);
    let file = Settings::from_pairs(&read_file(&path)?);
    let mut effective = file.clone();
    let mut from_environment = Vec::new();
    for key in KEYS {
        if let Some(v) = std::env::var(env_name(key))
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            if let Some(slot) = effective.slot(key) {
                *slot = Some(v);
            }
            from_environment.push(key.to_owned());
        }
    }
    // Secrets are never sent to the window; it sees that one is set.
    let mask = |s: &mut Settings| {
        for key in ["xinference_api_key", "chroma_token"] {
            if let Some(slot) = s.slot(key) {
                if slot.is_some() {
                    *slot = Some("••••••".into());
                }
            }
        }
    };
    let mut file_shown = file;
    mask(&mut file_shown);
    mask(&mut effective);
    Ok(SettingsView {
        file: file_shown,
        effective,
        from_environment,
        path: path.display().to_string(),
    })
}

/// Writes `settings` to the settings file, keeping keys the screen does not edit. A masked
/// secret (`••••••`) keeps the stored value.
pub fn save(data_dir: &Path, settings: Settings) -> Result<PathBuf, CoreError> {
    let settings = settings.normalized()?;
    let path = data_dir.join(SETTINGS_FILE);
    let mut pairs = read_file(&path)?;
    for key in KEYS {
        match settings.get(key) {
            Some(v) if v == "••••••" => {}
            Some(v) => {
                pairs.insert(key.to_owned(), v.clone());
            }
            None => {
                pairs.remove(key);
            }
        }
    }
    let table: toml::Table = pairs
        .into_iter()
        .map(|(k, v)| (k, toml::Value::String(v)))
        .collect();
    let text = format!(
        "# LexiNaut settings. LEXINAUT_* environment variables override these values.\n{}",
        toml::to_string(&table).map_err(|e| CoreError::InvalidInput(e.to_string()))?
    );
    std::fs::create_dir_all(data_dir).map_err(|source| CoreError::Io {
        path: data_dir.to_owned(),
        source,
    })?;
    // Write then rename: a crash never leaves half a settings file.
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| CoreError::Io {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_reads_back_and_keeps_other_keys_and_masked_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            "max_file_mb = \"50\"\nxinference_api_key = \"secret\"\n",
        )
        .expect("seed");
        let s = Settings {
            xinference_url: Some(" http://127.0.0.1:9997 ".into()),
            xinference_api_key: Some("••••••".into()),
            embed_model: Some("bge-m3".into()),
            chat_model: Some("  ".into()),
            ..Settings::default()
        };
        save(dir.path(), s).expect("save");
        let pairs = read_file(&dir.path().join(SETTINGS_FILE)).expect("read");
        assert_eq!(
            pairs.get("xinference_url").map(String::as_str),
            Some("http://127.0.0.1:9997")
        );
        assert_eq!(
            pairs.get("xinference_api_key").map(String::as_str),
            Some("secret")
        );
        assert_eq!(pairs.get("max_file_mb").map(String::as_str), Some("50"));
        assert_eq!(pairs.get("embed_model").map(String::as_str), Some("bge-m3"));
        assert!(!pairs.contains_key("chat_model"));
        let shown = view(dir.path()).expect("view");
        assert_eq!(shown.file.xinference_api_key.as_deref(), Some("••••••"));
    }

    #[test]
    fn bad_urls_and_files_are_refused_with_reasons() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = Settings {
            chroma_url: Some("localhost:8000".into()),
            ..Settings::default()
        };
        assert!(
            matches!(save(dir.path(), bad), Err(CoreError::InvalidInput(m)) if m.contains("Chroma"))
        );
        std::fs::write(dir.path().join(SETTINGS_FILE), "this is = = not toml").expect("seed");
        assert!(
            matches!(view(dir.path()), Err(CoreError::InvalidInput(m)) if m.contains("config.toml"))
        );
    }
}
