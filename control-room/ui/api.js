// fetch wrapper: JSON in and out, the CSRF header on every state-changing request, and a
// 401 from any call sends the browser to the login page (the session is gone).

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function toLogin() {
  if (location.pathname !== '/login') location.assign('/login');
}

/**
 * One API call. `opts.noRedirect` keeps a 401 as an ordinary error (the login form).
 * Resolves to the parsed JSON body, or null for 204.
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, e.message || 'network error', null);
  }
  if (res.status === 401 && !opts.noRedirect) {
    toLogin();
    throw new ApiError(401, 'unauthorized', null);
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const msg = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg, data);
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body = {}, opts) => api('POST', path, body, opts);
export const put = (path, body = {}, opts) => api('PUT', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/** Fetches binary content (an original image) as a Blob; null when not (yet) allowed. */
export async function getBlob(path) {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 401) {
    toLogin();
    throw new ApiError(401, 'unauthorized', null);
  }
  if (!res.ok) return { status: res.status, blob: null };
  return { status: res.status, blob: await res.blob() };
}

/** Builds a query string, leaving out empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** A path segment, escaped. */
export const seg = (v) => encodeURIComponent(String(v));
