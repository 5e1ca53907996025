import { Channel } from "@tauri-apps/api/core";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { open, save } from "@tauri-apps/plugin-dialog";
import { commands, events } from "../bindings";
import type { ApiError, ChatEvent, ImportProgress, LaunchProgress } from "../bindings";
import { BackendError, type Backend, type Point, type Shell } from "./index";

type Result<T> = { status: "ok"; data: T } | { status: "error"; error: ApiError };

async function unwrap<T>(r: Promise<Result<T>>): Promise<T> {
  const result = await r;
  if (result.status === "error") throw new BackendError(result.error);
  return result.data;
}

function eventChannel(onEvent: (e: ChatEvent) => void): Channel<ChatEvent> {
  const channel = new Channel<ChatEvent>();
  channel.onmessage = onEvent;
  return channel;
}

function progressChannel(onProgress: (p: ImportProgress) => void): Channel<ImportProgress> {
  const channel = new Channel<ImportProgress>();
  channel.onmessage = onProgress;
  return channel;
}

export const tauriBackend: Backend = {
  appInfo: () => commands.appInfo(),
  listKbs: () => unwrap(commands.kbList()),
  createKb: (name) => unwrap(commands.kbCreate(name)),
  renameKb: (kbId, name) => unwrap(commands.kbRename(kbId, name)),
  updateKbSettings: (kbId, settings) => unwrap(commands.kbUpdateSettings(kbId, settings)),
  deleteKb: (kbId) => unwrap(commands.kbDelete(kbId)),
  listDocuments: (kbId) => unwrap(commands.docsList(kbId)),
  deleteDocuments: (ids) => unwrap(commands.docsDelete(ids)),
  reindexDocuments: (ids, onProgress) => unwrap(commands.docsReindex(ids, progressChannel(onProgress))),
  importPaths: (kbId, paths, onProgress) =>
    unwrap(commands.importPaths(kbId, paths, progressChannel(onProgress))),
  resumeImport: (kbId, onProgress) => unwrap(commands.importResume(kbId, progressChannel(onProgress))),
  cancelImport: (kbId) => commands.importCancel(kbId),
  setImportPaused: (kbId, paused) => commands.importSetPaused(kbId, paused),
  importJobs: (kbId) => unwrap(commands.importJobs(kbId)),
  search: (kbId, query, k) => unwrap(commands.search(kbId, query, k)),
  onCatalogueChanged: (cb) => events.catalogueChanged.listen((e) => cb(e.payload.kb_id)),
  vectorStatus: () => commands.vectorStatus(),
  doctor: () => unwrap(commands.doctor()),
  getSettings: () => unwrap(commands.settingsGet()),
  saveSettings: (settings) => unwrap(commands.settingsSave(settings)),
  listModels: () => unwrap(commands.modelsList()),
  launchModel: (request, onProgress) => {
    const channel = new Channel<LaunchProgress>();
    channel.onmessage = onProgress;
    return unwrap(commands.modelLaunch(request, channel));
  },
  terminateModel: (uid) => unwrap(commands.modelTerminate(uid)).then(() => undefined),
  onVectorStatus: (cb) => events.vectorStatusChanged.listen((e) => cb(e.payload)),
  ask: (request, requestId, onEvent) => unwrap(commands.chatAsk(request, requestId, eventChannel(onEvent))),
  regenerate: (conversationId, requestId, onEvent) =>
    unwrap(commands.chatRegenerate(conversationId, requestId, eventChannel(onEvent))),
  stopAnswer: (requestId) => commands.chatStop(requestId),
  listConversations: (kbId) => unwrap(commands.conversationsList(kbId)),
  conversationMessages: (id) => unwrap(commands.conversationMessages(id)),
  renameConversation: (id, title) => unwrap(commands.conversationRename(id, title)),
  deleteConversation: (id) => unwrap(commands.conversationDelete(id)).then(() => undefined),
  exportConversation: (id, path) => unwrap(commands.conversationExport(id, path)).then(() => undefined),
  sourceView: (documentId, start, end) => unwrap(commands.sourceView(documentId, start, end)),
  openDocument: (id) => unwrap(commands.documentOpen(id)).then(() => undefined),
  revealDocument: (id) => unwrap(commands.documentReveal(id)).then(() => undefined),
  listWatches: (kbId) => unwrap(commands.watchList(kbId)),
  addWatch: (kbId, path, options) => unwrap(commands.watchAdd(kbId, path, options)),
  removeWatch: (id, removeDocuments) => unwrap(commands.watchRemove(id, removeDocuments)),
  pauseWatch: (id, paused) => unwrap(commands.watchPause(id, paused)),
  watcherStatus: () => commands.watchStatus(),
  onWatchEvent: (cb) => events.watchChanged.listen((e) => cb(e.payload)),
  onWatcherStatus: (cb) => events.watcherStatusChanged.listen((e) => cb(e.payload)),
};

// Drag positions arrive in physical pixels relative to the webview; the page works in CSS pixels.
const toCss = (p: { x: number; y: number }): Point => ({
  x: p.x / (globalThis.devicePixelRatio || 1),
  y: p.y / (globalThis.devicePixelRatio || 1),
});

const asList = (picked: string | string[] | null): string[] =>
  picked === null ? [] : Array.isArray(picked) ? picked : [picked];

export const tauriShell: Shell = {
  pickFiles: async () => asList(await open({ multiple: true, directory: false })),
  pickFolder: async () => asList(await open({ multiple: true, directory: true })),
  pickSavePath: async (defaultName) =>
    save({ defaultPath: defaultName, filters: [{ name: "Markdown", extensions: ["md"] }] }),
  onDragDrop: (h) =>
    getCurrentWebview().onDragDropEvent((event) => {
      const p = event.payload;
      if (p.type === "enter" || p.type === "over") h.over(toCss(p.position));
      else if (p.type === "leave") h.leave();
      else if (p.type === "drop") h.drop(p.paths, toCss(p.position));
    }),
};
