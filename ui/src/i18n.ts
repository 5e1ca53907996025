// UI strings in Simplified Chinese and English. Every key exists in both (a test checks).
import { ref } from "vue";

const en = {
  "app.tagline": "Your documents, searchable",
  "kb.label": "Knowledge base",
  "kb.new": "New…",
  "kb.namePlaceholder": "Name of the new knowledge base",
  "kb.create": "Create",
  "kb.cancel": "Cancel",
  "kb.defaultName": "My knowledge base",
  "kb.documents": "{n} documents",
  "import.addFiles": "Add files…",
  "import.addFolder": "Add folder…",
  "import.dropHint": "Drop files or folders anywhere to import them",
  "import.dropOverlay": "Drop to import into “{kb}”",
  "import.progress": "Importing {processed} of {total} files…",
  "import.done":
    "Imported {documents} documents ({chunks} passages); {skipped} skipped, {failed} failed",
  "import.failures": "Files that could not be imported",
  "import.cancel": "Cancel",
  "import.cancelled": "Import stopped. The remaining files can be imported later.",
  "import.resume": "Continue import",
  "import.noKb": "Create a knowledge base first",
  "docs.title": "Documents",
  "docs.empty": "No documents yet. Drop files here or use “Add files…”.",
  "docs.name": "Name",
  "docs.type": "Type",
  "docs.size": "Size",
  "docs.chunks": "Passages",
  "docs.pages": "Pages",
  "docs.needsOcr": "No text layer on page {pages}: install OCR (tesseract) and re-import",
  "docs.status": "Status",
  "docs.added": "Added",
  "docs.status.indexed": "Indexed",
  "docs.status.failed": "Failed",
  "search.title": "Search",
  "search.placeholder": "Search your documents (Chinese or English)…",
  "search.button": "Search",
  "search.noHits": "No passages match “{q}”.",
  "search.hits": "{n} passages",
  "search.page": "page {page}",
  "tab.chat": "Ask",
  "tab.search": "Search",
  "chat.newConversation": "New conversation",
  "chat.new": "New",
  "chat.rename": "Rename",
  "chat.export": "Export…",
  "chat.delete": "Delete",
  "chat.deleteConfirm": "Delete this conversation? This cannot be undone.",
  "chat.empty": "Ask a question about the documents in this knowledge base. Answers cite their sources; click a number to see the passage.",
  "chat.placeholder": "Ask a question (Enter to send, Shift+Enter for a new line)…",
  "chat.send": "Ask",
  "chat.stop": "Stop",
  "chat.thinking": "Looking through your documents…",
  "chat.status.partial": "The answer stopped part-way",
  "chat.status.failed": "The answer failed",
  "chat.status.cancelled": "Stopped",
  "chat.status.complete": "Complete",
  "chat.copy": "Copy",
  "chat.copied": "Copied",
  "chat.regenerate": "Regenerate",
  "viewer.open": "Open in app",
  "viewer.reveal": "Show in folder",
  "viewer.close": "Close",
  "vectors.off": "Keyword search",
  "vectors.ready": "Vectors ready",
  "vectors.embedding": "Embedding {n} passages…",
  "vectors.unavailable": "Model server unavailable",
  "vectors.hint.off": "No model server configured: answers show the best matching passages.",
  "vectors.hint.ready": "Every passage has its vector: questions use keywords and meaning.",
  "vectors.hint.embedding": "New passages are being embedded in the background.",
  "vectors.hint.unavailable": "Keyword search keeps working; embedding resumes when the server is back.",
  "lang.switch": "中文",
  "error.prefix": "Error",
} as const;

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  "app.tagline": "让你的文档可检索",
  "kb.label": "知识库",
  "kb.new": "新建…",
  "kb.namePlaceholder": "新知识库的名称",
  "kb.create": "创建",
  "kb.cancel": "取消",
  "kb.defaultName": "我的知识库",
  "kb.documents": "{n} 个文档",
  "import.addFiles": "添加文件…",
  "import.addFolder": "添加文件夹…",
  "import.dropHint": "将文件或文件夹拖到窗口任意位置即可导入",
  "import.dropOverlay": "松开即可导入到“{kb}”",
  "import.progress": "正在导入第 {processed} / {total} 个文件…",
  "import.done": "已导入 {documents} 个文档（{chunks} 个段落）；跳过 {skipped} 个，失败 {failed} 个",
  "import.failures": "未能导入的文件",
  "import.cancel": "取消",
  "import.cancelled": "导入已停止，剩余文件可稍后继续导入。",
  "import.resume": "继续导入",
  "import.noKb": "请先创建知识库",
  "docs.title": "文档",
  "docs.empty": "还没有文档。把文件拖到这里，或点击“添加文件…”。",
  "docs.name": "名称",
  "docs.type": "类型",
  "docs.size": "大小",
  "docs.chunks": "段落",
  "docs.pages": "页数",
  "docs.needsOcr": "第 {pages} 页没有文字层：安装 OCR（tesseract）后重新导入",
  "docs.status": "状态",
  "docs.added": "添加时间",
  "docs.status.indexed": "已索引",
  "docs.status.failed": "失败",
  "search.title": "搜索",
  "search.placeholder": "搜索你的文档（中文或英文）…",
  "search.button": "搜索",
  "search.noHits": "没有与“{q}”匹配的段落。",
  "search.hits": "{n} 个段落",
  "search.page": "第 {page} 页",
  "tab.chat": "问答",
  "tab.search": "搜索",
  "chat.newConversation": "新对话",
  "chat.new": "新对话",
  "chat.rename": "重命名",
  "chat.export": "导出…",
  "chat.delete": "删除",
  "chat.deleteConfirm": "删除这个对话？删除后无法恢复。",
  "chat.empty": "就这个知识库里的文档提问。回答会注明出处，点击编号即可查看原文段落。",
  "chat.placeholder": "输入问题（回车发送，Shift+回车换行）…",
  "chat.send": "提问",
  "chat.stop": "停止",
  "chat.thinking": "正在查找你的文档…",
  "chat.status.partial": "回答中途中断",
  "chat.status.failed": "回答失败",
  "chat.status.cancelled": "已停止",
  "chat.status.complete": "完成",
  "chat.copy": "复制",
  "chat.copied": "已复制",
  "chat.regenerate": "重新生成",
  "viewer.open": "用默认程序打开",
  "viewer.reveal": "在文件夹中显示",
  "viewer.close": "关闭",
  "vectors.off": "关键词检索",
  "vectors.ready": "向量已就绪",
  "vectors.embedding": "正在向量化 {n} 个段落…",
  "vectors.unavailable": "模型服务不可用",
  "vectors.hint.off": "未配置模型服务：回答会列出最相关的段落。",
  "vectors.hint.ready": "所有段落都已向量化：提问同时使用关键词和语义检索。",
  "vectors.hint.embedding": "新段落正在后台向量化。",
  "vectors.hint.unavailable": "关键词检索仍可使用；服务恢复后会继续向量化。",
  "lang.switch": "English",
  "error.prefix": "错误",
};

export type Locale = "zh-CN" | "en";
export const messages: Record<Locale, Record<MessageKey, string>> = { en, "zh-CN": zh };

function initialLocale(): Locale {
  const saved = globalThis.localStorage?.getItem("lexinaut.locale");
  if (saved === "en" || saved === "zh-CN") return saved;
  const nav = globalThis.navigator?.language ?? "zh-CN";
  return nav.toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

export const locale = ref<Locale>(initialLocale());

export function setLocale(l: Locale): void {
  locale.value = l;
  globalThis.localStorage?.setItem("lexinaut.locale", l);
  document.documentElement.lang = l;
}

/** The message for `key` in the current locale, with `{name}` placeholders filled. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const template = messages[locale.value][key];
  return template.replace(/\{(\w+)\}/g, (m, name: string) =>
    name in params ? String(params[name]) : m,
  );
}
