// activity.js — the change history: a story's Activity section and the project's feed (#/activity),
// each entry as a sentence (who did what, when) with the fields before → after, newest first,
// a page at a time.

import { html, useEffect, useState } from './vendor-htm-preact.js';
import { api } from './api.js';
import { scoped, storyLabel } from './project.js';
import { storyHref } from './router.js';
import { ErrorNote, formatTime } from './ui.js';

const PAGE = 20;

const FIELD_NAMES = {
  title: 'title', asA: 'As a', iWant: 'I want', soThat: 'So that', description: 'description',
  components: 'components', storyPoint: 'story points', assigneeEmail: 'assignee', parentId: 'parent',
  status: 'status', acceptWarnings: 'INVEST warnings accepted', documents: 'reference documents',
  merge: 'merge', links: 'dependencies', branch: 'branch', given: 'Given', when: 'When', then: 'Then', role: 'role',
};

const VERBS = {
  storyCreated: 'created the story',
  storyEdited: 'edited',
  statusChanged: 'moved the story',
  storyMoved: 'moved the story under another',
  documentsChanged: 'changed the reference documents',
  merged: 'merged the pull request',
  linksChanged: 'changed the dependencies',
  testAdded: 'added acceptance test',
  testEdited: 'edited acceptance test',
  testDeleted: 'deleted acceptance test',
  storyDeleted: 'deleted the story with',
  storyRestored: 'restored the story',
  codeTaskStarted: 'started code generation',
  memberChanged: 'changed the role of',
  memberRemoved: 'removed',
};

/** A value as a person reads it: text as is, lists joined, nothing as "none". */
function shown(field, value) {
  if (value === null || value === undefined || value === '') return 'none';
  if (field === 'parentId') return storyLabel(value);
  if (field === 'links') return value.length ? value.map((link) => `${link.kind === 'blockedBy' ? 'blocked by' : 'relates to'} ${storyLabel(link.other)}`).join(', ') : 'none';
  if (field === 'documents') {
    const links = value.links?.length || 0;
    const files = value.files?.length || 0;
    return `${links} ${links === 1 ? 'link' : 'links'}, ${files} ${files === 1 ? 'file' : 'files'}`;
  }
  if (field === 'merge') return value.sha ? `commit ${String(value.sha).slice(0, 7)}` : 'merged';
  if (Array.isArray(value)) return value.join(' · ') || 'none';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') return JSON.stringify(value);
  const text = String(value);
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

function Entry({ entry, withStory }) {
  const verb = VERBS[entry.action] || entry.action;
  const fields = entry.action === 'storyCreated' ? [] : entry.changes || [];
  return html`<li class=${`history-entry history-${entry.action}`}>
    <div class="history-line">
      <strong>${entry.author?.name || 'Someone'}</strong> ${verb}${entry.subject ? html` <span class=${entry.action.startsWith('test') ? 'history-key' : 'history-subject'}>${entry.subject}</span>` : null}
      ${entry.action === 'statusChanged' && fields.find((change) => change.field === 'status')
        ? html` to <strong>${fields.find((change) => change.field === 'status').after}</strong>` : null}
      ${withStory && entry.storyId ? html` · <a href=${storyHref(entry.storyId)}>${storyLabel(entry.storyId)}</a>` : null}
      <time class="muted" datetime=${entry.at}> ${formatTime(entry.at)}</time>
    </div>
    ${entry.reason ? html`<div class="history-reason">Reason: ${entry.reason}</div>` : null}
    ${fields.length ? html`<ul class="history-changes">
      ${fields.map((change) => html`<li>
        <span class="history-field">${FIELD_NAMES[change.field] || change.field}:</span>${' '}
        ${change.before === null ? null : html`<del>${shown(change.field, change.before)}</del>`}
        ${change.before === null || change.after === null ? null : ' → '}
        ${change.after === null ? null : html`<ins>${shown(change.field, change.after)}</ins>`}
      </li>`)}
    </ul>` : null}
  </li>`;
}

/** Loads pages of `path` (newest first); `reload` starts over when `version` changes. */
function useHistory(path, version) {
  const [entries, setEntries] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState(null);
  const load = async (after = null) => {
    setLoading(true);
    setError(null);
    try {
      const query = `?limit=${PAGE}${after ? `&cursor=${encodeURIComponent(after)}` : ''}`;
      const { data } = await api('GET', `${path}${query}`);
      setEntries((current) => (after ? [...current, ...data.entries] : data.entries));
      setCursor(data.nextCursor || null);
    } catch (failure) {
      setError(failure);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => { load(); }, [path, version]);
  return { entries, cursor, loading, error, load };
}

/** The story page's Activity section; it reloads whenever the story's version moves. */
export function StoryActivity({ story }) {
  const history = useHistory(scoped(`/stories/${story.id}/history`), `${story.version}:${story.acceptanceTests?.map((test) => test.version).join(',')}`);
  return html`<section class="panel activity" aria-labelledby="activity-heading">
    <h3 id="activity-heading">Activity</h3>
    <${HistoryList} history=${history} />
  </section>`;
}

function HistoryList({ history, withStory = false }) {
  const { entries, cursor, loading, error, load } = history;
  return html`
    ${entries.length === 0 && !loading && !error ? html`<p class="muted">Nothing recorded yet.</p>` : null}
    <ol class="history">${entries.map((entry) => html`<${Entry} key=${entry.id} entry=${entry} withStory=${withStory} />`)}</ol>
    ${loading ? html`<p class="muted" aria-live="polite">Loading…</p>` : null}
    <${ErrorNote} error=${error} onRetry=${() => load(cursor)} />
    ${cursor && !loading ? html`<button type="button" class="secondary" onClick=${() => load(cursor)}>Show older</button>` : null}`;
}

/** #/activity: everything that happened in the project, newest first. */
export function ProjectActivity() {
  const history = useHistory(scoped('/history'), 0);
  return html`<section class="story-page activity-page" aria-labelledby="project-activity-heading">
    <h2 id="project-activity-heading">Activity</h2>
    <p class="muted">Every change to the project's stories, acceptance tests, dependencies and people, newest first.</p>
    <${HistoryList} history=${history} withStory=${true} />
  </section>`;
}
