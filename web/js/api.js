// The REST side of the org, called exactly as a Salesforce client calls it: a Bearer token on
// every request, JSON bodies, Salesforce's error arrays back.

export const API_VERSION = "66.0";
export const DATA = `/services/data/v${API_VERSION}`;

const STORE = "bayou.dashboard.login";

/** The saved login ({accessToken, instanceUrl, username}) or null. */
export function savedLogin() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "null");
  } catch {
    return null;
  }
}

export function saveLogin(login) {
  if (login) localStorage.setItem(STORE, JSON.stringify(login));
  else localStorage.removeItem(STORE);
}

/** What the server tells the page: {clientId, apiVersion, adminApi}. */
export async function dashboardConfig() {
  const response = await fetch("/dashboard/config.json");
  return response.json();
}

/** OAuth password flow at /services/oauth2/token. Throws with Salesforce's description. */
export async function login(clientId, username, password) {
  const form = new URLSearchParams({ grant_type: "password", client_id: clientId, username, password });
  const response = await fetch("/services/oauth2/token", { method: "POST", body: form });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(`${body.error || response.status}: ${body.error_description || "login failed"}`);
  }
  return { accessToken: body.access_token, instanceUrl: body.instance_url, username };
}

export async function revoke(token) {
  await fetch("/services/oauth2/revoke", { method: "POST", body: new URLSearchParams({ token }) });
}

/** An error from the REST API, with Salesforce's error array when there was one. */
export class RestError extends Error {
  constructor(status, body) {
    const first = Array.isArray(body) ? body[0] : body;
    let text = `HTTP ${status}`;
    if (first && first.message) {
      text = first.message.startsWith(first.errorCode) ? first.message : `${first.errorCode}: ${first.message}`;
    }
    super(text);
    this.status = status;
    this.body = body;
    this.errorCode = first && first.errorCode;
    this.detail = first && first.message;
  }
}

/** Calls the REST API with the saved token; resolves with the parsed body (null for 204). */
export async function rest(method, path, body) {
  const login = savedLogin();
  const headers = { Authorization: `Bearer ${login ? login.accessToken : ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path.startsWith("/") ? path : `${DATA}/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    if (response.status === 401) loggedOut(parsed?.[0]?.message || "the token is no longer valid");
    throw new RestError(response.status, parsed);
  }
  return parsed;
}

/**
 * Forgets the login because the server no longer accepts its token (revoked, expired, or the
 * server restarted: tokens live in memory) and tells the page, which asks to log in again.
 */
export function loggedOut(reason) {
  if (!savedLogin()) return;
  saveLogin(null);
  window.dispatchEvent(new CustomEvent("bayou:logged-out", { detail: reason }));
}

/** Where a SOQL error points: {line, column} from "… at line L column C", or null. */
export function soqlPosition(message) {
  const m = /at line (\d+) column (\d+)/.exec(message || "");
  return m ? { line: Number(m[1]), column: Number(m[2]) } : null;
}
