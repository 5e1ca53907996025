// The real LexiNaut window under Xvfb: first start, a real OS drop of a folder, the document
// list, a failure listed with its reason, keyword search, a new knowledge base, the language, and
// a copy of an already imported file listed as its duplicate; a stop signal ends the app through
// its exit path, leaving the catalogue one file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchApp, osDrag, artifacts, pidsHolding, processRunning, sleep } from "./harness.mjs";

let app;
let folder;

before(async () => {
  folder = mkdtempSync(join(tmpdir(), "lexinaut-e2e-docs-"));
  writeFileSync(
    join(folder, "年报摘要.txt"),
    "本公司二〇二三年度营业收入同比增长百分之十二。\n董事会建议每十股派发现金红利三元。\n研发投入主要用于新一代储能电池。",
  );
  writeFileSync(
    join(folder, "handbook.md"),
    "# Employee handbook\n\nThe annual leave policy grants twenty days of paid leave.\n\n## 报销\n\n差旅报销须在出差结束后十五日内提交。",
  );
  writeFileSync(join(folder, "broken.txt"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d]));
  writeFileSync(join(folder, "photo.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  app = await launchApp();
});

after(async () => {
  await app?.stop();
});

test("first start shows a ready knowledge base and an empty catalogue", async () => {
  const { browser } = app;
  const select = await browser.$('[data-testid="kb-select"]');
  await select.waitForExist({ timeout: 15000 });
  await browser.waitUntil(async () => (await select.getText()).includes("My knowledge base"), {
    timeout: 10000,
    timeoutMsg: "default knowledge base not shown",
  });
  assert.ok(await (await browser.$('[data-testid="docs-empty"]')).isExisting());
});

test("a folder dropped from the desktop is imported, with the bad file listed", async () => {
  const { browser } = app;
  await osDrag([folder]);
  const result = await browser.$('[data-testid="import-result"]');
  await result.waitForExist({ timeout: 30000, timeoutMsg: "import did not finish after the drop" });
  const text = await result.getText();
  assert.match(text, /Imported 2 documents/);
  assert.match(text, /1 skipped, 1 failed/);
  const failures = await (await browser.$('[data-testid="import-failures"]')).getText();
  assert.match(failures, /broken\.txt/);
  assert.match(failures, /binary/);
  const expected = ["broken.txt", "handbook.md", "年报摘要.txt"].sort().join("|");
  let names = "";
  await browser.waitUntil(
    async () => {
      names = await browser.execute(() =>
        [...document.querySelectorAll('[data-testid="doc-row"] .doc-name')]
          .map((e) => e.textContent.trim())
          .sort()
          .join("|"),
      );
      return names === expected;
    },
    { timeout: 10000, timeoutMsg: `document list never showed the three files` },
  );
  assert.equal(names, expected);
});

test("keyword search finds the passage in Chinese and English", async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="tab-search"]')).click();
  const input = await browser.$('[data-testid="search-input"]');
  await input.setValue("营业收入同比增长");
  await (await browser.$('[data-testid="search-button"]')).click();
  const first = await browser.$('[data-testid="hit"] .hit-file');
  await first.waitForExist({ timeout: 10000 });
  assert.equal(await first.getText(), "年报摘要.txt");

  await input.setValue("annual leave");
  await (await browser.$('[data-testid="search-button"]')).click();
  await browser.waitUntil(
    async () => (await (await browser.$('[data-testid="hit"] .hit-file')).getText()) === "handbook.md",
    { timeout: 10000, timeoutMsg: "English query did not find handbook.md" },
  );
  await sleep(800); // let the last paint land before the screenshot
  await browser.saveScreenshot(join(artifacts, "app-search.png"));
});

test("a new knowledge base can be created and the UI switches to Chinese", async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="kb-new"]')).click();
  await (await browser.$('[data-testid="kb-name"]')).setValue("合同");
  await (await browser.$('[data-testid="kb-create"]')).click();
  const select = await browser.$('[data-testid="kb-select"]');
  await browser.waitUntil(async () => (await select.getValue()) !== "" && (await select.getText()).includes("合同"), {
    timeout: 10000,
  });
  await (await browser.$('[data-testid="docs-empty"]')).waitForExist({ timeout: 10000 });
  await (await browser.$('[data-testid="lang"]')).click();
  const addFiles = await browser.$('[data-testid="add-files"]');
  await browser.waitUntil(async () => (await addFiles.getText()) === "添加文件…", { timeout: 5000 });
  await sleep(500);
  await browser.saveScreenshot(join(artifacts, "app-zh.png"));
});

test("the same file imported from two folders is stored once and listed as a duplicate", async () => {
  const { browser } = app;
  const root = mkdtempSync(join(tmpdir(), "lexinaut-e2e-dup-"));
  const text = "合同编号 HT-2024-118：违约金按未付金额的千分之五按日计算。";
  mkdirSync(join(root, "甲"));
  mkdirSync(join(root, "乙"));
  writeFileSync(join(root, "甲", "合同.txt"), text);
  writeFileSync(join(root, "乙", "合同副本.txt"), text);
  await osDrag([root]);
  const cell = await browser.$('[data-testid="doc-duplicate"]');
  await cell.waitForExist({ timeout: 30000, timeoutMsg: "no duplicate listed" });
  const dups = await browser.execute(() =>
    [...document.querySelectorAll('[data-testid="doc-row"]')]
      .filter((r) => r.querySelector('[data-testid="doc-duplicate"]'))
      .map((r) => ({
        name: r.querySelector(".doc-name").textContent.trim(),
        title: r.querySelector('[data-testid="doc-duplicate"]').getAttribute("title"),
        chunks: r.querySelector('[data-testid="doc-chunks"]').textContent.trim(),
      })),
  );
  assert.equal(dups.length, 1, JSON.stringify(dups));
  const other = dups[0].name.startsWith("合同副本") ? join(root, "甲", "合同.txt") : join(root, "乙", "合同副本.txt");
  assert.ok(dups[0].title.includes(other), `${dups[0].title} does not name ${other}`);
  assert.equal(dups[0].chunks, "0", "a duplicate has no passages of its own");
  assert.match(await (await browser.$('[data-testid="import-duplicates"]')).getText(), /1/);
  await sleep(300);
  await browser.saveScreenshot(join(artifacts, "app-duplicate.png"));
});

/** Waits until no process has `dataDir`'s catalogue open; returns the catalogue's files. */
async function catalogueFilesOnceClosed(dataDir) {
  const catalogue = join(dataDir, "catalogue.sqlite3");
  const deadline = Date.now() + 20000;
  while (pidsHolding(catalogue).length > 0) {
    assert.ok(Date.now() < deadline, "the app still has its catalogue open");
    await sleep(100);
  }
  return readdirSync(dataDir).filter((n) => n.startsWith("catalogue"));
}

test("a stop signal ends the app through its exit path, the catalogue folded into one file", async () => {
  const { dataDir } = app;
  const catalogue = join(dataDir, "catalogue.sqlite3");
  assert.ok(existsSync(`${catalogue}-wal`), "a running app keeps a write-ahead log");
  // SIGTERM (a session ending, `kill`) takes the path of closing the window.
  const pids = pidsHolding(catalogue);
  assert.equal(pids.length, 1, `one process has the catalogue open: ${pids}`);
  process.kill(pids[0], "SIGTERM");
  assert.deepEqual(await catalogueFilesOnceClosed(dataDir), ["catalogue.sqlite3"]);
  const gone = Date.now() + 10000;
  while (processRunning(pids[0])) {
    assert.ok(Date.now() < gone, "the app did not exit on SIGTERM");
    await sleep(100);
  }
  const started = Date.now();
  await app.stop();
  app = null;
  console.log(`# session ended ${Date.now() - started} ms after the app`);
});
