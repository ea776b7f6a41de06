// The session list: filters (user, target, since, live only) and keyset pages of 50, newest
// first. Each page is its own URL (#/sessions?...&cursor=...), so the browser's Back button
// returns to the page before.
import { api } from "./api.js";
import {
  el, errorBox, formatBytes, formatDuration, formatTime, localInputValue, show,
} from "./dom.js";

const PAGE = 50;

function stateCell(s) {
  if (!s.ended_at) {
    return el("span", { class: "badge live" }, "live");
  }
  // The reason's first words ("killed", "crash", "connection error"); all of it on hover.
  const reason = s.ended_reason || "ended";
  return el("span", { class: `badge ${reason.startsWith("killed") ? "killed" : ""}`, title: reason },
            reason.split(/:| \(/)[0]);
}

function row(s) {
  return el("tr", { "data-session": s.id },
    el("td", {}, el("a", { href: `#/session/${s.id}` }, formatTime(s.started_at))),
    el("td", {}, s.user),
    el("td", {}, `${s.login}@${s.target}`),
    el("td", {}, s.source),
    el("td", {}, s.access_form),
    el("td", {}, formatDuration(s.started_at, s.ended_at)),
    el("td", {}, stateCell(s)),
    el("td", { class: "num" }, formatBytes(s.bytes_raw)));
}

function filterForm(params) {
  const since = params.get("since") || "";
  const form = el("form", { class: "filters", id: "filters" },
    el("label", {}, "User ", el("input", { name: "user", value: params.get("user") || "" })),
    el("label", {}, "Target ", el("input", { name: "target", value: params.get("target") || "" })),
    el("label", {}, "Since ", el("input", {
      name: "since", type: "datetime-local", value: since ? localInputValue(since) : "",
    })),
    el("label", {}, el("input", {
      name: "live", type: "checkbox", checked: params.get("live") === "true",
    }), " live only"),
    el("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const key of ["user", "target"]) {
      const value = String(data.get(key) || "").trim();
      if (value) {
        next.set(key, value);
      }
    }
    const when = String(data.get("since") || "");
    if (when) {
      next.set("since", new Date(when).toISOString());
    }
    if (data.get("live")) {
      next.set("live", "true");
    }
    location.hash = `#/sessions?${next}`;
  });
  return form;
}

export async function sessionsView(params, isCurrent) {
  const query = new URLSearchParams();
  for (const key of ["user", "target", "since", "live", "cursor"]) {
    if (params.get(key)) {
      query.set(key, params.get(key));
    }
  }
  query.set("limit", String(PAGE));
  const heading = el("h1", {}, params.get("live") === "true" ? "Live sessions" : "Sessions");
  show(heading, filterForm(params), el("p", { class: "muted" }, "Loading…"));
  let page;
  try {
    page = await api.sessions(query);
  } catch (err) {
    if (isCurrent()) {
      show(heading, filterForm(params), errorBox(err));
    }
    return;
  }
  if (!isCurrent()) {
    return;
  }
  const table = el("table", { class: "sessions", id: "sessions" },
    el("thead", {}, el("tr", {},
      ["Started", "User", "Login@target", "From", "Form", "Duration", "State", "Recorded"]
        .map((h) => el("th", {}, h)))),
    el("tbody", {}, page.sessions.map(row)));
  const pager = el("nav", { class: "pager" });
  if (params.get("cursor")) {
    const first = new URLSearchParams(query);
    first.delete("cursor");
    first.delete("limit");
    pager.append(el("a", { href: `#/sessions?${first}` }, "« Newest"));
  }
  if (page.next_cursor) {
    const older = new URLSearchParams(query);
    older.set("cursor", page.next_cursor);
    older.delete("limit");
    pager.append(el("a", { href: `#/sessions?${older}`, id: "older" }, "Older »"));
  }
  const empty = page.sessions.length === 0
    ? el("p", { class: "muted" }, "No sessions match these filters.") : null;
  show(heading, filterForm(params), empty ?? table, pager);
}
