import { describe, expect, it } from "vitest";
import { locale, messages, setLocale, t } from "./i18n";

describe("i18n", () => {
  it("has every key in both languages, none empty", () => {
    const en = Object.keys(messages.en).sort();
    const zh = Object.keys(messages["zh-CN"]).sort();
    expect(zh).toEqual(en);
    for (const l of ["en", "zh-CN"] as const) {
      for (const [k, v] of Object.entries(messages[l])) expect(v.trim(), `${l} ${k}`).not.toBe("");
    }
  });

  it("uses the same placeholders in both languages", () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(messages.en) as (keyof typeof messages.en)[]) {
      expect(names(messages["zh-CN"][key]), key).toEqual(names(messages.en[key]));
    }
  });

  it("fills placeholders and follows the locale", () => {
    setLocale("en");
    expect(t("import.progress", { processed: 3, total: 10 })).toBe("Importing 3 of 10 files…");
    setLocale("zh-CN");
    expect(locale.value).toBe("zh-CN");
    expect(t("import.progress", { processed: 3, total: 10 })).toBe("正在导入第 3 / 10 个文件…");
    expect(localStorage.getItem("lexinaut.locale")).toBe("zh-CN");
  });
});
