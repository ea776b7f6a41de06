// Watching a live session as it happens, with a button to end it. The watch says when it is
// watching (once the stream's header came: from then on, what the session prints shows here),
// joins again with a new ticket if it is dropped, and shows the session's end with its reason.
import { api } from "./api.js";
import { el, loadForView, show } from "./dom.js";
import { killButton } from "./kill.js";
import { createLive } from "./player.js";

const MAX_REJOINS = 5;  // in a row, without a watch that got its stream

function header(s) {
  return el("h1", {}, `${s.user} → ${s.login}@${s.target} `,
    el("span", { class: "badge live", id: "live-badge" }, "live"));
}

export async function liveView(id, isCurrent) {
  const s = await loadForView(isCurrent, "Live session", () => api.session(id));
  if (!s) {
    return undefined;
  }
  const status = el("p", { class: "status", id: "status", role: "status" });
  const box = el("div", { class: "player", id: "player" });
  const actions = el("p", { class: "actions" },
    el("a", { href: `#/session/${id}`, class: "button" }, "Replay from the start"));
  show(header(s), actions, status, box);
  if (s.ended_at) {
    status.textContent = `This session has ended (${s.ended_reason}); replay it instead.`;
    return undefined;
  }
  actions.append(" ", killButton(s, status));

  let player = null;
  let rejoins = 0;
  let stopped = false;
  const stop = () => {
    stopped = true;
    player?.dispose();
    player = null;
  };
  // The stream ends when the session does; its row says why once the node has written it, a
  // moment later (after the recording's last chunk is durable).
  const showEnd = async () => {
    status.textContent = "The session is ending…";
    for (let tries = 0; tries < 30 && !stopped && isCurrent(); tries += 1) {
      const now = await api.session(id).catch(() => null);
      if (stopped || !isCurrent()) {
        return;
      }
      if (now?.ended_at) {
        const badge = document.getElementById("live-badge");
        badge.textContent = now.ended_reason.split(/:| \(/)[0];
        badge.className = "badge ended";
        status.textContent = `The session has ended (${now.ended_reason}).`;
        document.getElementById("kill")?.setAttribute("disabled", "");
        return;
      }
      await new Promise((resolve) => { setTimeout(resolve, 1000); });
    }
    if (!stopped && isCurrent()) {
      status.textContent = "The watch ended.";
    }
  };
  const join = async () => {
    if (stopped || !isCurrent()) {
      return;
    }
    player?.dispose();
    status.textContent = "Joining…";
    try {
      const joined = await createLive(box, id, status, {
        playing: () => {
          rejoins = 0;
          status.textContent = "Watching.";
        },
        ended: showEnd,
        dropped: () => {
          if (stopped || rejoins >= MAX_REJOINS) {
            status.textContent = "The watch was dropped; reload the page to join again.";
            return;
          }
          rejoins += 1;
          status.textContent = "The watch was dropped (this browser fell behind); joining again.";
          setTimeout(join, 1000 * rejoins);
        },
      });
      if (stopped || !isCurrent()) {
        joined.dispose();
        return;
      }
      player = joined;
    } catch (err) {
      if (!stopped) {
        status.textContent = err.message;
      }
    }
  };
  await join();
  return stop;
}
