/*
 * The web page of jp-docsearch: search, ask and quiz over the same HTTP API a script would use.
 *
 * Plain JavaScript modules, no build step and no dependencies, so that the page is served as is by
 * `indexer serve` and works on a closed network; each module has one job, and this one only starts them.
 * Modules are loaded from this origin only (the page's Content-Security-Policy: script-src 'self').
 */

import { setUpAsk } from "./answer.js";
import { setUpErrors } from "./errors.js";
import { currentFiltersQuietly } from "./filters.js";
import { showServerInfo } from "./health.js";
import { setUpKey } from "./key.js";
import { setUpQuiz } from "./quiz.js";
import { setUpSearch } from "./search.js";
import { setUpTabs } from "./tabs.js";
import { setUpViewer } from "./viewer.js";

setUpTabs();
setUpSearch();
setUpViewer();
setUpAsk();
setUpQuiz();
setUpErrors();
setUpKey();
currentFiltersQuietly();
showServerInfo(0);
