// tasks.js — "Generate code & PR" and the code-task panel: enabled only when the story can be
// built, one Idempotency-Key per intent (a double click makes one task), live status while the
// task is active (polling with backoff that stops when it ends), Cancel, and earlier tasks.

import { html, useState, useEffect, useRef } from './vendor-htm-preact.js';
import { api, newIdempotencyKey } from './api.js';
import { ErrorNote, duration, formatTime, useAction } from './ui.js';
import { loadStory } from './stories.js';
import { can, missingRepository, startedByMe, taskRepositories } from './access.js';
import { RequestChanges, RetryTask, Timeline, pullRequestOf, runName } from './revisions.js';
import { scoped } from './project.js';
import { storyHref } from './router.js';

const ACTIVE = new Set(['queued', 'running']);
const FIRST_POLL_MS = 1000;
const LONGEST_POLL_MS = 10000;

/** Why the story cannot be built now, or null when it can. */
export function whyNotBuildable(story, tasks) {
  if (tasks.some((task) => ACTIVE.has(task.status))) return 'A code task for this story is still active.';
  if (story.status !== 'Ready' && story.status !== 'In Progress') {
    return `Only Ready or In Progress stories can be built; this one is ${story.status}.`;
  }
  return null;
}

/** Follows an active task until it ends; returns the latest copy and any polling problem. */
function useLiveTask(initial) {
  const [task, setTask] = useState(initial);
  const [problem, setProblem] = useState(null);
  const timer = useRef(null);
  useEffect(() => setTask(initial), [initial?.taskId, initial?.updatedAt]);
  useEffect(() => {
    if (!task || !ACTIVE.has(task.status)) return undefined;
    let delay = FIRST_POLL_MS;
    let stopped = false;
    const poll = async () => {
      try {
        const { data } = await api('GET', scoped(`/code-tasks/${task.taskId}`));
        if (stopped) return;
        setProblem(null);
        setTask(data);
        if (!ACTIVE.has(data.status)) return;
        delay = data.status === task.status ? Math.min(delay * 1.5, LONGEST_POLL_MS) : FIRST_POLL_MS;
      } catch (failure) {
        if (stopped) return;
        setProblem(failure);
        delay = Math.min(delay * 2, LONGEST_POLL_MS);
      }
      timer.current = setTimeout(poll, delay);
    };
    timer.current = setTimeout(poll, delay);
    return () => { stopped = true; clearTimeout(timer.current); };
  }, [task?.taskId, task && ACTIVE.has(task.status)]);
  return [task, setTask, problem];
}

function TaskPanel({ initial, onFinished, storyId }) {
  const [task, setTask, problem] = useLiveTask(initial);
  const [cancelAsked, setCancelAsked] = useState(false);
  const [cancel, cancelling, error] = useAction(async () => {
    const { status, data } = await api('POST', scoped(`/code-tasks/${task.taskId}/cancel`));
    // 202: the worker stops the agent at its next heartbeat; the task ends as cancelled then.
    setCancelAsked(status === 202);
    setTask(data);
  });
  const finished = task && !ACTIVE.has(task.status);
  useEffect(() => { if (finished && initial && ACTIVE.has(initial.status)) onFinished(); }, [finished]);
  if (!task) return null;
  const mayCancel = can('cancelTask', { ownTask: startedByMe(task) });
  return html`<div class="task" aria-live="polite" data-task-status=${task.status}>
    <dl class="task-facts">
      <dt>Status</dt><dd><span class=${`task-status task-${task.status}`}>${task.status.replace('_', ' ')}</span>
        ${cancelAsked && ACTIVE.has(task.status) ? ' (cancel requested)' : ''}</dd>
      <dt>Run</dt><dd>${runName(task)}${task.attempt > 1 ? ` · attempt ${task.attempt}` : ''}</dd>
      <dt>Created</dt><dd>${formatTime(task.createdAt)}</dd>
      ${task.startedAt ? html`<dt>Ran</dt><dd>${duration(task.startedAt, task.finishedAt)}${task.finishedAt ? '' : ' so far'}</dd>` : null}
      ${task.blockerOverride ? html`<dt>Blocked by</dt><dd>${task.blockerOverride.blockers.join(', ')}, started anyway: “${task.blockerOverride.reason}”</dd>` : null}
      ${task.repository ? html`<dt>Repository</dt><dd><code>${task.repository.owner}/${task.repository.name}</code></dd>` : null}
      <dt>Branch</dt><dd><code>${task.branch}</code></dd>
      <dt>Pull request</dt><dd>${task.prUrl
        ? html`<a href=${task.prUrl} target="_blank" rel="noopener noreferrer">${task.prNumber ? `#${task.prNumber}` : 'Open'} ↗</a>`
        : html`<span class="muted">not opened yet</span>`}</dd>
      ${task.commitSha ? html`<dt>Commit</dt><dd><code>${task.commitSha.slice(0, 12)}</code></dd>` : null}
      ${task.filesChanged?.length ? html`<dt>Files changed</dt><dd><ul class="files">${task.filesChanged.map((file) => html`<li><code>${file}</code></li>`)}</ul></dd>` : null}
    </dl>
    ${task.error ? html`<div class="error-note" role="alert">Error: ${task.error}</div>` : null}
    ${task.logTail ? html`<details open=${ACTIVE.has(task.status)}><summary>Log tail</summary><pre class="log">${task.logTail}</pre></details>` : null}
    ${problem ? html`<p class="muted">Could not refresh the task (${problem.message}); trying again.</p>` : null}
    ${ACTIVE.has(task.status) && !cancelAsked ? html`<div class="actions">
      <button type="button" class="secondary" disabled=${cancelling || !mayCancel.allowed} onClick=${cancel}
        title=${mayCancel.reason || undefined}>${cancelling ? 'Cancelling…' : 'Cancel task'}</button>
    </div>` : null}
    <${ErrorNote} error=${error} onRetry=${cancel} />
    <${RetryTask} task=${task} storyId=${storyId} />
  </div>`;
}

export function CodeTasks({ story }) {
  const tasks = story.codeTasks || [];
  const [instructions, setInstructions] = useState('');
  const targets = taskRepositories();
  const nameOf = (link) => `${link.owner}/${link.name}`;
  // '' is the project's default repository, whichever it is when the button is pressed.
  const [targetName, setTargetName] = useState('');
  const target = targets.find((link) => nameOf(link) === targetName) || null;
  const [key, setKey] = useState(newIdempotencyKey);
  const [created, setCreated] = useState(null);
  const [overrideReason, setOverrideReason] = useState('');
  const [start, busy, error, setError] = useAction(async ({ newPullRequest = false, override = null } = {}) => {
    const body = instructions.trim() ? { instructions: instructions.trim() } : {};
    if (newPullRequest) body.newPullRequest = true;
    if (override) body.overrideBlockers = { reason: override };
    if (target && target !== targets[0]) body.repository = nameOf(target);
    const { data } = await api('POST', scoped(`/stories/${story.id}/generate-code`), {
      body,
      headers: { 'idempotency-key': key },
    });
    setCreated(data);
    setInstructions('');
    setOverrideReason('');
    setKey(newIdempotencyKey());
    loadStory(story.id);
  });
  useEffect(() => { setCreated(null); setError(null); }, [story.id]);
  const known = created && !tasks.some((task) => task.taskId === created.taskId) ? [created, ...tasks] : tasks;
  const [latest, ...earlier] = known;
  // A refusal of Generate is about the task that was newest then.
  useEffect(() => setError(null), [latest?.taskId]);
  const permitted = can('generateCode');
  const reason = permitted.allowed ? missingRepository(target) || whyNotBuildable(story, known) : permitted.reason;
  const pull = pullRequestOf(known);
  const merged = pull && story.merge?.prNumber === pull.number;
  const canRevise = pull && !merged && (story.status === 'Ready' || story.status === 'In Progress');
  const onTimeline = new Set(pull ? pull.runs.map((task) => task.taskId) : []);
  const others = earlier.filter((task) => !onTimeline.has(task.taskId));

  const generate = () => {
    if (!busy) start();
  };

  return html`<section class="panel code" aria-labelledby="code-heading">
    <h3 id="code-heading">Code</h3>
    <div class="field">
      <label for="instructions">Instructions for the coding agent (optional)</label>
      <textarea id="instructions" rows="2" value=${instructions} maxlength="4000"
        placeholder="e.g. Keep the public API unchanged"
        onInput=${(event) => setInstructions(event.target.value)}></textarea>
    </div>
    ${targets.length > 1 ? html`<div class="field">
      <label for="target-repository">Repository</label>
      <select id="target-repository" value=${target ? nameOf(target) : nameOf(targets[0])}
        onChange=${(event) => { setTargetName(event.target.value); setError(null); }}>
        ${targets.map((link, index) => html`<option value=${nameOf(link)}>${nameOf(link)}${index === 0 ? ' (default)' : ''}${link.disconnected ? ' — disconnected' : ''}</option>`)}
      </select>
    </div>` : null}
    <div class="actions">
      <button type="button" class="primary" disabled=${busy || reason !== null} onClick=${generate}
        aria-describedby=${reason ? 'generate-reason' : undefined}>
        ${busy ? 'Starting…' : 'Generate code & PR'}</button>
      ${reason ? html`<span id="generate-reason" class="muted">${reason}</span>` : null}
    </div>
    ${error?.code === 'PULL_REQUEST_OPEN'
      ? html`<div class="error-note" role="alert">
          <span>Pull request #${error.details.prNumber} is still open: ask for changes on it below.</span>
          <button type="button" class="link" onClick=${() => busy || start({ newPullRequest: true })}>Open a new pull request anyway</button>
        </div>`
      : error?.code === 'STORY_BLOCKED'
      ? html`<form class="error-note override" role="alert"
          onSubmit=${(event) => { event.preventDefault(); if (!busy && overrideReason.trim()) start({ override: overrideReason.trim() }); }}>
          <span>This story is blocked by ${error.details.blockers.map((blocker, at) => html`${at ? ', ' : ''}<a href=${storyHref(blocker.id)}>${blocker.key}</a> (${blocker.status})`)}:
            the agent could build on work that is not there yet.</span>
          <label for="override-reason">Why go ahead anyway? (kept with the task)</label>
          <input id="override-reason" value=${overrideReason} maxlength="500"
            onInput=${(event) => setOverrideReason(event.target.value)} />
          <button type="submit" disabled=${busy || !overrideReason.trim()}>Generate anyway</button>
        </form>`
      : html`<${ErrorNote} error=${error} onRetry=${generate} />`}
    ${latest ? html`<h4>Latest task</h4><${TaskPanel} key=${latest.taskId} initial=${latest} storyId=${story.id} onFinished=${() => loadStory(story.id)} />` : null}
    ${pull ? html`<h4>Pull request <a href=${pull.url} target="_blank" rel="noopener noreferrer">#${pull.number} ↗</a>
        ${merged ? html` <span class="merged">merged</span>` : null}</h4>
      <${Timeline} pull=${pull} />` : null}
    ${canRevise ? html`<${RequestChanges} key=${story.id} story=${story} pull=${pull} />` : null}
    ${others.length ? html`<details class="earlier"><summary>Earlier tasks (${others.length})</summary>
      <ul>${others.map((task) => html`<li>
        <span class=${`task-status task-${task.status}`}>${task.status.replace('_', ' ')}</span>
        ${formatTime(task.createdAt)} · <code>${task.branch}</code>
        ${task.prUrl ? html` · <a href=${task.prUrl} target="_blank" rel="noopener noreferrer">PR ↗</a>` : null}
        ${task.error ? html` · ${task.error}` : null}
      </li>`)}</ul>
    </details>` : null}
  </section>`;
}
