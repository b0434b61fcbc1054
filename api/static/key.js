/*
 * The API key: kept in sessionStorage, and asked for in a dialog when an API call answers 401.
 *
 * sessionStorage survives reloads but not the tab, so the key is never written to disk for long (a shared PC
 * forgets it when the tab closes). Storage can be unavailable (privacy modes): then the key lives in memory.
 */

import { $ } from "./dom.js";
import { ApiError } from "./errors.js";

const KEY_STORAGE = "docsearch.apiKey";

let memoryKey = "";

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return memoryKey;
  }
}

export function setKey(key) {
  memoryKey = key;
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* memoryKey keeps it for this page */
  }
}

let keyPrompt = null; // one prompt at a time, shared by every call that got a 401

/** Show the key dialog; resolves when a key is saved, rejects when the user cancels. */
export function askForKey(problem) {
  if (keyPrompt) return keyPrompt;
  const dialog = $("key-dialog");
  const message = $("key-message");
  message.textContent = problem || "このサーバーを使うにはAPIキーが必要です。管理者から受け取ったキーを入力してください。";
  message.classList.toggle("problem", Boolean(problem));
  $("key-input").value = "";
  keyPrompt = new Promise((resolve, reject) => {
    const finish = (ok) => {
      $("key-form").removeEventListener("submit", onSubmit);
      $("key-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      keyPrompt = null;
      if (ok) resolve();
      else reject(new ApiError(401, "APIキーが入力されなかったため、処理を中止しました。"));
    };
    const onSubmit = (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (!key) {
        message.textContent = "APIキーを入力してください。";
        message.classList.add("problem");
        return;
      }
      if (!/^[\x21-\x7e]+$/.test(key)) {
        message.textContent = "APIキーには半角の英数字と記号だけが使えます（空白や全角文字は使えません）。";
        message.classList.add("problem");
        return;
      }
      setKey(key);
      finish(true);
    };
    const onCancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    $("key-form").addEventListener("submit", onSubmit);
    $("key-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
  });
  dialog.showModal();
  $("key-input").focus();
  return keyPrompt;
}

export function setUpKey() {
  $("key-button").addEventListener("click", () => askForKey("").catch(() => {}));
}
