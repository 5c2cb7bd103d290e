// The app: sign in, then the views, chosen by the URL.

import { apiKey, whenUnauthorized } from "./api.js";
import { fill, h } from "./dom.js";
import { followLink, linkTo, onStateChange, readState } from "./state.js";
import * as add from "./views/add.js";
import { mountDetail, showDetail } from "./views/detail.js";
import * as ops from "./views/ops.js";
import * as search from "./views/search.js";
import * as signin from "./views/signin.js";
import * as status from "./views/status.js";

const VIEWS = { search: search.view, add: add.view, ops: ops.view, status: status.view };
const TITLES = { search: "Search", add: "Add images", ops: "Operations", status: "Status" };
const main = document.getElementById("main");
const nav = document.getElementById("nav");

function navigation(current) {
  return [
    Object.entries(TITLES).map(([view, title]) =>
      h(
        "a",
        {
          href: linkTo({ view, image: "" }),
          "aria-current": view === current ? "page" : null,
          onclick: (event) => followLink(event, { view, image: "" }),
        },
        title,
      ),
    ),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
  ];
}

function signOut(text = "") {
  apiKey.clear();
  search.reset();
  render(readState(), typeof text === "string" ? text : "");
}

function render(state, why = "") {
  if (!apiKey.get()) {
    nav.hidden = true;
    showDetail("");
    ops.showOps(null);
    fill(main, signin.view);
    signin.showSignin(() => render(readState()), why);
    return;
  }
  const name = VIEWS[state.view] ? state.view : "search";
  nav.hidden = false;
  fill(nav, navigation(name));
  if (main.firstChild !== VIEWS[name]) fill(main, VIEWS[name]);
  document.title = `${TITLES[name]} · pixsearch`;
  ops.showOps(name === "ops" ? state : null);
  if (name === "search") search.show(state);
  if (name === "status") status.showStatus();
  showDetail(state.image);
}

function changed() {
  search.refresh();
}

whenUnauthorized(() => signOut("The key is no longer accepted: sign in again."));
mountDetail(document.body, changed);
add.mountAdd(changed);
onStateChange((state) => render(state));
render(readState());
