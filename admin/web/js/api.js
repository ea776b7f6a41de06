// The admin API from the browser: the bearer token lives in this tab's sessionStorage (gone when
// the tab closes) and goes on every request; an answer that is not 2xx throws an ApiError that
// carries the API's own {error, detail}.

const TOKEN_KEY = "bastion.token";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) {
    sessionStorage.setItem(TOKEN_KEY, value);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

export function authHeaders(value = token()) {
  return value ? { Authorization: `Bearer ${value}` } : {};
}

async function request(method, path, { body, tokenValue } = {}) {
  const headers = authHeaders(tokenValue);
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  const text = await res.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (res.status === 401 && tokenValue === undefined) {
    // The stored token stopped working: the console asks for another, and the view that asked
    // waits for good (it is no longer shown).
    document.dispatchEvent(new CustomEvent("bastion:unauthorized", { detail: doc?.detail ?? "" }));
    return new Promise(() => {});
  }
  if (!res.ok) {
    throw new ApiError(res.status, doc?.error ?? "error", doc?.detail ?? text.slice(0, 200));
  }
  return doc;
}

export const api = {
  me: (tokenValue) => request("GET", "/api/v1/me", { tokenValue }),
  sessions: (params) => request("GET", `/api/v1/sessions?${params}`),
  search: (params) => request("GET", `/api/v1/search?${params}`),
  session: (id) => request("GET", `/api/v1/sessions/${encodeURIComponent(id)}`),
  kill: (id, reason) =>
    request("POST", `/api/v1/sessions/${encodeURIComponent(id)}/kill`, {
      body: reason ? { reason } : {},
    }),
  liveTicket: (id) => request("POST", `/api/v1/sessions/${encodeURIComponent(id)}/live-ticket`),
  castUrl: (id) => `/api/v1/sessions/${encodeURIComponent(id)}/asciicast`,
};
