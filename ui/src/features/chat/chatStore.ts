// Chat state: the conversations of the current knowledge base, the open one's messages, and
// the answer being streamed. Talks only to the Backend interface.
import { reactive } from "vue";
import type { Backend, ChatEvent, ChatMessage, Citation, Conversation, SourceView } from "../../backend";
import { BackendError } from "../../backend";

/** The answer being written: its text so far and the latest safe HTML rendering. */
export interface PendingAnswer {
  requestId: number;
  question: string;
  text: string;
  html: string;
  citations: Citation[];
  mode: ChatMessage["mode"];
  stopping: boolean;
}

export interface ChatState {
  kbId: number | null;
  conversations: Conversation[];
  currentId: number | null;
  messages: ChatMessage[];
  pending: PendingAnswer | null;
  viewer: { citation: Citation; view: SourceView } | null;
  error: string | null;
}

const message = (e: unknown): string =>
  e instanceof BackendError || e instanceof Error ? e.message : String(e);

let nextRequestId = 1;

export function createChatStore(backend: Backend) {
  const state = reactive<ChatState>({
    kbId: null,
    conversations: [],
    currentId: null,
    messages: [],
    pending: null,
    viewer: null,
    error: null,
  });

  const guard = async (f: () => Promise<void>) => {
    try {
      state.error = null;
      await f();
    } catch (e) {
      state.error = message(e);
    }
  };

  const refreshConversations = async () => {
    state.conversations = state.kbId === null ? [] : await backend.listConversations(state.kbId);
  };

  const openConversation = async (id: number | null) => {
    state.currentId = id;
    state.messages = id === null ? [] : await backend.conversationMessages(id);
  };

  // Applies one streamed event to the pending answer.
  const apply = (pending: PendingAnswer, e: ChatEvent) => {
    switch (e.kind) {
      case "started":
        pending.citations = e.citations;
        pending.mode = e.mode;
        if (state.currentId !== e.conversation.id) {
          state.currentId = e.conversation.id;
          state.messages = [];
        }
        if (!state.messages.some((m) => m.id === e.question.id)) state.messages.push(e.question);
        break;
      case "sources":
        // The prompt was rebuilt with fewer passages before any text was written.
        pending.citations = e.citations;
        break;
      case "token":
        pending.text += e.text;
        break;
      case "rendered":
        pending.html = e.html;
        break;
      case "finished":
        break;
    }
  };

  const stream = async (question: string, start: (requestId: number, onEvent: (e: ChatEvent) => void) => Promise<ChatMessage>) => {
    const pending = reactive<PendingAnswer>({
      requestId: nextRequestId++,
      question,
      text: "",
      html: "",
      citations: [],
      mode: null,
      stopping: false,
    });
    state.pending = pending;
    try {
      const answer = await start(pending.requestId, (e) => apply(pending, e));
      await openConversation(answer.conversation_id);
      await refreshConversations();
    } finally {
      state.pending = null;
    }
  };

  return {
    state,
    /** Shows the conversations of a knowledge base (the most recent one open). */
    selectKb: (kbId: number | null) =>
      guard(async () => {
        if (state.kbId === kbId) return;
        state.kbId = kbId;
        state.viewer = null;
        await refreshConversations();
        await openConversation(null);
      }),
    open: (id: number | null) => guard(() => openConversation(id)),
    newConversation: () => guard(() => openConversation(null)),
    ask: (question: string) =>
      guard(async () => {
        const q = question.trim();
        if (!q || state.kbId === null || state.pending) return;
        const kbId = state.kbId;
        const conversationId = state.currentId;
        await stream(q, (requestId, onEvent) =>
          backend.ask(
            {
              kb_id: kbId,
              question: q,
              conversation_id: conversationId,
              filter: { folder: null, formats: [], added_after: null, added_before: null },
              mode: "auto",
              settings: null,
            },
            requestId,
            onEvent,
          ),
        );
      }),
    regenerate: () =>
      guard(async () => {
        if (state.currentId === null || state.pending) return;
        const id = state.currentId;
        const last = [...state.messages].reverse().find((m) => m.role === "user");
        // The last exchange is replaced: hide it while the new answer streams.
        const cut = last ? state.messages.indexOf(last) : state.messages.length;
        state.messages = state.messages.slice(0, cut);
        await stream(last?.content ?? "", (requestId, onEvent) => backend.regenerate(id, requestId, onEvent));
      }),
    stop: () =>
      guard(async () => {
        if (!state.pending) return;
        state.pending.stopping = true;
        await backend.stopAnswer(state.pending.requestId);
      }),
    rename: (title: string) =>
      guard(async () => {
        if (state.currentId === null || !title.trim()) return;
        await backend.renameConversation(state.currentId, title.trim());
        await refreshConversations();
      }),
    remove: () =>
      guard(async () => {
        if (state.currentId === null) return;
        await backend.deleteConversation(state.currentId);
        await refreshConversations();
        await openConversation(null);
      }),
    exportTo: (path: string) =>
      guard(async () => {
        if (state.currentId !== null) await backend.exportConversation(state.currentId, path);
      }),
    showSource: (citation: Citation) =>
      guard(async () => {
        const view = await backend.sourceView(citation.document_id, citation.start_char, citation.end_char);
        state.viewer = { citation, view };
      }),
    closeSource: () => {
      state.viewer = null;
    },
    openDocument: (documentId: number) => guard(() => backend.openDocument(documentId)),
    revealDocument: (documentId: number) => guard(() => backend.revealDocument(documentId)),
  };
}

export type ChatStore = ReturnType<typeof createChatStore>;
