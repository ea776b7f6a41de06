// The console's entry point: log in with a token, then route by the URL's hash:
//   #/sessions?filters   the session list      #/session/ID?t=S   one session and its replay
//   #/live/ID            a live watch          #/search?q=TEXT    search results
//   #/login              the token form
import { api, setToken, token } from "./api.js";
import { beginView, el, errorBox, show } from "./dom.js";
import { liveView } from "./live.js";
import { sessionView } from "./session.js";
import { searchView } from "./search.js";
import { sessionsView } from "./sessions.js";

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let leave = null;  // what the current view must stop (a player, a poll) when another opens

function setWho(user) {
  document.getElementById("who").textContent = user ? `signed in as ${user}` : "";
  document.getElementById("logout").hidden = !user;
}

function loginView(message) {
  const input = el("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    placeholder: "bst_…", size: 50,
  });
  const problem = el("p", { class: "error", id: "login-error", role: "alert" }, message ?? "");
  const form = el("form", { class: "login", id: "login" },
    el("h1", {}, "Sign in"),
    el("p", {}, "Paste an admin token. Create one with ",
      el("code", {}, "bastionctl token create USER"), "."),
    el("label", {}, "Token ", input),
    el("button", { type: "submit" }, "Sign in"),
    problem);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    try {
      const me = await api.me(value);
      setToken(value);
      setWho(me.user);
      if (!location.hash || location.hash.startsWith("#/login")) {
        location.hash = "#/sessions";
      } else {
        route();
      }
    } catch (err) {
      problem.textContent = err.message;
    }
  });
  show(form);
  input.focus();
}

function closeDialogs() {
  const dialog = document.getElementById("kill-dialog");
  if (dialog.open) {
    dialog.close("cancel");
  }
}

async function route() {
  leave?.();
  leave = null;
  closeDialogs();
  const isCurrent = beginView();
  if (!token()) {
    setWho(null);
    loginView();
    return;
  }
  const hash = location.hash.slice(1) || "/sessions";
  const [path, query = ""] = hash.split("?", 2);
  const params = new URLSearchParams(query);
  const [, page, id] = path.split("/");
  if (page === "sessions") {
    await sessionsView(params, isCurrent);
  } else if (page === "search") {
    await searchView(params, isCurrent);
  } else if ((page === "session" || page === "live") && SESSION_ID.test(id ?? "")) {
    const view = page === "session" ? sessionView(id, params, isCurrent) : liveView(id, isCurrent);
    const stop = await view;
    if (isCurrent()) {
      leave = stop ?? null;
    } else {
      stop?.();
    }
  } else if (page === "login") {
    loginView();
  } else {
    show(errorBox(new Error("No such page.")), el("a", { href: "#/sessions" }, "Sessions"));
  }
}

// A token that stops working (revoked, expired, its user no longer an admin) sends the admin
// back to the sign-in form with the API's reason.
document.addEventListener("bastion:unauthorized", (event) => {
  setToken(null);
  setWho(null);
  leave?.();
  leave = null;
  closeDialogs();
  beginView();
  loginView(event.detail);
});

document.getElementById("logout").addEventListener("click", () => {
  setToken(null);
  location.hash = "#/login";
  route();
});
document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = document.getElementById("search").value.trim();
  location.hash = `#/search?${new URLSearchParams({ q: text })}`;
});
window.addEventListener("hashchange", route);

if (token()) {
  api.me().then((me) => setWho(me.user), () => {});
}
route();
