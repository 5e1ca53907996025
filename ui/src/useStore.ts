import { inject } from "vue";
import { STORE_KEY, type AppStore } from "./store";

export function useStore(): AppStore {
  const store = inject(STORE_KEY);
  if (!store) throw new Error("LexiNaut store was not provided");
  return store;
}
