// The status panel: the version, the database, and which representations are on and why.

import { getHealth } from "../api.js";
import { fill, h } from "../dom.js";

const NAMES = {
  clip_embedding: "Image embeddings (CLIP): t~ on pixels, i~",
  caption_embedding: "Caption embeddings: t~ on the text fields",
  faces: "Face detection: n, n_faces",
};

const content = h("div");
export const view = h(
  "section",
  { class: "status-view", "aria-labelledby": "status-title" },
  h("h1", { id: "status-title" }, "Status"),
  content,
);

export async function showStatus() {
  try {
    const health = await getHealth(true);
    const reps = Object.entries(health.representations || {});
    fill(
      content,
      h(
        "dl",
        { class: "fields" },
        [["Version", health.version], ["Status", health.status], ["Database", health.database], ["Workers in this process", health.workers ? "yes" : "no"]].map(
          ([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))],
        ),
      ),
      h(
        "table",
        { class: "representations" },
        h("caption", {}, "Representations"),
        h("thead", {}, h("tr", {}, ["Representation", "State", "Model or reason"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          reps.map(([name, rep]) =>
            h("tr", {}, h("th", { scope: "row" }, NAMES[name] ?? name), h("td", { class: rep.on ? "on" : "off" }, rep.on ? "on" : "off"), h("td", {}, String(rep.on ? rep.model : rep.reason))),
          ),
        ),
      ),
      h("p", {}, h("a", { href: "/docs" }, "API reference (Swagger UI)"), " · ", h("a", { href: "/redoc" }, "ReDoc")),
    );
  } catch (err) {
    fill(content, h("p", { role: "alert" }, `The service did not answer: ${err.message}`));
  }
}
