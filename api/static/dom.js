/*
 * Small DOM helpers. Document text is untrusted (anyone who can write into the indexed folder controls it),
 * so it only ever reaches the page as text nodes: no HTML strings anywhere, and the one piece of markup the
 * API sends, the <mark> tags of a search snippet, is parsed here by hand, never with innerHTML.
 */

export const $ = (id) => document.getElementById(id);

/** An element with attributes and children; strings become text nodes. */
export function el(tag, attributes, ...children) {
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
export function appendSnippet(parent, snippet) {
  let marked = false;
  for (const part of String(snippet).split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>") marked = true;
    else if (part === "</mark>") marked = false;
    else if (part) parent.append(marked ? el("mark", {}, unescapeHtml(part)) : unescapeHtml(part));
  }
  return parent;
}

/** Append `text` with the [start, end) `spans` (offsets into text) marked. */
export function appendMarked(parent, text, spans) {
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
export function pathLine(path, extra) {
  const parts = String(path).split("/");
  const line = el("p", { class: "path" });
  parts.forEach((part, i) => {
    if (i > 0) line.append(el("span", { class: "sep", "aria-hidden": "true" }, "›"));
    line.append(part);
  });
  if (extra) line.append(extra);
  return line;
}

export function setStatus(id, text) {
  $(id).textContent = text || "";
}

/** Hand a file (a Blob) to the browser's download: a link to it, clicked, then let go. */
export function saveFile(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has taken the URL by the time the click returns; the timer only frees the memory later.
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
