//! Tauri commands: one-line adapters from the UI to lexinaut-core. No logic lives here.

use lexinaut_core::chat::{AskRequest, ChatEvent, ChatMessage, Conversation, SourceView};
use lexinaut_core::{
    ApiError, CoreError, DoctorReport, Document, Hit, ImportJobs, ImportProgress, ImportSummary,
    KbDeletion, KbSettings, KnowledgeBase, WatchOptions, WatchedFolder,
};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::State;
use tauri_plugin_opener::OpenerExt;
use tauri_specta::Event;

use crate::events::{CatalogueChanged, WatcherStatus};
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

/// Renames a knowledge base.
#[tauri::command]
#[specta::specta]
pub async fn kb_rename(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    kb_id: u32,
    name: String,
) -> Result<KnowledgeBase, ApiError> {
    let kb = state.library.rename_kb(kb_id.into(), &name).await?;
    let _ = CatalogueChanged { kb_id: kb.id }.emit(&app);
    Ok(kb)
}

/// Changes a knowledge base's chunking (for later imports) and embedding model.
#[tauri::command]
#[specta::specta]
pub async fn kb_update_settings(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    kb_id: u32,
    settings: KbSettings,
) -> Result<KnowledgeBase, ApiError> {
    let kb = state
        .library
        .update_kb_settings(kb_id.into(), &settings)
        .await?;
    let _ = CatalogueChanged { kb_id: kb.id }.emit(&app);
    Ok(kb)
}

/// Deletes a knowledge base with its documents, conversations and watched folders; an import
/// running in it is stopped first.
#[tauri::command]
#[specta::specta]
pub async fn kb_delete(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    kb_id: u32,
) -> Result<KbDeletion, ApiError> {
    let kb_id = i64::from(kb_id);
    state.imports.cancel(&kb_id);
    let deleted = state.library.delete_kb(kb_id).await?;
    let _ = CatalogueChanged { kb_id }.emit(&app);
    Ok(deleted)
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
    let guard = state.imports.begin(kb_id, &state.shutdown);
    tracing::info!(kb_id, paths = paths.len(), "import begins");
    let report = progress_sender(on_progress);
    let paths = paths.into_iter().map(Into::into).collect();
    let summary = state
        .library
        .ingest(kb_id, paths, &report, guard.control())
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
    let guard = state.imports.begin(kb_id, &state.shutdown);
    let report = progress_sender(on_progress);
    let summary = state.library.resume(kb_id, &report, guard.control()).await;
    let _ = CatalogueChanged { kb_id }.emit(&app);
    Ok(summary?)
}

/// Stops the import running in a knowledge base after the file in hand; returns whether one ran.
#[tauri::command]
#[specta::specta]
pub fn import_cancel(state: State<'_, AppState>, kb_id: u32) -> bool {
    let ran = state.imports.cancel(&i64::from(kb_id));
    tracing::info!(kb_id, ran, "import cancel asked");
    ran
}

/// Pauses (no new file starts; files in hand finish) or resumes the import running in a
/// knowledge base; returns whether one ran. Progress reports the change at once.
#[tauri::command]
#[specta::specta]
pub fn import_set_paused(state: State<'_, AppState>, kb_id: u32, paused: bool) -> bool {
    let ran = state
        .imports
        .get(&i64::from(kb_id))
        .map(|control| {
            if paused {
                control.pause();
            } else {
                control.resume();
            }
        })
        .is_some();
    tracing::info!(kb_id, paused, ran, "import pause asked");
    ran
}

/// The import jobs of a knowledge base: files per step, and up to 50 not finished.
#[tauri::command]
#[specta::specta]
pub async fn import_jobs(state: State<'_, AppState>, kb_id: u32) -> Result<ImportJobs, ApiError> {
    Ok(state.library.import_jobs(kb_id.into(), 50).await?)
}

/// Removes documents with their chunks (and, through tombstones, their vectors); returns how
/// many existed.
#[tauri::command]
#[specta::specta]
pub async fn docs_delete(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    document_ids: Vec<u32>,
) -> Result<u32, ApiError> {
    let ids: Vec<i64> = document_ids.into_iter().map(i64::from).collect();
    let kbs = kbs_of(&state, &ids).await;
    let removed = state.library.delete_documents(&ids).await?;
    for kb_id in kbs {
        let _ = CatalogueChanged { kb_id }.emit(&app);
    }
    Ok(u32::try_from(removed).unwrap_or(u32::MAX))
}

/// Imports documents' files again, extracted and chunked afresh; progress streams over
/// `on_progress` and `import_cancel` on their knowledge base stops it.
#[tauri::command]
#[specta::specta]
pub async fn docs_reindex(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    document_ids: Vec<u32>,
    on_progress: Channel<ImportProgress>,
) -> Result<ImportSummary, ApiError> {
    let ids: Vec<i64> = document_ids.into_iter().map(i64::from).collect();
    let kbs = kbs_of(&state, &ids).await;
    let guard = state
        .imports
        .begin(kbs.first().copied().unwrap_or_default(), &state.shutdown);
    let report = progress_sender(on_progress);
    let summary = state
        .library
        .reindex_documents(&ids, &report, guard.control())
        .await;
    for kb_id in kbs {
        let _ = CatalogueChanged { kb_id }.emit(&app);
    }
    Ok(summary?)
}

/// The knowledge bases the documents belong to (for the events after a change); unknown ids
/// are left to the core to report.
async fn kbs_of(state: &AppState, ids: &[i64]) -> Vec<i64> {
    let mut kbs = std::collections::BTreeSet::new();
    for id in ids {
        if let Ok(doc) = state.library.document(*id).await {
            kbs.insert(doc.kb_id);
        }
    }
    kbs.into_iter().collect()
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

fn event_sender(channel: Channel<ChatEvent>) -> impl Fn(ChatEvent) + Send + Sync {
    move |e| {
        // A closed channel (window reloaded) must not stop the answer from being stored.
        let _ = channel.send(e);
    }
}

/// Answers a question; tokens stream over `on_event`. `request_id` lets `chat_stop` stop it.
#[tauri::command]
#[specta::specta]
pub async fn chat_ask(
    state: State<'_, AppState>,
    request: AskRequest,
    request_id: u32,
    on_event: Channel<ChatEvent>,
) -> Result<ChatMessage, ApiError> {
    let guard = state.answers.begin(request_id, &state.shutdown);
    Ok(state
        .library
        .ask(request, &event_sender(on_event), guard.control())
        .await?)
}

/// Asks a conversation's last question again, replacing its answer.
#[tauri::command]
#[specta::specta]
pub async fn chat_regenerate(
    state: State<'_, AppState>,
    conversation_id: u32,
    request_id: u32,
    on_event: Channel<ChatEvent>,
) -> Result<ChatMessage, ApiError> {
    let guard = state.answers.begin(request_id, &state.shutdown);
    Ok(state
        .library
        .regenerate(
            conversation_id.into(),
            &event_sender(on_event),
            guard.control(),
        )
        .await?)
}

/// Stops an answer being written; the text so far is kept. False when none runs.
#[tauri::command]
#[specta::specta]
pub fn chat_stop(state: State<'_, AppState>, request_id: u32) -> bool {
    state.answers.cancel(&request_id)
}

#[tauri::command]
#[specta::specta]
pub async fn conversations_list(
    state: State<'_, AppState>,
    kb_id: u32,
) -> Result<Vec<Conversation>, ApiError> {
    Ok(state.library.conversations(kb_id.into()).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn conversation_messages(
    state: State<'_, AppState>,
    conversation_id: u32,
) -> Result<Vec<ChatMessage>, ApiError> {
    Ok(state
        .library
        .conversation_messages(conversation_id.into())
        .await?)
}

#[tauri::command]
#[specta::specta]
pub async fn conversation_rename(
    state: State<'_, AppState>,
    conversation_id: u32,
    title: String,
) -> Result<Conversation, ApiError> {
    Ok(state
        .library
        .rename_conversation(conversation_id.into(), &title)
        .await?)
}

#[tauri::command]
#[specta::specta]
pub async fn conversation_delete(
    state: State<'_, AppState>,
    conversation_id: u32,
) -> Result<(), ApiError> {
    Ok(state
        .library
        .delete_conversation(conversation_id.into())
        .await?)
}

/// Writes a conversation as Markdown to `path` (chosen in the save dialog).
#[tauri::command]
#[specta::specta]
pub async fn conversation_export(
    state: State<'_, AppState>,
    conversation_id: u32,
    path: String,
) -> Result<(), ApiError> {
    Ok(state
        .library
        .export_conversation_to(conversation_id.into(), std::path::Path::new(&path))
        .await?)
}

/// The text around a cited span, for the source viewer.
#[tauri::command]
#[specta::specta]
pub async fn source_view(
    state: State<'_, AppState>,
    document_id: u32,
    start_char: u32,
    end_char: u32,
) -> Result<SourceView, ApiError> {
    Ok(state
        .library
        .source_view(document_id.into(), start_char.into(), end_char.into())
        .await?)
}

/// Opens a catalogued document in the system's default application. Only documents in the
/// catalogue can be opened: the window names an id, never a path.
#[tauri::command]
#[specta::specta]
pub async fn document_open(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    document_id: u32,
) -> Result<(), ApiError> {
    let doc = state.library.document(document_id.into()).await?;
    app.opener()
        .open_path(&doc.path, None::<&str>)
        .map_err(|e| opener_error(&doc.path, &e))
}

/// Shows a catalogued document in the system's file manager.
#[tauri::command]
#[specta::specta]
pub async fn document_reveal(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    document_id: u32,
) -> Result<(), ApiError> {
    let doc = state.library.document(document_id.into()).await?;
    app.opener()
        .reveal_item_in_dir(&doc.path)
        .map_err(|e| opener_error(&doc.path, &e))
}

fn opener_error(path: &str, e: &tauri_plugin_opener::Error) -> ApiError {
    ApiError::from(CoreError::Io {
        path: path.into(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Vector indexing status (the status bar listens to `VectorStatusChanged` after this).
#[tauri::command]
#[specta::specta]
pub fn vector_status(state: State<'_, AppState>) -> lexinaut_core::vectors::VectorStatus {
    state.library.vector_status()
}

/// The settings file and environment, for the settings screen.
#[tauri::command]
#[specta::specta]
pub fn settings_get(
    state: State<'_, AppState>,
) -> Result<lexinaut_core::settings::SettingsView, ApiError> {
    Ok(state.library.settings()?)
}

/// Saves the settings and switches to the backends they name (no restart).
#[tauri::command]
#[specta::specta]
pub async fn settings_save(
    state: State<'_, AppState>,
    settings: lexinaut_core::settings::Settings,
) -> Result<lexinaut_core::settings::SettingsView, ApiError> {
    Ok(state.library.apply_settings(settings)?)
}

/// Running and launchable models of the configured Xinference.
#[tauri::command]
#[specta::specta]
pub async fn models_list(
    state: State<'_, AppState>,
) -> Result<lexinaut_core::models::ModelsView, ApiError> {
    Ok(state.library.models().await?)
}

/// Launches a model on Xinference and waits until it serves; progress streams over `on_progress`.
#[tauri::command]
#[specta::specta]
pub async fn model_launch(
    state: State<'_, AppState>,
    request: lexinaut_core::models::LaunchRequest,
    on_progress: Channel<lexinaut_core::backends::LaunchProgress>,
) -> Result<String, ApiError> {
    let report = move |p| {
        let _ = on_progress.send(p);
    };
    Ok(state
        .library
        .launch_model(&request, &report, state.shutdown.child_token())
        .await?)
}

/// Stops a model running on Xinference.
#[tauri::command]
#[specta::specta]
pub async fn model_terminate(state: State<'_, AppState>, uid: String) -> Result<(), ApiError> {
    Ok(state.library.terminate_model(&uid).await?)
}

/// Starts mirroring a folder into a knowledge base; the running watcher scans it at once.
#[tauri::command]
#[specta::specta]
pub async fn watch_add(
    state: State<'_, AppState>,
    kb_id: u32,
    path: String,
    options: WatchOptions,
) -> Result<WatchedFolder, ApiError> {
    Ok(state
        .library
        .add_watch(kb_id.into(), std::path::Path::new(&path), options)
        .await?)
}

/// Stops watching a folder; with `remove_documents` its documents leave the knowledge base too.
/// Returns how many documents were removed.
#[tauri::command]
#[specta::specta]
pub async fn watch_remove(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    folder_id: u32,
    remove_documents: bool,
) -> Result<u32, ApiError> {
    let folder_id = i64::from(folder_id);
    let kb_id = state
        .library
        .list_watches(None)
        .await?
        .into_iter()
        .find(|f| f.id == folder_id)
        .map(|f| f.kb_id);
    let removed = state
        .library
        .remove_watch(folder_id, remove_documents)
        .await?;
    if let (Some(kb_id), true) = (kb_id, removed > 0) {
        let _ = CatalogueChanged { kb_id }.emit(&app);
    }
    Ok(u32::try_from(removed).unwrap_or(u32::MAX))
}

/// Watched folders of one knowledge base (all when `kb_id` is null), with their status.
#[tauri::command]
#[specta::specta]
pub async fn watch_list(
    state: State<'_, AppState>,
    kb_id: Option<u32>,
) -> Result<Vec<WatchedFolder>, ApiError> {
    Ok(state.library.list_watches(kb_id.map(i64::from)).await?)
}

/// Pauses a watched folder, or resumes it (it is scanned to catch up).
#[tauri::command]
#[specta::specta]
pub async fn watch_pause(
    state: State<'_, AppState>,
    folder_id: u32,
    paused: bool,
) -> Result<WatchedFolder, ApiError> {
    Ok(state.library.pause_watch(folder_id.into(), paused).await?)
}

/// Whether the folder watcher runs (the window listens to `WatcherStatusChanged` after this).
#[tauri::command]
#[specta::specta]
pub fn watch_status(state: State<'_, AppState>) -> WatcherStatus {
    state.watcher_status()
}
