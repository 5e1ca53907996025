import { Channel } from "@tauri-apps/api/core";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { open } from "@tauri-apps/plugin-dialog";
import { commands, events } from "../bindings";
import type { ApiError, ImportProgress } from "../bindings";
import { BackendError, type Backend, type Shell } from "./index";

type Result<T> = { status: "ok"; data: T } | { status: "error"; error: ApiError };

async function unwrap<T>(r: Promise<Result<T>>): Promise<T> {
  const result = await r;
  if (result.status === "error") throw new BackendError(result.error);
  return result.data;
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
  listDocuments: (kbId) => unwrap(commands.docsList(kbId)),
  importPaths: (kbId, paths, onProgress) =>
    unwrap(commands.importPaths(kbId, paths, progressChannel(onProgress))),
  resumeImport: (kbId, onProgress) => unwrap(commands.importResume(kbId, progressChannel(onProgress))),
  cancelImport: (kbId) => commands.importCancel(kbId),
  search: (kbId, query, k) => unwrap(commands.search(kbId, query, k)),
  onCatalogueChanged: (cb) => events.catalogueChanged.listen((e) => cb(e.payload.kb_id)),
};

const asList = (picked: string | string[] | null): string[] =>
  picked === null ? [] : Array.isArray(picked) ? picked : [picked];

export const tauriShell: Shell = {
  pickFiles: async () => asList(await open({ multiple: true, directory: false })),
  pickFolder: async () => asList(await open({ multiple: true, directory: true })),
  onDragDrop: (h) =>
    getCurrentWebview().onDragDropEvent((event) => {
      const p = event.payload;
      if (p.type === "enter" || p.type === "over") h.over();
      else if (p.type === "leave") h.leave();
      else if (p.type === "drop") h.drop(p.paths);
    }),
};
