import { inject } from "vue";
import { WATCH_KEY, type WatchStore } from "./watchStore";

export function useWatch(): WatchStore {
  const store = inject(WATCH_KEY);
  if (!store) throw new Error("LexiNaut watch store was not provided");
  return store;
}
