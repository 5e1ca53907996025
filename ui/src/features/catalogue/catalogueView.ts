// The document table's view logic, kept out of the component so it is tested on its own:
// filtering, sorting, and which rows of a long list to render (the list is virtualized).
import type { Document } from "../../bindings";

export type StatusFilter = "all" | "indexed" | "duplicate" | "failed";

export interface DocFilter {
  /** Matched against the file name and the title, case-insensitively. */
  text: string;
  /** A format (`pdf`, `docx`, ...) or null for every format. */
  format: string | null;
  status: StatusFilter;
}

export type SortKey = "name" | "format" | "size" | "pages" | "chunks" | "status" | "added";
export type SortDir = "asc" | "desc";

/** Whether a document needs the user's attention: it failed, or its last re-import did. */
export const hasProblem = (d: Document): boolean => d.status === "failed" || d.error !== null;

/** Whether a document matches a status filter: needs attention, a duplicate, or plain indexed. */
function statusMatches(d: Document, s: StatusFilter): boolean {
  if (s === "all") return true;
  if (s === "failed") return hasProblem(d);
  return !hasProblem(d) && (d.status === "duplicate") === (s === "duplicate");
}

/** Orders problems last (ascending), duplicates between. */
const statusRank = (d: Document): number => (hasProblem(d) ? 2 : d.status === "duplicate" ? 1 : 0);

/** The folder a document's file is in. */
export function folderOf(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i > 0 ? path.slice(0, i) : path;
}

export function filterDocuments(docs: readonly Document[], f: DocFilter): Document[] {
  const needle = f.text.trim().toLowerCase();
  return docs.filter(
    (d) =>
      (needle === "" || d.name.toLowerCase().includes(needle) || (d.title ?? "").toLowerCase().includes(needle)) &&
      (f.format === null || d.format === f.format) &&
      statusMatches(d, f.status),
  );
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

const compareBy: Record<SortKey, (a: Document, b: Document) => number> = {
  name: (a, b) => collator.compare(a.name, b.name),
  format: (a, b) => collator.compare(a.format ?? "", b.format ?? ""),
  size: (a, b) => a.size - b.size,
  pages: (a, b) => (a.page_count ?? -1) - (b.page_count ?? -1),
  chunks: (a, b) => a.chunk_count - b.chunk_count,
  status: (a, b) => statusRank(a) - statusRank(b),
  added: (a, b) => a.added_at - b.added_at,
};

/** A sorted copy; ties fall back to the name, then the id, so the order is stable. */
export function sortDocuments(docs: readonly Document[], key: SortKey, dir: SortDir): Document[] {
  const sign = dir === "asc" ? 1 : -1;
  const primary = compareBy[key];
  return [...docs].sort(
    (a, b) => sign * primary(a, b) || collator.compare(a.name, b.name) || a.id - b.id,
  );
}

/** Clicking a column sorts by it; clicking it again reverses the order. Numbers and dates start
 *  with the largest and newest, text with A. */
export function nextSort(current: { key: SortKey; dir: SortDir }, key: SortKey): { key: SortKey; dir: SortDir } {
  if (current.key === key) return { key, dir: current.dir === "asc" ? "desc" : "asc" };
  const textual = key === "name" || key === "format";
  return { key, dir: textual ? "asc" : "desc" };
}

export interface RowWindow {
  /** First row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Height of the space above the rendered rows, in pixels. */
  top: number;
  /** Height of the space below them. */
  bottom: number;
}

/** The rows to render for a scroll position: those in view plus `overscan` on each side. Lists
 *  of at most `fullUpTo` rows are rendered whole (cheap, and find-in-page works). */
export function rowWindow(
  count: number,
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  overscan = 10,
  fullUpTo = 200,
): RowWindow {
  if (count <= fullUpTo) return { start: 0, end: count, top: 0, bottom: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const inView = Math.ceil(Math.max(viewport, rowHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(first - overscan, count - inView - overscan));
  const end = Math.min(count, first + inView + overscan);
  return { start, end, top: start * rowHeight, bottom: (count - end) * rowHeight };
}
