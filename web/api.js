// api.js — every call to the AIPM API: JSON in and out, the bearer token when signed in, and one
// error type carrying the API's stable code, message and details (or a network failure).

import * as auth from './auth.js';
import { currentPerson } from './person.js';

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  get isNetwork() {
    return this.status === 0;
  }
}

/**
 * `method path` with an optional JSON body and headers; resolves to `{status, data, etag}` or
 * throws an ApiError. A 401 sends the user through sign-in and back to this page.
 */
export async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const token = auth.accessToken();
  if (token) init.headers.authorization = `Bearer ${token}`;
  const person = currentPerson();
  if (person) init.headers['x-aipm-person'] = person.sub;
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server could not be reached. Check your connection and try again.');
  }
  if (response.status === 401 && auth.enabled()) {
    auth.signIn();
    throw new ApiError(401, 'SIGN_IN_REQUIRED', 'Your session ended; taking you to sign in…');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error;
    const failure = new ApiError(
      response.status,
      error?.code || `HTTP_${response.status}`,
      error?.message || data?.message || `The server answered ${response.status}.`,
      error?.details || {},
    );
    failure.data = data;
    throw failure;
  }
  return { status: response.status, data, etag: response.headers.get('etag') };
}

/** A fresh key for one user intent (a click of Generate code & PR and its retries). */
export function newIdempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
