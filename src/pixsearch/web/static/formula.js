// Writing formulas (docs/query-language.md): a filter for a facet value or an image, and
// adding or removing one filter at the top level of a formula.

const ACRONYM = {
  keywords: "k",
  categories: "c",
  collections: "col",
  orientation: "o",
  ai_generated: "ai",
  model_release: "mr",
  property_release: "pr",
};

/** A value as the formula language reads it: bare when plain, else quoted. */
export function quote(value) {
  const text = String(value);
  if (/^[\p{L}\p{N}_.'@:-]+( [\p{L}\p{N}_.'@:-]+)*$/u.test(text)) return text;
  return `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** The filter that keeps the images whose facet `field` has `value`. */
export function facetFilter(field, value) {
  const name = ACRONYM[field] ?? field;
  return `${name}=${typeof value === "boolean" ? value : quote(value)}`;
}

/** Split `formula` at `&&` outside quotes and parentheses; each part trimmed. */
export function topLevelParts(formula, separator = "&&") {
  const parts = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < formula.length; i++) {
    const char = formula[i];
    if (quoted) {
      if (char === "\\") i++;
      else if (char === '"') quoted = false;
    } else if (char === '"') quoted = true;
    else if (char === "(") depth++;
    else if (char === ")") depth--;
    else if (depth === 0 && formula.startsWith(separator, i)) {
      parts.push(formula.slice(start, i).trim());
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(formula.slice(start).trim());
  return parts.filter((part) => part !== "");
}

/** Whether `filter` is one of the top-level `&&` parts of `formula`. */
export function hasFilter(formula, filter) {
  return topLevelParts(formula).includes(filter);
}

/** `formula` with `filter` added at the top level, or removed if it is there. */
export function toggleFilter(formula, filter) {
  const parts = topLevelParts(formula);
  if (parts.includes(filter)) return parts.filter((part) => part !== filter).join(" && ");
  // `a || b && f` would mean `a || (b && f)`: the filter must apply to the whole formula.
  const whole = parts.map((part) => (topLevelParts(part, "||").length > 1 ? `(${part})` : part));
  return [...whole, filter].join(" && ");
}

export const EXAMPLES = [
  ["Text in meaning and in the fields", "t~a red dress"],
  ["Keyword and orientation", "k=shirt && o=portrait"],
  ["Any of several keywords", "k∩dress,skirt"],
  ["Dates", "d>=2023-1-1 && d<2024-1-1"],
  ["Large images", "w>=1920 && h>=1080"],
  ["Not AI-generated, no nudity", "ai=false && nsfw=false"],
  ["Either, or", "(k=hat || k=shoes) && !o=square"],
];

export const ACRONYMS = [
  ["Text", "t, txt, text", "~ ~~ ~~~", "free text"],
  ["Image", "i, img, image", "~ ~~ ~~~ similar; = == === same picture", "an image id"],
  ["Person", "p, person", "~ ~~ ~~~", "<image id>_<face number>"],
  ["Date", "d, date", "= < > <= >=", "YYYY-M-D"],
  ["Id", "id, image_id", "= < > <= >= ∩", "image ids"],
  ["Aspect ratio", "r, ratio, aspect_ratio", "= < > <= >= ∩", "number or 16/9"],
  ["Number of people", "n, n_people, n_faces", "= < > <= >= ∩", "whole number"],
  ["Width, height", "w, width; h, height", "= < > <= >= ∩", "pixels"],
  ["Booleans", "ai, nsfw, mr, pr", "=", "true, false, 1, 0"],
  ["Lists", "k, c, col (keywords, categories, collections)", "= all, ∩ any, ~ prefix", "a,b,c"],
  ["Other text fields", "title, city, author, status, ...", "= == === ~ < > <= >=", "string"],
  ["Orientation", "o, orientation", "=", "landscape, portrait, square"],
];
