import { beforeEach, describe, expect, it, vi } from "vitest";
import { BackendError, type Backend } from "./backend";
import type { Document, ImportJobs, ImportProgress, ImportSummary, KnowledgeBase } from "./bindings";
import { setLocale } from "./i18n";
import { createAppStore, LIST_EVERY_MS, noProgress, unfinishedFiles } from "./store";

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

// The watched-folder half of Backend (watchStore.test.ts covers it).
function watchUnused(): Pick<Backend, "listWatches" | "addWatch" | "removeWatch" | "pauseWatch" | "watcherStatus"
  | "onWatchEvent" | "onWatcherStatus"> {
  const unused = () => Promise.reject(new Error("not used by the app store tests"));
  return {
    listWatches: unused, addWatch: unused, removeWatch: unused, pauseWatch: unused, watcherStatus: unused,
    onWatchEvent: unused, onWatcherStatus: unused,
  };
}

function doc(id: number, kbId: number, name: string): Document {
  return {
    id, kb_id: kbId, path: `/docs/${name}`, name, format: "text", title: null, page_count: null, pages_needing_ocr: [],
    size: 10, mtime_ms: 0, hash: "", status: "indexed", error: null, encoding: null, warnings: [], chunk_count: 1,
    added_at: id, updated_at: id, duplicate_of: null, duplicate_of_path: null,
  };
}

// An in-memory Backend double: the UI logic under test talks only to this interface.
function memoryBackend() {
  const kbs: KnowledgeBase[] = [];
  const docs: Document[] = [];
  const calls: string[] = [];
  let changed: ((kbId: number) => void) | null = null;
  let listDelay = 0;
  const jobs = new Map<number, ImportJobs>();
  const backend: Backend = {
    appInfo: async () => ({ version: "test", data_dir: "/tmp" }),
    listKbs: async () => kbs.map((k) => ({ ...k })),
    createKb: async (name) => {
      if (kbs.some((k) => k.name === name))
        throw new BackendError({ code: "already_exists", message: `knowledge base "${name}" already exists` });
      const kb = { id: kbs.length + 1, name, chunk_size: 512, chunk_overlap: 64, chunk_unit: "chars" as const, created_at: 0, document_count: 0, embedding_model: null };
      kbs.push(kb);
      calls.push(`create:${name}`);
      return kb;
    },
    listDocuments: async (kbId) => {
      calls.push(`docs:${kbId}`);
      if (listDelay) await new Promise((r) => setTimeout(r, listDelay));
      if (!kbs.some((k) => k.id === kbId))
        throw new BackendError({ code: "not_found", message: `knowledge base #${kbId} not found` });
      return docs.filter((d) => d.kb_id === kbId);
    },
    renameKb: async (kbId, name) => {
      const kb = kbs.find((k) => k.id === kbId);
      if (!kb) throw new BackendError({ code: "not_found", message: `knowledge base #${kbId} not found` });
      if (kbs.some((k) => k.name === name && k.id !== kbId))
        throw new BackendError({ code: "already_exists", message: `knowledge base "${name}" already exists` });
      kb.name = name;
      return { ...kb };
    },
    updateKbSettings: async (kbId, settings) => {
      const kb = kbs.find((k) => k.id === kbId);
      if (!kb) throw new BackendError({ code: "not_found", message: "not found" });
      Object.assign(kb, settings);
      calls.push(`settings:${kbId}:${settings.chunk_size}`);
      return { ...kb };
    },
    deleteKb: async (kbId) => {
      const i = kbs.findIndex((k) => k.id === kbId);
      if (i < 0) throw new BackendError({ code: "not_found", message: "not found" });
      kbs.splice(i, 1);
      const gone = docs.filter((d) => d.kb_id === kbId).length;
      docs.splice(0, docs.length, ...docs.filter((d) => d.kb_id !== kbId));
      calls.push(`delete-kb:${kbId}`);
      return { documents: gone, conversations: 0, watched_folders: 0 };
    },
    deleteDocuments: async (ids) => {
      calls.push(`delete:${ids.join(",")}`);
      const before = docs.length;
      docs.splice(0, docs.length, ...docs.filter((d) => !ids.includes(d.id)));
      return before - docs.length;
    },
    reindexDocuments: async (ids, onProgress) => {
      calls.push(`reindex:${ids.join(",")}`);
      onProgress({ ...noProgress(), total: ids.length, processed: ids.length, documents: ids.length, skipped: 0, failed: 0, current: null, finished: true });
      return { documents: ids.length, duplicates: 0, chunks: ids.length, skipped: 0, unchanged: 0, skipped_files: [], failed: [], cancelled: false };
    },
    importPaths: async (kbId, paths, onProgress) => {
      calls.push(`import:${kbId}:${paths.join(",")}`);
      const p: ImportProgress = { ...noProgress(), total: 2, processed: 1, documents: 1, skipped: 0, failed: 0, current: paths[0] ?? null, finished: false };
      onProgress(p);
      onProgress({ ...p, processed: 2, failed: 1, finished: true });
      const summary: ImportSummary = {
        documents: 1, duplicates: 0, chunks: 4, skipped: 0, unchanged: 0, skipped_files: [],
        failed: [{ path: "/x/bad.txt", reason: "not a text file (binary content)" }], cancelled: false,
      };
      return summary;
    },
    resumeImport: async (kbId, onProgress) => {
      calls.push(`resume:${kbId}`);
      onProgress({ ...noProgress(), total: 1, processed: 1, documents: 1, skipped: 0, failed: 0, current: null, finished: true });
      return { documents: 1, duplicates: 0, chunks: 1, skipped: 0, unchanged: 0, skipped_files: [], failed: [], cancelled: false };
    },
    cancelImport: async (kbId) => {
      calls.push(`cancel:${kbId}`);
      return true;
    },
    setImportPaused: async (kbId, paused) => {
      calls.push(`paused:${kbId}:${paused}`);
      return true;
    },
    importJobs: async (kbId) => jobs.get(kbId) ?? { counts: {}, unfinished: [] },
    search: async () => [],
    ...chatUnused(),
    ...watchUnused(),
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
  return {
    backend, kbs, docs, calls, jobs,
    fireChanged: (id: number) => changed?.(id),
    slowLists: (ms: number) => (listDelay = ms),
  };
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

  it("cancels and pauses only while importing, and resumes into the current knowledge base", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    await store.cancelImport();
    expect(m.calls.some((c) => c.startsWith("cancel"))).toBe(false);
    await store.setImportPaused(true);
    expect(m.calls.some((c) => c.startsWith("paused"))).toBe(false);
    await store.resumeImport();
    expect(m.calls).toContain("resume:1");
    expect(store.state.lastImport?.documents).toBe(1);
    expect(store.state.importing).toBe(false);
  });

  it("keeps a cancel or pause clicked before the backend knows the import, and sends it once it runs", async () => {
    // The import command waits for a thread; the click's command does not, and finds no import.
    const m = memoryBackend();
    let registered = false;
    let cancelled = false;
    let paused = false;
    let start!: () => void;
    const scheduled = new Promise<void>((r) => (start = r));
    let report!: (p: ImportProgress) => void;
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    m.backend.importPaths = async (_kbId, _paths, onProgress) => {
      await scheduled;
      registered = true;
      report = onProgress;
      onProgress({ ...noProgress(), total: 3000 });
      await finished;
      return { documents: 0, duplicates: 0, chunks: 0, skipped: 0, unchanged: 0, skipped_files: [], failed: [], cancelled };
    };
    m.backend.cancelImport = async (kbId) => {
      m.calls.push(`cancel:${kbId}:${registered}`);
      if (registered) cancelled = true;
      return registered;
    };
    m.backend.setImportPaused = async (kbId, p) => {
      m.calls.push(`paused:${kbId}:${p}:${registered}`);
      if (registered) {
        paused = p;
        report({ ...noProgress(), total: 3000, paused });
      }
      return registered;
    };
    const store = createAppStore(m.backend);
    await store.load();

    const importing = store.importPaths(["/big"]);
    await store.setImportPaused(true);
    expect(m.calls).toContain("paused:1:true:false");
    start();
    await vi.waitFor(() => expect(store.state.progress?.paused).toBe(true));
    expect(m.calls).toContain("paused:1:true:true");
    await store.setImportPaused(false);
    expect(paused).toBe(false);
    expect(store.state.progress?.paused).toBe(false);
    finish();
    await importing;

    // The same for a cancel, the click every user makes after dropping the wrong folder.
    registered = false;
    const again = new Promise<void>((r) => (start = r));
    m.backend.importPaths = async (_kbId, _paths, onProgress) => {
      await again;
      registered = true;
      onProgress({ ...noProgress(), total: 3000 });
      onProgress({ ...noProgress(), total: 3000, processed: 10 });
      await new Promise((r) => setTimeout(r, 20));
      return { documents: 10, duplicates: 0, chunks: 10, skipped: 0, unchanged: 0, skipped_files: [], failed: [], cancelled };
    };
    const second = store.importPaths(["/wrong"]);
    await store.cancelImport();
    expect(m.calls).toContain("cancel:1:false");
    start();
    await second;
    expect(m.calls.filter((c) => c === "cancel:1:true")).toHaveLength(1);
    expect(store.state.lastImport?.cancelled).toBe(true);
    // A later import starts with no wish left over.
    await store.importPaths(["/docs"]);
    expect(m.calls.filter((c) => c.startsWith("cancel"))).toHaveLength(2);
  });

  it("replaces the progress bar with the summary in one step, once the catalogue lists the import", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    m.slowLists(50);
    const importing = store.importPaths(["/x/a.txt"]);
    // The import itself has returned; the document list is still loading.
    await new Promise((r) => setTimeout(r, 20));
    expect(m.calls.some((c) => c.startsWith("import:"))).toBe(true);
    expect(store.state.importing).toBe(true);
    expect(store.state.lastImport).toBeNull();
    await importing;
    expect(store.state.importing).toBe(false);
    expect(store.state.lastImport?.documents).toBe(1);
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

  it("loads the import jobs with the documents, and again when the catalogue changes", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    expect(store.state.jobs).toEqual({ counts: {}, unfinished: [] });
    m.jobs.set(1, {
      counts: { queued: 2, embedding: 1, done: 5 },
      unfinished: [{ path: "/docs/a.txt", state: "queued", updated_at: 0 }],
    });
    m.fireChanged(1);
    await new Promise((r) => setTimeout(r, 0));
    expect(store.state.jobs?.counts.embedding).toBe(1);
    expect(unfinishedFiles(store.state.jobs)).toBe(2);
  });

  it("renames a knowledge base and reports a taken name", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    await m.backend.createKb("其他");
    expect(await store.renameKb(1, "合同")).toBe(true);
    expect(store.state.kbs.find((k) => k.id === 1)?.name).toBe("合同");
    expect(await store.renameKb(1, "其他")).toBe(false);
    expect(store.state.error).toMatch(/already exists/);
  });

  it("deleting the current knowledge base switches to another, or creates a fresh one", async () => {
    const m = memoryBackend();
    await m.backend.createKb("a");
    await m.backend.createKb("b");
    m.docs.push(doc(1, 1, "x.txt"), doc(2, 2, "y.txt"));
    const store = createAppStore(m.backend);
    await store.load();
    expect(store.state.currentKbId).toBe(1);
    expect((await store.deleteKb(1))?.documents).toBe(1);
    expect(store.state.currentKbId).toBe(2);
    expect(store.state.documents.map((d) => d.name)).toEqual(["y.txt"]);
    expect(localStorage.getItem("lexinaut.kb")).toBe("2");
    await store.deleteKb(2);
    expect(m.kbs.map((k) => k.name)).toEqual(["我的知识库"]);
    expect(store.state.currentKbId).toBe(m.kbs[0]?.id);
    expect(store.state.documents).toEqual([]);
  });

  it("deletes and re-indexes documents, refreshing the list", async () => {
    const m = memoryBackend();
    await m.backend.createKb("a");
    m.docs.push(doc(1, 1, "x.txt"), doc(2, 1, "y.txt"));
    const store = createAppStore(m.backend);
    await store.load();
    expect(await store.deleteDocuments([1])).toBe(true);
    expect(store.state.documents.map((d) => d.id)).toEqual([2]);
    expect(await store.reindexDocuments([2])).toBe(true);
    expect(m.calls).toContain("reindex:2");
    expect(store.state.lastImport?.documents).toBe(1);
    expect(store.state.importing).toBe(false);
  });

  it("coalesces a burst of catalogue events into at most two reloads", async () => {
    const m = memoryBackend();
    await m.backend.createKb("a");
    const store = createAppStore(m.backend);
    await store.load();
    m.slowLists(20);
    const before = m.calls.filter((c) => c === "docs:1").length;
    for (let i = 0; i < 50; i++) m.fireChanged(1);
    await new Promise((r) => setTimeout(r, 120));
    const loads = m.calls.filter((c) => c === "docs:1").length - before;
    expect(loads).toBeGreaterThanOrEqual(1);
    expect(loads).toBeLessThanOrEqual(2);
  });

  it("queues what is dropped during an import and imports it next; a cancel drops the queue", async () => {
    const m = memoryBackend();
    const started: string[][] = [];
    const gates: (() => void)[] = [];
    m.backend.importPaths = async (_kbId, paths, onProgress) => {
      started.push(paths);
      onProgress({ ...noProgress(), total: paths.length });
      await new Promise<void>((r) => gates.push(r));
      return { documents: paths.length, duplicates: 0, chunks: paths.length, skipped: 0, unchanged: 0, skipped_files: [], failed: [], cancelled: false };
    };
    const store = createAppStore(m.backend);
    await store.load();

    const first = store.importPaths(["/a"]);
    await vi.waitFor(() => expect(started).toHaveLength(1));
    await store.importPaths(["/b"]);
    await store.importPaths(["/c", "/d"]);
    // Not started beside the running one: queued, in order, as one import.
    expect(started).toEqual([["/a"]]);
    expect(store.state.queued).toEqual([{ kbId: 1, paths: ["/b", "/c", "/d"] }]);
    gates.shift()?.();
    await vi.waitFor(() => expect(started).toEqual([["/a"], ["/b", "/c", "/d"]]));
    expect(store.state.importing).toBe(true);
    expect(store.state.queued).toEqual([]);
    gates.shift()?.();
    await first;
    expect(store.state.importing).toBe(false);
    // One summary for both: the first import's file is counted too.
    expect(store.state.lastImport?.documents).toBe(4);

    // Cancel stops the running import and forgets what was queued behind it.
    const second = store.importPaths(["/e"]);
    await vi.waitFor(() => expect(started).toHaveLength(3));
    await store.importPaths(["/f"]);
    await store.cancelImport();
    expect(store.state.queued).toEqual([]);
    gates.shift()?.();
    await second;
    expect(started).toHaveLength(3);
  });

  it("sums up a queue of imports into one knowledge base in one summary, failures included", async () => {
    const m = memoryBackend();
    await m.backend.createKb("a");
    await m.backend.createKb("b");
    const gates: (() => void)[] = [];
    m.backend.importPaths = async (_kbId, paths, onProgress) => {
      onProgress({ ...noProgress(), total: paths.length });
      await new Promise<void>((r) => gates.push(r));
      const failed = paths.filter((p) => p.endsWith(".bin")).map((path) => ({ path, reason: "binary" }));
      const documents = paths.length - failed.length;
      return { documents, duplicates: 0, chunks: 2 * documents, skipped: 1, unchanged: 1, skipped_files: [], failed, cancelled: false };
    };
    const store = createAppStore(m.backend);
    await store.load();
    await store.selectKb(1);

    const first = store.importPaths(["/a.txt", "/bad.bin"]);
    await vi.waitFor(() => expect(gates).toHaveLength(1));
    await store.importPaths(["/c.txt"]);
    gates.shift()?.();
    await vi.waitFor(() => expect(gates).toHaveLength(1));
    gates.shift()?.();
    await first;
    expect(store.state.lastImport).toEqual({
      documents: 2,
      duplicates: 0,
      chunks: 4,
      skipped: 2,
      unchanged: 2,
      skipped_files: [],
      failed: [{ path: "/bad.bin", reason: "binary" }],
      cancelled: false,
    });

    // A drop into another knowledge base, queued behind: its own summary.
    const second = store.importPaths(["/d.txt"]);
    await vi.waitFor(() => expect(gates).toHaveLength(1));
    await store.selectKb(2);
    await store.importPaths(["/e.txt"]);
    gates.shift()?.();
    await vi.waitFor(() => expect(gates).toHaveLength(1));
    gates.shift()?.();
    await second;
    expect(store.state.lastImport?.documents).toBe(1);
    expect(store.state.lastImport?.failed).toEqual([]);
  });

  it("lists what an import stored so far when it pauses, and every few seconds while it runs", async () => {
    const m = memoryBackend();
    let report!: (p: ImportProgress) => void;
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    m.backend.importPaths = async (_kbId, _paths, onProgress) => {
      report = onProgress;
      onProgress({ ...noProgress(), total: 3000 });
      await finished;
      return { documents: 3000, duplicates: 0, chunks: 3000, skipped: 0, unchanged: 0, skipped_files: [], failed: [], cancelled: false };
    };
    const store = createAppStore(m.backend);
    await store.load();
    const listings = () => m.calls.filter((c) => c === "docs:1").length;
    const importing = store.importPaths(["/big"]);
    await vi.waitFor(() => expect(report).toBeDefined());
    const atStart = listings();
    report({ ...noProgress(), total: 3000, processed: 500 });
    expect(listings()).toBe(atStart);
    report({ ...noProgress(), total: 3000, processed: 600, paused: true });
    await vi.waitFor(() => expect(listings()).toBe(atStart + 1));
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + LIST_EVERY_MS);
      report({ ...noProgress(), total: 3000, processed: 900 });
      await vi.waitFor(() => expect(listings()).toBe(atStart + 2));
    } finally {
      vi.useRealTimers();
    }
    finish();
    await importing;
  });

  it("shows an import's summary while a watched folder keeps changing the catalogue", async () => {
    const m = memoryBackend();
    const store = createAppStore(m.backend);
    await store.load();
    m.slowLists(20);
    // A folder syncing all day: an event every 5 ms, faster than a reload.
    const storm = setInterval(() => m.fireChanged(1), 5);
    try {
      const done = store.importPaths(["/docs"]).then(() => "done");
      const late = new Promise((r) => setTimeout(() => r("still waiting"), 1000));
      expect(await Promise.race([done, late])).toBe("done");
      expect(store.state.lastImport?.documents).toBe(1);
    } finally {
      clearInterval(storm);
    }
  });

  it("a knowledge base deleted elsewhere (the CLI) is left for one that exists, without an error", async () => {
    const m = memoryBackend();
    await m.backend.createKb("a");
    await m.backend.createKb("b");
    m.docs.push(doc(1, 2, "y.txt"));
    const store = createAppStore(m.backend);
    await store.load();
    expect(store.state.currentKbId).toBe(1);
    m.kbs.splice(0, 1);
    m.fireChanged(1);
    await new Promise((r) => setTimeout(r, 10));
    expect(store.state.currentKbId).toBe(2);
    expect(store.state.documents.map((d) => d.name)).toEqual(["y.txt"]);
    expect(store.state.error).toBeNull();
  });

  it("says whether the last summary is of an import or a re-index", async () => {
    const m = memoryBackend();
    await m.backend.createKb("a");
    m.docs.push(doc(1, 1, "x.txt"));
    const store = createAppStore(m.backend);
    await store.load();
    await store.reindexDocuments([1]);
    expect(store.state.lastImportKind).toBe("reindex");
    await store.importPaths(["/docs"]);
    expect(store.state.lastImportKind).toBe("import");
  });
});

