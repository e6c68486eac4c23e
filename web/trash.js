// trash.js — deleted stories: the Undo bar right after a delete, the project's Trash page
// (#/trash) with Restore and, for admins, Delete for good; a restore brings the tree back.

import { html, useEffect, useState } from './vendor-htm-preact.js';
import { api } from './api.js';
import { getState, setState } from './store.js';
import { scoped, storyLabel } from './project.js';
import { navigate, storyHref } from './router.js';
import { initialStories, loadLevel } from './stories.js';
import { can, Why } from './access.js';
import { ErrorNote, formatTime, useAction } from './ui.js';

/** POST …/trash/{id}/restore, then the tree is read again and the story shown. */
export async function restoreStory(id) {
  const { data } = await api('POST', scoped(`/trash/${id}/restore`));
  setState({ stories: initialStories(), undo: null, restored: { id, note: data.note } });
  loadLevel('root');
  navigate(storyHref(id));
  return data;
}

/** Offers Undo for a delete just made (shown until dismissed or another project is opened). */
export function offerUndo(story, count) {
  setState({ undo: { id: story.id, title: story.title, count }, restored: null });
}

/** The bar under the header after a delete: Undo, or the note of a restore just made. */
export function UndoBar({ undo, restored }) {
  const [restore, busy, error] = useAction(() => restoreStory(undo.id));
  if (restored) {
    return html`<div class="undo-bar" role="status">
      <span>${restored.note}</span>
      <button type="button" class="link" onClick=${() => setState({ restored: null })}>Dismiss</button>
    </div>`;
  }
  if (!undo) return null;
  return html`<div class="undo-bar" role="status">
    <span>Deleted “${undo.title}”${undo.count > 1 ? ` and ${undo.count - 1} more` : ''}. It stays in the Trash for 30 days.</span>
    <button type="button" onClick=${restore} disabled=${busy}>${busy ? 'Restoring…' : 'Undo'}</button>
    <button type="button" class="link" onClick=${() => setState({ undo: null })}>Dismiss</button>
    <${ErrorNote} error=${error} onRetry=${restore} />
  </div>`;
}

function TrashRow({ entry, onChanged }) {
  const [restore, restoring, restoreError] = useAction(() => restoreStory(entry.storyId));
  const [confirming, setConfirming] = useState(false);
  const [purge, purging, purgeError] = useAction(async () => {
    await api('DELETE', scoped(`/trash/${entry.storyId}`));
    onChanged();
  });
  const mayRestore = can(entry.storyIds.length > 1 ? 'deleteSubtree' : 'deleteStory');
  const mayPurge = can('archiveProject');
  const others = entry.storyIds.length - 1;
  const denyId = `restore-denied-${entry.storyId}`;
  return html`<li class="trash-entry">
    <div class="trash-what">
      <strong>${storyLabel(entry.storyId)} ${entry.title}</strong>
      <span class="muted">${others > 0 ? ` with ${others} ${others === 1 ? 'story' : 'stories'} under it,` : ''}
        ${entry.testCount === 0 ? ' no acceptance tests' : ` ${entry.testCount} acceptance ${entry.testCount === 1 ? 'test' : 'tests'}`}</span>
      <div class="muted">Deleted by ${entry.deletedBy.name} · ${formatTime(entry.deletedAt)} · purged on ${formatTime(entry.purgeAt)} unless restored</div>
    </div>
    <div class="actions">
      <button type="button" onClick=${restore} disabled=${restoring || !mayRestore.allowed}
        aria-describedby=${mayRestore.allowed ? undefined : denyId}>${restoring ? 'Restoring…' : 'Restore'}</button>
      <${Why} check=${mayRestore} id=${denyId} />
      ${mayPurge.allowed ? (confirming
        ? html`<span role="alertdialog" aria-label="Delete for good">
            <button type="button" class="destructive" onClick=${purge} disabled=${purging}>${purging ? 'Deleting…' : 'Delete for good'}</button>
            <button type="button" class="secondary" onClick=${() => setConfirming(false)}>Keep it</button></span>`
        : html`<button type="button" class="secondary destructive-outline" onClick=${() => setConfirming(true)}>Delete for good…</button>`)
        : null}
    </div>
    <${ErrorNote} error=${restoreError || purgeError} onRetry=${restoreError ? restore : purge} />
  </li>`;
}

/** #/trash: what was deleted in the last 30 days. */
export function TrashPage() {
  const [state, setTrash] = useState({ loading: true, entries: [], error: null });
  const load = async () => {
    setTrash((current) => ({ ...current, loading: true, error: null }));
    try {
      const { data } = await api('GET', scoped('/trash'));
      setTrash({ loading: false, entries: data.trash, error: null });
    } catch (error) {
      setTrash((current) => ({ ...current, loading: false, error }));
    }
  };
  useEffect(() => { load(); }, [getState().route?.project]);
  return html`<section class="story-page trash-page" aria-labelledby="trash-heading">
    <h2 id="trash-heading">Trash</h2>
    <p class="muted">Deleted stories stay here for 30 days with their child stories, acceptance tests, dependencies and files. Restoring brings back exactly what was deleted.</p>
    ${state.loading && !state.entries.length ? html`<p class="muted">Loading…</p>` : null}
    <${ErrorNote} error=${state.error} onRetry=${load} />
    ${!state.loading && !state.error && state.entries.length === 0 ? html`<p class="muted">The trash is empty.</p>` : null}
    <ul class="trash">${state.entries.map((entry) => html`<${TrashRow} key=${entry.storyId} entry=${entry} onChanged=${load} />`)}</ul>
  </section>`;
}
