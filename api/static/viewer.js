/*
 * The document viewer: a dialog with one passage in its document, marked, and a few neighbours around it
 * (more on request), shown as continuous text with the passage boundaries marked, opened from search hits,
 * citations and quiz questions.
 */

import { $, appendMarked, el, pathLine } from "./dom.js";
import { showError } from "./errors.js";
import { api } from "./http.js";

const NEIGHBOURS = 2; // passages shown before and after the opened one

const viewer = { passages: [], index: 0, from: 0, to: 0, marks: [] };

/** Open a document with one passage highlighted; `marks` are [start, end) offsets in the document. */
export async function openDocument(documentId, passageId, marks) {
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
export async function openPassage(passageId, marks) {
  try {
    const passage = await api("GET", `/passages/${passageId}`);
    await openDocument(passage.document_id, passageId, marks);
  } catch (error) {
    showError(error, () => openPassage(passageId, marks));
  }
}

/**
 * The shown passages as one text: each character of the document once, although consecutive passages overlap.
 * The opened passage is shown whole, so the passages before it stop where it starts and the ones after it
 * start where it ends; each element holds only the characters no earlier one shows, and its edge marks a
 * passage boundary. Each passage's text is exactly the document text at its offsets, so the slices join up.
 */
function renderViewer() {
  const opened = viewer.passages[viewer.index];
  const items = [];
  let heading = viewer.from > 0 ? viewer.passages[viewer.from - 1].heading : "";
  let cursor = null; // document offset up to which the page shows the text
  for (let i = viewer.from; i < viewer.to; i++) {
    const passage = viewer.passages[i];
    const current = i === viewer.index;
    const start = current || cursor === null ? passage.start : Math.max(cursor, passage.start);
    const end = i < viewer.index ? Math.min(passage.end, opened.start) : passage.end;
    if (start >= end) continue; // all of it is already shown by its neighbours
    const item = el("li", {
      class: current ? "doc-passage current" : "doc-passage",
      "aria-current": current ? "true" : null,
      "data-passage-id": passage.id,
      "data-start": start,
      "data-end": end,
    });
    const newHeading = passage.heading && passage.heading !== heading;
    if (newHeading) item.append(el("span", { class: "heading" }, passage.heading));
    // Between passages lies text no passage holds (the line breaks and spaces around sentences): a line break.
    else if (cursor !== null && start > cursor) item.append(el("span", { class: "gap" }, "\n"));
    heading = passage.heading;
    const spans = viewer.marks.map(([s, e]) => [s - start, e - start]);
    const text = passage.text.slice(start - passage.start, end - passage.start);
    item.append(appendMarked(el("span", { class: "doc-text" }), text, spans));
    items.push(item);
    cursor = end;
  }
  $("viewer-passages").replaceChildren(...items);
  $("viewer-before").hidden = viewer.from === 0;
  $("viewer-after").hidden = viewer.to >= viewer.passages.length;
}

export function setUpViewer() {
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
