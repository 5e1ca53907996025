// Watched folders in the real window with real file-system events: a folder dropped on the
// watched-folders panel is mirrored; files created, edited, renamed and deleted with node's fs
// show up in the document list within seconds (a rename keeps the document and its passages);
// pause and resume; a folder added by typing its path and then deleted from disk shows as
// missing with its documents kept; changes made while the app is closed are found at launch;
// while `lexinaut watch run` holds the library the app says so, and takes over when it ends.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchApp, osDrag, centreOf, artifacts, repoRoot, sleep } from "./harness.mjs";

const PORT = 4504;
const cli = join(repoRoot, "target/debug/lexinaut");
let app;
let root;
let folder; // dropped on the panel
let second; // typed into the form, later deleted from disk

// The documents the window lists: name -> id.
const rows = (browser) =>
  browser.execute(() =>
    Object.fromEntries(
      [...document.querySelectorAll('[data-testid="doc-row"]')].map((r) => [
        r.querySelector(".doc-name").textContent.trim(),
        Number(r.dataset.id),
      ]),
    ),
  );

/** Waits until the document list satisfies `ok(rows)`; returns the rows and the time it took. */
async function waitRows(browser, ok, what, timeout = 10000) {
  const start = Date.now();
  let last = {};
  try {
    await browser.waitUntil(
      async () => {
        last = await rows(browser);
        return ok(last);
      },
      { timeout, interval: 100 },
    );
  } catch {
    await browser.saveScreenshot(join(artifacts, "watch-failure.png")).catch(() => {});
    const shown = await browser
      .execute(() => document.querySelector('[data-testid="error"]')?.textContent ?? "no error shown")
      .catch((e) => `page unreachable: ${e}`);
    assert.fail(`${what}; the list shows ${JSON.stringify(last)} (${shown}; see artifacts/watch-failure.png)`);
  }
  return { rows: last, ms: Date.now() - start };
}

/** `lexinaut` on the app's data dir (read-only commands, beside the running app). */
function lexinaut(...args) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LEXINAUT_")));
  return JSON.parse(execFileSync(cli, ["--data-dir", app.dataDir, ...args, "--json"], { env }).toString());
}

const watchRow = (browser, path) => browser.$(`[data-testid="watch-row"][data-path="${path}"]`);

before(async () => {
  root = mkdtempSync(join(tmpdir(), "lexinaut-e2e-watch-"));
  folder = join(root, "合同");
  second = join(root, "second");
  mkdirSync(folder);
  mkdirSync(second);
  writeFileSync(join(folder, "租赁合同.txt"), "本租赁合同约定租期为三年，月租金为人民币八千元，押金两个月。\n");
  writeFileSync(join(folder, "meeting.md"), "# Weekly meeting\n\nThe budget review moves to Thursday afternoon.\n");
  writeFileSync(join(second, "附录.txt"), "附录列出了设备清单和保修条款。\n");
  app = await launchApp({ port: PORT });
});

after(async () => {
  await app?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test("a folder dropped on the watched-folders panel is watched and mirrored", async () => {
  const { browser } = app;
  const empty = await browser.$('[data-testid="watch-empty"]');
  await empty.waitForExist({ timeout: 15000, timeoutMsg: "no empty watched-folders panel" });
  let hover = null;
  await osDrag([folder], {
    at: await centreOf(browser, '[data-testid="watch-empty"]'),
    whileOver: async () => {
      hover = await browser.execute(() => ({
        zone: document.querySelector('[data-testid="drop-overlay"]')?.dataset.zone ?? null,
        lit: document.querySelector('[data-testid="watch-panel"]').classList.contains("drop-active"),
      }));
      await browser.saveScreenshot(join(artifacts, "watch-drop-hover.png"));
    },
  });
  assert.deepEqual(hover, { zone: "watch", lit: true }, "the panel lights up under the drag");
  const row = await watchRow(browser, folder);
  await row.waitForExist({ timeout: 10000, timeoutMsg: "the dropped folder is not listed as watched" });
  await waitRows(browser, (r) => "租赁合同.txt" in r && "meeting.md" in r, "the folder's files were not mirrored");
  // Watched, not imported once: no import summary appears.
  assert.equal(await (await browser.$('[data-testid="import-result"]')).isExisting(), false);
  await browser.waitUntil(async () => (await row.getAttribute("data-state")) === "active" && !(await (await row.$('[data-testid="watch-pending"]')).isExisting()), {
    timeout: 10000,
    timeoutMsg: "the folder did not settle in sync",
  });
  assert.match(await row.getText(), /last sync/);
  const indicator = await browser.$('[data-testid="sync-indicator"]');
  await browser.waitUntil(async () => (await indicator.getAttribute("data-state")) === "idle", { timeout: 10000 });
  await sleep(500);
  await browser.saveScreenshot(join(artifacts, "watch-panel.png"));
});

test("a new file appears, an edit is searchable, a rename keeps the document, a delete removes it", async () => {
  const { browser } = app;
  writeFileSync(join(folder, "报价单.txt"), "报价单：服务器三台，总价十二万元，含三年维保。\n");
  const created = await waitRows(browser, (r) => "报价单.txt" in r, "a new file did not appear");
  console.log(`# created -> listed: ${created.ms} ms`);

  appendFileSync(join(folder, "meeting.md"), "\nAction item: order the zebrafish aquarium.\n");
  await (await browser.$('[data-testid="tab-search"]')).click();
  const input = await browser.$('[data-testid="search-input"]');
  const start = Date.now();
  await browser.waitUntil(
    async () => {
      await input.setValue("zebrafish aquarium");
      await (await browser.$('[data-testid="search-button"]')).click();
      const hit = await browser.$('[data-testid="hit"] .hit-file');
      return (await hit.isExisting()) && (await hit.getText()) === "meeting.md";
    },
    { timeout: 10000, interval: 300, timeoutMsg: "the edit did not become searchable" },
  );
  console.log(`# edited -> searchable: ${Date.now() - start} ms`);

  const before = lexinaut("search", "月租金为人民币八千元", "--kb", "My knowledge base");
  const idBefore = (await rows(browser))["租赁合同.txt"];
  renameSync(join(folder, "租赁合同.txt"), join(folder, "租赁合同（定稿）.txt"));
  const renamed = await waitRows(
    browser,
    (r) => "租赁合同（定稿）.txt" in r && !("租赁合同.txt" in r),
    "the rename was not followed",
  );
  console.log(`# renamed -> listed: ${renamed.ms} ms`);
  assert.equal(renamed.rows["租赁合同（定稿）.txt"], idBefore, "a rename keeps the document id");
  const afterRename = lexinaut("search", "月租金为人民币八千元", "--kb", "My knowledge base");
  assert.ok(afterRename[0].path.endsWith("租赁合同（定稿）.txt"), afterRename[0].path);
  assert.deepEqual(
    afterRename.map((h) => h.chunk_id),
    before.map((h) => h.chunk_id),
    "a rename keeps the passages (not imported again)",
  );

  unlinkSync(join(folder, "报价单.txt"));
  const deleted = await waitRows(browser, (r) => !("报价单.txt" in r), "a deleted file stayed listed");
  console.log(`# deleted -> gone: ${deleted.ms} ms`);
  assert.ok("meeting.md" in deleted.rows);
});

test("a paused folder is not followed; resuming catches up", async () => {
  const { browser } = app;
  const row = await watchRow(browser, folder);
  await (await row.$('[data-testid="watch-pause"]')).click();
  await browser.waitUntil(async () => (await row.getAttribute("data-state")) === "paused", { timeout: 5000 });
  writeFileSync(join(folder, "暂停期间.txt"), "暂停期间新增的文件。\n");
  await sleep(2500);
  assert.equal("暂停期间.txt" in (await rows(browser)), false, "a paused folder was synced");
  await (await row.$('[data-testid="watch-pause"]')).click();
  await waitRows(browser, (r) => "暂停期间.txt" in r, "resuming did not catch up");
  assert.equal(await row.getAttribute("data-state"), "active");
});

test("a folder added by path, then deleted from disk, shows as missing and keeps its documents", async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="watch-add"]')).click();
  await (await browser.$('[data-testid="watch-path"]')).setValue(second);
  await (await browser.$('[data-testid="watch-submit"]')).click();
  await waitRows(browser, (r) => "附录.txt" in r, "the typed folder was not mirrored");
  const row = await watchRow(browser, second);
  // The same folder twice is refused, with the reason.
  await (await browser.$('[data-testid="watch-add"]')).click();
  await (await browser.$('[data-testid="watch-path"]')).setValue(join(second));
  await (await browser.$('[data-testid="watch-submit"]')).click();
  const refusal = await browser.$('[data-testid="watch-add-error"]');
  await refusal.waitForExist({ timeout: 5000 });
  assert.match(await refusal.getText(), /already exists/);

  rmSync(second, { recursive: true, force: true });
  await browser.waitUntil(async () => (await row.getAttribute("data-state")) === "missing", {
    timeout: 15000,
    timeoutMsg: "a deleted folder was not shown as missing",
  });
  assert.match(await (await row.$('[data-testid="watch-error"]')).getText(), /not there/);
  assert.ok("附录.txt" in (await rows(browser)), "a missing folder's documents are kept");
  const indicator = await browser.$('[data-testid="sync-indicator"]');
  await browser.waitUntil(async () => (await indicator.getAttribute("data-state")) === "attention", { timeout: 5000 });
  await sleep(500);
  await browser.saveScreenshot(join(artifacts, "watch-missing.png"));

  // Removing it with its documents asks first, then takes them away.
  await (await row.$('[data-testid="watch-remove"]')).click();
  const dialog = await browser.$('[data-testid="watch-remove-dialog"]');
  await dialog.waitForExist({ timeout: 5000 });
  await (await browser.$('[data-testid="watch-remove-documents"]')).click();
  await browser.saveScreenshot(join(artifacts, "watch-remove-dialog.png"));
  await (await browser.$('[data-testid="watch-remove-dialog-confirm"]')).click();
  await waitRows(browser, (r) => !("附录.txt" in r), "removing with documents left the documents");
  assert.equal(await row.isExisting(), false);
});

test("changes made while the app was closed are picked up at launch", async () => {
  const idBefore = (await rows(app.browser))["meeting.md"];
  const { dataDir, xdg } = app;
  await app.stop();
  app = null;
  writeFileSync(join(folder, "离线新增.txt"), "应用关闭期间新增的文件，内容关于年度审计。\n");
  appendFileSync(join(folder, "暂停期间.txt"), "应用关闭期间追加了一行：蓝鲸保护计划。\n");
  renameSync(join(folder, "meeting.md"), join(folder, "weekly-meeting.md"));
  unlinkSync(join(folder, "租赁合同（定稿）.txt"));

  app = await launchApp({ port: PORT, dataDir, xdg });
  const { browser } = app;
  await (await browser.$('[data-testid="kb-select"]')).waitForExist({ timeout: 15000 });
  const synced = await waitRows(
    browser,
    (r) => "离线新增.txt" in r && "weekly-meeting.md" in r && !("meeting.md" in r) && !("租赁合同（定稿）.txt" in r),
    "changes made while the app was closed were not picked up",
    20000,
  );
  console.log(`# launch -> reconciled: ${synced.ms} ms after the window appeared`);
  assert.equal(synced.rows["weekly-meeting.md"], idBefore, "a rename while closed keeps the document");
  const hits = lexinaut("search", "蓝鲸保护计划", "--kb", "My knowledge base");
  assert.ok(hits.length > 0 && hits[0].path.endsWith("暂停期间.txt"), JSON.stringify(hits));
  const row = await watchRow(browser, folder);
  assert.equal(await row.getAttribute("data-state"), "active");
});

test("while another process syncs the library the top bar says so; the app takes over when it stops", async () => {
  const { dataDir, xdg } = app;
  await app.stop();
  app = null;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LEXINAUT_")));
  const daemon = spawn(cli, ["--data-dir", dataDir, "watch", "run"], { env, stdio: "ignore" });
  try {
    // `watch run` holds the watcher lock once it has started.
    const deadline = Date.now() + 10000;
    while (spawnSync("flock", ["--nonblock", join(dataDir, "watcher.lock"), "true"]).status === 0) {
      assert.ok(Date.now() < deadline, "lexinaut watch run did not start");
      await sleep(100);
    }
    app = await launchApp({ port: PORT, dataDir, xdg });
    const { browser } = app;
    const indicator = await browser.$('[data-testid="sync-indicator"]');
    await indicator.waitForExist({ timeout: 15000 });
    await browser.waitUntil(async () => (await indicator.getAttribute("data-state")) === "stopped", {
      timeout: 10000,
      timeoutMsg: "the top bar does not say that folder sync is stopped",
    });
    assert.match(await indicator.getAttribute("title"), /folder watcher/);
    const note = await browser.$('[data-testid="watcher-error"]');
    assert.ok(await note.isExisting(), "the watched-folders panel says it is not syncing");
    await sleep(300);
    await browser.saveScreenshot(join(artifacts, "watch-stopped.png"));
    daemon.kill("SIGTERM");
    // Started again within the retry interval (10 s) once `watch run` has finished and let go.
    await browser.waitUntil(async () => (await indicator.getAttribute("data-state")) === "idle", {
      timeout: 40000,
      timeoutMsg: "the app did not take over folder sync",
    });
    assert.equal(await note.isExisting(), false);
    writeFileSync(join(folder, "接管之后.txt"), "接管之后新增的文件。\n");
    await waitRows(browser, (r) => "接管之后.txt" in r, "the app's watcher does not follow the folder");
  } finally {
    daemon.kill("SIGKILL");
  }
});
