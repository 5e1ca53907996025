import { describe, expect, it } from "vitest";
import { BackendError, type Backend } from "../../backend";
import type { WatchEvent, WatchedFolder, WatcherStatus } from "../../bindings";
import { createWatchStore, parseGlobs } from "./watchStore";

function folder(id: number, kbId: number, path: string, extra: Partial<WatchedFolder> = {}): WatchedFolder {
  return {
    id, kb_id: kbId, path, canonical_path: path, include: [], exclude: [], state: "active",
    last_sync_at: null, last_error: null, pending: 0, created_at: 0, ...extra,
  };
}

// The watch half of Backend, in memory, with the two event streams under the test's control.
function watchBackend(initial: WatchedFolder[] = [], status: WatcherStatus = { running: true, error: null }) {
  const folders = [...initial];
  const calls: string[] = [];
  let emit: ((e: WatchEvent) => void) | null = null;
  let emitStatus: ((s: WatcherStatus) => void) | null = null;
  const backend = {
    listWatches: async (kbId: number | null) => folders.filter((f) => kbId === null || f.kb_id === kbId),
    addWatch: async (kbId: number, path: string, options: { include?: string[]; exclude?: string[] }) => {
      calls.push(`add:${kbId}:${path}:${(options.include ?? []).join("|")}:${(options.exclude ?? []).join("|")}`);
      if (folders.some((f) => f.path === path && f.kb_id === kbId))
        throw new BackendError({ code: "already_exists", message: `watched folder ${path} already exists` });
      const f = folder(folders.length + 1, kbId, path, { pending: 1 });
      folders.push(f);
      return f;
    },
    removeWatch: async (id: number, removeDocuments: boolean) => {
      calls.push(`remove:${id}:${removeDocuments}`);
      return removeDocuments ? 3 : 0;
    },
    pauseWatch: async (id: number, paused: boolean) => {
      calls.push(`pause:${id}:${paused}`);
      const f = folders.find((x) => x.id === id);
      if (!f) throw new BackendError({ code: "not_found", message: "not found" });
      f.state = paused ? "paused" : "active";
      return { ...f };
    },
    watcherStatus: async () => status,
    onWatchEvent: async (cb: (e: WatchEvent) => void) => {
      emit = cb;
      return () => (emit = null);
    },
    onWatcherStatus: async (cb: (s: WatcherStatus) => void) => {
      emitStatus = cb;
      return () => (emitStatus = null);
    },
  };
  return {
    backend: backend as unknown as Backend,
    calls,
    fire: (e: WatchEvent) => emit?.(e),
    fireStatus: (s: WatcherStatus) => emitStatus?.(s),
    listening: () => emit !== null,
  };
}

describe("watch store", () => {
  it("loads every folder and follows status, sync and removal events", async () => {
    const m = watchBackend([folder(1, 1, "/b"), folder(2, 1, "/a"), folder(3, 2, "/c")]);
    const w = createWatchStore(m.backend);
    await w.load();
    expect(w.foldersOf(1).map((f) => f.path)).toEqual(["/a", "/b"]);

    m.fire({ kind: "folder_status", ...folder(1, 1, "/b", { pending: 4 }) });
    expect(w.state.folders.find((f) => f.id === 1)?.pending).toBe(4);
    expect(w.summary()).toEqual({ state: "syncing", pending: 4 });

    m.fire({
      kind: "synced", folder_id: 1, kb_id: 1, path: "/b", full_scan: false, added: 2, updated: 1, moved: 1,
      removed: 0, unchanged: 0, failed: 0, at: 5000,
    });
    m.fire({ kind: "folder_status", ...folder(1, 1, "/b", { pending: 0, last_sync_at: 5000 }) });
    expect(w.state.lastReport[1]?.added).toBe(2);
    expect(w.summary()).toEqual({ state: "idle", lastSyncAt: 5000 });

    m.fire({ kind: "folder_removed", folder_id: 1 });
    expect(w.foldersOf(1).map((f) => f.id)).toEqual([2]);
    expect(w.state.lastReport[1]).toBeUndefined();
    w.stop();
    expect(m.listening()).toBe(false);
  });

  it("a missing or failing folder needs attention; a watcher that cannot start says why", async () => {
    const m = watchBackend([folder(1, 1, "/a")], { running: false, error: "a folder watcher already runs" });
    const w = createWatchStore(m.backend);
    await w.load();
    expect(w.summary()).toEqual({ state: "stopped", message: "a folder watcher already runs" });
    m.fireStatus({ running: true, error: null });
    expect(w.summary().state).toBe("idle");
    m.fire({ kind: "folder_status", ...folder(1, 1, "/a", { state: "missing", last_error: "/a is not there" }) });
    expect(w.summary()).toEqual({ state: "attention", folders: 1 });
    // A paused folder's pending count does not make the app look busy.
    m.fire({ kind: "folder_status", ...folder(1, 1, "/a", { state: "paused", pending: 2 }) });
    expect(w.summary().state).toBe("idle");
  });

  it("no folders: nothing to show", async () => {
    const w = createWatchStore(watchBackend().backend);
    await w.load();
    expect(w.summary()).toEqual({ state: "none" });
  });

  it("adds with globs, shows a refusal, pauses and removes", async () => {
    const m = watchBackend();
    const w = createWatchStore(m.backend);
    await w.load();
    const added = await w.add(7, " /docs ", { include: ["*.pdf"], exclude: ["drafts/**"] });
    // An add answered after the scan's events keeps what the events said.
    m.fire({ kind: "folder_status", ...folder(2, 7, "/late", { last_sync_at: 7000 }) });
    await w.add(7, "/late");
    expect(w.state.folders.find((f) => f.id === 2)?.last_sync_at).toBe(7000);
    await w.remove(2, false);
    expect(added?.path).toBe("/docs");
    expect(m.calls).toContain("add:7:/docs:*.pdf:drafts/**");
    expect(w.foldersOf(7)).toHaveLength(1);
    // The event for the same folder arriving afterwards does not duplicate it.
    m.fire({ kind: "folder_status", ...folder(added?.id ?? 0, 7, "/docs") });
    expect(w.foldersOf(7)).toHaveLength(1);

    expect(await w.add(7, "/docs")).toBeNull();
    expect(w.state.error).toMatch(/already exists/);

    // The answer to a command does not undo what later events said.
    m.fire({ kind: "folder_status", ...folder(1, 7, "/docs", { last_sync_at: 9000 }) });
    expect(await w.setPaused(1, true)).toBe(true);
    expect(w.state.error).toBeNull();
    expect(w.foldersOf(7)[0]?.last_sync_at).toBe(9000);
    m.fire({ kind: "folder_status", ...folder(1, 7, "/docs", { state: "paused", last_sync_at: 9000 }) });
    expect(w.foldersOf(7)[0]?.state).toBe("paused");
    expect(await w.remove(1, true)).toBe(true);
    expect(m.calls).toContain("remove:1:true");
    expect(w.foldersOf(7)).toEqual([]);
  });

  it("reads globs separated by commas or lines", () => {
    expect(parseGlobs(" *.pdf, reports/**\n\n drafts/** ,")).toEqual(["*.pdf", "reports/**", "drafts/**"]);
    expect(parseGlobs("   ")).toEqual([]);
  });
});
