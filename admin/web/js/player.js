// asciinema-player, vendored with the console (window.AsciinemaPlayer). Recordings are fetched
// with the bearer token in a header; live watches connect with a one-time ticket in the URL, as a
// browser cannot put headers on a WebSocket.
import { api, authHeaders } from "./api.js";

function player() {
  if (!window.AsciinemaPlayer) {
    throw new Error(
      "asciinema-player did not load; rebuild the console (cmake --build build --target console)");
  }
  return window.AsciinemaPlayer;
}

// Reports what the player could not load (a recording on another node, a broken chain) where the
// admin reads it.
function reportErrors(instance, status) {
  instance.addEventListener("error", (e) => {
    status.textContent = `The player stopped: ${e?.message ?? "the recording could not be loaded"}`;
  });
}

// Times stay as recorded (no idle time cut), so that ?t= and seeking land where they should.
// Opened at a moment (a search hit), it shows the screen at that moment and waits for Play.
// The recording's download stops when the player is disposed of.
export function createReplay(container, id, status, { speed = 1, startAt = 0, autoPlay = true } = {}) {
  const options = { speed, startAt, autoPlay, preload: true, fit: "width", terminalFontSize: "14px" };
  if (!autoPlay && startAt > 0) {
    // The player draws the screen as it was before an event at exactly `startAt`; a millisecond
    // later, what happened then (a search hit's line) is on it.
    options.startAt = startAt + 0.001;
    options.poster = `npt:${options.startAt}`;
  }
  const download = new AbortController();
  const instance = player().create(
    { url: api.castUrl(id), fetchOpts: { headers: authHeaders(), signal: download.signal } },
    container, options);
  reportErrors(instance, status);
  return {
    instance,
    dispose() {
      download.abort();
      instance.dispose();
    },
  };
}

// A live watch. `events.playing` runs once the stream's header arrived (from then on, what the
// session prints shows here); `events.ended` when the session ended. The player's own reconnect
// would reuse a spent ticket, so an unexpected close (the watch was dropped for falling behind,
// or the network failed) calls `events.dropped` instead, which may start a new watch.
export async function createLive(container, id, status, events) {
  const { url } = await api.liveTicket(id);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let dropped = false;
  const instance = player().create(
    {
      driver: "websocket",
      url: `${scheme}//${location.host}${url}`,
      bufferTime: 0,
      reconnectDelay: () => {
        if (!dropped) {
          dropped = true;
          setTimeout(events.dropped, 0);
        }
        return 2 ** 31 - 1;  // never: events.dropped decides
      },
    },
    container,
    { autoPlay: true, fit: "width", terminalFontSize: "14px" });
  instance.addEventListener("playing", events.playing);
  instance.addEventListener("ended", events.ended);
  reportErrors(instance, status);
  return instance;
}
