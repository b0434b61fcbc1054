/*
 * The web page of jp-docsearch: search, ask and quiz over the same HTTP API a script would use.
 *
 * Plain JavaScript, no build step and no dependencies, so that the page is served as is by `indexer serve`
 * and works on a closed network. Document text is untrusted (anyone who can write into the indexed folder
 * controls it), so it only ever reaches the page as text nodes: the one piece of markup the API sends,
 * the <mark> tags of a search snippet, is parsed here by hand, never with innerHTML.
 */
"use strict";

(() => {
  const KEY_STORAGE = "docsearch.apiKey";
  const PAGE_SIZE = 10;
  const MAX_OFFSET = 1000; // the API's limit on `offset`
  const NEIGHBOURS = 2; // passages shown before and after the opened one
  const CSV_COLUMNS = [
    // The same columns as `indexer quiz --format csv` (search/generation/export.py), so either file can be re-imported.
    "question", "answer", "answer_type", "option_1", "option_2", "option_3", "option_4", "path", "title",
    "passage_id", "start", "end", "answer_start", "answer_end", "verified",
  ];
  const FIELD_NAMES = {
    query: "検索語",
    question: "質問",
    document: "文書のパス",
    n: "問題数",
    k: "件数",
    offset: "表示位置",
    "filters.path_prefix": "フォルダ",
    "filters.formats": "形式",
    "filters.modified_after": "更新日（から）",
    "filters.modified_before": "更新日（まで）",
  };

  const $ = (id) => document.getElementById(id);

  // -- small DOM helpers (text only: no HTML strings anywhere) ------------------------------------------

  /** An element with attributes and children; strings become text nodes. */
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

  /** Undo html.escape (the API escapes snippets): named and numeric character references. */
  function unescapeHtml(text) {
    return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
      if (ref[0] === "#") {
        const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
        return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return ENTITIES[ref.toLowerCase()] ?? whole;
    });
  }

  /** Append a snippet ("escaped text with <mark>…</mark>") as text nodes and <mark> elements. */
  function appendSnippet(parent, snippet) {
    let marked = false;
    for (const part of String(snippet).split(/(<mark>|<\/mark>)/)) {
      if (part === "<mark>") marked = true;
      else if (part === "</mark>") marked = false;
      else if (part) parent.append(marked ? el("mark", {}, unescapeHtml(part)) : unescapeHtml(part));
    }
    return parent;
  }

  /** Append `text` with the [start, end) `spans` (offsets into text) marked. */
  function appendMarked(parent, text, spans) {
    const sorted = (spans || [])
      .map(([s, e]) => [Math.max(0, s), Math.min(text.length, e)])
      .filter(([s, e]) => s < e)
      .sort((a, b) => a[0] - b[0]);
    let cursor = 0;
    for (const [start, end] of sorted) {
      if (start < cursor) continue; // overlapping spans: the first one wins
      parent.append(text.slice(cursor, start), el("mark", {}, text.slice(start, end)));
      cursor = end;
    }
    parent.append(text.slice(cursor));
    return parent;
  }

  /** A document path as "folder › folder › file", the folders dimmed. */
  function pathLine(path, extra) {
    const parts = String(path).split("/");
    const line = el("p", { class: "path" });
    parts.forEach((part, i) => {
      if (i > 0) line.append(el("span", { class: "sep", "aria-hidden": "true" }, "›"));
      line.append(part);
    });
    if (extra) line.append(extra);
    return line;
  }

  function setStatus(id, text) {
    $(id).textContent = text || "";
  }

  function formatScore(score) {
    return Number(score).toPrecision(3);
  }

  // -- API calls, the key and errors -------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  /** The key lives in sessionStorage: it survives reloads but not the tab, and is never written to disk
   * for long (a shared PC forgets it when the tab closes). Storage can be unavailable (privacy modes). */
  function getKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE) || "";
    } catch {
      return memoryKey;
    }
  }

  let memoryKey = "";

  function setKey(key) {
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
  function askForKey(problem) {
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

  async function readBody(response) {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return { detail: text.slice(0, 300) };
    }
  }

  /** A plain-words message for a failed response; the server's own detail is kept as the last line. */
  function describe(status, body, retryAfter) {
    const detail = body && body.detail;
    if (status === 422 && Array.isArray(detail)) {
      const lines = detail.map((item) => {
        const field = FIELD_NAMES[item.field] || item.field || "";
        return field ? `・${field}: ${item.msg}` : `・${item.msg}`;
      });
      return `入力内容に誤りがあります。確認してください。\n${lines.join("\n")}`;
    }
    const server = typeof detail === "string" && detail ? `\n（サーバーの説明: ${detail}）` : "";
    switch (status) {
      case 400:
        return `この条件では実行できませんでした。${server}`;
      case 401:
        return `APIキーが正しくありません。${server}`;
      case 404:
        return `見つかりませんでした。索引が更新された可能性があります。もう一度検索してください。${server}`;
      case 413:
        return `送信内容が大きすぎます。検索語や質問を短くしてください。${server}`;
      case 503:
        return retryAfter
          ? `サーバーが混雑しているか、必要なモデルが使えません。${retryAfter}秒ほど待ってから再試行してください。${server}`
          : `サーバーが一時的に利用できません。しばらく待ってから再試行してください。${server}`;
      case 504:
        return `時間内に処理が終わりませんでした。問題数を減らすか、質問を短くしてください。${server}`;
      default:
        return status >= 500
          ? `サーバーでエラーが起きました（${status}）。管理者に連絡してください。${server}`
          : `リクエストが失敗しました（${status}）。${server}`;
    }
  }

  /** fetch + JSON with the key; a 401 asks for the key and retries, any other failure is an ApiError. */
  async function api(method, path, body) {
    for (;;) {
      const headers = { Accept: "application/json" };
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
      return response.json();
    }
  }

  let retryTimer = null;

  /** Show an error in the banner; `retry` (optional) re-runs what failed, enabled after Retry-After. */
  function showError(error, retry) {
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

  function hideError() {
    clearInterval(retryTimer);
    $("error").hidden = true;
  }

  // -- tabs ----------------------------------------------------------------------------------------------

  const TABS = ["search", "ask", "quiz"];

  function selectTab(name, focus) {
    for (const tab of TABS) {
      const selected = tab === name;
      const button = $(`tab-${tab}`);
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      $(`panel-${tab}`).hidden = !selected;
    }
    if (focus) $(`tab-${name}`).focus();
    history.replaceState(null, "", `#${name}`);
    const input = { search: "search-query", ask: "ask-question", quiz: "quiz-query" }[name];
    if (!focus && input) $(input).focus();
  }

  function setUpTabs() {
    for (const tab of TABS) {
      const button = $(`tab-${tab}`);
      button.addEventListener("click", () => selectTab(tab, false));
      // The ARIA tabs pattern: arrows, Home and End move between tabs; Tab moves into the panel.
      button.addEventListener("keydown", (event) => {
        const index = TABS.indexOf(tab);
        const next = {
          ArrowRight: TABS[(index + 1) % TABS.length],
          ArrowLeft: TABS[(index + TABS.length - 1) % TABS.length],
          Home: TABS[0],
          End: TABS[TABS.length - 1],
        }[event.key];
        if (next) {
          event.preventDefault();
          selectTab(next, true);
        }
      });
    }
    const initial = location.hash.slice(1);
    if (TABS.includes(initial)) selectTab(initial, false);
  }

  // -- filters ---------------------------------------------------------------------------------------------

  /** The next day as YYYY-MM-DD: the API's `modified_before` is exclusive, "まで" means the whole day. */
  function nextDay(date) {
    const day = new Date(`${date}T00:00:00Z`);
    day.setUTCDate(day.getUTCDate() + 1);
    return day.toISOString().slice(0, 10);
  }

  /** The search filters as the API wants them, or null when none is set; throws ApiError when invalid. */
  function currentFilters() {
    const filters = {};
    const folder = $("filter-folder").value.trim();
    if (folder) filters.path_prefix = folder;
    const formats = [...document.querySelectorAll(".filter-format:checked")].map((box) => box.value);
    if (formats.length) filters.formats = formats;
    const after = $("filter-after").value;
    const before = $("filter-before").value;
    if (after && before && after > before) {
      throw new ApiError(0, "更新日の「から」が「まで」より後になっています。日付を確認してください。");
    }
    if (after) filters.modified_after = after;
    if (before) filters.modified_before = nextDay(before);
    const count = Object.keys(filters).length;
    $("filter-count").textContent = String(count);
    $("filter-count").hidden = count === 0;
    return count ? filters : null;
  }

  // -- search ----------------------------------------------------------------------------------------------

  const search = { query: "", offset: 0, sequence: 0 };

  async function runSearch(offset) {
    const query = $("search-query").value.trim();
    if (!query) {
      setStatus("search-status", "検索語を入力してください。");
      $("search-query").focus();
      return;
    }
    let filters;
    try {
      filters = currentFilters();
    } catch (error) {
      showError(error);
      return;
    }
    hideError();
    const sequence = ++search.sequence; // a newer search makes an older response stale
    search.query = query;
    search.offset = offset;
    const body = { query, k: PAGE_SIZE, offset, mode: $("search-mode").value };
    if (filters) body.filters = filters;
    $("search-results").setAttribute("aria-busy", "true");
    setStatus("search-status", "検索しています…");
    try {
      const data = await api("POST", "/search", body);
      if (sequence !== search.sequence) return;
      renderResults(data);
      loadCatalog();
    } catch (error) {
      if (sequence !== search.sequence) return;
      setStatus("search-status", "");
      showError(error, () => runSearch(offset));
    } finally {
      if (sequence === search.sequence) $("search-results").removeAttribute("aria-busy");
    }
  }

  function renderResults(data) {
    const list = $("search-results");
    list.replaceChildren(...data.results.map((hit, i) => renderHit(hit, data.offset + i + 1)));
    const first = data.offset + 1;
    const last = data.offset + data.results.length;
    if (data.results.length) {
      setStatus("search-status", `「${data.query}」の検索結果 ${first}〜${last} 件目`);
    } else if (data.offset > 0) {
      setStatus("search-status", `「${data.query}」の検索結果はこれ以上ありません。`);
    } else {
      setStatus("search-status", `「${data.query}」に一致する文書は見つかりませんでした。条件を変えてお試しください。`);
    }
    const more = data.results.length === data.k && data.offset + data.k <= MAX_OFFSET;
    $("search-pager").hidden = data.offset === 0 && !more;
    $("page-prev").disabled = data.offset === 0;
    $("page-next").disabled = !more;
    $("page-info").textContent = `${Math.floor(data.offset / data.k) + 1} ページ`;
  }

  function renderHit(hit, rank) {
    const legs = [];
    if (hit.dense) legs.push(`意味 ${hit.dense.rank}位`);
    if (hit.keyword) legs.push(`キーワード ${hit.keyword.rank}位`);
    const marks = hit.highlights.map(([s, e]) => [hit.start + s, hit.start + e]);
    const open = () => openDocument(hit.document_id, hit.passage_id, marks);
    return el(
      "li",
      { class: "hit", "data-passage-id": hit.passage_id, "data-path": hit.path },
      el("h3", {}, el("button", { type: "button", class: "link hit-title", onclick: open }, hit.title || hit.path)),
      pathLine(hit.path, hit.heading ? el("span", {}, el("span", { class: "sep" }, "›"), hit.heading) : null),
      appendSnippet(el("p", { class: "snippet" }), hit.snippet || hit.text.slice(0, 160)),
      el(
        "p",
        { class: "meta" },
        el("span", {}, `${rank}位`),
        el("span", { class: "hit-score" }, `スコア ${formatScore(hit.score)}`),
        legs.length ? el("span", {}, legs.join("・")) : null,
        el("span", { class: "format" }, hit.format),
      ),
    );
  }

  function setUpSearch() {
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      runSearch(0);
    });
    $("page-prev").addEventListener("click", () => runSearch(Math.max(0, search.offset - PAGE_SIZE)));
    $("page-next").addEventListener("click", () => runSearch(search.offset + PAGE_SIZE));
    // A changed filter re-runs the current search from its first page.
    const rerun = () => {
      if (search.query && $("search-query").value.trim()) runSearch(0);
      else currentFiltersQuietly();
    };
    for (const id of ["filter-after", "filter-before", "search-mode", "filter-folder"]) {
      $(id).addEventListener("change", rerun);
    }
    for (const box of document.querySelectorAll(".filter-format")) box.addEventListener("change", rerun);
    $("filter-clear").addEventListener("click", () => {
      $("filter-folder").value = "";
      $("filter-after").value = "";
      $("filter-before").value = "";
      for (const box of document.querySelectorAll(".filter-format")) box.checked = false;
      rerun();
    });
  }

  function currentFiltersQuietly() {
    try {
      currentFilters();
    } catch {
      /* shown when the search runs */
    }
  }

  // -- folders and documents for the filter and quiz suggestions -----------------------------------------

  let catalogLoaded = false;

  /** Fill the folder and document suggestions once (up to 2,000 documents; typing works beyond that). */
  async function loadCatalog() {
    if (catalogLoaded) return;
    catalogLoaded = true;
    try {
      const paths = [];
      for (let offset = 0; offset < 2000; offset += 500) {
        const page = await api("GET", `/documents?limit=500&offset=${offset}`);
        paths.push(...page.documents.map((d) => d.path));
        if (offset + 500 >= page.total) break;
      }
      const folders = new Set();
      for (const path of paths) {
        const parts = path.split("/");
        for (let i = 1; i < parts.length; i++) folders.add(`${parts.slice(0, i).join("/")}/`);
      }
      $("folder-options").replaceChildren(...[...folders].sort().map((f) => el("option", { value: f })));
      $("document-options").replaceChildren(...paths.map((p) => el("option", { value: p })));
    } catch {
      catalogLoaded = false; // suggestions are a convenience: try again after the next successful call
    }
  }

  // -- the document viewer ------------------------------------------------------------------------------

  const viewer = { passages: [], index: 0, from: 0, to: 0, marks: [] };

  /** Open a document with one passage highlighted; `marks` are [start, end) offsets in the document. */
  async function openDocument(documentId, passageId, marks) {
    try {
      const doc = await api("GET", `/documents/${documentId}`);
      viewer.passages = doc.passages;
      viewer.index = Math.max(0, doc.passages.findIndex((p) => p.id === passageId));
      viewer.from = Math.max(0, viewer.index - NEIGHBOURS);
      viewer.to = Math.min(doc.passages.length, viewer.index + NEIGHBOURS + 1);
      viewer.marks = marks || [];
      $("viewer-title").textContent = doc.title || doc.path;
      const modified = new Date(doc.mtime * 1000).toLocaleDateString("ja-JP");
      $("viewer-meta").replaceChildren(
        pathLine(doc.path, el("span", {}, el("span", { class: "sep" }, "·"), `${doc.format}・更新 ${modified}`)),
      );
      renderViewer();
      const dialog = $("viewer");
      if (!dialog.open) dialog.showModal();
      const current = document.querySelector("#viewer-passages .current");
      if (current) current.scrollIntoView({ block: "center" });
      $("viewer-close").focus();
    } catch (error) {
      showError(error, () => openDocument(documentId, passageId, marks));
    }
  }

  /** Open the document of a passage known only by id (citations and quiz questions carry no document id). */
  async function openPassage(passageId, marks) {
    try {
      const passage = await api("GET", `/passages/${passageId}`);
      await openDocument(passage.document_id, passageId, marks);
    } catch (error) {
      showError(error, () => openPassage(passageId, marks));
    }
  }

  function renderViewer() {
    const items = [];
    let heading = viewer.from > 0 ? viewer.passages[viewer.from - 1].heading : "";
    for (let i = viewer.from; i < viewer.to; i++) {
      const passage = viewer.passages[i];
      const current = i === viewer.index;
      const item = el("li", {
        class: current ? "doc-passage current" : "doc-passage",
        "aria-current": current ? "true" : null,
        "data-passage-id": passage.id,
      });
      if (passage.heading && passage.heading !== heading) item.append(el("p", { class: "heading" }, passage.heading));
      heading = passage.heading;
      const spans = current ? viewer.marks.map(([s, e]) => [s - passage.start, e - passage.start]) : [];
      item.append(appendMarked(el("p", {}), passage.text, spans));
      items.push(item);
    }
    $("viewer-passages").replaceChildren(...items);
    $("viewer-before").hidden = viewer.from === 0;
    $("viewer-after").hidden = viewer.to >= viewer.passages.length;
  }

  function setUpViewer() {
    $("viewer-close").addEventListener("click", () => $("viewer").close());
    $("viewer-before").addEventListener("click", () => {
      viewer.from = Math.max(0, viewer.from - 5);
      renderViewer();
    });
    $("viewer-after").addEventListener("click", () => {
      viewer.to = Math.min(viewer.passages.length, viewer.to + 5);
      renderViewer();
    });
    // A click on the backdrop (outside the dialog box) closes it, as users expect.
    $("viewer").addEventListener("click", (event) => {
      if (event.target === $("viewer")) $("viewer").close();
    });
  }

  // -- ask -------------------------------------------------------------------------------------------------

  let asking = false;

  async function runAsk() {
    const question = $("ask-question").value.trim();
    if (!question) {
      setStatus("ask-status", "質問を入力してください。");
      $("ask-question").focus();
      return;
    }
    if (asking) return;
    const body = { question, extractive: $("ask-extractive").checked };
    try {
      if ($("ask-use-filters").checked) {
        const filters = currentFilters();
        if (filters) body.filters = filters;
      }
    } catch (error) {
      showError(error);
      return;
    }
    hideError();
    asking = true;
    const button = $("ask-form").querySelector("button[type=submit]");
    button.disabled = true;
    setStatus("ask-status", "回答を作成しています…（数十秒かかることがあります）");
    try {
      const data = await api("POST", "/answer", body);
      setStatus("ask-status", "");
      $("ask-result").replaceChildren(renderAnswer(data));
    } catch (error) {
      setStatus("ask-status", "");
      showError(error, runAsk);
    } finally {
      asking = false;
      button.disabled = false;
    }
  }

  const MODE_NAMES = { extractive: "抜粋（文書の一文）", generative: "生成" };

  function answerMeta(data) {
    return el(
      "p",
      { class: "meta answer-meta" },
      el("span", { class: "answer-mode" }, `方式: ${MODE_NAMES[data.mode] || data.mode}`),
      el("span", { class: "answer-model" }, `モデル: ${data.model}`),
      el("span", {}, `言語: ${data.language}`),
    );
  }

  function renderAnswer(data) {
    if (!data.answerable) return renderUnanswerable(data);
    const passages = new Map(data.passages.map((p) => [p.passage_id, p]));
    const refs = data.citations.map((c, i) =>
      el("button", { type: "button", class: "cite-ref", "aria-label": `出典 ${i + 1} へ移動`, onclick: () => jumpTo(i + 1) }, `[${i + 1}]`),
    );
    const citations = data.citations.map((c, i) => renderCitation(c, i + 1, passages.get(c.passage_id)));
    return el(
      "article",
      { class: "answer", "aria-labelledby": "answer-heading" },
      el("h2", { id: "answer-heading" }, "回答"),
      el("p", { class: "answer-text" }, data.answer, " ", refs),
      answerMeta(data),
      data.fallback_reason
        ? el("p", { class: "note fallback" }, `生成モデルが使えなかったため、文書から抜き出して答えました（${data.fallback_reason}）。`)
        : null,
      el("h3", {}, "出典"),
      el("ol", { class: "citations" }, citations),
    );
  }

  function renderCitation(citation, number, passage) {
    const quote = el("blockquote", {});
    const evidence = citation.evidence;
    if (passage) {
      appendMarked(quote, passage.text, [[evidence.start - citation.start, evidence.end - citation.start]]);
    } else {
      quote.append(el("mark", {}, evidence.text));
    }
    const marks = [[evidence.start, evidence.end]];
    return el(
      "li",
      { class: "citation", id: `citation-${number}`, tabindex: "-1", "data-passage-id": citation.passage_id },
      el(
        "p",
        { class: "citation-title" },
        el("span", { class: "num" }, `[${number}]`),
        el("button", { type: "button", class: "link", onclick: () => openPassage(citation.passage_id, marks) }, citation.title || citation.path),
      ),
      pathLine(citation.path),
      quote,
    );
  }

  /** Scroll to citation `number` and highlight it (the previous one loses its highlight). */
  function jumpTo(number) {
    for (const item of document.querySelectorAll(".citation.is-active")) item.classList.remove("is-active");
    const target = $(`citation-${number}`);
    if (!target) return;
    target.classList.add("is-active");
    target.scrollIntoView({ block: "center", behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth" });
    target.focus({ preventScroll: true });
  }

  function renderUnanswerable(data) {
    const closest = data.passages.slice(0, 3).map((p) =>
      el(
        "li",
        { class: "closest-passage" },
        el("button", { type: "button", class: "link", onclick: () => openPassage(p.passage_id, []) }, p.title || p.path),
        pathLine(p.path),
        el("blockquote", {}, p.text.length > 200 ? `${p.text.slice(0, 200)}…` : p.text),
      ),
    );
    return el(
      "article",
      { class: "answer unanswerable", "aria-labelledby": "answer-heading" },
      el("h2", { id: "answer-heading" }, "文書には、この質問の答えが見つかりませんでした"),
      el("p", {}, "索引にある文書からは、確かな答えを出せませんでした。推測の答えは表示しません。質問の言い方を変えるか、下の近い箇所を確認してください。"),
      data.reason ? el("p", { class: "note reason" }, `理由: ${data.reason}`) : null,
      answerMeta(data),
      closest.length ? el("h3", {}, "質問に近い箇所") : null,
      closest.length ? el("ol", { class: "closest" }, closest) : null,
    );
  }

  function setUpAsk() {
    $("ask-form").addEventListener("submit", (event) => {
      event.preventDefault();
      runAsk();
    });
  }

  // -- quiz ------------------------------------------------------------------------------------------------

  const quiz = { data: null, graded: false, running: false };

  function quizSource() {
    return document.querySelector("input[name=quiz-source]:checked").value;
  }

  async function runQuiz() {
    if (quiz.running) return;
    const source = quizSource();
    const text = $(source === "query" ? "quiz-query" : "quiz-document").value.trim();
    if (!text) {
      setStatus("quiz-status", source === "query" ? "検索語を入力してください。" : "文書のパスを入力してください。");
      $(source === "query" ? "quiz-query" : "quiz-document").focus();
      return;
    }
    const n = Number($("quiz-n").value || 5);
    const body = { [source]: text, n, multiple_choice: true };
    hideError();
    quiz.running = true;
    const button = $("quiz-form").querySelector("button[type=submit]");
    button.disabled = true;
    setStatus("quiz-status", "問題を作成しています…（数十秒かかることがあります）");
    try {
      const data = await api("POST", "/quiz", body);
      quiz.data = data;
      quiz.graded = false;
      renderQuiz();
    } catch (error) {
      setStatus("quiz-status", "");
      showError(error, runQuiz);
    } finally {
      quiz.running = false;
      button.disabled = false;
    }
  }

  function renderQuiz() {
    const data = quiz.data;
    const skipped = Object.entries(data.skipped || {}).reduce((sum, [, count]) => sum + count, 0);
    if (!data.questions.length) {
      setStatus("quiz-status", `問題を作れませんでした${skipped ? `（不適切な問題 ${skipped} 件を除外）` : ""}。別の検索語や文書を試してください。`);
      $("quiz-result").hidden = true;
      return;
    }
    setStatus(
      "quiz-status",
      `${data.questions.length} 問を作成しました（モデル: ${data.model}${skipped ? `、除外 ${skipped} 件` : ""}）。答えを選んで「採点する」を押してください。`,
    );
    $("quiz-questions").replaceChildren(...data.questions.map(renderQuestion));
    $("quiz-score").textContent = "";
    $("quiz-grade").disabled = false;
    $("quiz-result").hidden = false;
  }

  function renderQuestion(question, index) {
    const name = `quiz-q${index}`;
    const options = question.options.length ? question.options : [question.answer];
    return el(
      "li",
      { class: "quiz-question", "data-index": index },
      el(
        "fieldset",
        {},
        el("legend", {}, `問${index + 1}. ${question.question}`),
        options.map((option, i) =>
          el("label", { class: "option" }, el("input", { type: "radio", name, value: String(i) }), el("span", {}, option)),
        ),
      ),
      el("p", { class: "feedback", hidden: true, "aria-live": "polite" }),
      el(
        "p",
        { class: "meta question-source" },
        el("span", {}, "出典: "),
        el(
          "button",
          {
            type: "button",
            class: "link",
            // The answer is marked only once graded: before that the passage would give it away.
            onclick: () => openPassage(question.passage_id, quiz.graded ? [[question.answer_start, question.answer_end]] : []),
          },
          `${question.title || question.path}`,
        ),
        el("span", {}, question.path),
      ),
    );
  }

  function gradeQuiz() {
    const items = document.querySelectorAll("#quiz-questions .quiz-question");
    let correct = 0;
    items.forEach((item, index) => {
      const question = quiz.data.questions[index];
      const options = question.options.length ? question.options : [question.answer];
      const chosen = item.querySelector("input[type=radio]:checked");
      const chosenText = chosen ? options[Number(chosen.value)] : null;
      const right = chosenText === question.answer;
      if (right) correct += 1;
      item.querySelectorAll(".option").forEach((label, i) => {
        label.classList.toggle("correct", options[i] === question.answer);
        label.classList.toggle("chosen-wrong", Boolean(chosen) && Number(chosen.value) === i && !right);
      });
      const feedback = item.querySelector(".feedback");
      feedback.hidden = false;
      feedback.className = `feedback ${right ? "good" : "bad"}`;
      feedback.textContent = right
        ? "○ 正解"
        : `× ${chosen ? "不正解" : "未回答"} — 正解は「${question.answer}」`;
      for (const input of item.querySelectorAll("input")) input.disabled = true;
    });
    quiz.graded = true;
    const total = items.length;
    const score = $("quiz-score");
    score.textContent = `${total} 問中 ${correct} 問正解（${Math.round((100 * correct) / total)}%）`;
    $("quiz-grade").disabled = true;
    score.scrollIntoView({ block: "nearest" });
  }

  /** One CSV cell. Text a spreadsheet would run as a formula (= + - @, tab, CR first: CSV injection) gets a
   * leading apostrophe, exactly as `indexer quiz --format csv` does, and `read_table` takes it off again. */
  function csvCell(value) {
    let text = value === null || value === undefined ? "" : String(value);
    if (typeof value === "string" && /^'*[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  /** The quiz as CSV: the columns of `indexer quiz --format csv`, plus what the user chose once graded.
   * A UTF-8 byte order mark first, so that Excel on Japanese Windows does not read it as Shift_JIS. */
  function quizCsv() {
    const items = document.querySelectorAll("#quiz-questions .quiz-question");
    const header = [...CSV_COLUMNS, "your_answer", "correct"];
    const rows = quiz.data.questions.map((q, index) => {
      const row = CSV_COLUMNS.map((column) => {
        const option = /^option_(\d)$/.exec(column);
        if (option) return q.options[Number(option[1]) - 1] ?? "";
        if (column === "verified") return q.verified === null || q.verified === undefined ? "" : String(Boolean(q.verified));
        return q[column];
      });
      const chosen = items[index] && items[index].querySelector("input[type=radio]:checked");
      const options = q.options.length ? q.options : [q.answer];
      const answer = quiz.graded && chosen ? options[Number(chosen.value)] : "";
      row.push(answer, quiz.graded ? String(answer === q.answer) : "");
      return row;
    });
    return `\ufeff${[header, ...rows].map((row) => row.map(csvCell).join(",")).join("\n")}\n`;
  }

  function downloadCsv() {
    if (!quiz.data) return;
    const blob = new Blob([quizCsv()], { type: "text/csv;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
    const link = el("a", { href: url, download: `quiz-${stamp}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function setUpQuiz() {
    $("quiz-form").addEventListener("submit", (event) => {
      event.preventDefault();
      runQuiz();
    });
    for (const radio of document.querySelectorAll("input[name=quiz-source]")) {
      radio.addEventListener("change", () => {
        const byQuery = quizSource() === "query";
        $("quiz-query-row").hidden = !byQuery;
        $("quiz-document-row").hidden = byQuery;
        if (!byQuery) loadCatalog();
      });
    }
    $("quiz-grade").addEventListener("click", gradeQuiz);
    $("quiz-retry").addEventListener("click", () => {
      quiz.graded = false;
      renderQuiz();
      // Back to question 1, where a second attempt starts.
      const first = document.querySelector("#quiz-questions input[type=radio]");
      if (first) first.focus();
    });
    $("quiz-csv").addEventListener("click", downloadCsv);
  }

  // -- server status and start-up -----------------------------------------------------------------------

  async function showServerInfo(attempt) {
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

  function start() {
    setUpTabs();
    setUpSearch();
    setUpViewer();
    setUpAsk();
    setUpQuiz();
    $("error-close").addEventListener("click", hideError);
    $("key-button").addEventListener("click", () => askForKey("").catch(() => {}));
    currentFiltersQuietly();
    showServerInfo(0);
  }

  start();
})();
