// The REST API from the console: bearer tokens from a login, refreshed when they expire.
// Errors are thrown as ApiError carrying the problem document (RFC 9457).

const KEY = "voxplane.session";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? { status, detail: `HTTP ${status}` };
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? "null");
  } catch {
    return null;
  }
}

function save(value) {
  if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
  else sessionStorage.removeItem(KEY);
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { status: response.status, detail: response.statusText || `HTTP ${response.status}` };
  }
}

async function send(method, path, body, token, type = "application/json") {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = type;
    payload = type === "application/json" ? JSON.stringify(body) : body;
  }
  try {
    return await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, { detail: "The server cannot be reached. Check your connection." });
  }
}

export async function login(email, password, tenantId) {
  const body = { email, password };
  if (tenantId) body.tenant_id = tenantId;
  const response = await send("POST", "/v1/auth/login", body);
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  const pair = await response.json();
  save({ access: pair.access_token, refresh: pair.refresh_token, email });
  return pair;
}

export async function logout() {
  const current = session();
  save(null);
  if (current?.refresh) {
    await send("POST", "/v1/auth/logout", { refresh_token: current.refresh }).catch(() => {});
  }
}

async function refresh() {
  const current = session();
  if (!current?.refresh) return false;
  const response = await send("POST", "/v1/auth/refresh", { refresh_token: current.refresh });
  if (!response.ok) {
    save(null);
    return false;
  }
  const pair = await response.json();
  save({ ...current, access: pair.access_token, refresh: pair.refresh_token });
  return true;
}

let onSignedOut = () => {};
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

/** A raw authenticated response (refreshing the access token once on a 401). */
export async function raw(method, path, body, type) {
  let response = await send(method, path, body, session()?.access, type);
  if (response.status === 401 && (await refresh())) {
    response = await send(method, path, body, session()?.access, type);
  }
  if (response.status === 401) {
    save(null);
    onSignedOut();
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response;
}

export async function api(method, path, body) {
  const response = await raw(method, path, body);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path) => api("GET", path);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}
