/* The footer line: the index's size and model from the open /health, retried while the server starts. */

import { $ } from "./dom.js";

export async function showServerInfo(attempt) {
  try {
    const response = await window.fetch("/health", { cache: "no-store" });
    const health = await response.json();
    if (health.status !== "ok") {
      $("server-info").textContent = "サーバーを起動しています…";
      if (attempt < 60) setTimeout(() => showServerInfo(attempt + 1), 1000);
      return;
    }
    $("server-info").textContent =
      `索引: ${health.documents} 文書・${health.passages} 段落（世代 ${health.generation}）・埋め込みモデル: ${health.model}`;
  } catch {
    $("server-info").textContent = "サーバーに接続できません。";
  }
}
