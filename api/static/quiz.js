/*
 * The quiz tab: multiple-choice questions from a query or a document, graded in the page, and the download
 * of the quiz as CSV. The file is made by the server (POST /quiz/export, the same table as
 * `indexer quiz --format csv`), so the page holds no copy of its columns or of its formula guard.
 */

import { loadCatalog } from "./catalog.js";
import { $, el, saveFile, setStatus } from "./dom.js";
import { hideError, showError } from "./errors.js";
import { api, apiFile } from "./http.js";
import { openPassage } from "./viewer.js";

const quiz = { data: null, graded: false, running: false, downloading: false };

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
  const body = { [source]: text, n, multiple_choice: true, mode: $("quiz-mode").value };
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
  const made = data.mode === "cloze" ? "穴埋め（モデルなし）" : `生成（モデル: ${data.model}）`;
  const note = data.fallback_reason ? ` ${data.fallback_reason}` : "";
  setStatus(
    "quiz-status",
    `${data.questions.length} 問を作成しました（方式: ${made}${skipped ? `、除外 ${skipped} 件` : ""}）。答えを選んで「採点する」を押してください。${note}`,
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
      el(
        "legend",
        {},
        `問${index + 1}. ${question.question} `,
        el("span", { class: "badge question-mode" }, question.mode === "cloze" ? "穴埋め" : "生成"),
      ),
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

/** The quiz as the server's CSV: the questions go back as /quiz gave them, the file comes back to save. */
async function downloadCsv() {
  if (!quiz.data || quiz.downloading) return;
  quiz.downloading = true;
  const button = $("quiz-csv");
  button.disabled = true;
  hideError();
  try {
    const file = await apiFile("POST", "/quiz/export?format=csv", { questions: quiz.data.questions });
    saveFile(file.blob, file.filename);
  } catch (error) {
    showError(error, downloadCsv);
  } finally {
    quiz.downloading = false;
    button.disabled = false;
  }
}

export function setUpQuiz() {
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
