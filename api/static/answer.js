/*
 * The ask tab: a question answered from the documents with clickable citations, or, when the documents hold
 * no answer, a plain statement saying so with the closest passages (never a guessed answer).
 */

import { $, appendMarked, el, pathLine, setStatus } from "./dom.js";
import { hideError, showError } from "./errors.js";
import { currentFilters } from "./filters.js";
import { api } from "./http.js";
import { openPassage } from "./viewer.js";

const MODE_NAMES = { extractive: "抜粋（文書の一文）", generative: "生成" };

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
    data.fallback_reason ? el("p", { class: "note fallback" }, data.fallback_reason) : null,
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

export function setUpAsk() {
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runAsk();
  });
}
