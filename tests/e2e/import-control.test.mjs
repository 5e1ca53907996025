// Cancelling a large import from the window keeps the catalogue consistent, and "Continue import"
// finishes the remaining files; pausing holds an import (no file counted while paused) until
// "Resume".
//
// The cancelled import also carries a file whose reader hangs (a FIFO, like a file on a stalled
// network share) until the test lets it go: the import cannot finish before the test's Cancel
// lands, however fast the machine, and the cancel must not wait for that reader.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { constants, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { artifacts, launchApp, osDrag } from "./harness.mjs";

const FILES = 3000;
let app;
let folder;
let second;
let third;
let fourth;

function writeFolder(prefix, name) {
  const root = mkdtempSync(join(tmpdir(), prefix));
  for (let i = 0; i < FILES; i++) {
    const dir = join(root, String(i % 30).padStart(2, "0"));
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `${name}${String(i).padStart(5, "0")}.txt`),
      `第${i}号${name}。本季度项目营业收入同比增长，研发投入继续增加。${"补充说明：各部门按时提交材料。".repeat(6)}`,
    );
  }
  return root;
}

/** A FIFO named like a document: reading it waits until `release` writes to it. */
function hungFile(name) {
  const path = join(mkdtempSync(join(tmpdir(), "lexinaut-e2e-hung-")), name);
  const made = spawnSync("mkfifo", [path]);
  assert.equal(made.status, 0, `mkfifo ${path}: ${made.stderr}`);
  return path;
}

/**
 * Lets the reader waiting on `fifo` go: writes `text` to it once a reader has it open (polled
 * without blocking, so a test whose reader never comes fails instead of hanging).
 */
async function release(fifo, text, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fh;
    try {
      fh = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      if (e.code !== "ENXIO" || Date.now() > deadline) throw new Error(`nobody reads ${fifo}: ${e.message}`);
      await sleep(50);
      continue;
    }
    try {
      await fh.writeFile(text);
    } finally {
      await fh.close();
    }
    return;
  }
}

before(async () => {
  folder = writeFolder("lexinaut-e2e-many-", "记录");
  second = writeFolder("lexinaut-e2e-pause-", "纪要");
  third = writeFolder("lexinaut-e2e-lag-", "简报");
  fourth = writeFolder("lexinaut-e2e-queue-", "通知");
  app = await launchApp({ port: 4464 });
});

/** The "processed" number of the progress line ("Importing 512 of 3000 files…"). */
async function processed(browser) {
  const text = await (await browser.$('[data-testid="import-progress"]')).getText();
  const m = text.match(/(\d+)\D+(\d+)/);
  return m ? Number(m[1]) : -1;
}

after(async () => {
  await app?.stop();
});

/** The error the window shows, if any (for a failure message). */
async function shownError(browser) {
  const e = await browser.$('[data-testid="error"]');
  return (await e.isExisting()) ? await e.getText() : "none";
}

/** What the import panel shows, plus a screenshot in the artifacts folder (for a failure message). */
async function panelState(browser, name) {
  await browser.saveScreenshot(join(artifacts, `${name}.png`)).catch(() => {});
  const panel = await browser.$(".import-panel");
  const text = (await panel.isExisting()) ? (await panel.getText()).replace(/\s+/g, " ") : "no panel";
  return `panel: "${text.slice(0, 300)}"; error shown: ${await shownError(browser)}; screenshot ${name}.png`;
}

/** The number of documents the table lists (it renders only the rows in view and carries it). */
function countRows(browser) {
  return browser.execute(() => Number(document.querySelector('[data-testid="docs-table"]')?.dataset.rows ?? 0));
}

/**
 * Clicks Pause on the running import and waits until the window reports it paused; returns the
 * button. `shot` names the screenshot kept if it never does.
 */
async function pauseRunningImport(browser, shot) {
  const pause = await browser.$('[data-testid="import-pause"]');
  await pause.waitForExist({ timeout: 20000, timeoutMsg: "no import running (no pause button)" });
  await pause.click();
  await browser
    .waitUntil(async () => (await pause.getAttribute("aria-pressed")) === "true", { timeout: 10000 })
    .catch(async () => {
      assert.fail(`the import did not report being paused (${await panelState(browser, shot)})`);
    });
  return pause;
}

test("cancel stops a large import; continue finishes it", async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="kb-select"]')).waitForExist({ timeout: 15000 });
  const hung = hungFile("网盘上的报告.txt");
  await osDrag([hung, folder]);
  const cancel = await browser.$('[data-testid="import-cancel"]');
  await cancel.waitForExist({ timeout: 20000, timeoutMsg: "no progress bar with a cancel button" });
  await cancel.click();
  // Reported although a reader is still stuck on the hung file.
  const stopped = await browser.$('[data-testid="import-cancelled"]');
  await stopped.waitForExist({ timeout: 30000 }).catch(async () => {
    assert.fail(`cancel was not reported (${await panelState(browser, "cancel-not-reported")})`);
  });
  const partial = await countRows(browser);
  assert.ok(partial < FILES + 1, `cancel came too late: ${partial} documents`);
  // The abandoned reader gets its text and goes away; what it read is not stored.
  await release(hung, "被放弃的读取。");

  await (await browser.$('[data-testid="import-resume"]')).click();
  // The continued import reads the hung file again; this time it answers.
  const answered = release(hung, "续传后读到的报告：本季度营业收入同比增长。");
  await browser
    .waitUntil(
      async () => {
        const r = await browser.$('[data-testid="import-result"]');
        return (await r.isExisting()) && !(await (await browser.$('[data-testid="import-cancelled"]')).isExisting());
      },
      { timeout: 120000 },
    )
    .catch(async () => {
      assert.fail(`continued import did not finish (error shown: ${await shownError(browser)})`);
    });
  await answered;
  await browser.waitUntil(async () => (await countRows(browser)) === FILES + 1, {
    timeout: 30000,
    timeoutMsg: `expected ${FILES + 1} documents after continuing`,
  });
});

test("pause holds an import until resume; it then finishes", async () => {
  const { browser } = app;
  const before = await countRows(browser);
  await osDrag([second]);
  const pause = await pauseRunningImport(browser, "pause-not-reported");
  // Files already being read are finished; after that the count holds still.
  await browser.pause(1000);
  const held = await processed(browser);
  await browser.pause(2000);
  assert.equal(await processed(browser), held, "files were processed while paused");
  assert.ok(held < FILES, `pause came too late: ${held}`);
  const pace = await (await browser.$('[data-testid="import-pace"]')).getText();
  assert.ok(pace.length > 0, "the paused state is explained");
  if (process.env.LEXINAUT_E2E_SHOTS) await browser.saveScreenshot(join(process.env.LEXINAUT_E2E_SHOTS, "import-paused.png"));

  await pause.click();
  await browser.waitUntil(async () => (await countRows(browser)) === before + FILES, {
    timeout: 120000,
    timeoutMsg: `expected ${before + FILES} documents after resuming`,
  });
  const result = await (await browser.$('[data-testid="import-result"]')).getText();
  assert.ok(!/stopped|停止/.test(result), `resumed import reported as stopped: ${result}`);
});

/**
 * Starts sampling the window's main thread: a 50 ms timer's lateness (event-loop lag) and the
 * gaps between animation frames (what a user sees as stutter).
 */
function startSampling(browser) {
  return browser.execute(() => {
    const s = { timer: [], frames: [], stop: false };
    let last = performance.now();
    const tick = () => {
      const now = performance.now();
      s.timer.push(Math.max(0, now - last - 50));
      last = now;
      if (!s.stop) setTimeout(tick, 50);
    };
    setTimeout(tick, 50);
    let lastFrame = performance.now();
    const frame = (t) => {
      s.frames.push(t - lastFrame);
      lastFrame = t;
      if (!s.stop) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    window.__lexinautLag = s;
  });
}

/** Stops sampling; returns p50/p95/max of both series in milliseconds. */
async function stopSampling(browser) {
  return browser.execute(() => {
    const s = window.__lexinautLag;
    s.stop = true;
    const stats = (xs) => {
      const v = [...xs].sort((a, b) => a - b);
      const at = (q) => (v.length ? v[Math.min(v.length - 1, Math.floor(q * v.length))] : 0);
      return { n: v.length, p50: at(0.5), p95: at(0.95), max: v.length ? v[v.length - 1] : 0 };
    };
    return { timer_lag_ms: stats(s.timer), frame_gap_ms: stats(s.frames) };
  });
}

test("the window stays responsive during a large import (main-thread lag sampled)", async () => {
  const { browser } = app;
  const before = await countRows(browser);
  // Baseline: the same window, idle, in the same run.
  await startSampling(browser);
  await browser.pause(3000);
  const idle = await stopSampling(browser);

  await startSampling(browser);
  const started = Date.now();
  await osDrag([third]);
  await browser.waitUntil(async () => (await countRows(browser)) === before + FILES, {
    timeout: 120000,
    timeoutMsg: `expected ${before + FILES} documents`,
  });
  const importing = await stopSampling(browser);
  const report = { files: FILES, import_seconds: (Date.now() - started) / 1000, idle, importing };
  writeFileSync(join(artifacts, "ui-lag.json"), JSON.stringify(report, null, 2));
  console.log(`ui-lag ${JSON.stringify(report)}`);
  assert.ok(importing.timer_lag_ms.n > 10, "the window's timers ran during the import");
  assert.ok(importing.frame_gap_ms.n > 10, "the window painted during the import");
});

test("a folder dropped during an import is queued and imported after it", async () => {
  const { browser } = app;
  const before = await countRows(browser);
  const small = mkdtempSync(join(tmpdir(), "lexinaut-e2e-later-"));
  for (let i = 0; i < 5; i++) writeFileSync(join(small, `附件${i}.txt`), `第${i}份附件：后拖入的文件在本次导入结束后导入。`);
  await osDrag([fourth]);
  // Held, so the second drop surely lands while the first import runs.
  const pause = await pauseRunningImport(browser, "queue-pause");
  await osDrag([small]);
  const queued = await browser.$('[data-testid="import-queued"]');
  await queued.waitForExist({ timeout: 10000 }).catch(async () => {
    assert.fail(`the second drop was not queued (${await panelState(browser, "queue-not-shown")})`);
  });
  assert.match(await queued.getText(), /\b1\b/);
  if (process.env.LEXINAUT_E2E_SHOTS) await browser.saveScreenshot(join(process.env.LEXINAUT_E2E_SHOTS, "import-queued.png"));
  await pause.click();
  await browser.waitUntil(async () => (await countRows(browser)) === before + FILES + 5, {
    timeout: 120000,
    timeoutMsg: `expected ${before + FILES + 5} documents once both imports ran`,
  });
  await browser.waitUntil(async () => !(await queued.isExisting()), { timeout: 10000, timeoutMsg: "queue note stayed" });
  // One summary for both imports.
  const result = await browser.$('[data-testid="import-result"]');
  await result.waitForExist({ timeout: 10000 });
  assert.match(await result.getText(), new RegExp(`\\b${FILES + 5}\\b`), "the summary counts both imports");
  if (process.env.LEXINAUT_E2E_SHOTS) await browser.saveScreenshot(join(process.env.LEXINAUT_E2E_SHOTS, "import-queue-summary.png"));
});
