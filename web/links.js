// links.js — dependencies between stories: the Dependencies panel of the story page (blocked by,
// blocking, relates to; add one by its KEY-n, remove one), the "Blocked" badge the tree and the
// board show, and which of a story's blockers are still open.

import { html, useState, useEffect } from './vendor-htm-preact.js';
import { api } from './api.js';
import { storyHref } from './router.js';
import { ErrorNote, StatusChip, useAction } from './ui.js';
import { loadStory, showStory } from './stories.js';
import { Why, can } from './access.js';
import { scoped, storyLabel } from './project.js';

// A story's number is the low 32 bits of its id; the high ones name its project.
const NUMBER_SPAN = 2 ** 32;

const RELATIONS = [
  { field: 'blockedBy', label: 'Blocked by', adding: 'is blocked by' },
  { field: 'blocking', label: 'Blocking', adding: 'is blocking' },
  { field: 'relatesTo', label: 'Relates to', adding: 'relates to' },
];

/** The blockers of a loaded story that are not Done: judged by the loaded blockers where the
 * page has them (so a blocker moved to Done clears the badge at once), else by the API's word. */
export function openBlockersOf(story, byId) {
  const blockers = story.blockedBy || [];
  const reported = new Set(story.openBlockers || []);
  return blockers.filter((id) => (byId[id] ? byId[id].status !== 'Done' : reported.has(id)));
}

/** "Blocked by KEY-n" on a board card (`compact`: "Blocked" on a tree row, where the title needs
 * the room), when a blocker is open; the full list is in its tooltip. */
export function BlockedBadge({ story, byId, compact = false }) {
  const open = openBlockersOf(story, byId);
  if (open.length === 0) return null;
  const names = open.map((id) => (byId[id] ? `${storyLabel(id)} ${byId[id].title}` : storyLabel(id)));
  const text = compact
    ? 'Blocked'
    : `Blocked by ${storyLabel(open[0])}${open.length > 1 ? ` +${open.length - 1}` : ''}`;
  return html`<span class="chip chip-waiting" title=${`Blocked by ${names.join(', ')}`}
    aria-label=${`Blocked by ${names.join(', ')}`}>${text}</span>`;
}

/** `SHOP-12`, `12` or `#12` → the id of that story in the project `sameProjectAs` belongs to. */
export function idFromLabel(text, sameProjectAs) {
  const match = text.trim().match(/^(?:[A-Za-z]{2,10}-|#)?(\d{1,9})$/);
  if (!match) return null;
  const base = Math.floor(sameProjectAs / NUMBER_SPAN) * NUMBER_SPAN;
  return base + Number(match[1]);
}

function LinkedList({ relation, stories, onRemove, busy, editable }) {
  if (stories.length === 0) return null;
  return html`<div class="link-group">
    <h4>${relation.label}</h4>
    <ul>${stories.map((linked) => html`<li key=${linked.id}>
      <a href=${storyHref(linked.id)}>${linked.key} ${linked.title}</a> <${StatusChip} status=${linked.status} />
      ${editable ? html`<button type="button" class="link" disabled=${busy}
        aria-label=${`Remove ${relation.label.toLowerCase()} ${linked.key}`}
        onClick=${() => onRemove(relation.field, linked.id)}>Remove</button>` : null}
    </li>`)}</ul>
  </div>`;
}

export function Dependencies({ story }) {
  const links = story.links || { blockedBy: [], blocking: [], relatesTo: [] };
  const open = story.openBlockers || [];
  const [relation, setRelation] = useState('blockedBy');
  const [label, setLabel] = useState('');
  const [invalid, setInvalid] = useState(null);
  const editing = can('editStory');
  const save = async (field, ids) => {
    try {
      const { data } = await api('PUT', scoped(`/stories/${story.id}/links`), {
        body: { [field]: ids },
        headers: { 'if-match': `"${story.version}"` },
      });
      showStory(data);
      return true;
    } catch (failure) {
      // Someone changed the story meanwhile: show theirs; what was typed stays for another try.
      if (failure.status === 412) loadStory(story.id);
      throw failure;
    }
  };
  const [add, adding, addError, setAddError] = useAction(async () => {
    const id = idFromLabel(label, story.id);
    if (id === null) {
      setInvalid(`Name a story of this project, like ${storyLabel(story.id)}.`);
      return;
    }
    const current = links[relation].map((linked) => linked.id);
    if (await save(relation, [...current, id])) setLabel('');
  });
  const [remove, removing, removeError, setRemoveError] = useAction(async (field, id) => {
    await save(field, links[field].map((linked) => linked.id).filter((other) => other !== id));
  });
  useEffect(() => { setAddError(null); setRemoveError(null); setInvalid(null); }, [story.id]);
  const none = RELATIONS.every(({ field }) => links[field].length === 0);

  return html`<section class="panel dependencies" aria-labelledby="dependencies-heading">
    <h3 id="dependencies-heading">Dependencies</h3>
    ${open.length ? html`<p class="blocked-note" role="status"><strong>Blocked:</strong> waits for
      ${' '}${open.map((blocker, at) => html`${at ? ', ' : ''}<a href=${storyHref(blocker.id)}>${blocker.key}</a> (${blocker.status})`)}.
      Done and Generate code wait until ${open.length === 1 ? 'it is' : 'they are'} Done.</p>` : null}
    ${none ? html`<p class="muted">No dependencies.</p>` : RELATIONS.map((item) => html`<${LinkedList}
      relation=${item} stories=${links[item.field]} onRemove=${remove} busy=${removing || adding}
      editable=${editing.allowed} />`)}
    <${ErrorNote} error=${removeError} onDismiss=${() => setRemoveError(null)} />
    <form class="inline-form link-form" onSubmit=${(event) => { event.preventDefault(); add(); }}>
      <label for="link-relation">This story</label>
      <select id="link-relation" value=${relation} onChange=${(event) => setRelation(event.target.value)}>
        ${RELATIONS.map((item) => html`<option value=${item.field}>${item.adding}</option>`)}
      </select>
      <label class="visually-hidden" for="link-story">Story key</label>
      <input id="link-story" value=${label} placeholder=${`e.g. ${storyLabel(story.id)}`} size="10"
        aria-invalid=${invalid ? 'true' : undefined} aria-describedby=${invalid ? 'link-invalid' : undefined}
        onInput=${(event) => { setLabel(event.target.value); setInvalid(null); }} />
      <button type="submit" disabled=${adding || !label.trim() || !editing.allowed}>${adding ? 'Adding…' : 'Add link'}</button>
      <${Why} check=${editing} id="link-denied" />
    </form>
    ${invalid ? html`<p class="error-note" id="link-invalid" role="alert">${invalid}</p>` : null}
    <${ErrorNote} error=${addError} onRetry=${add} />
  </section>`;
}
