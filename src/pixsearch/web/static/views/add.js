// Adding images: URLs or JSON lines, the write flags, and following the operation.

import { ApiError, call } from "../api.js";
import { announce, fill, h } from "../dom.js";
import { summary } from "./operation.js";

const FOLLOW_MS = 500;
const FLAGS = [
  ["wait", "Wait", "answer only when the operation has finished"],
  ["urgent", "Urgent", "run before every queued non-urgent operation"],
  ["strict", "Strict", "fail an image whose id already exists"],
  ["subset", "Subset", "apply the images that succeed even if others fail"],
];

const text = h("textarea", {
  id: "add-lines",
  rows: 8,
  spellcheck: "false",
  "aria-describedby": "add-help",
  placeholder: 'https://example.com/photos/beach.jpg\n{"id": "car1", "src": "https://example.com/car.jpg", "title": "A red car"}',
});
const flags = FLAGS.map(([name]) => h("input", { type: "checkbox", id: `flag-${name}`, name }));
const result = h("div", { class: "result", role: "status", "aria-live": "polite" });
let changed = () => {};

/** An id from a URL: its file name without the extension. */
export function idFromUrl(url) {
  const name = decodeURIComponent(new URL(url).pathname.split("/").filter(Boolean).at(-1) || "");
  return name.replace(/\.[A-Za-z0-9]{1,5}$/, "") || new URL(url).hostname;
}

/** The images of the text: one URL, or one JSON object with `id` and `src`, per line. */
export function parseLines(value) {
  const images = [];
  value.split("\n").forEach((raw, n) => {
    const line = raw.trim();
    if (!line) return;
    if (line.startsWith("{")) {
      let item;
      try {
        item = JSON.parse(line);
      } catch (err) {
        throw new Error(`Line ${n + 1} is not valid JSON: ${err.message}`);
      }
      images.push(item);
    } else {
      try {
        images.push({ id: idFromUrl(line), src: line });
      } catch {
        throw new Error(`Line ${n + 1} is neither a URL nor a JSON object.`);
      }
    }
  });
  return images;
}

async function follow(opId) {
  for (;;) {
    const { data } = await call("GET", `/ops/${opId}`);
    fill(result, summary(data));
    if (data.is_finished) return data;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
  }
}

async function submit(event) {
  event.preventDefault();
  let images;
  try {
    images = parseLines(text.value);
  } catch (err) {
    return fill(result, h("p", { role: "alert" }, err.message));
  }
  if (images.length === 0) return fill(result, h("p", { role: "alert" }, "Paste at least one URL."));
  const params = Object.fromEntries(flags.map((box) => [box.name, box.checked]));
  fill(result, h("p", {}, `Sending ${images.length} image(s)…`));
  try {
    const { status, data } = await call("POST", "/imgs", { params, body: images });
    const op = status === 202 ? await follow(data.operation_id) : data;
    fill(result, summary(op));
    announce(`Operation ${op.op_id} finished: ${op.num_good} of ${op.num_total} good`);
    changed();
  } catch (err) {
    fill(result, h("p", { role: "alert" }, err instanceof ApiError ? err.message : String(err)));
  }
}

export const view = h(
  "section",
  { class: "add-view", "aria-labelledby": "add-title" },
  h("h1", { id: "add-title" }, "Add images"),
  h(
    "form",
    { onsubmit: submit },
    h("label", { for: "add-lines" }, "Image URLs or JSON lines"),
    text,
    h(
      "p",
      { id: "add-help", class: "hint" },
      "One per line: a URL (its file name becomes the id), or a JSON object with id, src and " +
        "any metadata. The service downloads each URL once; it must be allowed to reach it.",
    ),
    h(
      "fieldset",
      { class: "flags" },
      h("legend", {}, "Options"),
      FLAGS.map(([name, label, help], n) =>
        h("div", {}, flags[n], " ", h("label", { for: `flag-${name}` }, label), " ", h("span", { class: "hint" }, help)),
      ),
    ),
    h("button", { type: "submit" }, "Add images"),
  ),
  result,
);

export function mountAdd(onChanged) {
  changed = onChanged;
}
