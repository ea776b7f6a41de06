// Watching a live session as it happens, with a button to end it. The page follows the
// session's state (every 2 s) so that an end from anywhere (the user, a kill, another admin)
// shows here.
import { api } from "./api.js";
import { el, errorBox, show } from "./dom.js";
import { killButton } from "./kill.js";
import { createLive } from "./player.js";

const MAX_REJOINS = 5;

export async function liveView(id) {
  let s;
  try {
    s = await api.session(id);
  } catch (err) {
    show(el("h1", {}, "Live session"), errorBox(err));
    return undefined;
  }
  const status = el("p", { class: "status", id: "status", role: "status" });
  const box = el("div", { class: "player", id: "player" });
  const heading = el("h1", {}, `${s.user} → ${s.login}@${s.target} `,
    el("span", { class: "badge live", id: "live-badge" }, "live"));
  show(heading, el("p", { class: "actions" },
    el("a", { href: `#/session/${id}`, class: "button" }, "Replay from the start"), " ",
    killButton(s, status)), status, box);
  if (s.ended_at) {
    status.textContent = `This session has ended (${s.ended_reason}); replay it instead.`;
    return undefined;
  }

  let player = null;
  let rejoins = 0;
  let stopped = false;
  const join = async () => {
    player?.dispose();
    player = null;
    try {
      player = await createLive(box, id, () => {
        if (!stopped && rejoins++ < MAX_REJOINS) {
          status.textContent = "The watch was dropped; joining again.";
          setTimeout(join, 1000 * rejoins);
        }
      });
      status.textContent = "Watching.";
    } catch (err) {
      status.textContent = err.message;
    }
  };
  await join();

  const poll = setInterval(async () => {
    try {
      const now = await api.session(id);
      if (now.ended_at) {
        clearInterval(poll);
        stopped = true;
        document.getElementById("live-badge").textContent = now.ended_reason || "ended";
        document.getElementById("live-badge").className = "badge ended";
        status.textContent = `The session has ended (${now.ended_reason}).`;
      }
    } catch {
      // the next poll tries again
    }
  }, 2000);
  return () => {
    stopped = true;
    clearInterval(poll);
    player?.dispose();
  };
}
