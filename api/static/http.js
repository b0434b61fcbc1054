/*
 * Calls to the HTTP API, the same one a script would use: the key goes along, a 401 asks for it and retries,
 * and any other failure becomes an ApiError whose message the page can show as it is.
 */

import { ApiError } from "./errors.js";
import { askForKey, getKey, setKey } from "./key.js";
import { describe } from "./messages.js";

async function readBody(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 300) };
  }
}

/** fetch with the key; a 401 asks for the key and retries, any other failure is an ApiError. */
async function request(method, path, body, accept) {
  for (;;) {
    const headers = { Accept: accept };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = getKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await window.fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "サーバーに接続できません。ネットワークとサーバーが動いているかを確認してください。");
    }
    if (response.status === 401) {
      const detail = (await readBody(response)).detail;
      const problem = key ? `入力されたAPIキーは使えません（${detail || "Invalid API key"}）。もう一度入力してください。` : "";
      if (key) setKey("");
      await askForKey(problem); // throws when cancelled
      continue;
    }
    if (!response.ok) {
      const retry = response.headers.get("Retry-After");
      const retryAfter = retry && /^\d+$/.test(retry) ? Number(retry) : null;
      throw new ApiError(response.status, describe(response.status, await readBody(response), retryAfter), retryAfter);
    }
    return response;
  }
}

/** An API call whose answer is JSON. */
export async function api(method, path, body) {
  return (await request(method, path, body, "application/json")).json();
}

/** An API call whose answer is a file (Content-Disposition: attachment): its bytes and the server's name. */
export async function apiFile(method, path, body) {
  const response = await request(method, path, body, "*/*");
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  if (!name) throw new ApiError(response.status, "サーバーの応答にファイル名がありません。サーバーのバージョンを確認してください。");
  return { blob: await response.blob(), filename: name[1] };
}
