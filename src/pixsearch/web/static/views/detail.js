// One image: the large picture, every field, the searches built on it, edit and delete.

import { ApiError, call, getHealth } from "../api.js";
import { announce, fill, h } from "../dom.js";
import { quote } from "../formula.js";
import { go } from "../state.js";
import { picture } from "./grid.js";

const TEXT_FIELDS = [
  "title", "headline", "caption", "alt_text", "status", "date", "location", "city",
  "country", "event", "author", "provider", "shot", "scene", "technique", "medium",
  "src", "url_img_thumbnail", "url_img_watermark",
];
const LIST_FIELDS = ["keywords", "categories", "collections"];
const BOOL_FIELDS = ["ai_generated", "model_release", "property_release", "nsfw"];
const COMPUTED = new Set(["width", "height", "aspect_ratio", "orientation", "n_faces", "faces", "tags", "ocr_text", "colors"]);

const dialog = h("dialog", { class: "detail", "aria-labelledby": "detail-title" });
let current = null; // the image id shown
let onChange = () => {};

/** Close the detail view by moving to the state without an image (back goes to it again). */
dialog.addEventListener("cancel", (event) => {
  event.preventDefault();
  go({ image: "" });
});

export function mountDetail(parent, changed) {
  parent.append(dialog);
  onChange = changed;
}

/** Show image `id` (or close when empty). */
export async function showDetail(id, message = "") {
  if (!id) {
    current = null;
    if (dialog.open) dialog.close();
    return;
  }
  if (id === current && dialog.open) return;
  current = id;
  fill(dialog, h("p", {}, "Loading…"));
  if (!dialog.open) dialog.showModal();
  try {
    const [{ data }, health] = await Promise.all([call("GET", `/imgs/${encodeURIComponent(id)}`), getHealth()]);
    if (current === id) render(data, health, message);
  } catch (err) {
    if (current === id) fill(dialog, closeButton(), h("p", { role: "alert" }, err.message));
  }
}

function closeButton() {
  return h("button", { type: "button", class: "close", onclick: () => go({ image: "" }) }, "Close");
}

const MAX_FACE_SEARCHES = 6; // a crowd gets buttons for its largest faces only

/** "Same person" searches: one per detected face (largest first, as `faces` is ordered),
 * or one disabled button saying why there is none. */
function personSearches(image, identities) {
  if (!identities.on) return [["Same person", null, `Needs face identities: ${identities.reason}`]];
  const faces = Array.isArray(image.faces) ? image.faces.slice(0, MAX_FACE_SEARCHES) : [];
  if (!faces.length) return [["Same person", null, "No face was found in this picture"]];
  return faces.map((face) => [
    faces.length > 1 ? `Same person (face ${face.n})` : "Same person",
    `p~${quote(`${image.image_id}_${face.n}`)}`, // the id and number are one value
    null,
  ]);
}

/** The searches built on this image, each disabled with the reason when it cannot run. */
function searches(image, health) {
  const reps = health.representations || {};
  const id = quote(image.image_id);
  const unknown = { on: false, reason: "unknown" };
  const visual = reps.image_embedding || unknown; // CLIP, else the classifier's embedding
  const actions = [
    ["Similar images", `i~${id}`, visual.on ? null : `Needs an image model: ${visual.reason}`],
    ["Near duplicates", `i=${id}`, null],
    ...personSearches(image, reps.face_identities || unknown),
  ];
  return h(
    "div",
    { class: "actions", role: "group", "aria-label": "Searches from this image" },
    actions.map(([label, formula, reason], n) => {
      const note = reason ? h("span", { id: `reason-${n}`, class: "reason" }, reason) : null;
      return h(
        "div",
        { class: "action" },
        h(
          "button",
          {
            type: "button",
            disabled: reason !== null,
            "aria-describedby": reason ? `reason-${n}` : null,
            onclick: () => go({ image: "", q: formula, page: 1, sort_by: "", sort_order: "" }),
          },
          label,
        ),
        note,
      );
    }),
  );
}

function shownValue(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.length ? value.map((v) => (typeof v === "object" ? JSON.stringify(v) : v)).join(", ") : "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function fieldList(image, computed) {
  const names = Object.keys(image).filter((name) => COMPUTED.has(name) === computed);
  return h("dl", { class: "fields" }, names.map((name) => [h("dt", {}, name), h("dd", {}, shownValue(image[name]))]));
}

function render(image, health, message) {
  const title = image.title || image.image_id;
  fill(
    dialog,
    h("div", { class: "detail-head" }, h("h2", { id: "detail-title" }, title), closeButton()),
    h("div", { class: "detail-body" },
      h("div", { class: "detail-picture" }, picture(image.src, image.alt_text || title, { decoding: "async" })),
      h("div", { class: "detail-info" },
        searches(image, health),
        h("h3", {}, "Computed from the pixels"),
        fieldList(image, true),
        h("h3", {}, "Stored fields"),
        fieldList(image, false),
        editor(image, message),
      ),
    ),
  );
}

function input(name, value) {
  const id = `edit-${name}`;
  let control;
  if (BOOL_FIELDS.includes(name)) {
    const options = [["", "not set"], ["true", "yes"], ["false", "no"]];
    control = h("select", { id, name }, options.map(([v, label]) => h("option", { value: v, selected: String(value ?? "") === v }, label)));
  } else {
    const text = LIST_FIELDS.includes(name) ? (value || []).join(", ") : (value ?? "");
    control = h("input", { id, name, type: "text", value: text });
  }
  return h("div", { class: "edit-field" }, h("label", { for: id }, name.replaceAll("_", " ")), control);
}

function readForm(form, image) {
  const changes = {};
  for (const name of [...TEXT_FIELDS, ...LIST_FIELDS, ...BOOL_FIELDS]) {
    const raw = form.elements[name].value.trim();
    let value;
    if (LIST_FIELDS.includes(name)) value = raw ? raw.split(",").map((v) => v.trim()).filter(Boolean) : null;
    else if (BOOL_FIELDS.includes(name)) value = raw === "" ? null : raw === "true";
    else value = raw === "" ? null : raw;
    if (JSON.stringify(value) !== JSON.stringify(image[name] ?? null)) changes[name] = value;
  }
  return changes;
}

function editor(image, message) {
  const result = h("p", { class: "result", role: "status" }, message);
  const form = h(
    "form",
    {
      class: "editor",
      "aria-label": "Edit this image",
      onsubmit: async (event) => {
        event.preventDefault();
        const changes = readForm(form, image);
        if (Object.keys(changes).length === 0) return (result.textContent = "Nothing changed.");
        result.textContent = "Saving…";
        if (await write("PATCH", image.image_id, changes, result, "Saved.")) reloadDetail("Saved.");
      },
    },
    h("h3", {}, "Edit"),
    [...TEXT_FIELDS, ...LIST_FIELDS, ...BOOL_FIELDS].map((name) => input(name, image[name])),
    h("div", { class: "edit-buttons" },
      h("button", { type: "submit" }, "Save changes"),
      h("button", { type: "button", class: "danger", onclick: () => remove(image.image_id, result) }, "Delete image"),
    ),
    result,
  );
  return form;
}

async function write(method, id, body, result, done) {
  try {
    const { status, data } = await call(method, `/imgs/${encodeURIComponent(id)}`, { params: { wait: true }, body });
    if (status === 202) {
      result.textContent = `Accepted as operation ${data.operation_id}; it is still running.`;
    } else if (data.all_good) {
      result.textContent = done;
    } else {
      result.textContent = `Failed: ${(data.errors || []).map((e) => e.msg).join("; ")}`;
      return false;
    }
    announce(result.textContent);
    onChange();
    return true;
  } catch (err) {
    result.textContent = err instanceof ApiError ? err.message : String(err);
    return false;
  }
}

async function remove(id, result) {
  if (!window.confirm(`Delete image “${id}”? This cannot be undone.`)) return;
  result.textContent = "Deleting…";
  if (await write("DELETE", id, undefined, result, `Image ${id} deleted.`)) {
    current = null;
    go({ image: "" });
  }
}

/** Read the image again after a change, with `message` under the editor. */
export function reloadDetail(message = "") {
  const id = current;
  current = null;
  if (id) showDetail(id, message);
}
