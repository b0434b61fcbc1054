/* The search filters (folder, formats, modified dates) as the API's `filters` object, and their count badge. */

import { $ } from "./dom.js";
import { ApiError } from "./errors.js";

/** The next day as YYYY-MM-DD: the API's `modified_before` is exclusive, "まで" means the whole day. */
function nextDay(date) {
  const day = new Date(`${date}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

/** The search filters as the API wants them, or null when none is set; throws ApiError when invalid. */
export function currentFilters() {
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

/** Update the count badge only; an invalid filter is reported when a search runs. */
export function currentFiltersQuietly() {
  try {
    currentFilters();
  } catch {
    /* shown when the search runs */
  }
}
