// One operation as people read it: its state, counts, timings and per-item errors.

import { duration, h } from "../dom.js";

/** queued, running, done, failed or cancelled. */
export function stateOf(op) {
  if (!op.is_started && !op.is_finished) return "queued";
  if (!op.is_finished) return "running";
  if ((op.errors || []).some((e) => e.id === null && e.msg === "cancelled")) return "cancelled";
  return op.all_good ? "done" : "failed";
}

export function counts(op) {
  return `${op.num_good} good, ${op.num_bad} failed, of ${op.num_total}`;
}

export function timings(op) {
  return `waited ${duration(op.idle_ms)}, ran ${duration(op.exec_ms)}`;
}

export function errorList(op) {
  const errors = op.errors || [];
  if (errors.length === 0) return null;
  return h(
    "ul",
    { class: "errors" },
    errors.map((e) => h("li", {}, e.id === null ? e.msg : `${e.id}: ${e.msg}`)),
  );
}

/** A paragraph and the errors of `op`, for following one operation. */
export function summary(op) {
  return [
    h("p", {}, `Operation ${op.op_id} (${op.method}): ${stateOf(op)} — ${counts(op)}; ${timings(op)}.`),
    errorList(op),
  ];
}
