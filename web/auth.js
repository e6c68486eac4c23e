// auth.js — sign-in where the stage uses JWT auth: Cognito managed login with the authorization
// code flow and PKCE from the page (a public client: no secret). Tokens stay in sessionStorage
// for this tab; the page the user was on survives the round trip to the login page.

const TOKENS = 'aipm.tokens';
const PENDING = 'aipm.signin';

let settings = null;

function base64url(bytes) {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText(length) {
  return base64url(crypto.getRandomValues(new Uint8Array(length)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function redirectUri() {
  return `${location.origin}/`;
}

export function configure(config) {
  settings = config.authMode === 'jwt' ? config.signIn : null;
}

export function enabled() {
  return settings !== null;
}

/** The access token for the API, while it is valid. */
export function accessToken() {
  if (!settings) return null;
  try {
    const tokens = JSON.parse(sessionStorage.getItem(TOKENS) || 'null');
    if (tokens && tokens.expiresAt > Date.now() + 30_000) return tokens.accessToken;
  } catch {
    // A damaged entry is the same as none.
  }
  return null;
}

/** Leaves for the login page; the current page (hash) comes back afterwards. */
// Several views may ask at once (each request answered 401); one round trip serves them all.
let signingIn = false;

export async function signIn() {
  if (!settings || signingIn) return;
  signingIn = true;
  const verifier = randomText(48);
  const state = randomText(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo: location.hash }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: settings.clientId,
    redirect_uri: redirectUri(),
    scope: settings.scopes.join(' '),
    state,
    code_challenge_method: 'S256',
    code_challenge: await challengeOf(verifier),
  });
  location.assign(`${settings.authorizeUrl}?${query}`);
}

export function signOut() {
  sessionStorage.removeItem(TOKENS);
  if (!settings) return;
  const query = new URLSearchParams({ client_id: settings.clientId, logout_uri: redirectUri() });
  location.assign(`${settings.logoutUrl}?${query}`);
}

/**
 * On the way back from the login page (`?code=…&state=…`): trades the code for tokens and
 * restores the page. Resolves to an error message, or null.
 */
export async function completeSignIn() {
  if (!settings) return null;
  const query = new URLSearchParams(location.search);
  const code = query.get('code');
  if (!code && !query.get('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  const returnTo = pending?.returnTo || '';
  history.replaceState(null, '', `/${returnTo}`);
  if (query.get('error')) return `Sign-in failed: ${query.get('error_description') || query.get('error')}`;
  if (!pending || pending.state !== query.get('state')) return 'Sign-in failed: the answer did not match this tab. Sign in again.';
  const response = await fetch(settings.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: settings.clientId,
      code,
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    }),
  }).catch(() => null);
  if (!response || !response.ok) return 'Sign-in failed: the login service did not accept the code. Sign in again.';
  const tokens = await response.json();
  sessionStorage.setItem(TOKENS, JSON.stringify({
    accessToken: tokens.access_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
  }));
  return null;
}
