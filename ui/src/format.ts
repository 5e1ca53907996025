// Display formatting shared by the features.
import type { ImportProgress } from "./bindings";

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatDate(ms: number, locale: string): string {
  return new Date(ms).toLocaleString(locale, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** Whole percent of files processed; 100 when there was nothing to do. */
/** Seconds as "1:05", or "1:02:05" from an hour on. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export function progressPercent(p: Pick<ImportProgress, "processed" | "total">): number {
  if (p.total <= 0) return 100;
  return Math.min(100, Math.floor((p.processed * 100) / p.total));
}

/** When a sync happened: the time of day when it was today, else the date and time. */
export function formatSyncTime(ms: number, locale: string, now: Date = new Date()): string {
  const d = new Date(ms);
  if (d.toDateString() === now.toDateString()) {
    return d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  return formatDate(ms, locale);
}

/** The day of a timestamp, for narrow columns (the full time goes in a tooltip). */
export function formatDay(ms: number, locale: string): string {
  return new Date(ms).toLocaleDateString(locale, { year: "numeric", month: "2-digit", day: "2-digit" });
}
