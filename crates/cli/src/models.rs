//! `lexinaut models`: list, launch and terminate models on the configured Xinference server,
//! so nobody has to open Xinference's web page to start a model by hand.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Subcommand;
use lexinaut_core::backends::{LaunchProgress, LaunchSpec, ModelType, XinferenceClient};
use lexinaut_core::Config;
use serde_json::Value;

use crate::output;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Models running on Xinference.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Launch a model and wait until it is loaded (progress on stderr).
    Launch {
        /// Registered model name, e.g. bge-large-zh-v1.5.
        name: String,
        /// embedding, LLM or rerank.
        #[arg(long = "type", value_name = "TYPE")]
        model_type: ModelType,
        /// Engine: sentence_transformers, llama.cpp, transformers, vLLM, ...
        #[arg(long)]
        engine: Option<String>,
        /// Uid to run it under (default: the model name).
        #[arg(long)]
        uid: Option<String>,
        /// Size in billions of parameters as registered (7, 1_8, 0_135).
        #[arg(long)]
        size: Option<String>,
        /// Weights format: pytorch, ggufv2, gptq, ...
        #[arg(long)]
        format: Option<String>,
        /// Quantization, e.g. Q4_K_M or none.
        #[arg(long)]
        quantization: Option<String>,
        /// Copies to run.
        #[arg(long)]
        replica: Option<u32>,
        /// Engine option passed through, e.g. --set n_threads=1 (VALUE as JSON, else a string).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a running model.
    Terminate {
        /// Its uid.
        uid: String,
    },
}

fn client(config: &Config) -> anyhow::Result<XinferenceClient> {
    config
        .xinference_client()?
        .context("no Xinference server configured: set LEXINAUT_XINFERENCE_URL")
}

pub async fn run(config: &Config, command: ModelsCommand) -> anyhow::Result<()> {
    let client = client(config)?;
    match command {
        ModelsCommand::List { json } => {
            let models = client.list_models().await?;
            if json {
                output::json(&models)?;
            } else {
                output::models_table(&models);
            }
        }
        ModelsCommand::Launch {
            name,
            model_type,
            engine,
            uid,
            size,
            format,
            quantization,
            replica,
            set,
            json,
        } => {
            let mut extra = serde_json::Map::new();
            for pair in set {
                let (key, value) = pair
                    .split_once('=')
                    .with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
                let value = serde_json::from_str(value).unwrap_or(Value::String(value.into()));
                extra.insert(key.trim().into(), value);
            }
            let spec = LaunchSpec {
                model_name: name,
                model_type: Some(model_type),
                engine,
                format,
                size_in_billions: size,
                quantization,
                replica,
                uid,
                extra,
            };
            let cancel = crate::cancel_on_ctrl_c();
            let show = std::io::stderr().is_terminal();
            let progress = move |p: LaunchProgress| {
                tracing::info!(uid = %p.uid, stage = %p.stage, progress = p.progress, "launching");
                if show {
                    eprint!(
                        "\rlaunching {}: {} {:.0}% ({:.0} s)   ",
                        p.uid,
                        p.stage,
                        p.progress * 100.0,
                        p.elapsed_secs
                    );
                }
            };
            let started = std::time::Instant::now();
            let result = client.launch_with_progress(&spec, &progress, cancel).await;
            if show {
                eprintln!();
            }
            let uid = result?;
            if json {
                output::json(&serde_json::json!({
                    "uid": uid,
                    "seconds": started.elapsed().as_secs_f64(),
                }))?;
            } else {
                println!("{uid}");
            }
        }
        ModelsCommand::Terminate { uid } => {
            client.terminate(&uid).await?;
            println!("terminated {uid}");
        }
    }
    Ok(())
}
