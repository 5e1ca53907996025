import { beforeEach, describe, expect, it } from "vitest";
import { BackendError, type Backend } from "./backend";
import type { ImportProgress, ImportSummary, KnowledgeBase } from "./bindings";
import { setLocale } from "./i18n";
import { createAppStore } from "./store";

// The chat half of Backend, which these tests never reach (chatStore.test.ts covers it).
function chatUnused(): Pick<Backend, "ask" | "regenerate" | "stopAnswer" | "listConversations" | "conversationMessages"
  | "renameConversation" | "deleteConversation" | "exportConversation" | "sourceView" | "openDocument" | "revealDocument"> {
  const unused = () => Promise.reject(new Error("not used by the app store tests"));
  return {
    ask: unused, regenerate: unused, stopAnswer: unused, listConversations: unused, conversationMessages: unused,
    renameConversation: unused, deleteConversation: unused, exportConversation: unused, sourceView: unused,
    openDocument: unused, revealDocument: unused,
  };
}

// An in-memory Backend double: the UI logic under test talks only to this interface.
function memoryBackend() {
  const kbs: KnowledgeBase[] = [];
  const calls: string[] = [];
  let changed: ((kbId: number) => void) | null = null;
  const backend: Backend = {
    appInfo: async () => ({ version: "test", data_dir: "/tmp" }),
    listKbs: async () => kbs.map((k) => ({ ...k })),
    createKb: async (name) => {
      if (kbs.some((k) => k.name === name))
        throw new BackendError({ code: "already_exists", message: `knowledge base "${name}" already exists` });
      const kb = { id: kbs.length + 1, name, chunk_size: 512, chunk_overlap: 64, created_at: 0, document_count: 0 };
      kbs.push(kb);
      calls.push(`create:${name}`);
      return kb;
    },
    listDocuments: async (kbId) => {
      calls.push(`docs:${kbId}`);
      return [];
    },
    importPaths: async (kbId, paths, onProgress) => {
      calls.push(`import:${kbId}:${paths.join(",")}`);
      const p: ImportProgress = { total: 2, processed: 1, documents: 1, skipped: 0, failed: 0, current: paths[0] ?? null, finished: false };
      onProgress(p);
      onProgress({ ...p, processed: 2, failed: 1, finished: true });
      const summary: ImportSummary = {
        documents: 1, chunks: 4, skipped: 0, unchanged: 0, skipped_files: [],
        failed: [{ path: "/x/bad.txt", reason: "not a text file (binary content)" }], cancelled: false,
      };
      return summary;
    },
    resumeImport: async (kbId, onProgress) => {
      calls.push(`resume:${kbId}`);
      onProgress({ total: 1, processed: 1, documents: 1, skipped: 0, failed: 0, current: null, finished: true });
      return { documents: 1, chunks: 1, skipped: 0, unchanged: 0, skipped_files: [], failed: [], cancelled: false };
    },
    cancelImport: async (kbId) => {
      calls.push(`cancel:${kbId}`);
      return true;
    },
    search: async () => [],
    ...chatUnused(),
    vectorStatus: async () => ({ state: "off", backlog: 0, last_error: null }),
    doctor: () => Promise.reject(new Error("not used")),
    getSettings: () => Promise.reject(new Error("not used")),
    saveSettings: () => Promise.reject(new Error("not used")),
    listModels: () => Promise.reject(new Error("not used")),
    launchModel: () => Promise.reject(new Error("not used")),
    terminateModel: () => Promise.reject(new Error("not used")),
    onVectorStatus: async () => () => {},
    onCatalogueChanged: async (cb) => {
      changed = cb;
      return () => (changed = null);
    },
  };
  return { backend, kbs, calls, fireChanged: (id: number) => changed?.(id) };
}

describe("app store", () => {
  beforeEach(() => {
    localStorage.clear();
    setLocale("zh-CN");
  });

  it("creates a default knowledge base on first start, named in the UI language", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    expect(m.kbs.map((k) => k.name)).toEqual(["我的知识库"]);
    expect(store.state.currentKbId).toBe(1);
    expect(store.state.error).toBeNull();
  });

  it("does not create another knowledge base when one exists, and restores the last one", async () => {
    const m = memoryBackend();
    await m.backend.createKb("a");
    await m.backend.createKb("b");
    localStorage.setItem("lexinaut.kb", "2");
    const store = createAppStore(m.backend);
    await store.load();
    expect(m.kbs).toHaveLength(2);
    expect(store.state.currentKbId).toBe(2);
  });

  it("imports dropped paths into the current knowledge base and keeps the summary", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    await store.importPaths(["/docs"]);
    expect(m.calls).toContain("import:1:/docs");
    expect(store.state.importing).toBe(false);
    expect(store.state.progress).toMatchObject({ processed: 2, total: 2, finished: true });
    expect(store.state.lastImport?.failed[0]?.reason).toMatch(/binary/);
  });

  it("ignores an empty drop and shows backend errors without throwing", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    await store.importPaths([]);
    expect(m.calls.some((c) => c.startsWith("import"))).toBe(false);
    await store.createKb("我的知识库");
    expect(store.state.error).toMatch(/already exists/);
  });

  it("cancels only while importing, and resumes into the current knowledge base", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    await store.cancelImport();
    expect(m.calls.some((c) => c.startsWith("cancel"))).toBe(false);
    store.state.importing = true;
    await store.cancelImport();
    expect(m.calls).toContain("cancel:1");
    store.state.importing = false;
    await store.resumeImport();
    expect(m.calls).toContain("resume:1");
    expect(store.state.lastImport?.documents).toBe(1);
    expect(store.state.importing).toBe(false);
  });

  it("refreshes the documents when the catalogue of the current knowledge base changes", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    const before = m.calls.filter((c) => c === "docs:1").length;
    m.fireChanged(1);
    await new Promise((r) => setTimeout(r, 0));
    expect(m.calls.filter((c) => c === "docs:1").length).toBe(before + 1);
  });
});
