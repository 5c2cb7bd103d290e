// Signing in: the key is checked against the API, then kept for this tab's session.

import { apiKey, ApiError, call } from "../api.js";
import { h } from "../dom.js";

const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
const message = h("p", { class: "result", role: "alert" });
let signedIn = () => {};

export const view = h(
  "section",
  { class: "signin-view", "aria-labelledby": "signin-title" },
  h("h1", { id: "signin-title" }, "Sign in"),
  h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        message.textContent = "Checking…";
        try {
          await call("GET", "/ops", { params: { limit: 1 }, key });
          apiKey.set(key);
          input.value = "";
          message.textContent = "";
          signedIn();
        } catch (err) {
          message.textContent =
            err instanceof ApiError && err.status === 401
              ? "This key is not valid. Check it, or create one with `pixsearch keys create --org NAME`."
              : `The service did not answer: ${err.message}`;
        }
      },
    },
    h("label", { for: "api-key" }, "API key"),
    input,
    h("p", { class: "hint" }, "Kept in this browser tab until you sign out or close it."),
    h("button", { type: "submit" }, "Sign in"),
  ),
  message,
);

/** Show the form with `text` (why the user is asked again), then call `done` once signed in. */
export function showSignin(done, text = "") {
  signedIn = done;
  message.textContent = text;
  input.focus();
}
