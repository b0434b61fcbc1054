/* The search tab: the query with its filters and mode, ranked hits with highlighted snippets, and paging. */

import { loadCatalog } from "./catalog.js";
import { $, appendMarked, appendSnippet, el, pathLine, setStatus } from "./dom.js";
import { hideError, showError } from "./errors.js";
import { currentFilters, currentFiltersQuietly } from "./filters.js";
import { api } from "./http.js";
import { openDocument } from "./viewer.js";

const PAGE_SIZE = 10;
const MAX_OFFSET = 1000; // the API's limit on `offset`

const search = { query: "", offset: 0, sequence: 0, within: null };

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
  // One hit per document by default; "この文書の他の箇所" searches inside one document, uncollapsed.
  const within = search.within;
  const body = { query, k: PAGE_SIZE, offset, mode: $("search-mode").value, collapse: !within && $("search-collapse").checked };
  if (filters) body.filters = filters;
  if (within) body.filters = { ...(body.filters || {}), path_prefix: within };
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
  const where = search.within ? `（${search.within} の中）` : "";
  if (data.results.length) {
    setStatus("search-status", `「${data.query}」の検索結果 ${first}〜${last} 件目${where}・${modeUsed(data)}`);
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

/** The mode that actually ranked the results: hybrid whose dense leg had no weight is a keyword search. */
export function modeUsed(data) {
  const weights = data.leg_weights;
  if (data.mode === "hybrid" && weights && weights.dense === 0) {
    if (!weights.model_knows_language) return "キーワード検索（この埋め込みモデルは質問の言語を読めません）";
    if (weights.keyword_coverage >= 1) return "キーワード検索（質問の語がすべて一致したため、意味の検索は加えていません）";
    return "キーワード検索（意味の近い箇所は見つかりませんでした）";
  }
  const name = { hybrid: "ハイブリッド検索", dense: "意味検索", keyword: "キーワード検索" }[data.mode] || data.mode;
  return data.dense_model ? `${name}（意味: ${data.dense_model}）` : name;
}

function searchWithin(path) {
  search.within = path;
  $("search-within-clear").hidden = false;
  runSearch(0);
}

function formatScore(score) {
  return Number(score).toPrecision(3);
}

/**
 * The hit as people read it: its sentence-complete window (the passage grown to whole sentences), the passage
 * itself set off from the context around it and its matched terms marked. `highlights` are offsets into the
 * passage's text, so they apply to the passage's slice of the window, which starts at start - window_start.
 */
function hitWindow(hit) {
  const line = el("p", { class: "snippet" });
  if (!hit.window_text) return appendSnippet(line, hit.snippet || hit.text.slice(0, 160));
  const from = hit.start - hit.window_start;
  const to = hit.end - hit.window_start;
  const before = hit.window_text.slice(0, from);
  const after = hit.window_text.slice(to);
  return el(
    "p",
    { class: "snippet window" },
    before ? el("span", { class: "context" }, before) : null,
    appendMarked(el("span", { class: "hit-passage" }), hit.window_text.slice(from, to), hit.highlights),
    after ? el("span", { class: "context" }, after) : null,
  );
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
    hitWindow(hit),
    el(
      "p",
      { class: "meta" },
      el("span", {}, `${rank}位`),
      el("span", { class: "hit-score" }, `スコア ${formatScore(hit.score)}`),
      legs.length ? el("span", {}, legs.join("・")) : null,
      el("span", { class: "format" }, hit.format),
      hit.more_in_document > 0
        ? el(
            "button",
            { type: "button", class: "link more-in-document", onclick: () => searchWithin(hit.path) },
            `この文書の他の箇所（${hit.more_in_document}件）`,
          )
        : null,
    ),
  );
}

export function setUpSearch() {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search.within = null; // a new search looks in every document again
    $("search-within-clear").hidden = true;
    runSearch(0);
  });
  $("search-within-clear").addEventListener("click", () => {
    search.within = null;
    $("search-within-clear").hidden = true;
    runSearch(0);
  });
  $("page-prev").addEventListener("click", () => runSearch(Math.max(0, search.offset - PAGE_SIZE)));
  $("page-next").addEventListener("click", () => runSearch(search.offset + PAGE_SIZE));
  // A changed filter re-runs the current search from its first page.
  const rerun = () => {
    if (search.query && $("search-query").value.trim()) runSearch(0);
    else currentFiltersQuietly();
  };
  for (const id of ["filter-after", "filter-before", "search-mode", "filter-folder", "search-collapse"]) {
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
