// Setting LexiNaut up from inside the window, against real servers: connect to Xinference,
// see its running models, pick the three models (Chroma left empty: LexiNaut runs its own),
// launch and stop a model from the app, and get a generated answer afterwards.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchApp, osDrag, artifacts, sleep } from "./harness.mjs";

const env = process.env;
const servers = env.LEXINAUT_TEST_XINFERENCE_URL && env.LEXINAUT_TEST_CHROMA_BIN && env.LEXINAUT_TEST_CHAT_MODEL;
if (!servers) {
  if (env.LEXINAUT_TEST_REQUIRE_BACKENDS === "1") throw new Error("LEXINAUT_TEST_* servers required but not set");
  console.error("skip note: no LEXINAUT_TEST_* servers (scripts/backends.sh start); settings test skipped");
}

let app;
let folder;

before(async () => {
  if (!servers) return;
  folder = mkdtempSync(join(tmpdir(), "lexinaut-e2e-settings-"));
  writeFileSync(join(folder, "warehouse.md"), "# Warehouse\n\nThe spring stock count found 3,200 boxes of tea in the Hangzhou warehouse.\n");
  // No model settings in the environment: everything is set in the window. Only where the
  // set-up put the `chroma` executable is passed on.
  app = await launchApp({ port: 4494, env: { LEXINAUT_CHROMA_BIN: env.LEXINAUT_TEST_CHROMA_BIN } });
});

after(async () => {
  await app?.stop();
});

const byTestId = (browser, id) => browser.$(`[data-testid="${id}"]`);

test("connecting, picking models and launching one, all from the settings screen", { skip: !servers }, async () => {
  const { browser } = app;
  await (await byTestId(browser, "kb-select")).waitForExist({ timeout: 15000 });
  assert.match(await (await byTestId(browser, "vector-status")).getAttribute("class"), /off/);

  await (await byTestId(browser, "open-settings")).click();
  const url = await byTestId(browser, "set-xinference_url");
  await url.waitForExist({ timeout: 10000 });
  await url.setValue(env.LEXINAUT_TEST_XINFERENCE_URL);
  await (await byTestId(browser, "settings-save")).click();
  await (await byTestId(browser, "running-models")).waitForExist({ timeout: 30000 });
  await browser.waitUntil(async () => (await (await byTestId(browser, "running-models")).getText()).includes(env.LEXINAUT_TEST_CHAT_MODEL), {
    timeout: 30000,
    timeoutMsg: "running models not listed",
  });
  await (await byTestId(browser, "set-embed_model")).selectByAttribute("value", env.LEXINAUT_TEST_EMBED_MODEL);
  await (await byTestId(browser, "set-chat_model")).selectByAttribute("value", env.LEXINAUT_TEST_CHAT_MODEL);
  await (await byTestId(browser, "set-rerank_model")).selectByAttribute("value", env.LEXINAUT_TEST_RERANK_MODEL);
  await (await byTestId(browser, "settings-save")).click();
  await (await byTestId(browser, "settings-saved")).waitForExist({ timeout: 30000 });
  await browser.waitUntil(async () => /xinference · connected/.test(await (await byTestId(browser, "backend-list")).getText()), {
    timeout: 30000,
  });

  // Launch a second copy of the embedding model under a new uid, then stop it.
  await (await byTestId(browser, "launch-type")).selectByAttribute("value", "embedding");
  const models = await browser.execute(() => [...document.querySelectorAll("#registered-models option")].map((o) => o.value));
  const name = models.find((m) => /minilm/i.test(m)) ?? models[0];
  assert.ok(name, "registered embedding models are offered");
  await (await byTestId(browser, "launch-name")).setValue(name);
  await (await byTestId(browser, "launch-engine")).setValue("sentence_transformers");
  await (await byTestId(browser, "launch-uid")).setValue("e2e-launched");
  await (await byTestId(browser, "launch")).click();
  await browser.waitUntil(async () => (await (await byTestId(browser, "running-models")).getText()).includes("e2e-launched"), {
    timeout: 180000,
    timeoutMsg: "the launched model never appeared",
  });
  await sleep(300);
  await browser.saveScreenshot(join(artifacts, "settings.png"));
  await (await byTestId(browser, "terminate-e2e-launched")).click();
  await browser.waitUntil(async () => !(await (await byTestId(browser, "running-models")).getText()).includes("e2e-launched"), {
    timeout: 60000,
    timeoutMsg: "the launched model was not stopped",
  });
  await (await byTestId(browser, "settings-close")).click();

  // The new settings are in force: a dropped file gets vectors from the managed Chroma and
  // a question gets a generated answer.
  await osDrag([folder]);
  await (await byTestId(browser, "import-result")).waitForExist({ timeout: 30000 });
  const badge = await byTestId(browser, "vector-status");
  await browser.waitUntil(async () => (await badge.getAttribute("class")).includes("ready"), {
    timeout: 120000,
    timeoutMsg: "vectors never became ready with the managed Chroma",
  });
  await (await byTestId(browser, "question")).setValue("How many boxes of tea were counted?");
  await (await byTestId(browser, "send")).click();
  await browser.waitUntil(async () => (await browser.$$('[data-testid="msg-assistant"]')).length === 1, { timeout: 120000 });
  const answer = (await browser.$$('[data-testid="msg-assistant"]'))[0];
  assert.doesNotMatch(await answer.getText(), /未配置生成模型|No answer model/);
  assert.ok((await answer.$$('[data-testid="citation"]')).length >= 1);
});
