/*
 * Errors: ApiError (a failure already put in words for the user) and the banner that shows one, with a retry
 * button that is enabled once the server's Retry-After has passed.
 */

import { $ } from "./dom.js";

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

let retryTimer = null;

/** Show an error in the banner; `retry` (optional) re-runs what failed, enabled after Retry-After. */
export function showError(error, retry) {
  const banner = $("error");
  const button = $("error-retry");
  clearInterval(retryTimer);
  $("error-text").textContent = error instanceof ApiError ? error.message : `予期しないエラーです: ${error}`;
  banner.hidden = false;
  // Retrying the same request only helps when the failure was the server's state, not the request.
  const status = error instanceof ApiError ? error.status : 0;
  if (![0, 401, 429].includes(status) && status < 500) retry = null;
  button.hidden = !retry;
  button.onclick = retry
    ? () => {
        hideError();
        retry();
      }
    : null;
  let wait = error instanceof ApiError && error.retryAfter ? error.retryAfter : 0;
  const tick = () => {
    button.disabled = wait > 0;
    button.textContent = wait > 0 ? `再試行（${wait}秒後）` : "再試行";
    wait -= 1;
    if (wait < 0) clearInterval(retryTimer);
  };
  tick();
  if (wait >= 0) retryTimer = setInterval(tick, 1000);
}

export function hideError() {
  clearInterval(retryTimer);
  $("error").hidden = true;
}

export function setUpErrors() {
  $("error-close").addEventListener("click", hideError);
}
