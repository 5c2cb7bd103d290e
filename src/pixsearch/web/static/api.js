// The page's only way to the service: the public HTTP API, with the API-Key header.

const KEY = "pixsearch-key";

/** The key, kept for this browser tab's session only (never in the URL, never on disk). */
export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

let onUnauthorized = () => {};

/** What to do when the service answers 401 (the key was revoked, or is wrong). */
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(status, detail));
    this.status = status;
    this.detail = detail;
  }

  /** The message of the 422 entry whose `loc` ends with `name`, if any. */
  fieldMessage(name) {
    if (this.status !== 422 || !Array.isArray(this.detail)) return null;
    const entry = this.detail.find((d) => Array.isArray(d.loc) && d.loc.at(-1) === name);
    return entry ? entry.msg : null;
  }
}

function describe(status, detail) {
  if (typeof detail === "string") return `${status}: ${detail}`;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("\n");
  }
  return `The service answered ${status}.`;
}

/** Call `method path` with query `params` (arrays repeat) and a JSON `body`. */
export async function call(method, path, { params = {}, body, signal, key } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    for (const each of Array.isArray(value) ? value : [value]) {
      if (each !== undefined && each !== null && each !== "") {
        url.searchParams.append(name, String(each));
      }
    }
  }
  const headers = { "API-Key": key ?? apiKey.get() ?? "" };
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const data = await response.json().catch(() => null);
  if (response.status === 401 && key === undefined) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data && data.detail);
  return { status: response.status, data };
}

let health = null;

/** GET /health (no key needed), remembered; `fresh` asks again. */
export async function getHealth(fresh = false) {
  if (health === null || fresh) {
    const response = await fetch("/health", { cache: "no-store" });
    health = await response.json();
  }
  return health;
}
