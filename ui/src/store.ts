// App state shared by the features: knowledge bases, the current one's documents, imports.
import { reactive, type InjectionKey } from "vue";
import { BackendError, type Backend } from "./backend";
import type { Document, ImportProgress, ImportSummary, KnowledgeBase } from "./bindings";
import { t } from "./i18n";

export interface AppStore {
  state: {
    kbs: KnowledgeBase[];
    currentKbId: number | null;
    documents: Document[];
    progress: ImportProgress | null;
    lastImport: ImportSummary | null;
    importing: boolean;
    error: string | null;
  };
  backend: Backend;
  load(): Promise<void>;
  selectKb(id: number): Promise<void>;
  createKb(name: string): Promise<void>;
  refreshDocuments(): Promise<void>;
  importPaths(paths: string[]): Promise<void>;
  resumeImport(): Promise<void>;
  cancelImport(): Promise<void>;
}

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
    importing: false,
    error: null,
  });

  const guard = async (f: () => Promise<void>) => {
    try {
      state.error = null;
      await f();
    } catch (e) {
      state.error = message(e);
    }
  };

  const refreshKbs = async () => {
    state.kbs = await backend.listKbs();
  };

  const refreshDocuments = async () => {
    state.documents = state.currentKbId === null ? [] : await backend.listDocuments(state.currentKbId);
  };

  // One import at a time per window: progress and the summary live in the store.
  const runImport = async (
    start: (onProgress: (p: ImportProgress) => void) => Promise<ImportSummary>,
  ) => {
    state.importing = true;
    state.lastImport = null;
    state.progress = { total: 0, processed: 0, documents: 0, skipped: 0, failed: 0, current: null, finished: false };
    try {
      state.lastImport = await start((p) => {
        state.progress = p;
      });
      await refreshDocuments();
      await refreshKbs();
    } finally {
      state.importing = false;
    }
  };

  const store: AppStore = {
    state,
    backend,
    load: () =>
      guard(async () => {
        await refreshKbs();
        if (state.kbs.length === 0) {
          // First start: a knowledge base ready to drop files into.
          await backend.createKb(t("kb.defaultName"));
          await refreshKbs();
        }
        const saved = Number(globalThis.localStorage?.getItem("lexinaut.kb"));
        const pick = state.kbs.find((k) => k.id === saved) ?? state.kbs[0];
        state.currentKbId = pick ? pick.id : null;
        await refreshDocuments();
        await backend.onCatalogueChanged((kbId) => {
          if (kbId === state.currentKbId) void guard(refreshDocuments);
          void guard(refreshKbs);
        });
      }),
    selectKb: (id) =>
      guard(async () => {
        state.currentKbId = id;
        state.lastImport = null;
        globalThis.localStorage?.setItem("lexinaut.kb", String(id));
        await refreshDocuments();
      }),
    createKb: (name) =>
      guard(async () => {
        const kb = await backend.createKb(name);
        await refreshKbs();
        await store.selectKb(kb.id);
      }),
    refreshDocuments: () => guard(refreshDocuments),
    importPaths: (paths) =>
      guard(async () => {
        if (paths.length === 0) return;
        if (state.currentKbId === null) throw new Error(t("import.noKb"));
        const kbId = state.currentKbId;
        await runImport((onProgress) => backend.importPaths(kbId, paths, onProgress));
      }),
    resumeImport: () =>
      guard(async () => {
        if (state.currentKbId === null) return;
        const kbId = state.currentKbId;
        await runImport((onProgress) => backend.resumeImport(kbId, onProgress));
      }),
    cancelImport: () =>
      guard(async () => {
        if (state.currentKbId !== null && state.importing) await backend.cancelImport(state.currentKbId);
      }),
  };
  return store;
}
