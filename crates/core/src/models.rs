//! Models on the configured Xinference, for the settings screen and the CLI: what runs, what
//! can be launched, launching with progress and terminating. No more launching by hand in a
//! separate web page.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::backends::{LaunchProgress, LaunchSpec, ModelType, RegisteredModel, RunningModel};
use crate::error::CoreError;
use crate::Library;

/// Models of the configured Xinference.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ModelsView {
    /// Models running now.
    pub running: Vec<RunningModel>,
    /// Embedding models that can be launched.
    pub embedding: Vec<RegisteredModel>,
    /// Chat models that can be launched.
    pub llm: Vec<RegisteredModel>,
    /// Rerank models that can be launched.
    pub rerank: Vec<RegisteredModel>,
}

/// A model to launch, as the settings screen asks for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct LaunchRequest {
    /// Registered model name, e.g. `bge-large-zh-v1.5`.
    pub model_name: String,
    /// `embedding`, `LLM` or `rerank`.
    pub model_type: String,
    /// Engine: `sentence_transformers`, `llama.cpp`, `transformers`, `vLLM`, ...
    pub engine: Option<String>,
    /// Weights format: `pytorch`, `ggufv2`, ...
    pub format: Option<String>,
    /// Size in billions of parameters as the registration spells it (`7`, `0_135`).
    pub size_in_billions: Option<String>,
    /// Quantization (`Q4_K_M`, `none`, ...).
    pub quantization: Option<String>,
    /// Copies to run.
    pub replica: Option<u32>,
    /// The uid to run it under (default: the model name).
    pub uid: Option<String>,
    /// Engine options as a JSON object (`{"n_ctx": 4096, "gpu_idx": [0]}`).
    pub options: Option<String>,
}

impl LaunchRequest {
    fn spec(&self) -> Result<LaunchSpec, CoreError> {
        let model_name = self.model_name.trim();
        if model_name.is_empty() {
            return Err(CoreError::InvalidInput("the model name is empty".into()));
        }
        let model_type: ModelType = self.model_type.parse().map_err(|_| {
            CoreError::InvalidInput(format!(
                "model type {:?} is not embedding, LLM or rerank",
                self.model_type
            ))
        })?;
        let extra: Map<String, Value> = match self.options.as_deref().map(str::trim) {
            None | Some("") => Map::new(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                CoreError::InvalidInput(format!("engine options must be a JSON object: {e}"))
            })?,
        };
        let blank = |s: &Option<String>| {
            s.clone()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Ok(LaunchSpec {
            model_name: model_name.to_owned(),
            model_type: Some(model_type),
            engine: blank(&self.engine),
            format: blank(&self.format),
            size_in_billions: blank(&self.size_in_billions),
            quantization: blank(&self.quantization),
            replica: self.replica,
            uid: blank(&self.uid),
            extra,
        })
    }
}

impl Library {
    fn xinference(&self) -> Result<crate::backends::XinferenceClient, CoreError> {
        self.backends().xinference.ok_or_else(|| {
            CoreError::InvalidInput(
                "no Xinference server is configured (settings or LEXINAUT_XINFERENCE_URL)".into(),
            )
        })
    }

    /// Running and launchable models of the configured Xinference.
    pub async fn models(&self) -> Result<ModelsView, CoreError> {
        let x = self.xinference()?;
        let (running, embedding, llm, rerank) = tokio::join!(
            x.list_models(),
            x.registrations(ModelType::Embedding),
            x.registrations(ModelType::Llm),
            x.registrations(ModelType::Rerank),
        );
        Ok(ModelsView {
            running: running?,
            embedding: embedding?,
            llm: llm?,
            rerank: rerank?,
        })
    }

    /// Launches a model and waits until it serves, reporting progress; returns its uid.
    pub async fn launch_model(
        &self,
        request: &LaunchRequest,
        progress: &(dyn Fn(LaunchProgress) + Send + Sync),
        cancel: CancellationToken,
    ) -> Result<String, CoreError> {
        let spec = request.spec()?;
        Ok(self
            .xinference()?
            .launch_with_progress(&spec, progress, cancel)
            .await?)
    }

    /// Stops a running model.
    pub async fn terminate_model(&self, uid: &str) -> Result<(), CoreError> {
        Ok(self.xinference()?.terminate(uid).await?)
    }
}
