// tree.js — the story tree: roots and children as an outline with status chips and each parent's
// done/total count, loaded one level at a time as branches open, expand and collapse, filter by
// status, find by title (over the whole project), load more, keyboard navigation (arrows,
// Home/End, Enter), and a form for a new root story.

import { html, useState, useRef, useEffect } from './vendor-htm-preact.js';
import { ErrorNote, StatusChip, STATUSES, useAction } from './ui.js';
import { draftHref, storyHref, navigate } from './router.js';
import { storyLabel } from './project.js';
import { childrenIndex, createStory, loadAllStories, loadLevel, revealStory } from './stories.js';
import { can } from './access.js';
import { BlockedBadge } from './links.js';

/** The rows to show, in order, with their depth, given what is expanded and filtered. A branch
 * whose level is not loaded yet shows the counts the API gave with its parent. */
export function visibleRows(byId, expanded, filter, levels = {}) {
  const index = childrenIndex(byId);
  const roots = Object.values(byId)
    .filter((story) => story.parentId == null || !byId[story.parentId])
    .map((story) => story.id)
    .sort((a, b) => a - b);
  const text = filter.text.trim().toLowerCase();
  const filtering = text !== '' || filter.status !== '';
  const matches = (story) => (!text || story.title.toLowerCase().includes(text))
    && (!filter.status || story.status === filter.status);
  // When filtering, a story shows if it or a descendant matches, and every such branch is open.
  const keep = {};
  const mark = (id) => {
    let any = matches(byId[id]);
    for (const child of index[id] || []) any = mark(child) || any;
    keep[id] = any;
    return any;
  };
  if (filtering) roots.forEach(mark);
  const rows = [];
  const walk = (id, depth) => {
    if (filtering && !keep[id]) return;
    const story = byId[id];
    const children = index[id] || [];
    const loaded = levels[id]?.loaded;
    const count = loaded || story.childCount === undefined ? children.length : Math.max(story.childCount, children.length);
    const done = loaded || story.doneChildCount === undefined
      ? children.filter((child) => byId[child].status === 'Done').length
      : story.doneChildCount;
    const open = filtering ? children.some((child) => keep[child]) : expanded.has(id);
    rows.push({
      story, depth, children: count, done, open, match: filtering && matches(story),
      loading: Boolean(open && levels[id]?.loading),
    });
    if (open) children.forEach((child) => walk(child, depth + 1));
  };
  roots.forEach((id) => walk(id, 1));
  return rows;
}

function NewStoryForm({ onDone }) {
  const [title, setTitle] = useState('');
  const [create, busy, error] = useAction(async () => {
    const story = await createStory({ title: title.trim() });
    setTitle('');
    onDone();
    navigate(storyHref(story.id));
  });
  const submit = (event) => {
    event.preventDefault();
    create();
  };
  return html`<form class="inline-form" onSubmit=${submit}>
    <label for="new-story-title">New story title</label>
    <input id="new-story-title" value=${title} required maxlength="200"
      onInput=${(event) => setTitle(event.target.value)} autofocus />
    <button type="submit" disabled=${busy || !title.trim()}>${busy ? 'Creating…' : 'Create story'}</button>
    <button type="button" class="secondary" onClick=${onDone}>Cancel</button>
    <a class="draft-link" href=${draftHref()} onClick=${onDone}>Or draft it from an idea…</a>
    <${ErrorNote} error=${error} onRetry=${create} />
  </form>`;
}

export function StoryTree({ stories, selectedId }) {
  const [expanded, setExpanded] = useState(() => new Set());
  const [filter, setFilter] = useState({ text: '', status: '' });
  const [creating, setCreating] = useState(false);
  const [focusId, setFocusId] = useState(selectedId);
  const list = useRef(null);
  const levels = stories.levels || {};
  const rows = visibleRows(stories.byId, expanded, filter, levels);
  const mayCreate = can('createStory');
  const top = levels.root || {};
  const selectedKnown = Boolean(selectedId && stories.byId[selectedId]);

  // Open the branch that leads to the selected story, loading its levels, so a link to a story
  // shows it in place.
  useEffect(() => {
    if (!selectedKnown) return;
    revealStory(selectedId);
    const next = new Set(expanded);
    let parent = stories.byId[selectedId].parentId;
    let changed = false;
    while (parent != null && stories.byId[parent]) {
      if (!next.has(parent)) { next.add(parent); changed = true; }
      parent = stories.byId[parent].parentId;
    }
    if (changed) setExpanded(next);
    setFocusId(selectedId);
  }, [selectedId, selectedKnown, stories.byId[selectedId]?.parentId, Object.keys(stories.byId).length]);

  const toggle = (id, open) => {
    const next = new Set(expanded);
    if (open ?? !next.has(id)) {
      next.add(id);
      loadLevel(id);
    } else {
      next.delete(id);
    }
    setExpanded(next);
  };
  // Finding by title looks through the whole project, not only the levels opened so far.
  const search = (changes) => {
    const next = { ...filter, ...changes };
    setFilter(next);
    if (next.text.trim() || next.status) loadAllStories();
  };
  const searchingAll = (filter.text.trim() || filter.status) && (stories.loading || !stories.loaded);
  const focusRow = (id) => {
    setFocusId(id);
    requestAnimationFrame(() => list.current?.querySelector(`[data-id="${id}"]`)?.focus());
  };
  const onKeyDown = (event) => {
    const at = rows.findIndex((row) => row.story.id === focusId);
    const row = rows[at];
    if (!row) return;
    const keys = {
      ArrowDown: () => rows[at + 1] && focusRow(rows[at + 1].story.id),
      ArrowUp: () => rows[at - 1] && focusRow(rows[at - 1].story.id),
      Home: () => focusRow(rows[0].story.id),
      End: () => focusRow(rows[rows.length - 1].story.id),
      ArrowRight: () => {
        if (row.children && !row.open) toggle(row.story.id, true);
        else if (row.open && rows[at + 1]) focusRow(rows[at + 1].story.id);
      },
      ArrowLeft: () => {
        if (row.open) toggle(row.story.id, false);
        else if (row.story.parentId != null && stories.byId[row.story.parentId]) focusRow(row.story.parentId);
      },
      Enter: () => navigate(storyHref(row.story.id)),
    };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
    }
  };

  const tabStop = rows.some((row) => row.story.id === focusId) ? focusId : rows[0]?.story.id;
  return html`<section class="tree" aria-labelledby="tree-heading">
    <div class="tree-head">
      <h2 id="tree-heading">Stories</h2>
      <button type="button" onClick=${() => setCreating(!creating)} aria-expanded=${creating}
        disabled=${!mayCreate.allowed} title=${mayCreate.reason || undefined}>New story</button>
    </div>
    ${creating ? html`<${NewStoryForm} onDone=${() => setCreating(false)} />` : null}
    <div class="tree-filters">
      <label class="visually-hidden" for="tree-find">Find by title</label>
      <input id="tree-find" type="search" placeholder="Find by title" value=${filter.text}
        onInput=${(event) => search({ text: event.target.value })} />
      <label class="visually-hidden" for="tree-status">Filter by status</label>
      <select id="tree-status" value=${filter.status}
        onChange=${(event) => search({ status: event.target.value })}>
        <option value="">All statuses</option>
        ${STATUSES.map((status) => html`<option value=${status}>${status}</option>`)}
      </select>
    </div>
    <${ErrorNote} error=${top.error} onRetry=${() => loadLevel('root', { more: Boolean(top.loaded) })} />
    <${ErrorNote} error=${stories.error} onRetry=${loadAllStories} />
    ${top.loaded && rows.length === 0 && !searchingAll
      ? html`<p class="empty">${filter.text || filter.status ? 'No story matches.' : 'No stories yet. Create the first one.'}</p>`
      : null}
    <ul role="tree" aria-label="Story tree" ref=${list} onKeyDown=${onKeyDown}>
      ${rows.map((row) => html`<li role="treeitem" key=${row.story.id} data-id=${row.story.id}
          aria-level=${row.depth} aria-selected=${row.story.id === selectedId}
          aria-expanded=${row.children ? row.open : undefined}
          tabindex=${row.story.id === tabStop ? 0 : -1}
          class=${`tree-row${row.story.id === selectedId ? ' selected' : ''}${row.match ? ' match' : ''}`}
          style=${`--depth:${row.depth - 1}`}
          onFocus=${() => setFocusId(row.story.id)}
          onClick=${() => navigate(storyHref(row.story.id))}>
        ${row.children
          ? html`<button type="button" class="twisty" tabindex="-1"
              aria-label=${`${row.open ? 'Collapse' : 'Expand'} ${row.story.title}`}
              onClick=${(event) => { event.stopPropagation(); toggle(row.story.id); }}>${row.loading ? '…' : row.open ? '▾' : '▸'}</button>`
          : html`<span class="twisty" aria-hidden="true"></span>`}
        <span class="tree-id">${storyLabel(row.story.id)}</span>
        <a class="tree-title" href=${storyHref(row.story.id)} tabindex="-1">${row.story.title}</a>
        ${row.children ? html`<span class="count" title="children done / children">${row.done}/${row.children} done</span>` : null}
        <${BlockedBadge} story=${row.story} byId=${stories.byId} compact=${true} />
        <${StatusChip} status=${row.story.status} />
      </li>`)}
    </ul>
    ${top.loading ? html`<p class="muted" aria-live="polite">Loading stories…</p>` : null}
    ${searchingAll ? html`<p class="muted" aria-live="polite">Searching all stories…</p>` : null}
    ${top.cursor && !top.loading
      ? html`<button type="button" class="secondary load-more" onClick=${() => loadLevel('root', { more: true })}>Load more stories</button>`
      : null}
  </section>`;
}
