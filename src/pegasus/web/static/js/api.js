// Pegasus API calls from the pages: same-origin cookies, the CSRF header, JSON in and out.
//
//   import { apiFetch, ApiError } from "/static/js/api.js";
//   const course = await apiFetch("/api/v1/courses", { method: "POST", json: { name: "Bio" } });
//
// options: everything fetch() takes, plus `json` (an object sent as a JSON body) and
// `raw: true` (return the Response itself instead of its parsed body).
// Errors: an ApiError {status, code, message, requestId} built from Pegasus's error body
// {"error": {"code", "message", "request_id"}}; a network failure is status 0, code "network".

export class ApiError extends Error {
  constructor(status, code, message, requestId = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") || "" : "";
}

export async function apiFetch(path, options = {}) {
  const { json, raw, headers: given, ...init } = options;
  const headers = new Headers(given || {});
  const token = csrfToken();
  if (token) headers.set("X-CSRF-Token", token);
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  if (json !== undefined) {
    headers.set("Content-Type", "application/json");
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { ...init, headers, credentials: "same-origin" });
  } catch (err) {
    throw new ApiError(0, "network", "Pegasus cannot be reached. Check your connection and try again.");
  }
  if (!response.ok) {
    let code = "http." + response.status;
    let message = response.statusText || "The request failed.";
    let requestId = response.headers.get("X-Request-ID");
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
        requestId = body.error.request_id || requestId;
      }
    } catch (ignored) {
      // not JSON (a proxy's page): keep the status text
    }
    throw new ApiError(response.status, code, message, requestId);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}
