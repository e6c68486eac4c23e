// ui.js — small pieces every view uses: status chips, error notes with retry, the workflow's
// transition table, and wording for the API's refusal reasons.

import { html, useState } from './vendor-htm-preact.js';
import { storyHref } from './router.js';
import { storyLabel } from './project.js';

export const STATUSES = ['Draft', 'Ready', 'In Progress', 'Blocked', 'Done'];

/** The statuses a story may move to before requirements (the API checks those). */
export function nextStatuses(story) {
  if (story.status === 'Blocked') return story.blockedFrom ? [story.blockedFrom] : [];
  const steps = {
    Draft: ['Ready'],
    Ready: ['Draft', 'In Progress'],
    'In Progress': ['Ready', 'Done'],
    Done: ['In Progress'],
  };
  return [...(steps[story.status] || []), 'Blocked'];
}

const REASONS = {
  INVEST_WARNINGS: 'The INVEST check has warnings. Fix them, or move it anyway accepting the warnings.',
  NO_ACCEPTANCE_TESTS: 'A story needs at least one acceptance test to be Ready.',
  CHILDREN_NOT_DONE: 'Every child story must be Done first.',
  OPEN_BLOCKERS: 'The stories it is blocked by must be Done first.',
  TESTS_NOT_PASSING: 'Every acceptance test must Pass first.',
  CI_EVIDENCE_NOT_PASSING: 'This project’s Done needs CI evidence: every test CI reports on must pass at the story’s commit.',
  TRANSITION_NOT_ALLOWED: 'That step is not allowed from the current status.',
  BLOCKED_RETURNS_TO_PREVIOUS_STATUS: 'A blocked story goes back to the status it was blocked from.',
};

export function reasonText(reason) {
  return REASONS[reason] || reason;
}

export function StatusChip({ status }) {
  const tone = status.toLowerCase().replace(/\s+/g, '-');
  return html`<span class=${`chip chip-${tone}`}>${status}</span>`;
}

/**
 * One user action (a save, a delete, a click that calls the API): `busy` while it runs, and its
 * failure kept to be shown where the user acted. Returns `[run, busy, error, setError]`.
 */
export function useAction(action) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (...args) => {
    setBusy(true);
    setError(null);
    try {
      return await action(...args);
    } catch (failure) {
      setError(failure);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return [run, busy, error, setError];
}

/** An error shown where the user acted; a network failure offers Retry. */
export function ErrorNote({ error, onRetry, onDismiss }) {
  if (!error) return null;
  // A refused field says what is wrong with it, not that "the request has invalid fields".
  const fields = error.code === 'VALIDATION_FAILED' ? error.details?.fields || [] : [];
  const message = fields.length ? fields.map((field) => field.message).join('; ') : error.message;
  return html`<div class="error-note" role="alert">
    <span>${message}</span>
    ${error.code && !error.isNetwork && error.code !== 'NETWORK' ? html` <code>${error.code}</code>` : null}
    ${onRetry && (error.isNetwork || error.status >= 500)
      ? html` <button type="button" class="link" onClick=${onRetry}>Retry</button>` : null}
    ${onDismiss ? html` <button type="button" class="link" aria-label="Dismiss" onClick=${onDismiss}>Dismiss</button>` : null}
  </div>`;
}

export function formatTime(value) {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

export function duration(from, to) {
  if (!from) return null;
  const ms = (to ? new Date(to) : new Date()) - new Date(from);
  if (!(ms >= 0)) return null;
  const seconds = Math.round(ms / 1000);
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** Why the API refused a status change, with links to what is in the way. */
export function Refusal({ error, byId, onAcceptWarnings }) {
  if (!error) return null;
  if (error.code !== 'STATUS_TRANSITION_BLOCKED') return html`<${ErrorNote} error=${error} />`;
  const details = error.details || {};
  // "No acceptance tests" is both a reason and an INVEST warning; say it once.
  const investWarnings = (details.investWarnings || []).filter((code) => code !== 'NO_ACCEPTANCE_TESTS'
    || !(details.reasons || []).includes('NO_ACCEPTANCE_TESTS'));
  const reasons = (details.reasons || []).filter((reason) => reason !== 'INVEST_WARNINGS' || investWarnings.length > 0);
  return html`<div class="refusal" role="alert">
    <strong>Cannot move to ${details.to}.</strong>
    <ul>
      ${reasons.map((reason) => html`<li>${reasonText(reason)}</li>`)}
    </ul>
    ${details.allowed?.length ? html`<p>Allowed from ${details.from}: ${details.allowed.join(', ')}.</p>` : null}
    ${details.blockingChildren?.length ? html`<p>Children not Done: ${details.blockingChildren.map((child, at) => html`${at ? ', ' : ''}<a href=${storyHref(child.id)}>${child.title || byId?.[child.id]?.title || storyLabel(child.id)}</a> (${child.status})`)}</p>` : null}
    ${details.blockingStories?.length ? html`<p>Blocked by: ${details.blockingStories.map((blocker, at) => html`${at ? ', ' : ''}<a href=${storyHref(blocker.id)}>${blocker.key} ${blocker.title}</a> (${blocker.status})`)}</p>` : null}
    ${details.blockingTests?.length ? html`<p>Tests not passing: ${details.blockingTests.map((test, at) => html`${at ? ', ' : ''}<a href=${`#test-${test.id}`} onClick=${(event) => { event.preventDefault(); document.getElementById(`test-${test.id}`)?.scrollIntoView(); }}>${test.key ? `${test.key} ` : ''}${test.title}</a> (${test.evidence ? `CI: ${test.evidence}` : test.status})`)}</p>` : null}
    ${investWarnings.length ? html`<p>INVEST warnings: ${investWarnings.join(', ')} (see the INVEST panel).</p>` : null}
    ${onAcceptWarnings && reasons.length === 1 && reasons[0] === 'INVEST_WARNINGS'
      ? html`<button type="button" onClick=${onAcceptWarnings}>Move to ${details.to} anyway, accepting the warnings</button>` : null}
  </div>`;
}
