// The one interface the UI talks to. tauri.ts implements it over IPC; tests use doubles.
import type {
  AppInfo,
  AskRequest,
  ChatEvent,
  ChatMessage,
  Citation,
  Conversation,
  Document,
  Hit,
  ImportJobs,
  ImportProgress,
  ImportSummary,
  KnowledgeBase,
  ApiError,
  SourceView,
  VectorStatus,
  Settings,
  SettingsView,
  ModelsView,
  LaunchRequest,
  LaunchProgress,
  DoctorReport,
  KbDeletion,
  KbSettings,
  SyncReport,
  WatchEvent,
  WatchOptions,
  WatchedFolder,
  WatcherStatus,
} from "../bindings";

export type {
  AppInfo,
  AskRequest,
  ChatEvent,
  ChatMessage,
  Citation,
  Conversation,
  Document,
  Hit,
  ImportProgress,
  ImportSummary,
  KnowledgeBase,
  ApiError,
  SourceView,
  VectorStatus,
  Settings,
  SettingsView,
  ModelsView,
  LaunchRequest,
  LaunchProgress,
  DoctorReport,
  KbDeletion,
  KbSettings,
  SyncReport,
  WatchEvent,
  WatchOptions,
  WatchedFolder,
  WatcherStatus,
};

/** An error from the core, with its stable code. */
export class BackendError extends Error {
  readonly code: ApiError["code"];
  constructor(error: ApiError) {
    super(error.message);
    this.code = error.code;
  }
}

export interface Backend {
  appInfo(): Promise<AppInfo>;
  listKbs(): Promise<KnowledgeBase[]>;
  createKb(name: string): Promise<KnowledgeBase>;
  renameKb(kbId: number, name: string): Promise<KnowledgeBase>;
  updateKbSettings(kbId: number, settings: KbSettings): Promise<KnowledgeBase>;
  deleteKb(kbId: number): Promise<KbDeletion>;
  listDocuments(kbId: number): Promise<Document[]>;
  deleteDocuments(documentIds: number[]): Promise<number>;
  reindexDocuments(documentIds: number[], onProgress: (p: ImportProgress) => void): Promise<ImportSummary>;
  importPaths(
    kbId: number,
    paths: string[],
    onProgress: (p: ImportProgress) => void,
  ): Promise<ImportSummary>;
  resumeImport(kbId: number, onProgress: (p: ImportProgress) => void): Promise<ImportSummary>;
  cancelImport(kbId: number): Promise<boolean>;
  setImportPaused(kbId: number, paused: boolean): Promise<boolean>;
  /** Files of a knowledge base's imports per step, and those not finished. */
  importJobs(kbId: number): Promise<ImportJobs>;
  search(kbId: number, query: string, k: number): Promise<Hit[]>;
  onCatalogueChanged(cb: (kbId: number) => void): Promise<() => void>;
  vectorStatus(): Promise<VectorStatus>;
  doctor(): Promise<DoctorReport>;
  getSettings(): Promise<SettingsView>;
  saveSettings(settings: Settings): Promise<SettingsView>;
  listModels(): Promise<ModelsView>;
  launchModel(request: LaunchRequest, onProgress: (p: LaunchProgress) => void): Promise<string>;
  terminateModel(uid: string): Promise<void>;
  onVectorStatus(cb: (s: VectorStatus) => void): Promise<() => void>;
  ask(request: AskRequest, requestId: number, onEvent: (e: ChatEvent) => void): Promise<ChatMessage>;
  regenerate(conversationId: number, requestId: number, onEvent: (e: ChatEvent) => void): Promise<ChatMessage>;
  stopAnswer(requestId: number): Promise<boolean>;
  listConversations(kbId: number): Promise<Conversation[]>;
  conversationMessages(conversationId: number): Promise<ChatMessage[]>;
  renameConversation(conversationId: number, title: string): Promise<Conversation>;
  deleteConversation(conversationId: number): Promise<void>;
  exportConversation(conversationId: number, path: string): Promise<void>;
  sourceView(documentId: number, startChar: number, endChar: number): Promise<SourceView>;
  openDocument(documentId: number): Promise<void>;
  revealDocument(documentId: number): Promise<void>;
  listWatches(kbId: number | null): Promise<WatchedFolder[]>;
  addWatch(kbId: number, path: string, options: WatchOptions): Promise<WatchedFolder>;
  removeWatch(folderId: number, removeDocuments: boolean): Promise<number>;
  pauseWatch(folderId: number, paused: boolean): Promise<WatchedFolder>;
  watcherStatus(): Promise<WatcherStatus>;
  onWatchEvent(cb: (e: WatchEvent) => void): Promise<() => void>;
  onWatcherStatus(cb: (s: WatcherStatus) => void): Promise<() => void>;
}

/** A point in the window, in CSS pixels. */
export interface Point {
  x: number;
  y: number;
}

/** Desktop-only affordances: native dialogs and OS drag-and-drop. */
export interface Shell {
  pickFiles(): Promise<string[]>;
  pickFolder(): Promise<string[]>;
  /** A path to save to, or null when the user cancels. */
  pickSavePath(defaultName: string): Promise<string | null>;
  /** OS drag-and-drop onto the window; `at` is where the pointer is, to find the drop zone. */
  onDragDrop(handlers: {
    over: (at: Point) => void;
    leave: () => void;
    drop: (paths: string[], at: Point) => void;
  }): Promise<() => void>;
}
