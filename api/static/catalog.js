/* The folder and document suggestions (datalists) for the folder filter and the quiz's document field. */

import { $, el } from "./dom.js";
import { api } from "./http.js";

let catalogLoaded = false;

/** Fill the folder and document suggestions once (up to 2,000 documents; typing works beyond that). */
export async function loadCatalog() {
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
