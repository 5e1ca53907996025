// Cancelling a large import from the window keeps the catalogue consistent, and "Continue import"
// finishes the remaining files; pausing holds an import (no file counted while paused) until
// "Resume".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { artifacts, launchApp, osDrag } from "./harness.mjs";

const FILES = 3000;
let app;
let folder;
let second;
let third;

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

before(async () => {
  folder = writeFolder("lexinaut-e2e-many-", "记录");
  second = writeFolder("lexinaut-e2e-pause-", "纪要");
  third = writeFolder("lexinaut-e2e-lag-", "简报");
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

test("pause holds an import until resume; it then finishes", async () => {
  const { browser } = app;
  const countRows = () =>
    browser.execute(() => Number(document.querySelector('[data-testid="docs-table"]')?.dataset.rows ?? 0));
  const before = await countRows();
  await osDrag([second]);
  const pause = await browser.$('[data-testid="import-pause"]');
  await pause.waitForExist({ timeout: 20000, timeoutMsg: "no pause button" });
  await pause.click();
  await browser.waitUntil(async () => (await pause.getAttribute("aria-pressed")) === "true", {
    timeout: 10000,
    timeoutMsg: "the import did not report being paused",
  });
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
  await browser.waitUntil(async () => (await countRows()) === before + FILES, {
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
  const countRows = () =>
    browser.execute(() => Number(document.querySelector('[data-testid="docs-table"]')?.dataset.rows ?? 0));
  const before = await countRows();
  // Baseline: the same window, idle, in the same run.
  await startSampling(browser);
  await browser.pause(3000);
  const idle = await stopSampling(browser);

  await startSampling(browser);
  const started = Date.now();
  await osDrag([third]);
  await browser.waitUntil(async () => (await countRows()) === before + FILES, {
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
