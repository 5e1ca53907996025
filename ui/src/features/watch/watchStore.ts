// Watched folders in the window: every folder's status (all knowledge bases, for the global sync
// indicator), kept current by the watcher's events — never by polling.
import { reactive, type InjectionKey } from "vue";
import { BackendError, type Backend } from "../../backend";
import type { SyncReport, WatchEvent, WatchOptions, WatchedFolder, WatcherStatus } from "../../bindings";

/** What the top bar shows about syncing, over every knowledge base. */
export type SyncSummary =
  | { state: "none" } // no watched folders
  | { state: "stopped"; message: string } // the watcher cannot run
  | { state: "syncing"; pending: number }
  | { state: "attention"; folders: number } // missing or failing folders
  | { state: "idle"; lastSyncAt: number | null };

export interface WatchStore {
  state: {
    folders: WatchedFolder[];
    watcher: WatcherStatus;
    /** The last batch applied, per folder id. */
    lastReport: Record<number, SyncReport>;
    /** Errors reported by the watcher that are not about a folder's state. */
    lastError: string | null;
    error: string | null;
  };
  load(): Promise<void>;
  /** Applies one watcher event to the state (exported for tests and the event listener). */
  apply(event: WatchEvent): void;
  foldersOf(kbId: number | null): WatchedFolder[];
  summary(): SyncSummary;
  add(kbId: number, path: string, options?: WatchOptions): Promise<WatchedFolder | null>;
  remove(folderId: number, removeDocuments: boolean): Promise<boolean>;
  setPaused(folderId: number, paused: boolean): Promise<boolean>;
  stop(): void;
}

export const WATCH_KEY: InjectionKey<WatchStore> = Symbol("lexinaut-watch");

const message = (e: unknown): string =>
  e instanceof BackendError || e instanceof Error ? e.message : String(e);

export function createWatchStore(backend: Backend): WatchStore {
  const state = reactive<WatchStore["state"]>({
    folders: [],
    watcher: { running: false, error: null },
    lastReport: {},
    lastError: null,
    error: null,
  });
  const unlisten: (() => void)[] = [];

  const upsert = (folder: WatchedFolder) => {
    const i = state.folders.findIndex((f) => f.id === folder.id);
    if (i >= 0) state.folders[i] = folder;
    else state.folders.push(folder);
  };
  // A command's answer can reach the window after the events its change caused (they travel
  // separately), so it only fills in a folder no event has told about yet; the core sends a
  // status event for every add, pause and resume.
  const learn = (folder: WatchedFolder) => {
    if (!state.folders.some((f) => f.id === folder.id)) state.folders.push(folder);
  };

  const guard = async (f: () => Promise<void>): Promise<boolean> => {
    try {
      state.error = null;
      await f();
      return true;
    } catch (e) {
      state.error = message(e);
      return false;
    }
  };

  const store: WatchStore = {
    state,
    load: async () => {
      await guard(async () => {
        // Listen first, then read: an event between the two is applied on top of a fresh list
        // at worst twice, never lost.
        unlisten.push(await backend.onWatchEvent((e) => store.apply(e)));
        unlisten.push(await backend.onWatcherStatus((s) => (state.watcher = s)));
        const [folders, watcher] = await Promise.all([backend.listWatches(null), backend.watcherStatus()]);
        state.folders = folders;
        state.watcher = watcher;
      });
    },
    apply: (event) => {
      switch (event.kind) {
        case "folder_status": {
          const { kind: _kind, ...folder } = event;
          upsert(folder);
          break;
        }
        case "folder_removed":
          state.folders = state.folders.filter((f) => f.id !== event.folder_id);
          delete state.lastReport[event.folder_id];
          break;
        case "synced": {
          const { kind: _kind, ...report } = event;
          state.lastReport[report.folder_id] = report;
          const f = state.folders.find((x) => x.id === report.folder_id);
          if (f && (f.last_sync_at ?? 0) < report.at) f.last_sync_at = report.at;
          break;
        }
        case "error":
          if (event.folder_id === null) state.lastError = event.message;
          break;
      }
    },
    foldersOf: (kbId) =>
      state.folders.filter((f) => f.kb_id === kbId).sort((a, b) => a.path.localeCompare(b.path)),
    summary: () => {
      if (!state.watcher.running && state.watcher.error) return { state: "stopped", message: state.watcher.error };
      if (state.folders.length === 0) return { state: "none" };
      const pending = state.folders.reduce((n, f) => n + (f.state === "active" || f.state === "error" ? f.pending : 0), 0);
      if (pending > 0) return { state: "syncing", pending };
      const troubled = state.folders.filter((f) => f.state === "missing" || f.state === "error").length;
      if (troubled > 0) return { state: "attention", folders: troubled };
      const last = state.folders.reduce<number | null>(
        (m, f) => (f.last_sync_at !== null && (m === null || f.last_sync_at > m) ? f.last_sync_at : m),
        null,
      );
      return { state: "idle", lastSyncAt: last };
    },
    add: async (kbId, path, options = {}) => {
      let added: WatchedFolder | null = null;
      await guard(async () => {
        const folder = await backend.addWatch(kbId, path.trim(), options);
        learn(folder);
        added = folder;
      });
      return added;
    },
    remove: (folderId, removeDocuments) =>
      guard(async () => {
        await backend.removeWatch(folderId, removeDocuments);
        state.folders = state.folders.filter((f) => f.id !== folderId);
      }),
    setPaused: (folderId, paused) =>
      guard(async () => {
        learn(await backend.pauseWatch(folderId, paused));
      }),
    stop: () => {
      for (const u of unlisten.splice(0)) u();
    },
  };
  return store;
}

/** Globs typed one per line or separated by commas, without blanks. */
export function parseGlobs(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((g) => g.trim())
    .filter((g) => g.length > 0);
}
