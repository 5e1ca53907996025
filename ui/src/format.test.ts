import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, progressPercent } from "./format";

describe("format", () => {
  it("formats sizes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(20 * 1024 * 1024)).toBe("20 MB");
    expect(formatBytes(3 * 1024 ** 4)).toBe("3.0 TB");
  });

  it("computes whole percent, never over 100", () => {
    expect(progressPercent({ processed: 0, total: 0 })).toBe(100);
    expect(progressPercent({ processed: 1, total: 3 })).toBe(33);
    expect(progressPercent({ processed: 3, total: 3 })).toBe(100);
    expect(progressPercent({ processed: 5, total: 3 })).toBe(100);
  });
});

describe("formatDuration", () => {
  it("shows minutes and seconds, and hours when there are any", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(65.4)).toBe("1:05");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(-3)).toBe("0:00");
  });
});
