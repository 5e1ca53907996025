// Asking questions in the real window: documents dropped from the desktop, an answer with
// citations, a citation chip opening the source viewer at the exact passage (a PDF page too),
// a follow-up in the same conversation, and renaming it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchApp, osDrag, artifacts, repoRoot, sleep } from "./harness.mjs";

const samples = join(repoRoot, "..", "shared", "data", "samples");
let app;
let folder;

before(async () => {
  folder = mkdtempSync(join(tmpdir(), "lexinaut-e2e-chat-"));
  writeFileSync(
    join(folder, "差旅制度.md"),
    "# 差旅管理制度\n\n## 报销\n\n员工出差结束后，应在十五个工作日内提交差旅报销单，逾期不予报销。\n\n## 住宿标准\n\n一线城市住宿标准为每晚六百元，其他城市为每晚四百元。\n",
  );
  if (existsSync(join(samples, "multi_page.pdf"))) copyFileSync(join(samples, "multi_page.pdf"), join(folder, "multi_page.pdf"));
  else console.error(`skip note: ${samples} is absent; the PDF part of this test is skipped`);
  app = await launchApp({ port: 4474 });
});

after(async () => {
  await app?.stop();
});

async function ask(browser, question) {
  const box = await browser.$('[data-testid="question"]');
  await box.setValue(question);
  const before = (await browser.$$('[data-testid="msg-assistant"]')).length;
  await (await browser.$('[data-testid="send"]')).click();
  await browser.waitUntil(async () => (await browser.$$('[data-testid="msg-assistant"]')).length > before, {
    timeout: 30000,
    timeoutMsg: `no answer to ${question}`,
  });
  const answers = await browser.$$('[data-testid="msg-assistant"]');
  return answers[answers.length - 1];
}

test("a question about dropped documents is answered with citations that open the passage", async () => {
  const { browser } = app;
  await (await browser.$('[data-testid="kb-select"]')).waitForExist({ timeout: 15000 });
  await osDrag([folder]);
  await (await browser.$('[data-testid="import-result"]')).waitForExist({ timeout: 30000 });

  const answer = await ask(browser, "差旅报销要在几天内提交？");
  const text = await (await answer.$('[data-testid="answer"]')).getText();
  assert.match(text, /十五个工作日内提交差旅报销单/);
  // No model server in this test: the answer says it is the best passages (in the question's language).
  assert.match(text, /未配置生成模型/);
  const chips = await answer.$$('[data-testid="citation"]');
  await browser.saveScreenshot(join(artifacts, "chat-answer.png"));
  assert.ok(chips.length >= 1);
  assert.match(await chips[0].getAttribute("title"), /差旅制度\.md$/);

  // The [1] chip in the answer text opens the viewer with the cited span highlighted.
  await (await answer.$('button.cite[data-cite="1"]')).click();
  const viewer = await browser.$('[data-testid="source-viewer"]');
  await viewer.waitForExist({ timeout: 10000 });
  const highlight = await (await browser.$('[data-testid="viewer-highlight"]')).getText();
  assert.match(highlight, /十五个工作日内提交差旅报销单/);
  assert.match(await (await browser.$('[data-testid="viewer-name"]')).getText(), /差旅制度\.md/);
  await sleep(500);
  await browser.saveScreenshot(join(artifacts, "chat-viewer.png"));
  await (await browser.$('[data-testid="close-viewer"]')).click();
  await viewer.waitForExist({ reverse: true, timeout: 5000 });
});

test("a passage on a PDF page opens that page with the passage highlighted", async (t) => {
  if (!existsSync(join(samples, "multi_page.pdf"))) return t.skip("shared samples absent");
  const { browser } = app;
  const answer = await ask(browser, "PAGE-TWO-MARKER");
  const chips = await answer.$$('[data-testid="citation"]');
  assert.match(await chips[0].getAttribute("title"), /multi_page\.pdf$/);
  await chips[0].click();
  await (await browser.$('[data-testid="source-viewer"]')).waitForExist({ timeout: 10000 });
  assert.match(await (await browser.$('[data-testid="viewer-page"]')).getText(), /page 2/);
  const whole = await (await browser.$('[data-testid="viewer-text"]')).getText();
  assert.match(whole, /PAGE-TWO-MARKER/);
  assert.doesNotMatch(whole, /PAGE-ONE-MARKER|PAGE-THREE-MARKER/);
  assert.match(await (await browser.$('[data-testid="viewer-highlight"]')).getText(), /PAGE-TWO-MARKER/);
  await (await browser.$('[data-testid="close-viewer"]')).click();
});

test("follow-ups stay in the conversation, which can be renamed and reopened", async () => {
  const { browser } = app;
  const answer = await ask(browser, "一线城市住宿标准是多少？");
  assert.match(await (await answer.$('[data-testid="answer"]')).getText(), /每晚六百元/);
  // The PDF question is asked only when the shared samples are present.
  const asked = existsSync(join(samples, "multi_page.pdf")) ? 3 : 2;
  const questions = await browser.$$('[data-testid="msg-user"]');
  assert.equal(questions.length, asked, `${asked} questions in one conversation`);

  await (await browser.$('[data-testid="rename"]')).click();
  await (await browser.$('[data-testid="rename-input"]')).setValue("差旅问题");
  await browser.keys("Enter");
  const select = await browser.$('[data-testid="conversation-select"]');
  await browser.waitUntil(async () => (await select.getText()).includes("差旅问题"), { timeout: 5000 });

  // A new conversation starts empty; picking the old one brings its messages back.
  await (await browser.$('[data-testid="new-conversation"]')).click();
  await browser.waitUntil(async () => (await browser.$$('[data-testid="msg-user"]')).length === 0, { timeout: 5000 });
  await select.selectByVisibleText("差旅问题");
  await browser.waitUntil(async () => (await browser.$$('[data-testid="msg-user"]')).length === asked, {
    timeout: 5000,
    timeoutMsg: "the renamed conversation did not reopen with its messages",
  });
  await sleep(500);
  await browser.saveScreenshot(join(artifacts, "chat.png"));
});
