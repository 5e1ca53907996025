import { describe, expect, it } from "vitest";
import type { Document } from "../../bindings";
import { filterDocuments, folderOf, nextSort, rowWindow, sortDocuments } from "./catalogueView";

function doc(id: number, name: string, extra: Partial<Document> = {}): Document {
  return {
    id, kb_id: 1, path: `/docs/${name}`, name, format: "text", title: null, page_count: null, pages_needing_ocr: [],
    size: 10, mtime_ms: 0, hash: "", status: "indexed", error: null, encoding: null, warnings: [], chunk_count: 1,
    added_at: id, updated_at: id, duplicate_of: null, duplicate_of_path: null, ...extra,
  };
}

const docs = [
  doc(1, "报告10.pdf", { format: "pdf", size: 500, page_count: 12, chunk_count: 30 }),
  doc(2, "报告9.pdf", { format: "pdf", size: 100, page_count: 3, chunk_count: 5 }),
  doc(3, "notes.md", { format: "markdown", title: "Quarterly Notes" }),
  doc(4, "broken.txt", { status: "failed", error: "not a text file (binary content)", chunk_count: 0 }),
  doc(5, "Agenda.docx", { format: "docx", error: "cannot read: gone" }),
];

describe("document table", () => {
  it("filters by name or title, type and status", () => {
    const names = (f: Parameters<typeof filterDocuments>[1]) => filterDocuments(docs, f).map((d) => d.id);
    expect(names({ text: "报告", format: null, status: "all" })).toEqual([1, 2]);
    expect(names({ text: "QUARTERLY", format: null, status: "all" })).toEqual([3]);
    expect(names({ text: "", format: "pdf", status: "all" })).toEqual([1, 2]);
    // A document whose last re-import failed counts as failed, even with its old passages.
    expect(names({ text: "", format: null, status: "failed" })).toEqual([4, 5]);
    expect(names({ text: "", format: null, status: "indexed" })).toEqual([1, 2, 3]);
    expect(names({ text: " ", format: "pdf", status: "failed" })).toEqual([]);
  });

  it("a duplicate has a filter of its own and sorts between indexed and problem documents", () => {
    const dup = doc(6, "报告10副本.pdf", { format: "pdf", status: "duplicate", duplicate_of: 1, duplicate_of_path: "/docs/报告10.pdf", chunk_count: 0 });
    const all = [...docs, dup];
    const ids = (status: "indexed" | "duplicate" | "failed") =>
      filterDocuments(all, { text: "", format: null, status }).map((d) => d.id);
    expect(ids("duplicate")).toEqual([6]);
    expect(ids("indexed")).toEqual([1, 2, 3]);
    expect(ids("failed")).toEqual([4, 5]);
    expect(sortDocuments(all, "status", "asc").map((d) => d.id).slice(3)).toEqual([6, 5, 4]);
  });

  it("sorts names naturally and numbers numerically, both ways, stably", () => {
    const ids = (key: Parameters<typeof sortDocuments>[1], dir: "asc" | "desc") => sortDocuments(docs, key, dir).map((d) => d.id);
    expect(ids("name", "asc")).toEqual([5, 4, 3, 2, 1]);
    expect(ids("size", "desc")[0]).toBe(1);
    expect(ids("pages", "asc").slice(-2)).toEqual([2, 1]);
    expect(ids("chunks", "desc")).toEqual([1, 2, 5, 3, 4]);
    expect(ids("status", "desc").slice(0, 2)).toEqual([5, 4]);
    expect(ids("added", "desc")).toEqual([5, 4, 3, 2, 1]);
    expect(docs.map((d) => d.id)).toEqual([1, 2, 3, 4, 5]); // the input is not reordered
  });

  it("a second click reverses; a new column starts ascending for text, descending for numbers", () => {
    expect(nextSort({ key: "name", dir: "asc" }, "name")).toEqual({ key: "name", dir: "desc" });
    expect(nextSort({ key: "name", dir: "asc" }, "size")).toEqual({ key: "size", dir: "desc" });
    expect(nextSort({ key: "size", dir: "desc" }, "format")).toEqual({ key: "format", dir: "asc" });
  });

  it("renders short lists whole and long ones by window, with spacers that keep the height", () => {
    expect(rowWindow(50, 400, 600, 46)).toEqual({ start: 0, end: 50, top: 0, bottom: 0 });
    const count = 10_000;
    const top = rowWindow(count, 0, 600, 46);
    expect(top.start).toBe(0);
    expect(top.end).toBeLessThan(40);
    const mid = rowWindow(count, 46 * 5000, 600, 46);
    expect(mid.start).toBeLessThanOrEqual(5000);
    expect(mid.end).toBeGreaterThan(5000 + 600 / 46);
    expect(mid.end - mid.start).toBeLessThan(40);
    for (const w of [top, mid, rowWindow(count, 46 * count, 600, 46)]) {
      expect(w.top + (w.end - w.start) * 46 + w.bottom).toBe(count * 46);
    }
    const end = rowWindow(count, 46 * count - 600, 600, 46);
    expect(end.end).toBe(count);
  });

  it("names the folder a document is in", () => {
    expect(folderOf("/home/a/报告.pdf")).toBe("/home/a");
    expect(folderOf("C:\\docs\\a.txt")).toBe("C:\\docs");
  });
});
