// story.js — the story page: breadcrumb, the narrative form (saved with If-Match; a conflict keeps
// what the user typed), INVEST, the status control with the reasons a move is refused, children,
// and delete with a cascade confirmation. Acceptance tests and code tasks have modules of their own.

import { AiReviewPanel } from './review.js';
import { html, useState, useEffect } from './vendor-htm-preact.js';
import { api } from './api.js';
import { update } from './store.js';
import { href, storyHref, navigate } from './router.js';
import { ErrorNote, Refusal, StatusChip, nextStatuses, useAction } from './ui.js';
import {
  changeStatus, createStory, deleteStory, descendants, loadStory, remember, showStory,
} from './stories.js';
import { AcceptanceTests } from './tests.js';
import { Why, can } from './access.js';
import { CodeTasks } from './tasks.js';
import { Dependencies } from './links.js';
import { ReferenceDocuments } from './references.js';
import { scoped, storyLabel } from './project.js';
import { StoryActivity } from './activity.js';
import { offerUndo } from './trash.js';

const FIELDS = [
  { name: 'title', label: 'Title', kind: 'input', required: true },
  { name: 'asA', label: 'As a', kind: 'input' },
  { name: 'iWant', label: 'I want', kind: 'textarea' },
  { name: 'soThat', label: 'So that', kind: 'textarea' },
  { name: 'description', label: 'Description', kind: 'textarea' },
  { name: 'components', label: 'Components (comma-separated)', kind: 'input' },
  { name: 'storyPoint', label: 'Story points', kind: 'number' },
  { name: 'assigneeEmail', label: 'Assignee email', kind: 'email' },
];

function draftOf(story) {
  return {
    title: story.title,
    asA: story.asA,
    iWant: story.iWant,
    soThat: story.soThat,
    description: story.description,
    components: (story.components || []).join(', '),
    storyPoint: story.storyPoint ?? '',
    assigneeEmail: story.assigneeEmail ?? '',
  };
}

/** The PATCH body: only what differs from the story as loaded. */
function changesOf(draft, story) {
  const base = draftOf(story);
  const body = {};
  for (const { name } of FIELDS) {
    if (String(draft[name]) === String(base[name])) continue;
    if (name === 'components') {
      body.components = draft.components.split(',').map((part) => part.trim()).filter(Boolean);
    } else if (name === 'storyPoint') {
      body.storyPoint = draft.storyPoint === '' ? null : Number(draft.storyPoint);
    } else if (name === 'assigneeEmail') {
      body.assigneeEmail = draft.assigneeEmail.trim() === '' ? null : draft.assigneeEmail.trim();
    } else {
      body[name] = draft[name];
    }
  }
  return body;
}

/** A changed field as the form labels it (`iWant` → "I want"). */
function fieldLabel(name) {
  const field = FIELDS.find((candidate) => candidate.name === name);
  return field ? field.label.replace(/ \(.*\)$/, '').toLowerCase() : name;
}

function Breadcrumb({ story, byId }) {
  const trail = [];
  let parent = story.parentId;
  while (parent != null && trail.length < 50) {
    const known = byId[parent];
    trail.unshift({ id: parent, title: known ? known.title : `Story ${parent}` });
    parent = known ? known.parentId : null;
  }
  return html`<nav aria-label="Breadcrumb" class="breadcrumb">
    <a href=${href('/')}>Stories</a>
    ${trail.map((item) => html` <span aria-hidden="true">›</span> <a href=${storyHref(item.id)}>${item.title}</a>`)}
    <span aria-hidden="true"> › </span><span aria-current="page">${storyLabel(story.id)}</span>
  </nav>`;
}

function StoryForm({ story, remote }) {
  const [draft, setDraft] = useState(() => draftOf(story));
  const [base, setBase] = useState(story);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState(null);
  const [conflict, setConflict] = useState(null);
  const [saved, setSaved] = useState(false);

  // Another story: start from it. This story at a new version while the user types: their own
  // change (a status move, a child added) becomes the base; another person's (heard on the live
  // channel) does not, so nothing they changed is undone by this save: the page says so and
  // offers their version, as a refused save (412) does.
  useEffect(() => {
    const dirty = Object.keys(changesOf(draft, base)).length > 0;
    if (story.id !== base.id || !dirty) {
      setDraft(draftOf(story));
      setConflict(null);
      setError(null);
    } else if (remote && remote.version === story.version && story.version !== base.version) {
      setConflict({ currentVersion: story.version, by: remote.by, fields: remote.fields });
      return;
    }
    setBase(story);
  }, [story.id, story.version]);

  const changes = changesOf(draft, base);
  const dirty = Object.keys(changes).length > 0;
  const save = async (event, { overwrite = false } = {}) => {
    event?.preventDefault();
    setSaving(true);
    setError(null);
    setSaved(false);
    const version = overwrite && conflict ? conflict.currentVersion : base.version;
    try {
      const { data } = await api('PATCH', scoped(`/stories/${story.id}`), {
        body: changes,
        headers: { 'if-match': `"${version}"` },
      });
      setConflict(null);
      setBase(data);
      setDraft(draftOf(data));
      setSaved(true);
      showStory(data);
    } catch (failure) {
      if (failure.status === 412) {
        setConflict({ currentVersion: failure.details.currentVersion });
      } else {
        setError(failure);
      }
    } finally {
      setSaving(false);
    }
  };
  const loadTheirs = async () => {
    setConflict(null);
    setError(null);
    try {
      const { data } = await api('GET', scoped(`/stories/${story.id}`));
      setBase(data);
      setDraft(draftOf(data));
      remember(data);
      update('story', { detail: data });
    } catch (failure) {
      setError(failure);
    }
  };

  const editing = can('editStory');
  return html`<form class="story-form" onSubmit=${save} aria-label="Story details">
    ${FIELDS.map((field) => {
      const id = `story-${field.name}`;
      const onInput = (event) => { setDraft({ ...draft, [field.name]: event.target.value }); setSaved(false); };
      return html`<div class=${`field field-${field.name}`}>
        <label for=${id}>${field.label}</label>
        ${field.kind === 'textarea'
          ? html`<textarea id=${id} rows=${field.name === 'description' ? 3 : 2} value=${draft[field.name]} onInput=${onInput}
              readOnly=${!editing.allowed}></textarea>`
          : html`<input id=${id} type=${field.kind === 'input' ? 'text' : field.kind}
              min=${field.kind === 'number' ? 0 : undefined} max=${field.kind === 'number' ? 100 : undefined}
              required=${field.required} value=${draft[field.name]} onInput=${onInput} readOnly=${!editing.allowed} />`}
      </div>`;
    })}
    ${conflict ? html`<div class="conflict" role="alert">
      <strong>${conflict.by ? `${conflict.by} changed this story` : 'Someone else changed this story'}</strong>
      ${conflict.fields?.length ? ` (${conflict.fields.map(fieldLabel).join(', ')})` : ''} while you were editing: it is now at version
      ${' '}${conflict.currentVersion}, and you edited version ${base.version}. Your changes are still in the form.
      <div class="actions">
        <button type="button" onClick=${(event) => save(event, { overwrite: true })} disabled=${saving}>Save mine over theirs</button>
        <button type="button" class="secondary" onClick=${loadTheirs}>Discard mine and load theirs</button>
      </div>
    </div>` : null}
    <${ErrorNote} error=${error} onRetry=${save} />
    <div class="actions">
      <button type="submit" disabled=${saving || !dirty || !editing.allowed}
        aria-describedby=${editing.allowed ? undefined : 'edit-denied'}>${saving ? 'Saving…' : 'Save changes'}</button>
      <${Why} check=${editing} id="edit-denied" />
      ${dirty ? html`<button type="button" class="secondary" onClick=${() => setDraft(draftOf(base))}>Undo edits</button>` : null}
      <span class="muted" aria-live="polite">${saved && !dirty ? 'Saved.' : dirty ? 'Unsaved changes' : `Version ${base.version}`}</span>
    </div>
  </form>`;
}

function InvestPanel({ invest }) {
  return html`<section class="panel invest" aria-labelledby="invest-heading">
    <h3 id="invest-heading">INVEST <span class=${`score ${invest.passed ? 'good' : 'warn'}`}>${invest.score}/100</span></h3>
    <ul class="criteria">
      ${invest.criteria.map((item) => html`<li class=${item.passed ? 'pass' : 'fail'}>
        <span aria-hidden="true">${item.passed ? '✓' : '!'}</span> ${item.criterion}</li>`)}
    </ul>
    ${invest.warnings.length === 0 ? html`<p class="muted">No warnings.</p>` : html`<ul class="warnings">
      ${invest.warnings.map((warning) => html`<li>
        <strong>${warning.criterion}:</strong> ${warning.message}
        <div class="suggestion">Suggestion: ${warning.suggestion}</div>
      </li>`)}
    </ul>`}
  </section>`;
}

function StatusControl({ story, byId }) {
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => setError(null), [story.id]);
  const move = async (status, acceptWarnings = false) => {
    setBusy(status);
    setError(null);
    try {
      const data = await changeStatus(story.id, status, { acceptWarnings });
      showStory(data);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };
  const moving = can('changeStatus');
  return html`<section class="panel status" aria-labelledby="status-heading">
    <h3 id="status-heading">Status <${StatusChip} status=${story.status} /></h3>
    ${story.acceptWarnings ? html`<p class="muted">Moved to Ready accepting INVEST warnings.</p>` : null}
    <div class="actions" role="group" aria-label="Change status">
      ${nextStatuses(story).map((status) => html`<button type="button" class="secondary"
          disabled=${busy !== null || !moving.allowed} onClick=${() => move(status)}
          aria-describedby=${moving.allowed ? undefined : 'status-denied'}>
          ${busy === status ? 'Moving…' : `Move to ${status}`}</button>`)}
    </div>
    <${Why} check=${moving} id="status-denied" />
    <${Refusal} error=${error} byId=${byId} onAcceptWarnings=${error ? () => move(error.details.to, true) : null} />
  </section>`;
}

function Children({ story, childrenList }) {
  const [title, setTitle] = useState('');
  const [add, busy, error] = useAction(async () => {
    await createStory({ title: title.trim(), parentId: story.id });
    setTitle('');
    await loadStory(story.id);
  });
  const creating = can('createStory');
  return html`<section class="panel children" aria-labelledby="children-heading">
    <h3 id="children-heading">Child stories (${childrenList.length})</h3>
    ${childrenList.length === 0 ? html`<p class="muted">No child stories.</p>` : html`<ul>
      ${childrenList.map((child) => html`<li><a href=${storyHref(child.id)}>${storyLabel(child.id)} ${child.title}</a> <${StatusChip} status=${child.status} /></li>`)}
    </ul>`}
    <form class="inline-form" onSubmit=${(event) => { event.preventDefault(); add(); }}>
      <label for="child-title">New child story</label>
      <input id="child-title" value=${title} maxlength="200" placeholder="Title of the child story"
        onInput=${(event) => setTitle(event.target.value)} />
      <button type="submit" disabled=${busy || !title.trim() || !creating.allowed}>${busy ? 'Adding…' : 'Add child'}</button>
      <${Why} check=${creating} id="child-denied" />
    </form>
    <${ErrorNote} error=${error} onRetry=${add} />
  </section>`;
}

function DeleteStory({ story, byId }) {
  const [confirming, setConfirming] = useState(false);
  const below = Math.max(descendants(byId, story.id).length, story.children?.length || 0);
  const [remove, busy, error, setError] = useAction(async () => {
    await deleteStory(story.id, below > 0);
    offerUndo(story, below + 1);
    navigate(story.parentId != null ? storyHref(story.parentId) : href('/'));
  });
  useEffect(() => { setConfirming(false); setError(null); }, [story.id]);
  const deleting = can(below > 0 ? 'deleteSubtree' : 'deleteStory');
  return html`<section class="panel danger" aria-labelledby="delete-heading">
    <h3 id="delete-heading">Delete</h3>
    ${confirming ? html`<div class="confirm" role="alertdialog" aria-labelledby="delete-question">
      <p id="delete-question">${below > 0
        ? `Delete "${story.title}" and the ${below} ${below === 1 ? 'story' : 'stories'} under it, with all their acceptance tests? They stay in the Trash for 30 days.`
        : `Delete "${story.title}" and its acceptance tests? It stays in the Trash for 30 days.`}</p>
      <div class="actions">
        <button type="button" class="destructive" disabled=${busy} onClick=${remove}>
          ${busy ? 'Deleting…' : below > 0 ? `Delete ${below + 1} stories` : 'Delete story'}</button>
        <button type="button" class="secondary" onClick=${() => setConfirming(false)}>Keep it</button>
      </div>
    </div>` : html`<button type="button" class="secondary destructive-outline" disabled=${!deleting.allowed}
        aria-describedby=${deleting.allowed ? undefined : 'delete-denied'} onClick=${() => setConfirming(true)}>Delete story…</button>
      <${Why} check=${deleting} id="delete-denied" />`}
    <${ErrorNote} error=${error} onRetry=${remove} />
  </section>`;
}

export function StoryPage({ id, story: page, byId }) {
  useEffect(() => { loadStory(id); }, [id]);
  if (page.error && !page.detail) {
    return html`<section class="story-page"><${ErrorNote} error=${page.error} onRetry=${() => loadStory(id)} />
      ${page.error.status === 404 ? html`<p><a href=${href('/')}>Back to the stories</a></p>` : null}</section>`;
  }
  const detail = page.detail && page.detail.id === id ? page.detail : null;
  if (!detail) return html`<section class="story-page"><p class="muted">Loading story ${storyLabel(id)}…</p></section>`;
  return html`<article class="story-page" aria-labelledby="story-heading">
    <a class="back" href=${href('/')}>← All stories</a>
    <${Breadcrumb} story=${detail} byId=${byId} />
    <h2 id="story-heading"><span class="story-key">${storyLabel(detail.id)}</span> ${detail.title} <${StatusChip} status=${detail.status} />
      ${detail.openBlockers?.length ? html` <span class="chip chip-waiting">Blocked by ${detail.openBlockers.map((blocker) => blocker.key).join(', ')}</span>` : null}</h2>
    <div class="story-grid">
      <div class="story-main">
        <${StoryForm} story=${detail} remote=${page.remote} key=${detail.id} />
        <${AcceptanceTests} story=${detail} />
        <${CodeTasks} story=${detail} />
        <${StoryActivity} story=${detail} />
      </div>
      <aside class="story-side">
        <${StatusControl} story=${detail} byId=${byId} />
        <${Dependencies} story=${detail} />
        <${ReferenceDocuments} story=${detail} />
        <${InvestPanel} invest=${detail.invest} />
        <${AiReviewPanel} story=${detail} />
        <${Children} story=${detail} childrenList=${detail.children} />
        <${DeleteStory} story=${detail} byId=${byId} />
      </aside>
    </div>
  </article>`;
}
