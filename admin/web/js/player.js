// asciinema-player, vendored with the console (window.AsciinemaPlayer). Recordings are fetched
// with the bearer token in a header; live watches connect with a one-time ticket in the URL, as a
// browser cannot put headers on a WebSocket.
import { api, authHeaders } from "./api.js";

function player() {
  if (!window.AsciinemaPlayer) {
    throw new Error("asciinema-player did not load; rebuild the console (cmake --build build --target console)");
  }
  return window.AsciinemaPlayer;
}

// Times stay as recorded (no idle time cut), so that ?t= and seeking land where they should.
export function createReplay(container, id, { speed = 1, startAt = 0 } = {}) {
  return player().create(
    { url: api.castUrl(id), fetchOpts: { headers: authHeaders() } },
    container,
    { speed, startAt, autoPlay: true, preload: true, fit: "width", terminalFontSize: "14px" });
}

// A live watch. The player's own reconnect would reuse a spent ticket, so an unexpected close
// (the watch was dropped for falling behind, or the network failed) calls `onDrop` instead, which
// may start a new watch with a new ticket.
export async function createLive(container, id, onDrop) {
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
          setTimeout(onDrop, 0);
        }
        return 2 ** 31 - 1;  // never: onDrop decides
      },
    },
    container,
    { autoPlay: true, fit: "width", terminalFontSize: "14px" });
  return instance;
}
