// Search: the sessions where a text was run as a command, typed at a prompt or printed, each hit
// linking to the replay at its moment.
import { api } from "./api.js";
import { el, errorBox, formatTime, show } from "./dom.js";

function offsetText(seconds) {
  const s = Math.floor(seconds);
  const m = Math.floor(s / 60);
  return `${m}:${String(s - m * 60).padStart(2, "0")}`;
}

function hitRow(hit) {
  const s = hit.session;
  return el("tr", { "data-session": s.id, "data-kind": hit.kind },
    el("td", {}, formatTime(s.started_at)),
    el("td", {}, s.user),
    el("td", {}, `${s.login}@${s.target}`),
    el("td", {}, el("a", { href: `#/session/${s.id}?t=${hit.offset}`, class: "hit" },
      offsetText(hit.offset))),
    el("td", {}, hit.kind === "input" ? "typed or run" : "printed"),
    el("td", { class: "detail" }, hit.line));
}

export async function searchView(params, isCurrent) {
  const text = params.get("q") ?? "";
  const heading = el("h1", {}, text ? `Search: ${text}` : "Search");
  if (!text) {
    show(heading, el("p", { class: "muted" },
      "Search what sessions ran, typed (as edited) or printed: at least 3 characters."));
    return;
  }
  show(heading, el("p", { class: "muted" }, "Searching…"));
  let found;
  try {
    found = await api.search(new URLSearchParams({ q: text, limit: "100" }));
  } catch (err) {
    if (isCurrent()) {
      show(heading, errorBox(err));
    }
    return;
  }
  if (!isCurrent()) {
    return;
  }
  if (found.hits.length === 0) {
    show(heading, el("p", { class: "muted", id: "no-hits" }, "No session matches."));
    return;
  }
  show(heading, el("table", { class: "sessions", id: "hits" },
    el("thead", {}, el("tr", {},
      ["Started", "User", "Login@target", "At", "What", "Line"].map((h) => el("th", {}, h)))),
    el("tbody", {}, found.hits.map(hitRow))));
}
