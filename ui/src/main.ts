import { createApp } from "vue";
import App from "./App.vue";
import { tauriBackend, tauriShell } from "./backend/tauri";
import { createAppStore, STORE_KEY } from "./store";
import "./style.css";

const store = createAppStore(tauriBackend);
createApp(App, { shell: tauriShell }).provide(STORE_KEY, store).mount("#app");
