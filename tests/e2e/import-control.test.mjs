// Cancelling a large import from the window keeps the catalogue consistent, and "Continue import"
// finishes the remaining files.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchApp, osDrag } from "./harness.mjs";

const FILES = 3000;
let app;
let folder;

before(async () => {
  folder = mkdtempSync(join(tmpdir(), "lexinaut-e2e-many-"));
  for (let i = 0; i < FILES; i++) {
    const dir = join(folder, String(i % 30).padStart(2, "0"));
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `记录${String(i).padStart(5, "0")}.txt`),
      `第${i}号记录。本季度项目营业收入同比增长，研发投入继续增加。${"补充说明：各部门按时提交材料。".repeat(6)}`,
    );
  }
  app = await launchApp({ port: 4464 });
});

after(async () => {
  await app?.stop();
});

test("cancel stops a large import; continue finishes it", async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="kb-select"]')).waitForExist({ timeout: 15000 });
  await osDrag([folder]);
  const cancel = await browser.$('[data-testid="import-cancel"]');
  await cancel.waitForExist({ timeout: 20000, timeoutMsg: "no progress bar with a cancel button" });
  await cancel.click();
  const stopped = await browser.$('[data-testid="import-cancelled"]');
  await stopped.waitForExist({ timeout: 30000, timeoutMsg: "cancel was not reported" });
  // The table renders only the rows in view: it carries the number of documents it lists.
  const countRows = () =>
    browser.execute(() => Number(document.querySelector('[data-testid="docs-table"]')?.dataset.rows ?? 0));
  const partial = await countRows();
  assert.ok(partial < FILES, `cancel came too late: ${partial} documents`);

  await (await browser.$('[data-testid="import-resume"]')).click();
  await browser.waitUntil(
    async () => {
      const r = await browser.$('[data-testid="import-result"]');
      return (await r.isExisting()) && !(await (await browser.$('[data-testid="import-cancelled"]')).isExisting());
    },
    { timeout: 120000, timeoutMsg: "continued import did not finish" },
  );
  await browser.waitUntil(async () => (await countRows()) === FILES, {
    timeout: 30000,
    timeoutMsg: `expected ${FILES} documents after continuing`,
  });
});
