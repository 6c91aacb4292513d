// The UI's only way to the server: the JSON of /api/v1 (the same API any client uses).

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error + (body.fix ? ` (${body.fix})` : "") : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)conveyor_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "ui";
}

async function parse(response) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, typeof body === "object" ? body : { error: body });
  return body;
}

/** GET /api/v1{path}?{query}; query values that are undefined or "" are left out. */
export async function get(path, query, { signal } = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
  }
  const qs = params.toString();
  return parse(await fetch(`${API}${path}${qs ? "?" + qs : ""}`, { signal, credentials: "same-origin" }));
}

/** POST (or another method) with a JSON body and the CSRF header. */
export async function post(path, body, method = "POST") {
  return parse(await fetch(`${API}${path}`, {
    method,
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-conveyor-csrf": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
}
