/*
 * The document viewer: a dialog with one passage in its document, marked, and a few neighbours around it
 * (more on request), opened from search hits, citations and quiz questions.
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
