/* The three tabs (search, ask, quiz) as an ARIA tab list, with the selected one kept in the URL's hash. */

import { $ } from "./dom.js";

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

export function setUpTabs() {
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
