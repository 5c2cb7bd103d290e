// The facets panel: counts of the hits' values; a click adds or removes that filter.

import { h } from "../dom.js";
import { facetFilter, hasFilter, toggleFilter } from "../formula.js";
import { readState } from "../state.js";

export const FACETS = [
  "keywords",
  "categories",
  "collections",
  "orientation",
  "country",
  "city",
  "author",
  "status",
  "ai_generated",
  "nsfw",
];
const TITLES = { ai_generated: "AI-generated", nsfw: "NSFW" };

/** The panel for `facets` (the search answer's) under `formula`; `choose(q)` searches. */
export function facetsPanel(facets, formula, choose) {
  const sections = [];
  for (const name of FACETS) {
    const values = facets[name] || [];
    if (values.length === 0) continue;
    const title = TITLES[name] ?? name.replace("_", " ");
    const items = values.map(({ value, count }) => {
      const filter = facetFilter(name, value);
      const on = hasFilter(formula, filter);
      return h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "facet",
            "aria-pressed": String(on),
            title: on ? `Remove ${filter}` : `Add ${filter}`,
            // The formula of now: these facets may still be those of the previous one.
            onclick: () => choose(toggleFilter(readState().q, filter)),
          },
          h("span", {}, String(value)),
          h("span", { class: "count", "aria-label": `${count} images` }, String(count)),
        ),
      );
    });
    sections.push(
      h("section", { "aria-label": title }, h("h3", {}, title), h("ul", { class: "facet-values" }, items)),
    );
  }
  if (sections.length === 0) return h("p", { class: "hint" }, "No facets for these images.");
  return sections;
}
