// The page's state lives in the URL, so that a search can be bookmarked, shared and
// walked with back and forward. The key never goes there.

const DEFAULTS = {
  view: "search",
  q: "",
  page: 1,
  limit: 24,
  sort_by: "",
  sort_order: "",
  image: "",
  ops_page: 1,
  ops_finished: "",
  ops_method: "",
};

export const PAGE_SIZES = [24, 48, 96];

/** The state that the current URL describes. */
export function readState() {
  const params = new URLSearchParams(location.search);
  const state = { ...DEFAULTS };
  for (const [name, fallback] of Object.entries(DEFAULTS)) {
    if (!params.has(name)) continue;
    const raw = params.get(name);
    state[name] = typeof fallback === "number" ? Math.max(1, parseInt(raw, 10) || fallback) : raw;
  }
  return state;
}

/** The URL of `state`: only what differs from the defaults. */
export function urlOf(state) {
  const params = new URLSearchParams();
  for (const [name, fallback] of Object.entries(DEFAULTS)) {
    if (state[name] !== fallback && state[name] !== "") params.set(name, state[name]);
  }
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

let listener = () => {};

/** Call `callback(state)` whenever the state changes (by `go`, back or forward). */
export function onStateChange(callback) {
  listener = callback;
  window.addEventListener("popstate", () => listener(readState()));
}

/** Move to the state with `changes`; `replace` keeps it out of the history (typing). */
export function go(changes, { replace = false } = {}) {
  const url = urlOf({ ...readState(), ...changes });
  if (url !== location.pathname + location.search) {
    history[replace ? "replaceState" : "pushState"](null, "", url);
  }
  listener(readState());
}

/** A link to the state with `changes` that opens in place (and in a new tab if asked). */
export function linkTo(changes) {
  return urlOf({ ...readState(), ...changes });
}

/** Follow a same-page link without reloading, unless a modifier asks for a new tab. */
export function followLink(event, changes) {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  go(changes);
}
