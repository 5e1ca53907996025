// The real window with real model servers (Xinference + Chroma, started by scripts/backends.sh):
// a dropped document gets vectors (the status badge turns ready), and a question is answered
// by the chat model token by token, with a citation that opens the passage.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchApp, osDrag, artifacts, sleep } from "./harness.mjs";

const env = process.env;
const servers = env.LEXINAUT_TEST_XINFERENCE_URL && env.LEXINAUT_TEST_CHROMA_URL && env.LEXINAUT_TEST_CHAT_MODEL;
if (!servers) {
  if (env.LEXINAUT_TEST_REQUIRE_BACKENDS === "1") throw new Error("LEXINAUT_TEST_* servers required but not set");
  console.error("skip note: no LEXINAUT_TEST_* servers (scripts/backends.sh start); model chat test skipped");
}

let app;
let folder;

before(async () => {
  if (!servers) return;
  folder = mkdtempSync(join(tmpdir(), "lexinaut-e2e-models-"));
  writeFileSync(
    join(folder, "travel-policy.md"),
    "# Travel policy\n\nExpense reports must be filed within fifteen working days after the trip.\n\nHotels in capital cities are paid up to six hundred yuan a night.\n",
  );
  app = await launchApp({
    port: 4484,
    env: {
      LEXINAUT_XINFERENCE_URL: env.LEXINAUT_TEST_XINFERENCE_URL,
      LEXINAUT_CHROMA_URL: env.LEXINAUT_TEST_CHROMA_URL,
      LEXINAUT_EMBED_MODEL: env.LEXINAUT_TEST_EMBED_MODEL,
      LEXINAUT_CHAT_MODEL: env.LEXINAUT_TEST_CHAT_MODEL,
      LEXINAUT_RERANK_MODEL: env.LEXINAUT_TEST_RERANK_MODEL,
    },
  });
});

after(async () => {
  await app?.stop();
});

test("a dropped document is embedded and a question is answered token by token", { skip: !servers }, async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="kb-select"]')).waitForExist({ timeout: 15000 });
  await osDrag([folder]);
  await (await browser.$('[data-testid="import-result"]')).waitForExist({ timeout: 30000 });
  const badge = await browser.$('[data-testid="vector-status"]');
  await browser.waitUntil(async () => (await badge.getAttribute("class")).includes("ready"), {
    timeout: 60000,
    timeoutMsg: "vectors never became ready after the import",
  });

  await (await browser.$('[data-testid="question"]')).setValue("When must expense reports be filed?");
  await (await browser.$('[data-testid="send"]')).click();
  // Sample the answer while it streams: it must grow in several steps before it is stored.
  const lengths = new Set();
  const deadline = Date.now() + 120000;
  while (Date.now() < deadline) {
    const pending = await browser.$('[data-testid="pending-answer"]');
    if (await pending.isExisting()) {
      const text = await browser.execute(() => document.querySelector('[data-testid="pending-answer"]')?.textContent ?? "");
      if (text.length > 0) lengths.add(text.length);
    } else if ((await browser.$$('[data-testid="msg-assistant"]')).length > 0) {
      break;
    }
    await sleep(30);
  }
  const answers = await browser.$$('[data-testid="msg-assistant"]');
  assert.equal(answers.length, 1, "the answer was stored");
  assert.ok(lengths.size >= 2, `the answer streamed in pieces (saw lengths ${[...lengths].join(", ")})`);
  const status = await answers[0].$('[data-testid="answer-status"]');
  assert.equal(await status.isExisting(), false, "the answer completed");
  const chips = await answers[0].$$('[data-testid="citation"]');
  assert.ok(chips.length >= 1);
  await chips[0].click();
  await (await browser.$('[data-testid="source-viewer"]')).waitForExist({ timeout: 10000 });
  const viewed = await (await browser.$('[data-testid="viewer-text"]')).getText();
  assert.match(viewed, /fifteen working days/);
  await sleep(300);
  await browser.saveScreenshot(join(artifacts, "chat-models.png"));
});
