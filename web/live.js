// live.js — the live channel: one socket per open project (a one-use ticket from
// POST /projects/{key}/live-tickets, then the socket), a notice per change that the page turns
// into fresh reads of what it shows (the notice never carries data), a ping every few minutes,
// reconnection with growing, jittered waits, and a full re-read after any gap so nothing
// missed while disconnected stays stale.

import { api } from './api.js';
import { getState, update } from './store.js';
import { currentProject } from './project.js';
import { loadAccess } from './access.js';
import { refreshStory, resyncStories } from './stories.js';

// API Gateway closes a socket idle for 10 minutes; a ping every 4 keeps it open, and a pong
// that does not come within 10 s means the socket is dead even if the browser has not noticed.
const PING_EVERY_MS = 4 * 60 * 1000;
const PONG_WITHIN_MS = 10 * 1000;
const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 30 * 1000;
// Notices already acted on (a notice may arrive twice), by history entry id.
const SEEN_LIMIT = 500;

let socket = null;
let project = null;
let attempt = 0;
let retryTimer = null;
let pingTimer = null;
let pongTimer = null;
let everOpened = false;
// Bumped whenever the socket being opened is no longer wanted: a connect that finds it changed
// after a wait gives up, so one page never holds two sockets.
let generation = 0;
let connecting = false;
const seen = [];

function setLive(changes) {
  update('live', changes);
}

function clearTimers() {
  clearTimeout(retryTimer);
  clearInterval(pingTimer);
  clearTimeout(pongTimer);
  retryTimer = pingTimer = pongTimer = null;
}

/** Follows the project the page is in; switching projects closes the last one's socket. */
export function followProject() {
  const wanted = currentProject();
  if (wanted === project && (socket || retryTimer || connecting)) return;
  stop();
  project = wanted;
  attempt = 0;
  everOpened = false;
  connect();
}

// A page being left (or put in the back/forward cache) closes its socket itself rather than
// leave it to the browser, which may keep it open; a page brought back reconnects, and the
// gap makes it read everything again.
window.addEventListener('pagehide', () => stop());
window.addEventListener('pageshow', (event) => {
  if (event.persisted && project !== null) {
    attempt = 0;
    connect();
  }
});

function stop() {
  generation += 1;
  connecting = false;
  clearTimers();
  if (socket) {
    socket.onclose = null;
    socket.close();
    socket = null;
  }
}

function retryLater(reason) {
  clearTimers();
  socket = null;
  // 1 s, 2 s, 4 s … up to 30 s, each between half and all of that, so many pages that lost
  // the channel together do not come back together.
  const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
  const wait = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  attempt += 1;
  setLive({ status: 'retrying', reason, retryInMs: wait });
  retryTimer = setTimeout(connect, wait);
}

async function connect() {
  retryTimer = null;
  const forProject = project;
  const mine = ++generation;
  connecting = true;
  setLive({ status: 'connecting', reason: null });
  let ticket;
  try {
    ({ data: ticket } = await api('POST', `/projects/${encodeURIComponent(forProject)}/live-tickets`));
  } catch (failure) {
    if (mine !== generation) return;
    connecting = false;
    // Not a member (any more): nothing to follow; the page says so where it matters.
    if (failure.status === 404 || failure.status === 403) {
      setLive({ status: 'off', reason: failure.message });
      return;
    }
    retryLater(failure.message);
    return;
  }
  if (mine !== generation) return;
  connecting = false;
  const root = ticket.url || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/_live`;
  const opened = new WebSocket(`${root}?ticket=${encodeURIComponent(ticket.ticket)}`);
  socket = opened;
  opened.onopen = () => {
    if (socket !== opened) return;
    attempt = 0;
    const gap = everOpened;
    everOpened = true;
    setLive({ status: 'open', reason: null, since: Date.now() });
    pingTimer = setInterval(ping, PING_EVERY_MS);
    // Whatever changed while the channel was down is read again.
    if (gap) resync();
  };
  opened.onmessage = (event) => {
    if (socket !== opened) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === 'pong') {
      clearTimeout(pongTimer);
      pongTimer = null;
    } else if (message.type === 'changes' && Array.isArray(message.notices)) {
      for (const notice of message.notices) act(notice);
    }
  };
  opened.onclose = () => {
    if (socket !== opened) return;
    retryLater('The live channel closed.');
  };
}

function ping() {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ action: 'ping' }));
  clearTimeout(pongTimer);
  pongTimer = setTimeout(() => {
    const dead = socket;
    if (dead) {
      dead.onclose = null;
      dead.close();
    }
    retryLater('The live channel stopped answering.');
  }, PONG_WITHIN_MS);
}

/** After a gap: the tree's levels, the board's listing, the open story and the person's access. */
function resync() {
  loadAccess();
  resyncStories();
  update('live', { resynced: Date.now() });
}

const STRUCTURAL = new Set(['storyCreated', 'storyMoved', 'storyDeleted', 'storyRestored']);
const MEMBERSHIP = new Set(['memberChanged', 'memberRemoved']);

/** One notice: re-read what it touches, once per entry. */
function act(notice) {
  if (seen.includes(notice.entry)) return;
  seen.push(notice.entry);
  if (seen.length > SEEN_LIMIT) seen.shift();
  update('live', { last: notice });
  if (MEMBERSHIP.has(notice.action)) {
    loadAccess();
    return;
  }
  if (notice.storyId == null) return;
  refreshStory(notice.storyId, {
    structural: STRUCTURAL.has(notice.action),
    notice,
    me: getState().access?.person?.sub,
  });
}
