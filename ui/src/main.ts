import { createApp } from "vue";
import App from "./App.vue";
import { tauriBackend, tauriShell } from "./backend/tauri";
import { createAppStore, STORE_KEY } from "./store";
import { createWatchStore, WATCH_KEY } from "./features/watch/watchStore";
import "./style.css";

const store = createAppStore(tauriBackend);
const watchStore = createWatchStore(tauriBackend);
createApp(App, { shell: tauriShell }).provide(STORE_KEY, store).provide(WATCH_KEY, watchStore).mount("#app");
