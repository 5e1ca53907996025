//! Tauri commands: one-line adapters from the UI to lexinaut-core. No logic lives here.

use lexinaut_core::{
    ApiError, DoctorReport, Document, Hit, ImportProgress, ImportSummary, KnowledgeBase,
};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::State;
use tauri_specta::Event;

use crate::events::CatalogueChanged;
use crate::state::AppState;

/// Version and data location, for the settings and about screens.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AppInfo {
    /// LexiNaut version.
    pub version: String,
    /// Data directory in use.
    pub data_dir: String,
}

#[tauri::command]
#[specta::specta]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        data_dir: state.library.config().data_dir.display().to_string(),
    }
}

#[tauri::command]
#[specta::specta]
pub async fn kb_list(state: State<'_, AppState>) -> Result<Vec<KnowledgeBase>, ApiError> {
    Ok(state.library.list_kbs().await?)
}

#[tauri::command]
#[specta::specta]
pub async fn kb_create(
    state: State<'_, AppState>,
    name: String,
) -> Result<KnowledgeBase, ApiError> {
    Ok(state.library.create_kb(&name).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn docs_list(state: State<'_, AppState>, kb_id: u32) -> Result<Vec<Document>, ApiError> {
    Ok(state.library.list_documents(kb_id.into()).await?)
}

/// Imports dropped or picked files and folders; progress streams over `on_progress`.
#[tauri::command]
#[specta::specta]
pub async fn import_paths(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    kb_id: u32,
    paths: Vec<String>,
    on_progress: Channel<ImportProgress>,
) -> Result<ImportSummary, ApiError> {
    let kb_id = i64::from(kb_id);
    let guard = state.begin_import(kb_id);
    let report = progress_sender(on_progress);
    let paths = paths.into_iter().map(Into::into).collect();
    let summary = state
        .library
        .ingest(kb_id, paths, &report, guard.token.clone())
        .await;
    let _ = CatalogueChanged { kb_id }.emit(&app);
    Ok(summary?)
}

/// Continues a cancelled or interrupted import of a knowledge base.
#[tauri::command]
#[specta::specta]
pub async fn import_resume(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    kb_id: u32,
    on_progress: Channel<ImportProgress>,
) -> Result<ImportSummary, ApiError> {
    let kb_id = i64::from(kb_id);
    let guard = state.begin_import(kb_id);
    let report = progress_sender(on_progress);
    let summary = state
        .library
        .resume(kb_id, &report, guard.token.clone())
        .await;
    let _ = CatalogueChanged { kb_id }.emit(&app);
    Ok(summary?)
}

/// Stops the import running in a knowledge base after the file in hand; returns whether one ran.
#[tauri::command]
#[specta::specta]
pub fn import_cancel(state: State<'_, AppState>, kb_id: u32) -> bool {
    state.cancel_import(i64::from(kb_id))
}

fn progress_sender(channel: Channel<ImportProgress>) -> impl Fn(ImportProgress) + Send + Sync {
    move |p| {
        // A closed channel (window reloaded) must not stop the import.
        let _ = channel.send(p);
    }
}

#[tauri::command]
#[specta::specta]
pub async fn search(
    state: State<'_, AppState>,
    kb_id: u32,
    query: String,
    k: u32,
) -> Result<Vec<Hit>, ApiError> {
    Ok(state.library.search(kb_id.into(), &query, k).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn doctor(state: State<'_, AppState>) -> Result<DoctorReport, ApiError> {
    Ok(state.library.doctor().await?)
}
