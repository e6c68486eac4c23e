// revisions.js — the story's pull request as a timeline of its runs (first run, revisions,
// retries: what asked for each, who, how it ended, which commit), "Request changes" (a revision
// of the same pull request from AIPM itself) and Retry of a task that did not succeed.

import { html, useState } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, formatTime, useAction } from './ui.js';
import { loadStory } from './stories.js';
import { Why, can, startedByMe } from './access.js';
import { scoped } from './project.js';

const RETRYABLE = new Set(['failed', 'timed_out', 'cancelled']);
const FEEDBACK_MAX = 4000;

/** The pull request the story's newest tasks work on, with those tasks oldest first. */
export function pullRequestOf(tasks) {
  const latest = tasks.find((task) => task.prNumber);
  if (!latest) return null;
  const runs = tasks.filter((task) => task.prNumber === latest.prNumber && task.branch === latest.branch).reverse();
  return { number: latest.prNumber, url: latest.prUrl, branch: latest.branch, runs };
}

/** What a run was, in a product person's words. */
export function runName(task) {
  const retry = (task.triggers || []).some((trigger) => trigger.kind === 'retry');
  const base = task.kind === 'revise' ? `Revision ${task.revision}` : 'First run';
  return retry ? `${base} (retry)` : base;
}

/** What asked for a run: "changes requested by dana", "requested in AIPM", "retried by pat". */
export function triggerText(trigger) {
  // Without sign-in (a local stack) nobody is known by name.
  const by = trigger.sender && trigger.sender !== 'anonymous' ? ` by ${trigger.sender}` : '';
  switch (trigger.kind) {
    case 'review':
      return trigger.state === 'changes_requested' ? `changes requested${by}` : `review${by}`;
    case 'comment': return `comment${by}`;
    case 'request': return `requested in AIPM${by}`;
    case 'retry': return `retried${by}`;
    default: return trigger.kind;
  }
}

function Trigger({ trigger }) {
  const text = triggerText(trigger);
  return trigger.url
    ? html`<a href=${trigger.url} target="_blank" rel="noopener noreferrer">${text} ↗</a>`
    : html`<span>${text}</span>`;
}

export function Timeline({ pull }) {
  return html`<ol class="timeline" aria-label=${`Runs on pull request #${pull.number}`}>
    ${pull.runs.map((task) => html`<li key=${task.taskId} data-task-id=${task.taskId}>
      <div class="timeline-head">
        <strong>${runName(task)}</strong>
        <span class=${`task-status task-${task.status}`}>${task.status.replace('_', ' ')}</span>
        ${task.commitSha ? html`<code title=${task.commitSha}>${task.commitSha.slice(0, 8)}</code>` : null}
      </div>
      <div class="muted">
        ${formatTime(task.createdAt)}
        ${(task.triggers || []).filter((trigger) => trigger.kind !== 'retry' || task.kind === 'generate')
          .map((trigger) => html` · <${Trigger} trigger=${trigger} />`)}
        ${task.pendingTriggers?.length
          ? html` · <span class="pending">${task.pendingTriggers.length} more waiting: the next revision</span>` : null}
      </div>
    </li>`)}
  </ol>`;
}

/** "Request changes": free text that becomes a revision of the open pull request. */
export function RequestChanges({ story, pull }) {
  const [feedback, setFeedback] = useState('');
  const [outcome, setOutcome] = useState(null);
  const [send, sending, error] = useAction(async () => {
    const text = feedback.trim();
    const { data } = await api('POST', scoped(`/stories/${story.id}/change-requests`), { body: { feedback: text } });
    // The answer is the new revision, or the active task the request now waits on.
    const waiting = (data.pendingTriggers || []).some((trigger) => trigger.kind === 'request' && trigger.body === text);
    setOutcome(waiting
      ? 'Noted: it runs as the next revision when the current task ends.'
      : `Revision ${data.revision} is queued on pull request #${pull.number}.`);
    setFeedback('');
    loadStory(story.id);
  });
  const trySend = () => {
    if (!sending && feedback.trim()) send();
  };
  const submit = (event) => {
    event.preventDefault();
    trySend();
  };
  const allowed = can('requestChanges', { ownTask: pull.runs.some(startedByMe) });
  return html`<form class="request-changes" onSubmit=${submit} aria-labelledby="request-changes-heading">
    <h4 id="request-changes-heading">Request changes</h4>
    <div class="field">
      <label for="change-request">What should change on pull request #${pull.number}?</label>
      <textarea id="change-request" rows="3" maxlength=${FEEDBACK_MAX} value=${feedback}
        placeholder="e.g. Rename export() to exportCsv() and add a test for an empty tree"
        onInput=${(event) => { setFeedback(event.target.value); setOutcome(null); }}></textarea>
    </div>
    <div class="actions">
      <button type="submit" class="secondary" disabled=${sending || !feedback.trim() || !allowed.allowed}>
        ${sending ? 'Sending…' : 'Request changes'}</button>
      <${Why} check=${allowed} id="request-changes-denied" />
      ${outcome ? html`<span class="ok-note" role="status">${outcome}</span>` : null}
    </div>
    <${ErrorNote} error=${error} onRetry=${trySend} />
  </form>`;
}

/** Retry of the story's newest task when it did not succeed: same branch, same pull request. */
export function RetryTask({ task, storyId }) {
  const [retry, retrying, error] = useAction(async () => {
    await api('POST', scoped(`/code-tasks/${task.taskId}/retry`));
    loadStory(storyId);
  });
  if (!RETRYABLE.has(task.status) || !task.prNumber) return null;
  const allowed = can('retryTask', { ownTask: startedByMe(task) });
  return html`<div class="actions">
    <button type="button" class="secondary" disabled=${retrying || !allowed.allowed} onClick=${() => retrying || retry()}>
      ${retrying ? 'Retrying…' : `Retry on pull request #${task.prNumber}`}</button>
    <${Why} check=${allowed} />
    <${ErrorNote} error=${error} onRetry=${retry} />
  </div>`;
}
