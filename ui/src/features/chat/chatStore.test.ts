import { describe, expect, it } from "vitest";
import type { Backend, ChatEvent, ChatMessage, Citation, Conversation } from "../../backend";
import { createChatStore } from "./chatStore";

const citation: Citation = {
  n: 1, document_id: 7, chunk_ids: [70], path: "/docs/熊猫.txt", name: "熊猫.txt", page: null,
  heading_path: [], start_char: 10, end_char: 40, text: "一只成年大熊猫一天可以吃掉二十公斤以上的竹叶", score: 0.03,
  keyword_rank: 1, vector_rank: null, rerank_score: null,
};

function msg(id: number, role: "user" | "assistant", content: string, conversationId = 1): ChatMessage {
  return {
    id, conversation_id: conversationId, role, content, html: role === "assistant" ? `<p>${content}</p>` : "",
    mode: role === "assistant" ? "generated" : null, status: "complete", error: null,
    citations: role === "assistant" ? [citation] : [], retrieval_query: null, created_at: 0,
  };
}

// A backend double that streams scripted events; only the chat part of Backend is used.
function chatBackend(events: (q: string) => ChatEvent[]) {
  const stored: ChatMessage[] = [];
  const conversations: Conversation[] = [];
  const calls: string[] = [];
  let release: (() => void) | null = null;
  const backend = {
    ask: async (request, requestId, onEvent) => {
      calls.push(`ask:${request.kb_id}:${request.conversation_id ?? "new"}:${requestId}`);
      const question = request.question ?? "";
      if (conversations.length === 0)
        conversations.push({ id: 1, kb_id: request.kb_id ?? 0, title: question, created_at: 0, updated_at: 0, message_count: 0 });
      const list = events(question);
      for (const e of list) {
        if (e.kind === "started") stored.push(e.question);
        onEvent(e);
        if (e.kind === "token" && release === null && question === "slow")
          await new Promise<void>((r) => (release = r));
      }
      const finished = list.find((e) => e.kind === "finished");
      const answer = finished && finished.kind === "finished" ? finished.message : msg(99, "assistant", "");
      stored.push(answer);
      return answer;
    },
    stopAnswer: async (requestId) => {
      calls.push(`stop:${requestId}`);
      release?.();
      return true;
    },
    listConversations: async () => conversations,
    conversationMessages: async () => [...stored],
    sourceView: async (documentId, start, end) => {
      calls.push(`view:${documentId}:${start}:${end}`);
      return {
        document: { id: documentId } as never, page: null, text: "前文一只成年大熊猫", text_start: 0,
        highlight_start: 2, highlight_end: 9, more_before: false, more_after: false,
      };
    },
  } as Partial<Backend> as Backend;
  return { backend, calls, stored, release: () => release?.() };
}

const script = (q: string): ChatEvent[] => {
  const question = msg(1, "user", q);
  const answer = msg(2, "assistant", "二十公斤[1]");
  return [
    {
      kind: "started", conversation: { id: 1, kb_id: 3, title: q, created_at: 0, updated_at: 0, message_count: 1 },
      question, retrieval_query: q, mode: "generated", citations: [citation],
    },
    { kind: "token", text: "二十" },
    { kind: "token", text: "公斤[1]" },
    { kind: "rendered", html: "<p>二十公斤<button class=\"cite\" data-cite=\"1\">1</button></p>" },
    { kind: "finished", message: answer },
  ];
};

describe("chat store", () => {
  it("streams an answer, then shows the stored conversation", async () => {
    const { backend, calls } = chatBackend(script);
    const chat = createChatStore(backend);
    await chat.selectKb(3);
    await chat.ask("  大熊猫吃多少？ ");
    expect(chat.state.error).toBeNull();
    expect(calls[0]).toMatch(/^ask:3:new:\d+$/);
    expect(chat.state.pending).toBeNull();
    expect(chat.state.currentId).toBe(1);
    expect(chat.state.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
    expect(chat.state.messages[0]?.content).toBe("大熊猫吃多少？");
    expect(chat.state.conversations).toHaveLength(1);
  });

  it("keeps the pending text while streaming and stops on request", async () => {
    const { backend, calls } = chatBackend(script);
    const chat = createChatStore(backend);
    await chat.selectKb(3);
    const asking = chat.ask("slow");
    await new Promise((r) => setTimeout(r, 0));
    expect(chat.state.pending?.text).toBe("二十");
    expect(chat.state.pending?.citations).toHaveLength(1);
    // A second question waits for the first answer.
    await chat.ask("another");
    expect(calls.filter((c) => c.startsWith("ask:"))).toHaveLength(1);
    await chat.stop();
    await asking;
    expect(calls.some((c) => c.startsWith("stop:"))).toBe(true);
    expect(chat.state.pending).toBeNull();
  });

  it("opens the source of a citation at its span", async () => {
    const { backend, calls } = chatBackend(script);
    const chat = createChatStore(backend);
    await chat.selectKb(3);
    await chat.showSource(citation);
    expect(calls).toContain("view:7:10:40");
    expect(chat.state.viewer?.view.highlight_start).toBe(2);
    chat.closeSource();
    expect(chat.state.viewer).toBeNull();
  });

  it("ignores empty questions", async () => {
    const { backend, calls } = chatBackend(script);
    const chat = createChatStore(backend);
    await chat.selectKb(3);
    await chat.ask("   ");
    expect(calls).toHaveLength(0);
  });
});
