// The results: a grid of thumbnails, each a link that opens the image.

import { h } from "../dom.js";
import { followLink, linkTo } from "../state.js";

export const GRID_FIELDS = ["image_id", "title", "alt_text", "src", "url_img_thumbnail"];

/** A placeholder in place of an image that cannot be shown. */
export function placeholder(label) {
  return h("span", { class: "placeholder", role: "img", "aria-label": label }, "No image");
}

/** An <img> of `url` that turns into a placeholder when it fails to load. */
export function picture(url, alt, attrs = {}) {
  if (!url) return placeholder(`${alt} (no image)`);
  const img = h("img", { src: url, alt, referrerpolicy: "no-referrer", ...attrs });
  img.addEventListener("error", () => img.replaceWith(placeholder(`${alt} (image not available)`)));
  return img;
}

function card(image) {
  const label = image.title || image.image_id;
  const score = typeof image.score === "number" ? image.score : null;
  return h(
    "li",
    {},
    h(
      "a",
      {
        class: "card",
        href: linkTo({ image: image.image_id }),
        onclick: (event) => followLink(event, { image: image.image_id }),
      },
      picture(image.url_img_thumbnail || image.src, image.alt_text || label, {
        loading: "lazy",
        decoding: "async",
      }),
      h("span", { class: "card-title" }, label),
      score === null ? null : h("span", { class: "score" }, `score ${score.toFixed(3)}`),
    ),
  );
}

/** The list of result cards. */
export function grid(results) {
  if (results.length === 0) return h("p", { class: "empty" }, "No image matches.");
  return h("ul", { class: "grid", "aria-label": "Results" }, results.map(card));
}
