// Starts tauri-driver and the real LexiNaut binary (one app per test file), and performs real
// OS drags with a GTK drag source plus xdotool. Needs an X display (the test script runs Xvfb).
import { spawn, execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { remote } from "webdriverio";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../..");
export const artifacts = join(here, "artifacts");
mkdirSync(artifacts, { recursive: true });

export const appBinary =
  process.env.LEXINAUT_APP_BINARY ?? join(repoRoot, "target/debug/lexinaut-desktop");

async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/status`);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`tauri-driver did not answer on port ${port} within ${timeoutMs} ms`);
}

/** Pids of the processes that have `path` open (read from /proc: no psmisc needed). */
export function pidsHolding(path) {
  const pids = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    const holds = fds.some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
    if (holds) pids.push(Number(pid));
  }
  return pids;
}

/** Whether `pid` runs the app binary (not, say, a `lexinaut` CLI on the same library). */
function isApp(pid) {
  try {
    return readlinkSync(`/proc/${pid}/exe`) === resolve(appBinary);
  } catch {
    return false;
  }
}

/** Whether `pid` is running (not gone, and not a zombie its parent has yet to reap). */
export function processRunning(pid) {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Whether no process holds the library's watcher lock any more (the previous app has exited). */
function watcherLockFree(dataDir) {
  const r = spawnSync("flock", ["--nonblock", join(dataDir, "watcher.lock"), "true"]);
  return r.status === 0;
}

/**
 * Ends the managed Chroma the app started on `dataDir`, if it outlived the app (an app that did
 * not get to its exit path leaves it; the app's next start on the same data would end it, but a
 * test's data dir is never opened again). Only a process whose command line names this data
 * directory is touched.
 */
function endManagedChroma(dataDir) {
  const pidFile = join(dataDir, "chroma.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  let cmdline = "";
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return; // gone
  }
  if (!cmdline.includes("chroma") || !cmdline.includes(dataDir)) return;
  console.error(`# the managed Chroma (pid ${pid}) outlived the app; ending it`);
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // already gone
  }
}

/**
 * Keeps the app's log (its stderr, through tauri-driver) in the artifacts folder, and prints its
 * warnings and errors, so a failure in CI comes with the app's side of the story. The whole log
 * is printed with LEXINAUT_E2E_VERBOSE.
 */
function keepAppLog(log, port) {
  const plain = log.replace(/\x1b\[[0-9;]*m/g, "");
  writeFileSync(join(artifacts, `app-${port}.log`), plain, { flag: "a" });
  if (process.env.LEXINAUT_E2E_VERBOSE) {
    console.error(plain);
    return;
  }
  for (const line of plain.split("\n")) {
    if (/^\S+\s+(WARN|ERROR)\b/.test(line)) console.error(`# app: ${line}`);
  }
}

/**
 * Launches the app; returns { browser, dataDir, xdg, stop }. By default on a fresh data dir;
 * pass the `dataDir` (and `xdg`, to keep the window's saved choices) of an earlier launch to
 * start the app again on the same library after `stop()`.
 */
export async function launchApp({ port = 4444, env = {}, dataDir, xdg } = {}) {
  if (!process.env.DISPLAY) throw new Error("no DISPLAY: run the e2e tests under Xvfb (scripts/test.sh does)");
  dataDir ??= mkdtempSync(join(tmpdir(), "lexinaut-e2e-data-"));
  // WebKit keeps localStorage (e.g. the chosen language) under the XDG dirs: isolate them too.
  xdg ??= mkdtempSync(join(tmpdir(), "lexinaut-e2e-xdg-"));
  // Several people run the suite on one machine: an offset moves every file's ports out of the way.
  port += Number(process.env.LEXINAUT_E2E_PORT_OFFSET ?? 0);
  const driver = spawn("tauri-driver", ["--port", String(port), "--native-port", String(port + 1)], {
    env: {
      ...process.env,
      LEXINAUT_DATA_DIR: dataDir,
      XDG_DATA_HOME: join(xdg, "data"),
      XDG_CONFIG_HOME: join(xdg, "config"),
      XDG_CACHE_HOME: join(xdg, "cache"),
      LANG: "en_US.UTF-8",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let driverLog = "";
  driver.stderr.on("data", (d) => (driverLog += d));
  await waitForPort(port, 20000);
  const browser = await remote({
    hostname: "127.0.0.1",
    port,
    logLevel: "error",
    capabilities: {
      "tauri:options": { application: appBinary },
      "wdio:enforceWebDriverClassic": true,
    },
  });
  const stop = async () => {
    // SIGTERM first: the app exits through its normal path (background work stopped, locks
    // released, a managed Chroma stopped, the catalogue closed), as it does when a user closes
    // its window (the WebDriver's closing of the window ends the process outright). A driver that
    // died or an app that hangs must not hang the run.
    const pids = pidsHolding(join(dataDir, "catalogue.sqlite3")).filter(isApp);
    for (const pid of pids) process.kill(pid, "SIGTERM");
    const exited = Date.now() + 15000;
    while (Date.now() < exited && pids.some(processRunning)) await sleep(100);
    await Promise.race([browser.closeWindow().catch(() => {}), sleep(10000)]);
    await Promise.race([browser.deleteSession().catch(() => {}), sleep(15000)]);
    driver.kill();
    keepAppLog(driverLog, port);
    // The app is gone once it has let go of its folder watcher's lock (a relaunch on the same
    // data dir would otherwise find the watcher taken).
    const lock = join(dataDir, "watcher.lock");
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline && existsSync(lock) && !watcherLockFree(dataDir)) {
      await sleep(200);
    }
    if (existsSync(lock) && !watcherLockFree(dataDir)) {
      // Still running: the process holding this test's own data dir is the app this call launched.
      const pids = pidsHolding(lock);
      console.error(`# the app did not exit after its session ended; killing ${pids.join(" ")}`);
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    endManagedChroma(dataDir);
  };
  return { browser, dataDir, xdg, stop };
}

/** Geometry of the first X window whose name matches `name`. */
function windowGeometry(name) {
  const id = execFileSync("xdotool", ["search", "--sync", "--onlyvisible", "--name", name], {
    timeout: 10000,
  })
    .toString()
    .trim()
    .split("\n")[0];
  const out = execFileSync("xdotool", ["getwindowgeometry", "--shell", id]).toString();
  const v = Object.fromEntries(out.trim().split("\n").map((l) => l.split("=")));
  return { x: +v.X, y: +v.Y, width: +v.WIDTH, height: +v.HEIGHT };
}

/**
 * Drags `paths` from a GTK drag source onto the LexiNaut window: onto its centre, or onto `at`
 * ({x, y} in CSS pixels of the page, e.g. the middle of an element's bounding box). `whileOver`
 * runs while the drag hovers there, before the drop.
 */
export async function osDrag(paths, { targetWindowName = "LexiNaut", at = null, whileOver = null } = {}) {
  const source = spawn("/usr/bin/python3", [join(here, "drag_source.py"), "1060", "880", ...paths], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((res, rej) => {
    source.stdout.once("data", res);
    source.once("exit", (c) => rej(new Error(`drag source exited early (${c})`)));
  });
  try {
    const src = windowGeometry("lexinaut-drag-source");
    const dst = windowGeometry(`^${targetWindowName}$`);
    const sx = src.x + Math.floor(src.width / 2);
    const sy = src.y + Math.floor(src.height / 2);
    // Under Xvfb there is no window manager: the page starts at the window's origin, 1 CSS px = 1 px.
    const tx = dst.x + (at ? Math.round(at.x) : Math.floor(dst.width / 2));
    const ty = dst.y + (at ? Math.round(at.y) : Math.floor(dst.height / 2));
    const xdo = (...args) => execFileSync("xdotool", args.map(String));
    xdo("mousemove", sx, sy);
    await sleep(150);
    xdo("mousedown", 1);
    // Move in steps so GTK starts the drag and the target sees enter/over events.
    for (let i = 1; i <= 12; i++) {
      xdo("mousemove", Math.round(sx + ((tx - sx) * i) / 12), Math.round(sy + ((ty - sy) * i) / 12));
      await sleep(60);
    }
    await sleep(300);
    // E.g. a screenshot of the window while the drag hovers over it.
    if (whileOver) await whileOver();
    xdo("mouseup", 1);
    await new Promise((res) => {
      const timer = setTimeout(res, 5000);
      source.once("exit", () => {
        clearTimeout(timer);
        res();
      });
    });
  } finally {
    source.kill();
  }
}

export { sleep };

/** The middle of the first element matching `selector`, in CSS pixels of the page (for osDrag). */
export async function centreOf(browser, selector) {
  return browser.execute((sel) => {
    const r = document.querySelector(sel).getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  }, selector);
}
