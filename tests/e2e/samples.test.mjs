// Dropping the shared sample folder (every supported format plus malformed files) onto the real
// window: every good file is indexed, every bad one is listed with its reason, and passages from
// paged formats are found with their page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { launchApp, osDrag, artifacts, repoRoot, sleep } from "./harness.mjs";

const samples = join(repoRoot, "../shared/data/samples");
const present = existsSync(samples);
if (!present) console.log(`# skipped: shared samples not found at ${samples}`);

const BAD = [
  "binary_png_renamed.txt",
  "empty.pdf",
  "encrypted_password_lexinaut.pdf",
  "random_zip.docx",
  "truncated.pdf",
  "zipbomb_100mb.docx",
];

let app;
before(async () => {
  if (present) app = await launchApp({ port: 4454 });
});
after(async () => {
  await app?.stop();
});

test("the sample folder imports: good files indexed, bad files failed with reasons", { skip: !present }, async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="kb-select"]')).waitForExist({ timeout: 15000 });
  await osDrag([samples]);
  const result = await browser.$('[data-testid="import-result"]');
  await result.waitForExist({ timeout: 120000, timeoutMsg: "sample import did not finish" });
  const failures = await (await browser.$('[data-testid="import-failures"]')).getText();
  for (const name of BAD) assert.match(failures, new RegExp(name.replace(".", "\\.")), `${name} not listed`);
  assert.match(failures, /password-protected/);
  assert.match(failures, /zip bomb/);
  const text = await result.getText();
  assert.match(text, new RegExp(`, ${BAD.length} failed`));
  const rows = await browser.execute(() =>
    [...document.querySelectorAll('[data-testid="doc-row"]')].map((r) => ({
      name: r.querySelector(".doc-name").textContent.trim(),
      status: r.querySelector(".status").className,
    })),
  );
  const indexed = rows.filter((r) => r.status.includes("indexed"));
  for (const ext of ["csv", "doc", "docx", "enex", "eml", "epub", "html", "md", "odt", "pdf", "ppt", "pptx", "txt", "xls", "xlsx"]) {
    assert.ok(indexed.some((r) => r.name.split(" — ")[0].endsWith(`.${ext}`)), `no indexed .${ext} document`);
  }
  assert.equal(rows.length - indexed.length, BAD.length);

  // "Retry" imports the failed files again: still bad, they fail again with their reasons, and
  // the good documents are untouched.
  await (await browser.$('[data-testid="import-retry"]')).click();
  await browser.waitUntil(
    async () => {
      const r = await browser.$('[data-testid="import-result"]');
      return (await r.isExisting()) && new RegExp(`Imported 0 documents.*, ${BAD.length} failed`).test(await r.getText());
    },
    { timeout: 60000, timeoutMsg: "the retry did not report the same failures" },
  );
  const again = await (await browser.$('[data-testid="import-failures"]')).getText();
  for (const name of BAD) assert.match(again, new RegExp(name.replace(".", "\\.")), `${name} not listed after retry`);
  const after = await browser.execute(() => document.querySelectorAll('[data-testid="doc-row"]').length);
  assert.equal(after, rows.length, "retrying changed the document list");
});

test("a passage from a slide deck is found with its slide number", { skip: !present }, async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="tab-search"]')).click();
  const input = await browser.$('[data-testid="search-input"]');
  await input.setValue("NOTES-MARKER Hangzhou lease");
  await (await browser.$('[data-testid="search-button"]')).click();
  const first = await browser.$('[data-testid="hit"]');
  await first.waitForExist({ timeout: 10000 });
  const text = await first.getText();
  assert.match(text, /slides\.pptx|slides\.ppt/);
  assert.match(text, /page 2/);
  await sleep(800);
  await browser.saveScreenshot(join(artifacts, "app-samples.png"));
});
