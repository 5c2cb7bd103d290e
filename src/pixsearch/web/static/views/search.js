// The search view: the formula box (errors as the user types), sort, page size, the grid,
// the facets and paging.

import { ApiError, call } from "../api.js";
import { announce, fill, h } from "../dom.js";
import { ACRONYMS, EXAMPLES } from "../formula.js";
import { go, PAGE_SIZES } from "../state.js";
import { facetsPanel, FACETS } from "./facets.js";
import { GRID_FIELDS, grid } from "./grid.js";

const DEBOUNCE_MS = 300;
const SORTS = [
  ["", "Relevance, else newest"],
  ["similarity", "Similarity"],
  ["image_id", "Image id"],
  ["title", "Title"],
  ["date", "Date"],
  ["width", "Width"],
  ["height", "Height"],
  ["aspect_ratio", "Aspect ratio"],
  ["author", "Author"],
  ["country", "Country"],
];

const box = h("input", {
  id: "formula",
  type: "search",
  name: "q",
  autocomplete: "off",
  spellcheck: "false",
  "aria-describedby": "formula-error formula-help",
  placeholder: "t~a red dress && o=portrait",
});
const error = h("pre", { id: "formula-error", class: "formula-error", role: "alert", hidden: true });
const sortBy = select("sort-by", SORTS);
const sortOrder = select("sort-order", [["", "Default"], ["asc", "Ascending"], ["desc", "Descending"]]);
const pageSize = select("page-size", PAGE_SIZES.map((n) => [String(n), String(n)]));
const count = h("p", { class: "count-line", id: "count" });
const results = h("div", { class: "results" });
const facetsBox = h("aside", { class: "facets", "aria-labelledby": "facets-title" });
const pager = h("nav", { class: "pager", "aria-label": "Pages" });

let timer = null;
let typing = false; // keys pressed that the debounce has not searched for yet
let controller = null;
let shown = null; // the state whose results are on screen (or being fetched)
let facetsFor = null; // the formula whose facets are on screen (or being fetched)

function select(id, options) {
  return h("select", { id }, options.map(([value, label]) => h("option", { value }, label)));
}

function examples() {
  return h(
    "details",
    { class: "examples" },
    h("summary", {}, "Examples and filters"),
    h(
      "ul",
      { class: "example-list" },
      EXAMPLES.map(([label, formula]) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "link", onclick: () => choose(formula) }, formula),
          " ",
          h("span", { class: "hint" }, label),
        ),
      ),
    ),
    h(
      "table",
      { class: "acronyms" },
      h("caption", {}, "Filters: name, operator, value. Combine with && || ! and ( )."),
      h("thead", {}, h("tr", {}, ["Filter", "Names", "Operators", "Value"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ACRONYMS.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell))))),
    ),
    h("p", {}, h("a", { href: "/docs" }, "API reference"), " · the whole language is in docs/query-language.md."),
  );
}

function choose(formula) {
  clearTimeout(timer);
  typing = false;
  box.value = formula;
  go({ q: formula, page: 1, image: "" });
}

/** The view's element, built once. */
export const view = h(
  "section",
  { class: "search-view", "aria-labelledby": "search-title" },
  h("h1", { id: "search-title", class: "visually-hidden" }, "Search"),
  h(
    "form",
    {
      role: "search",
      class: "search-form",
      onsubmit: (event) => {
        event.preventDefault();
        clearTimeout(timer);
        typing = false;
        go({ q: box.value.trim(), page: 1 });
      },
    },
    h("label", { for: "formula" }, "Formula"),
    h("div", { class: "box-row" }, box, h("button", { type: "submit" }, "Search")),
    error,
    h("p", { id: "formula-help", class: "hint" }, "Searches as you type. Empty: every image."),
    examples(),
    h(
      "div",
      { class: "options" },
      h("label", { for: "sort-by" }, "Sort by"),
      sortBy,
      h("label", { for: "sort-order" }, "Order"),
      sortOrder,
      h("label", { for: "page-size" }, "Per page"),
      pageSize,
    ),
  ),
  count,
  h("div", { class: "search-body" }, results, facetsBox),
  pager,
);

box.addEventListener("input", () => {
  clearTimeout(timer);
  typing = true;
  timer = setTimeout(() => {
    typing = false;
    go({ q: box.value.trim(), page: 1 }, { replace: true });
  }, DEBOUNCE_MS);
});
sortBy.addEventListener("change", () => go({ sort_by: sortBy.value, page: 1 }));
sortOrder.addEventListener("change", () => go({ sort_order: sortOrder.value, page: 1 }));
pageSize.addEventListener("change", () => go({ limit: Number(pageSize.value), page: 1 }));

const KEYS = ["q", "page", "limit", "sort_by", "sort_order"];

/** Show `state`: search again only when the search itself changed. */
export function show(state, { force = false } = {}) {
  if (!typing && box.value.trim() !== state.q) box.value = state.q;
  sortBy.value = state.sort_by;
  sortOrder.value = state.sort_order;
  pageSize.value = String(state.limit);
  if (!force && shown && KEYS.every((k) => shown[k] === state[k])) return;
  shown = { ...state };
  run(state);
}

/** Forget what is on screen (signing out: the next key may be another organisation's). */
export function reset() {
  if (controller) controller.abort();
  shown = null;
  facetsFor = null;
  results.replaceChildren();
  facetsBox.replaceChildren();
  pager.replaceChildren();
  count.replaceChildren();
  box.value = "";
}

/** Search again with what is on screen (after a change to the catalogue). */
export function refresh() {
  facetsFor = null;
  if (shown) run(shown);
}

async function run(state) {
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  view.setAttribute("aria-busy", "true");
  try {
    const { data } = await call("GET", "/imgs", {
      signal,
      params: {
        q: state.q,
        page: state.page,
        limit: state.limit,
        sort_by: state.sort_by,
        sort_order: state.sort_order,
        fields: GRID_FIELDS,
      },
    });
    showError(null);
    render(state, data);
    // Facets cost far more than a page of results on a large catalogue (seconds at 100k
    // images): they are asked for after the results are on screen, and only when the
    // formula changed.
    if (facetsFor !== state.q) loadFacets(state.q, signal);
  } catch (err) {
    if (err.name === "AbortError") return;
    facetsFor = null;
    // The last good results stay on screen; the formula's error goes under the box.
    showError(err instanceof ApiError ? (err.fieldMessage("q") ?? err.message) : String(err));
  } finally {
    if (!signal.aborted) view.removeAttribute("aria-busy");
  }
}

async function loadFacets(q, signal) {
  facetsFor = q;
  facetsBox.setAttribute("aria-busy", "true");
  try {
    const { data } = await call("GET", "/imgs", {
      signal,
      params: { q, facets: FACETS, facet_limit: 8, limit: 1, fields: ["image_id"], count: false },
    });
    fill(facetsBox, h("h2", { id: "facets-title" }, "Refine"), facetsPanel(data.facets, q, choose));
  } catch (err) {
    if (facetsFor === q) facetsFor = null; // the results request shows the error
  } finally {
    if (facetsFor === q) facetsBox.removeAttribute("aria-busy");
  }
}

function showError(message) {
  error.hidden = message === null;
  error.textContent = message ?? "";
  box.setAttribute("aria-invalid", String(message !== null));
}

function render(state, data) {
  const total = data.count;
  const pages = total === null ? null : Math.max(1, Math.ceil(total / state.limit));
  const noun = total === 1 ? "image" : "images";
  fill(count, total === null ? `${data.results.length} shown` : `${total} ${noun}`);
  announce(`${total ?? data.results.length} ${noun} found`);
  fill(results, grid(data.results));
  const last = pages === null ? data.results.length < state.limit : state.page >= pages;
  fill(
    pager,
    h("button", { type: "button", disabled: state.page <= 1, onclick: () => go({ page: state.page - 1 }) }, "Previous page"),
    h("span", { "aria-current": "page" }, pages === null ? `Page ${state.page}` : `Page ${state.page} of ${pages}`),
    h("button", { type: "button", disabled: last, onclick: () => go({ page: state.page + 1 }) }, "Next page"),
  );
}
