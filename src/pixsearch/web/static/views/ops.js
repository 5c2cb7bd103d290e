// The operations: GET /ops newest first, filtered and paged, refreshed while any runs.

import { ApiError, call } from "../api.js";
import { announce, fill, h } from "../dom.js";
import { go } from "../state.js";
import { counts, errorList, stateOf, timings } from "./operation.js";

const LIMIT = 20;
const REFRESH_MS = 1000;

const finished = h(
  "select",
  { id: "ops-finished" },
  [["", "All"], ["false", "Unfinished"], ["true", "Finished"]].map(([v, l]) => h("option", { value: v }, l)),
);
const method = h(
  "select",
  { id: "ops-method" },
  [["", "All"], ["add", "add"], ["upd", "upd"], ["del", "del"]].map(([v, l]) => h("option", { value: v }, l)),
);
const body = h("tbody");
const message = h("p", { class: "result", role: "status" });
const pager = h("nav", { class: "pager", "aria-label": "Operation pages" });
let timer = null;
let active = null; // the state shown, while the view is visible

finished.addEventListener("change", () => go({ ops_finished: finished.value, ops_page: 1 }));
method.addEventListener("change", () => go({ ops_method: method.value, ops_page: 1 }));

export const view = h(
  "section",
  { class: "ops-view", "aria-labelledby": "ops-title" },
  h("h1", { id: "ops-title" }, "Operations"),
  h(
    "div",
    { class: "options" },
    h("label", { for: "ops-finished" }, "Show"),
    finished,
    h("label", { for: "ops-method" }, "Method"),
    method,
    h("button", { type: "button", onclick: () => load() }, "Refresh"),
  ),
  message,
  h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "ops" },
      h("caption", {}, "Newest first"),
      h(
        "thead",
        {},
        h("tr", {}, ["Operation", "Method", "State", "Items", "Time", "Created", "Errors", ""].map((t) => h("th", { scope: "col" }, t))),
      ),
      body,
    ),
  ),
  pager,
);

async function cancel(op) {
  try {
    await call("DELETE", `/ops/${op.op_id}`);
    message.textContent = `Operation ${op.op_id} cancelled.`;
  } catch (err) {
    message.textContent = err instanceof ApiError ? err.message : String(err);
  }
  announce(message.textContent);
  load();
}

function row(op) {
  const state = stateOf(op);
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, String(op.op_id)),
    h("td", {}, op.method),
    h("td", { class: `state-${state}` }, state),
    h("td", {}, counts(op)),
    h("td", {}, timings(op)),
    h("td", {}, h("time", { datetime: op.created_at }, new Date(op.created_at).toLocaleString())),
    h("td", {}, errorList(op)),
    h(
      "td",
      {},
      state === "queued"
        ? h("button", { type: "button", "aria-label": `Cancel operation ${op.op_id}`, onclick: () => cancel(op) }, "Cancel")
        : null,
    ),
  );
}

async function load() {
  clearTimeout(timer);
  const state = active;
  if (!state) return;
  try {
    const { data } = await call("GET", "/ops", {
      params: { page: state.ops_page, limit: LIMIT, is_finished: state.ops_finished, method: state.ops_method },
    });
    if (active !== state) return;
    fill(body, data.length ? data.map(row) : h("tr", {}, h("td", { colspan: 8 }, "No operation.")));
    fill(
      pager,
      h("button", { type: "button", disabled: state.ops_page <= 1, onclick: () => go({ ops_page: state.ops_page - 1 }) }, "Newer"),
      h("span", {}, `Page ${state.ops_page}`),
      h("button", { type: "button", disabled: data.length < LIMIT, onclick: () => go({ ops_page: state.ops_page + 1 }) }, "Older"),
    );
    if (data.some((op) => !op.is_finished)) timer = setTimeout(load, REFRESH_MS);
  } catch (err) {
    message.textContent = err instanceof ApiError ? err.message : String(err);
  }
}

/** Show the operations of `state` (null: the view is hidden, stop refreshing). */
export function showOps(state) {
  active = state;
  if (!state) return clearTimeout(timer);
  finished.value = state.ops_finished;
  method.value = state.ops_method;
  load();
}
