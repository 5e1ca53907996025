// App state shared by the features: knowledge bases, the current one's documents, imports.
import { reactive, type InjectionKey } from "vue";
import { BackendError, type Backend } from "./backend";
import type {
  Document,
  ImportJobs,
  ImportProgress,
  ImportSummary,
  KbDeletion,
  KbSettings,
  KnowledgeBase,
} from "./bindings";
import { t } from "./i18n";

export interface AppStore {
  state: {
    kbs: KnowledgeBase[];
    currentKbId: number | null;
    documents: Document[];
    progress: ImportProgress | null;
    lastImport: ImportSummary | null;
    /** What produced `lastImport`: an import of new paths, or a re-index of documents. */
    lastImportKind: "import" | "reindex";
    importing: boolean;
    /** Paths dropped or picked while an import ran: imported next, in order, per knowledge base. */
    queued: { kbId: number; paths: string[] }[];
    /** The current knowledge base's import jobs (files per step), loaded with its documents. */
    jobs: ImportJobs | null;
    error: string | null;
  };
  backend: Backend;
  load(): Promise<void>;
  selectKb(id: number): Promise<void>;
  createKb(name: string): Promise<void>;
  /** The following return whether they succeeded (the error is in `state.error` otherwise). */
  renameKb(id: number, name: string): Promise<boolean>;
  updateKbSettings(id: number, settings: KbSettings): Promise<boolean>;
  deleteKb(id: number): Promise<KbDeletion | null>;
  deleteDocuments(ids: number[]): Promise<boolean>;
  reindexDocuments(ids: number[]): Promise<boolean>;
  refreshDocuments(): Promise<void>;
  importPaths(paths: string[]): Promise<void>;
  resumeImport(): Promise<void>;
  cancelImport(): Promise<void>;
  /** Pauses or resumes the running import (files in hand finish first). */
  setImportPaused(paused: boolean): Promise<void>;
}

/** The progress of an import that has not reported yet. */
export const noProgress = (): ImportProgress => ({
  total: 0,
  processed: 0,
  documents: 0,
  skipped: 0,
  failed: 0,
  current: null,
  finished: false,
  bytes_total: 0,
  bytes_processed: 0,
  elapsed_ms: 0,
  files_per_second: 0,
  eta_seconds: null,
  paused: false,
});

/**
 * `run` made to run one at a time: a call while it runs gets one more run after it (shared by
 * every call meanwhile), so a caller always waits for a run that started after its call, and a
 * burst of calls costs at most two runs.
 */
export function coalesced(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const call = (): Promise<void> => {
    if (!running) {
      running = run().finally(() => {
        running = null;
      });
      return running;
    }
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = null;
        return call();
      });
    return next;
  };
  return call;
}

/** How often the document list follows a running import, in milliseconds. */
export const LIST_EVERY_MS = 2000;

/** One summary for imports run one after the other (a drop queued behind another import). */
export const mergeSummaries = (a: ImportSummary, b: ImportSummary): ImportSummary => ({
  documents: a.documents + b.documents,
  duplicates: a.duplicates + b.duplicates,
  chunks: a.chunks + b.chunks,
  skipped: a.skipped + b.skipped,
  unchanged: a.unchanged + b.unchanged,
  skipped_files: [...a.skipped_files, ...b.skipped_files],
  failed: [...a.failed, ...b.failed],
  cancelled: a.cancelled || b.cancelled,
});

/** Files of an import not yet stored (queued, extracting, chunking or indexing). */
export const unfinishedFiles = (jobs: ImportJobs | null): number =>
  jobs ? (["queued", "extracting", "chunking", "indexing"] as const).reduce((n, s) => n + (jobs.counts[s] ?? 0), 0) : 0;

export const STORE_KEY: InjectionKey<AppStore> = Symbol("lexinaut-store");

const message = (e: unknown): string =>
  e instanceof BackendError || e instanceof Error ? e.message : String(e);

export function createAppStore(backend: Backend): AppStore {
  const state = reactive<AppStore["state"]>({
    kbs: [],
    currentKbId: null,
    documents: [],
    progress: null,
    lastImport: null,
    lastImportKind: "import",
    importing: false,
    queued: [],
    jobs: null,
    error: null,
  });

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

  const quietly = (f: () => Promise<void>): Promise<void> => guard(f).then(() => undefined);

  const refreshKbs = async () => {
    state.kbs = await backend.listKbs();
  };

  // A watched folder syncing a burst sends many "catalogue changed" events: at most one load runs,
  // and one more follows it if anything changed meanwhile (a list of 10,000 documents is not
  // reloaded once per event). A caller waits for a load that started after its call, never for
  // the stream of events to stop (an import's summary must not wait on a busy watched folder).
  const loadDocuments = async (): Promise<void> => {
    for (;;) {
      const kbId = state.currentKbId;
      let docs: Document[];
      let jobs: ImportJobs | null;
      try {
        docs = kbId === null ? [] : await backend.listDocuments(kbId);
        jobs = kbId === null ? null : await backend.importJobs(kbId);
      } catch (e) {
        if (!(e instanceof BackendError && e.code === "not_found")) throw e;
        // The knowledge base was deleted (here or by the CLI): move on to one that exists.
        await refreshKbs();
        if (state.currentKbId === kbId) await pickKb(null);
        continue;
      }
      // Another knowledge base was picked meanwhile: load that one instead.
      if (kbId !== state.currentKbId) continue;
      state.documents = docs;
      state.jobs = jobs;
      return;
    }
  };
  const refreshDocuments = coalesced(loadDocuments);

  // The knowledge base to show: the one asked for if it exists, else the first; a library
  // without any gets a default one, ready to drop files into.
  const pickKb = async (wanted: number | null) => {
    if (state.kbs.length === 0) {
      await backend.createKb(t("kb.defaultName"));
      await refreshKbs();
    }
    const pick = state.kbs.find((k) => k.id === wanted) ?? state.kbs[0];
    state.currentKbId = pick ? pick.id : null;
    if (pick) globalThis.localStorage?.setItem("lexinaut.kb", String(pick.id));
  };

  // What the user asked of the running import. Cancel and Pause show as soon as an import is
  // asked for, but the backend only knows the import once its command runs (on a busy machine
  // it can wait for a thread while a click's command does not): it then answers "none runs".
  // The wish is kept and sent again with each progress report (the first comes from the running
  // import) until the backend has it, so a click is never lost.
  let wish: { kbId: number; cancel: boolean; cancelTaken: boolean; paused: boolean | null } | null = null;

  const sendWish = async () => {
    const w = wish;
    if (!w) return;
    if (w.cancel) {
      if (!w.cancelTaken) w.cancelTaken = await backend.cancelImport(w.kbId);
    } else if (w.paused !== null && w.paused !== (state.progress?.paused ?? false)) {
      await backend.setImportPaused(w.kbId, w.paused);
    }
  };
  // One send at a time; a report or click arriving meanwhile sends again after it (the send in
  // flight may have been answered "none runs" just before the import registered).
  const deliverWish = coalesced(sendWish);

  // One import at a time per window: progress and the summary live in the store. The summary
  // replaces the progress bar in one render, once the catalogue shows what the import did:
  // nothing on the panel moves under the pointer after the result appears.
  // What was dropped meanwhile goes next (a cancel empties the queue: it stops what the user
  // asked for, queued or not). The summary shown at the end covers the imports run one after
  // the other into the same knowledge base: a failure of the first stays listed.
  const runImport = async (
    kbId: number,
    start: (onProgress: (p: ImportProgress) => void) => Promise<ImportSummary>,
    kind: "import" | "reindex" = "import",
    earlier: ImportSummary | null = null,
  ): Promise<void> => {
    let shown = earlier;
    try {
      shown = await runOneImport(kbId, start, kind, earlier);
    } finally {
      const next = state.queued.shift();
      if (next) {
        const run = (onProgress: (p: ImportProgress) => void) => backend.importPaths(next.kbId, next.paths, onProgress);
        await runImport(next.kbId, run, "import", next.kbId === kbId ? shown : null);
      }
    }
  };

  const runOneImport = async (
    kbId: number,
    start: (onProgress: (p: ImportProgress) => void) => Promise<ImportSummary>,
    kind: "import" | "reindex",
    earlier: ImportSummary | null,
  ): Promise<ImportSummary | null> => {
    state.importing = true;
    state.lastImport = null;
    state.lastImportKind = kind;
    state.progress = noProgress();
    const ours = { kbId, cancel: false, cancelTaken: false, paused: null };
    wish = ours;
    let summary: ImportSummary | null = null;
    try {
      let listed = Date.now();
      summary = await start((p) => {
        const pausedNow = p.paused && !state.progress?.paused;
        state.progress = p;
        if (wish === ours && (ours.cancel || ours.paused !== null)) {
          deliverWish().catch((e) => (state.error = message(e)));
        }
        // The catalogue fills as the import goes: the list follows every few seconds, and at
        // once when the import pauses (what is stored so far is what the user looks at).
        if (kbId === state.currentKbId && (pausedNow || Date.now() - listed >= LIST_EVERY_MS)) {
          listed = Date.now();
          refreshDocuments().catch((e) => (state.error = message(e)));
        }
      });
      await refreshDocuments();
      await refreshKbs();
    } finally {
      if (wish === ours) wish = null;
      state.lastImport = summary && earlier ? mergeSummaries(earlier, summary) : (summary ?? earlier);
      state.importing = false;
    }
    return state.lastImport;
  };

  const store: AppStore = {
    state,
    backend,
    load: () =>
      quietly(async () => {
        await refreshKbs();
        await pickKb(Number(globalThis.localStorage?.getItem("lexinaut.kb")));
        await refreshDocuments();
        await backend.onCatalogueChanged((kbId) => {
          if (kbId === state.currentKbId) void guard(refreshDocuments);
          void guard(refreshKbs);
        });
      }),
    selectKb: (id) =>
      quietly(async () => {
        state.currentKbId = id;
        state.lastImport = null;
        globalThis.localStorage?.setItem("lexinaut.kb", String(id));
        await refreshDocuments();
      }),
    createKb: (name) =>
      quietly(async () => {
        const kb = await backend.createKb(name);
        await refreshKbs();
        await store.selectKb(kb.id);
      }),
    renameKb: (id, name) =>
      guard(async () => {
        await backend.renameKb(id, name);
        await refreshKbs();
      }),
    updateKbSettings: (id, settings) =>
      guard(async () => {
        await backend.updateKbSettings(id, settings);
        await refreshKbs();
      }),
    deleteKb: async (id) => {
      let deleted: KbDeletion | null = null;
      await guard(async () => {
        deleted = await backend.deleteKb(id);
        await refreshKbs();
        if (state.currentKbId === id) {
          state.lastImport = null;
          await pickKb(null);
        }
        await refreshDocuments();
      });
      return deleted;
    },
    deleteDocuments: (ids) =>
      guard(async () => {
        if (ids.length === 0) return;
        await backend.deleteDocuments(ids);
        await refreshDocuments();
        await refreshKbs();
      }),
    reindexDocuments: (ids) =>
      guard(async () => {
        if (ids.length === 0 || state.currentKbId === null) return;
        await runImport(state.currentKbId, (onProgress) => backend.reindexDocuments(ids, onProgress), "reindex");
      }),
    refreshDocuments: () => quietly(refreshDocuments),
    importPaths: (paths) =>
      quietly(async () => {
        if (paths.length === 0) return;
        if (state.currentKbId === null) throw new Error(t("import.noKb"));
        const kbId = state.currentKbId;
        if (state.importing) {
          // One import at a time: two at once would share the progress bar and its buttons.
          const last = state.queued[state.queued.length - 1];
          if (last?.kbId === kbId) last.paths.push(...paths);
          else state.queued.push({ kbId, paths: [...paths] });
          return;
        }
        await runImport(kbId, (onProgress) => backend.importPaths(kbId, paths, onProgress));
      }),
    resumeImport: () =>
      quietly(async () => {
        if (state.currentKbId === null) return;
        const kbId = state.currentKbId;
        await runImport(kbId, (onProgress) => backend.resumeImport(kbId, onProgress));
      }),
    cancelImport: () =>
      quietly(async () => {
        if (!wish) return;
        state.queued = [];
        wish.cancel = true;
        await deliverWish();
      }),
    setImportPaused: (paused) =>
      quietly(async () => {
        if (!wish) return;
        wish.paused = paused;
        await deliverWish();
      }),
  };
  return store;
}
