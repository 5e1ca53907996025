// The document table and knowledge-base management in the real window: filter, sort, a failed
// document's reason, delete (one, and a selection) and re-index from the table after changing the
// knowledge base's chunking, rename and delete a knowledge base; and a list of 10,000 documents
// that renders only the rows in view and stays quick to scroll, sort and filter.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchApp, osDrag, artifacts, repoRoot, sleep } from "./harness.mjs";

const PORT = 4514;
const BIG = 10_000;
const cli = join(repoRoot, "target/debug/lexinaut");
let app;
let root;
let dataDir;

function lexinaut(...args) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LEXINAUT_")));
  return execFileSync(cli, ["--data-dir", dataDir, ...args], { env }).toString();
}
const json = (...args) => JSON.parse(lexinaut(...args, "--json"));

const names = (browser) =>
  browser.execute(() =>
    [...document.querySelectorAll('[data-testid="doc-row"] .doc-name')].map((e) => e.textContent.trim()),
  );
const byTestId = (browser, id) => browser.$(`[data-testid="${id}"]`);
const row = (browser, name) =>
  browser.$(`//tr[@data-testid="doc-row"][.//span[contains(@class,"doc-name") and normalize-space()="${name}"]]`);

/** Empties a text field the way a user does (WebDriver's clearValue sends no input event). */
async function clearField(browser, el) {
  await el.click();
  await browser.keys(["Control", "a"]);
  await browser.keys(["Backspace"]);
}

async function waitNames(browser, ok, what, timeout = 10000) {
  let last = [];
  await browser.waitUntil(
    async () => {
      last = await names(browser);
      return ok(last);
    },
    { timeout, interval: 100, timeoutMsg: `${what}; the table shows ${JSON.stringify(last)}` },
  );
  return last;
}

/** Text of a cell (by test id) in the row of document `name` (read in the page: WebKit's driver
 *  answers "" for text inside elements found from other elements). */
const cellText = (browser, name, testid) =>
  browser.execute(
    (n, id) =>
      [...document.querySelectorAll('[data-testid="doc-row"]')]
        .find((r) => r.querySelector(".doc-name").textContent.trim() === n)
        ?.querySelector(`[data-testid="${id}"]`)?.textContent.trim() ?? null,
    name,
    testid,
  );

async function rowAction(browser, name, action) {
  await (await (await row(browser, name)).$('[data-testid="doc-menu"]')).click();
  const item = await byTestId(browser, action);
  await item.waitForDisplayed({ timeout: 5000 });
  await item.click();
}

async function selectKb(browser, name) {
  const select = await byTestId(browser, "kb-select");
  const value = await browser.execute(
    (n) => [...document.querySelectorAll('[data-testid="kb-select"] option')].find((o) => o.textContent.trim().startsWith(n))?.value,
    name,
  );
  assert.ok(value, `no knowledge base ${name} in the picker`);
  await select.selectByAttribute("value", value);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "lexinaut-e2e-catalogue-"));
  dataDir = join(root, "data");
  // A large knowledge base, imported with the CLI before the app starts.
  const big = join(root, "big");
  for (let i = 0; i < BIG; i++) {
    const dir = join(big, String(i % 50).padStart(2, "0"));
    if (i < 50) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `记录${String(i).padStart(5, "0")}.txt`), `第${i}号记录。${"项目进展顺利。".repeat(1 + (i % 7))}`);
  }
  lexinaut("kb", "create", "大量文档");
  const summary = JSON.parse(lexinaut("ingest", "--kb", "大量文档", big, "--json"));
  assert.equal(summary.documents, BIG);
  lexinaut("kb", "create", "合同库"); // sorts first: the window opens on it

  const docs = join(root, "docs");
  mkdirSync(join(docs, "附件"), { recursive: true });
  writeFileSync(join(docs, "年度报告.md"), `# 年度报告\n\n${"公司全年营业收入稳步增长，现金流充足。".repeat(30)}\n`);
  writeFileSync(join(docs, "季度报告.txt"), "第三季度报告：新签合同十二份，回款率百分之九十五。\n");
  writeFileSync(join(docs, "附件", "设备清单.csv"), "设备,数量\n服务器,3\n交换机,2\n");
  writeFileSync(join(docs, "notes.txt"), "Meeting notes: the audit starts in March.\n".repeat(3));
  writeFileSync(join(docs, "损坏.txt"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d, 0, 0]));
  app = await launchApp({ port: PORT, dataDir });
  await (await byTestId(app.browser, "kb-select")).waitForExist({ timeout: 15000 });
  await osDrag([docs]);
  await (await byTestId(app.browser, "import-result")).waitForExist({ timeout: 30000, timeoutMsg: "import did not finish" });
});

after(async () => {
  await app?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test("the table filters by name, type and status, and a failed document shows its reason", async () => {
  const { browser } = app;
  await waitNames(browser, (n) => n.length === 5, "the five files are not listed");
  await (await byTestId(browser, "docs-filter")).setValue("报告");
  await waitNames(browser, (n) => n.length === 2 && n.every((x) => x.includes("报告")), "name filter");
  assert.match(await (await byTestId(browser, "docs-count")).getText(), /2 of 5/);
  await (await byTestId(browser, "docs-format")).selectByVisibleText("markdown");
  await waitNames(browser, (n) => n.join() === "年度报告.md", "name and type filter");
  await clearField(browser, await byTestId(browser, "docs-filter"));
  await (await byTestId(browser, "docs-format")).selectByVisibleText("All types");
  await (await byTestId(browser, "docs-status")).selectByIndex(2); // failed
  await waitNames(browser, (n) => n.join() === "损坏.txt", "status filter");
  assert.match(await cellText(browser, "损坏.txt", "doc-reason"), /binary/);
  await browser.saveScreenshot(join(artifacts, "catalogue-failed.png"));
  await (await byTestId(browser, "docs-status")).selectByIndex(0);
  await waitNames(browser, (n) => n.length === 5, "clearing the filters");
});

test("columns sort both ways", async () => {
  const { browser } = app;
  const sizeOrder = ["年度报告.md", "notes.txt", "季度报告.txt", "设备清单.csv", "损坏.txt"];
  await (await byTestId(browser, "sort-size")).click();
  await waitNames(browser, (n) => n.join() === sizeOrder.join(), "largest first");
  await (await byTestId(browser, "sort-size")).click();
  await waitNames(browser, (n) => n.join() === [...sizeOrder].reverse().join(), "smallest first");
  assert.equal(await (await byTestId(browser, "sort-size")).getAttribute("aria-sort"), "ascending");
  await (await byTestId(browser, "sort-name")).click();
  const byName = await names(browser);
  assert.equal(byName[0], "notes.txt");
});

test("a document is deleted from the table after confirming; its passages are gone", async () => {
  const { browser } = app;
  assert.equal(json("search", "回款率", "--kb", "合同库").length, 1);
  await rowAction(browser, "季度报告.txt", "doc-delete");
  const dialog = await byTestId(browser, "doc-delete-dialog");
  await dialog.waitForExist({ timeout: 5000 });
  assert.match(await dialog.getText(), /季度报告\.txt/);
  await browser.saveScreenshot(join(artifacts, "catalogue-delete.png"));
  await (await byTestId(browser, "doc-delete-dialog-confirm")).click();
  await waitNames(browser, (n) => !n.includes("季度报告.txt") && n.length === 4, "the deleted document stayed");
  assert.equal(json("search", "回款率", "--kb", "合同库").length, 0, "its passages left the index");
  assert.equal(json("docs", "list", "--kb", "合同库").length, 4);
});

test("new chunking (in tokens) applies on re-index from the table, keeping the document", async () => {
  const { browser } = app;
  const before = json("docs", "list", "--kb", "合同库").find((d) => d.name === "年度报告.md");
  await (await byTestId(browser, "kb-manage")).click();
  await (await byTestId(browser, "kb-settings")).waitForExist({ timeout: 5000 });
  await (await byTestId(browser, "kb-settings-chunk-size")).setValue("64");
  await (await byTestId(browser, "kb-settings-chunk-overlap")).setValue("8");
  // Sizes in tokens of the embedding model (estimated), not characters.
  await (await byTestId(browser, "kb-settings-chunk-unit")).selectByAttribute("value", "tokens");
  await sleep(300);
  await browser.saveScreenshot(join(artifacts, "catalogue-kb-settings.png"));
  await (await byTestId(browser, "kb-settings-save")).click();
  await (await byTestId(browser, "kb-settings")).waitForExist({ reverse: true, timeout: 5000 });
  const kb = json("kb", "list").find((k) => k.name === "合同库");
  assert.deepEqual([kb.chunk_size, kb.chunk_overlap, kb.chunk_unit], [64, 8, "tokens"]);
  // Stored documents keep their passages until re-indexed.
  const chunks = async () => Number(await cellText(browser, "年度报告.md", "doc-chunks"));
  assert.equal(await chunks(), before.chunk_count);

  await rowAction(browser, "年度报告.md", "doc-reindex");
  await browser.waitUntil(async () => (await chunks()) > before.chunk_count, {
    timeout: 15000,
    timeoutMsg: "re-index did not cut the document into smaller passages",
  });
  const after = json("docs", "list", "--kb", "合同库").find((d) => d.name === "年度报告.md");
  assert.equal(after.id, before.id, "re-indexing keeps the document");
  assert.ok(after.chunk_count > before.chunk_count);
});

test("a selection of documents is deleted at once", async () => {
  const { browser } = app;
  for (const name of ["notes.txt", "设备清单.csv"]) {
    await (await (await row(browser, name)).$("td.check input")).click();
  }
  const bar = await byTestId(browser, "selection-bar");
  await bar.waitForExist({ timeout: 5000 });
  assert.match(await bar.getText(), /2 selected/);
  await (await byTestId(browser, "selection-delete")).click();
  await (await byTestId(browser, "doc-delete-dialog-confirm")).click();
  await waitNames(browser, (n) => n.join() === "年度报告.md,损坏.txt", "the selection was not deleted");
  assert.equal(await bar.isExisting(), false);
});

test("a knowledge base is renamed, then deleted after confirming", async () => {
  const { browser } = app;
  await (await byTestId(browser, "kb-manage")).click();
  const nameInput = await byTestId(browser, "kb-settings-name");
  await nameInput.waitForExist({ timeout: 5000 });
  await nameInput.setValue("合同与报告");
  await (await byTestId(browser, "kb-settings-save")).click();
  const select = await byTestId(browser, "kb-select");
  await browser.waitUntil(async () => (await select.getText()).includes("合同与报告"), { timeout: 5000 });
  assert.ok(json("kb", "list").some((k) => k.name === "合同与报告"));

  await (await byTestId(browser, "kb-manage")).click();
  await (await byTestId(browser, "kb-delete")).click();
  const dialog = await byTestId(browser, "kb-delete-dialog");
  await dialog.waitForExist({ timeout: 5000 });
  assert.match(await dialog.getText(), /合同与报告/);
  await sleep(300);
  await browser.saveScreenshot(join(artifacts, "catalogue-kb-delete.png"));
  await (await byTestId(browser, "kb-delete-dialog-confirm")).click();
  await browser.waitUntil(async () => !(await select.getText()).includes("合同与报告"), {
    timeout: 10000,
    timeoutMsg: "the deleted knowledge base is still offered",
  });
  assert.deepEqual(json("kb", "list").map((k) => k.name), ["大量文档"]);
  // The window moved on to the remaining knowledge base.
  await browser.waitUntil(async () => (await (await byTestId(browser, "docs-count")).getText()).includes(String(BIG)), {
    timeout: 20000,
    timeoutMsg: "the window did not switch to the remaining knowledge base",
  });
});

test(`${BIG} documents: only the rows in view are rendered; scrolling, sorting and filtering stay quick`, async () => {
  const { browser } = app;
  await selectKb(browser, "大量文档");
  await browser.waitUntil(async () => (await (await byTestId(browser, "docs-count")).getText()).includes(String(BIG)), {
    timeout: 20000,
  });
  const rendered = async () => (await names(browser)).length;
  assert.ok((await rendered()) < 80, `${await rendered()} rows rendered for ${BIG} documents`);
  assert.equal(await (await byTestId(browser, "docs-table")).getAttribute("data-rows"), String(BIG));

  // Scroll to the end in steps, measuring how long each frame takes to show the right rows.
  const frames = await browser.executeAsync((done) => {
    const scroller = document.querySelector('[data-testid="docs-scroller"]');
    const times = [];
    let step = 0;
    const next = () => {
      if (step === 20) return done({ times });
      step++;
      const t0 = performance.now();
      scroller.scrollTop = (scroller.scrollHeight * step) / 20;
      requestAnimationFrame(() => requestAnimationFrame(() => {
        times.push(performance.now() - t0);
        next();
      }));
    };
    next();
  });
  const worst = Math.max(...frames.times);
  console.log(`# scrolling ${BIG} rows: worst step ${worst.toFixed(1)} ms, median ${frames.times.sort((a, b) => a - b)[10].toFixed(1)} ms`);
  assert.ok(worst < 250, `a scroll step took ${worst} ms`);
  await waitNames(browser, (n) => n.includes("记录09999.txt"), "the last rows did not render at the bottom");
  assert.ok((await rendered()) < 80);
  await sleep(300);
  await browser.saveScreenshot(join(artifacts, "catalogue-10k.png"));

  let t0 = Date.now();
  await (await byTestId(browser, "sort-size")).click();
  await waitNames(browser, (n) => n.length > 0 && n.length < 80, "sorting");
  console.log(`# sort ${BIG} rows by size: ${Date.now() - t0} ms`);
  t0 = Date.now();
  await (await byTestId(browser, "docs-filter")).setValue("记录0999");
  await waitNames(browser, (n) => n.length === 10, "filtering");
  console.log(`# filter ${BIG} rows: ${Date.now() - t0} ms`);
  assert.ok(Date.now() - t0 < 5000);
});
