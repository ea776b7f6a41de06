// One session: what it was (user, target, times, channels), its replay with speed and seek, and,
// while it is live, a link to watch it and a button to end it. #/session/ID?t=SECONDS opens the
// replay at that moment.
import { api } from "./api.js";
import { el, formatBytes, formatDuration, formatTime, loadForView, show } from "./dom.js";
import { killButton } from "./kill.js";
import { createReplay } from "./player.js";

const SPEEDS = [0.5, 1, 2, 4, 8];

// "90", "1:30" or "0:01:30" as seconds; NaN when it is none of these.
export function parseOffset(text) {
  const parts = String(text).trim().split(":");
  if (parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) {
    return NaN;
  }
  return parts.reduce((acc, p) => acc * 60 + Number(p), 0);
}

function channelDetail(c) {
  const d = c.detail || {};
  const parts = [];
  if (d.pty) {
    parts.push(`pty ${d.pty.term} ${d.pty.cols}×${d.pty.rows}`);
  }
  if (d.shell) {
    parts.push("shell");
  }
  if (d.command !== undefined) {
    parts.push(d.command);
  }
  if (d.subsystem) {
    parts.push(`subsystem ${d.subsystem}`);
  }
  if (d.host) {
    parts.push(`${d.host}:${d.port}`);
  }
  return parts.join(" · ");
}

function channelTable(channels) {
  return el("table", { class: "channels" },
    el("thead", {}, el("tr", {},
      ["#", "Kind", "Detail", "Opened", "Closed", "Exit", "In", "Out"].map((h) => el("th", {}, h)))),
    el("tbody", {}, channels.map((c) => el("tr", {},
      el("td", { class: "num" }, c.channel),
      el("td", {}, c.kind),
      el("td", { class: "detail" }, channelDetail(c)),
      el("td", {}, formatTime(c.opened_at)),
      el("td", {}, formatTime(c.closed_at)),
      el("td", {}, c.exit_status ?? c.exit_signal ?? ""),
      el("td", { class: "num" }, formatBytes(c.bytes_in)),
      el("td", { class: "num" }, formatBytes(c.bytes_out))))));
}

function facts(s) {
  const pairs = [
    ["User", s.user], ["Login", `${s.login}@${s.target}`], ["From", s.source],
    ["Form", s.access_form], ["Node", s.node], ["Started", formatTime(s.started_at)],
    ["Ended", s.ended_at ? `${formatTime(s.ended_at)} (${s.ended_reason})` : "live"],
    ["Duration", formatDuration(s.started_at, s.ended_at)],
    ["Recorded", `${formatBytes(s.bytes_raw)} (${formatBytes(s.bytes_stored)} stored)`],
  ];
  if (s.lost_bytes > 0) {
    pairs.push(["Lost", formatBytes(s.lost_bytes)]);
  }
  return el("dl", { class: "facts" }, pairs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function replayControls(state, restart) {
  const speed = el("select", { id: "speed", "aria-label": "Speed" },
    SPEEDS.map((v) => el("option", { value: v, selected: v === state.speed }, `${v}×`)));
  speed.addEventListener("change", () => {
    state.speed = Number(speed.value);
    restart(state.player?.instance.getCurrentTime() ?? 0);
  });
  const offset = el("input", { id: "seek-to", placeholder: "1:30", size: 8, "aria-label": "Time" });
  const message = el("span", { class: "muted", id: "seek-status" });
  const form = el("form", { class: "seek" }, "Speed ", speed, " Go to ", offset,
    el("button", { type: "submit", id: "seek" }, "Go"), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const t = parseOffset(offset.value);
    if (Number.isNaN(t)) {
      message.textContent = "give seconds (90) or minutes:seconds (1:30)";
      return;
    }
    message.textContent = "";
    await state.player.instance.seek(t);
    message.textContent = `at ${t}s`;
  });
  return form;
}

export async function sessionView(id, params, isCurrent) {
  const s = await loadForView(isCurrent, "Session", () => api.session(id));
  if (!s) {
    return undefined;
  }
  const status = el("p", { class: "status", id: "status", role: "status" });
  const state = { speed: 1, player: null };
  const box = el("div", { class: "player", id: "player" });
  const restart = (startAt, autoPlay = true) => {
    state.player?.dispose();
    state.player = createReplay(box, id, status, { speed: state.speed, startAt, autoPlay });
  };
  const actions = el("p", { class: "actions" });
  if (!s.ended_at) {
    actions.append(el("a", { href: `#/live/${id}`, class: "button", id: "watch" }, "Watch live"),
                   " ", killButton(s, status));
  }
  show(el("h1", {}, `${s.user} → ${s.login}@${s.target}`), facts(s), actions, status,
       replayControls(state, restart), box,
       el("h2", {}, "Channels"), channelTable(s.channels));
  const startAt = parseOffset(params.get("t") ?? "0");
  if (Number.isNaN(startAt) || startAt === 0) {
    restart(0);
  } else {
    restart(startAt, false);
    status.textContent = `Showing the moment ${params.get("t")} s into the session; press Play.`;
  }
  return () => state.player?.dispose();
}
