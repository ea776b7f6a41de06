// Building the page: every value from the API goes in as text (textContent, attributes), never
// as markup, so nothing a user typed or a target printed can run here.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key === "class") {
      node.className = value;
    } else if (key.startsWith("on")) {
      node.addEventListener(key.slice(2), value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) {
      continue;
    }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function show(...nodes) {
  document.getElementById("view").replaceChildren(...nodes);
}

// Views load asynchronously: each gets a check that says whether it is still the page shown, so
// that one the admin has left neither draws over the next nor leaves a player or a watch running.
let shownView = 0;
export function beginView() {
  shownView += 1;
  const mine = shownView;
  return () => mine === shownView;
}

// What a view loads first: its value, or undefined when loading failed (the error shown under
// `title`, if the view is still the one shown) or the admin has left the view meanwhile.
export async function loadForView(isCurrent, title, load) {
  try {
    const value = await load();
    return isCurrent() ? value : undefined;
  } catch (err) {
    if (isCurrent()) {
      show(el("h1", {}, title), errorBox(err));
    }
    return undefined;
  }
}

// A datetime-local field's value ("2026-12-07T13:05") for an ISO time, in local time.
export function localInputValue(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return "";
  }
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function errorBox(err) {
  return el("p", { class: "error", role: "alert" }, err.message || String(err));
}

export function formatTime(iso) {
  if (!iso) {
    return "";
  }
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function formatDuration(fromIso, toIso) {
  const from = new Date(fromIso).getTime();
  const to = toIso ? new Date(toIso).getTime() : Date.now();
  if (Number.isNaN(from) || Number.isNaN(to)) {
    return "";
  }
  let s = Math.max(0, Math.round((to - from) / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}

export function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n) || 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
