// The one interface the UI talks to. tauri.ts implements it over IPC; tests use doubles.
import type {
  AppInfo,
  Document,
  Hit,
  ImportProgress,
  ImportSummary,
  KnowledgeBase,
  ApiError,
} from "../bindings";

export type { AppInfo, Document, Hit, ImportProgress, ImportSummary, KnowledgeBase, ApiError };

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
  listDocuments(kbId: number): Promise<Document[]>;
  importPaths(
    kbId: number,
    paths: string[],
    onProgress: (p: ImportProgress) => void,
  ): Promise<ImportSummary>;
  resumeImport(kbId: number, onProgress: (p: ImportProgress) => void): Promise<ImportSummary>;
  cancelImport(kbId: number): Promise<boolean>;
  search(kbId: number, query: string, k: number): Promise<Hit[]>;
  onCatalogueChanged(cb: (kbId: number) => void): Promise<() => void>;
}

/** Desktop-only affordances: native dialogs and OS drag-and-drop. */
export interface Shell {
  pickFiles(): Promise<string[]>;
  pickFolder(): Promise<string[]>;
  onDragDrop(handlers: {
    over: () => void;
    leave: () => void;
    drop: (paths: string[]) => void;
  }): Promise<() => void>;
}
