// stories.js — the stories the page has loaded and the actions that change them through the API.
// The tree loads one level at a time (GET /stories?parentId=root|id, each story with its child
// counts), so a big project opens fast; the board pages through the flat listing. Both read the
// same stories by id.

import { api } from './api.js';
import { getState, update } from './store.js';
import { scoped } from './project.js';

const PAGE_SIZE = 500;
// One level of the tree per request, up to this many stories (then "Load more").
const LEVEL_SIZE = 200;

export function initialStories() {
  // `levels`: per parent id (or 'root'), whether that level of the tree is loaded.
  return { byId: {}, cursor: null, loaded: false, loading: false, error: null, levels: {} };
}

function setLevel(key, changes) {
  update('stories', (current) => ({
    levels: { ...current.levels, [key]: { ...(current.levels[key] || {}), ...changes } },
  }));
}

/** One level of the tree: the top (`'root'`) or a story's children; `more` for its next page. */
export async function loadLevel(parent = 'root', { more = false } = {}) {
  const key = String(parent);
  const level = getState().stories.levels[key] || {};
  if (level.loading || (level.loaded && !more)) return;
  setLevel(key, { loading: true, error: null });
  try {
    const cursor = more && level.cursor ? `&cursor=${encodeURIComponent(level.cursor)}` : '';
    const { data } = await api('GET', scoped(`/stories?parentId=${key}&limit=${LEVEL_SIZE}${cursor}`));
    merge(data.stories);
    setLevel(key, { loaded: true, loading: false, cursor: data.nextCursor });
    if (key === 'root') performance.mark('aipm:stories-loaded');
  } catch (error) {
    setLevel(key, { loading: false, error });
  }
}

/** Loads every level between the top and a story, so a link to a deep story shows it in place. */
export async function revealStory(id) {
  const chain = [];
  let story = getState().stories.byId[id];
  while (story && story.parentId != null && chain.length < 100) {
    chain.push(story.parentId);
    if (!getState().stories.byId[story.parentId]) {
      try {
        const { data } = await api('GET', scoped(`/stories/${story.parentId}`));
        remember(data);
      } catch {
        break;
      }
    }
    story = getState().stories.byId[story.parentId];
  }
  await Promise.all(['root', ...chain].map((parent) => loadLevel(parent)));
}

function merge(stories) {
  update('stories', (current) => {
    const byId = { ...current.byId };
    for (const story of stories) byId[story.id] = { ...byId[story.id], ...story };
    return { byId };
  });
}

/** The flat listing (the board's): its first page, or the next one with `more`. */
export async function loadStories({ more = false } = {}) {
  const current = getState().stories;
  if (current.loading) return;
  update('stories', { loading: true, error: null });
  try {
    const cursor = more && current.cursor ? `&cursor=${encodeURIComponent(current.cursor)}` : '';
    const { data } = await api('GET', scoped(`/stories?limit=${PAGE_SIZE}${cursor}`));
    merge(data.stories);
    update('stories', { cursor: data.nextCursor, loaded: true, loading: false });
  } catch (error) {
    update('stories', { loading: false, error });
  }
}

/** Every story of the project, page after page (finding a story anywhere in the tree). */
export async function loadAllStories() {
  if (!getState().stories.loaded) await loadStories();
  while (getState().stories.cursor && !getState().stories.error) await loadStories({ more: true });
}

/** Keeps a story the API returned (created, read, changed) in the loaded set. */
export function remember(story) {
  const { invest, acceptanceTests, children, codeTasks, links, openBlockers, ...fields } = story;
  // Listings and the story page name blockers differently; the loaded set keeps ids.
  if (links) fields.blockedBy = links.blockedBy.map((linked) => linked.id);
  if (openBlockers) fields.openBlockers = openBlockers.map((blocker) => blocker.id ?? blocker);
  merge([fields]);
  if (children) merge(children.map((child) => ({ ...child, parentId: story.id })));
}

export function forget(ids) {
  update('stories', (current) => {
    const byId = { ...current.byId };
    for (const id of ids) delete byId[id];
    return { byId };
  });
}

/** Ids of the loaded children of every story, in id order. */
export function childrenIndex(byId) {
  const index = {};
  for (const story of Object.values(byId)) {
    if (story.parentId === undefined || story.parentId === null) continue;
    (index[story.parentId] ||= []).push(story.id);
  }
  for (const ids of Object.values(index)) ids.sort((a, b) => a - b);
  return index;
}

/** Every loaded descendant of `id`. */
export function descendants(byId, id) {
  const index = childrenIndex(byId);
  const found = [];
  const stack = [...(index[id] || [])];
  while (stack.length) {
    const next = stack.pop();
    found.push(next);
    stack.push(...(index[next] || []));
  }
  return found;
}

export async function createStory(fields) {
  const { data } = await api('POST', scoped('/stories'), { body: fields });
  remember(data);
  return data;
}

/** PATCH /stories/{id} with only `status` (and `acceptWarnings`); the answer is remembered. */
export async function changeStatus(id, status, { acceptWarnings = false } = {}) {
  const body = { status };
  if (acceptWarnings) body.acceptWarnings = true;
  const { data } = await api('PATCH', scoped(`/stories/${id}`), { body });
  performance.mark('aipm:status-answer');
  noteWritten(data);
  remember(data);
  return data;
}

export async function deleteStory(id, cascade) {
  const byId = getState().stories.byId;
  const gone = [id, ...(cascade ? descendants(byId, id) : [])];
  await api('DELETE', scoped(`/stories/${id}${cascade ? '?cascade=true' : ''}`));
  forget(gone);
}

/** Loads the story page's data (story, INVEST, tests, children, tasks) into the store. */
export async function loadStory(id) {
  update('story', (current) => ({ id, loading: true, error: null, detail: current.id === id ? current.detail : null }));
  try {
    const { data } = await api('GET', scoped(`/stories/${id}`));
    if (getState().story.id !== id) return;
    remember(data);
    update('story', { detail: data, loading: false });
  } catch (error) {
    if (getState().story.id === id) update('story', { loading: false, error });
  }
}

// The story versions this page wrote (`id:version`): hearing of one of them on the live channel
// is not news. Any other version is someone else's change, even the same person's in another
// window, and the story form must not take it under what its user is typing.
const written = new Set();
const WRITTEN_LIMIT = 500;

function noteWritten(story) {
  if (story?.id == null || story.version == null) return;
  written.add(`${story.id}:${story.version}`);
  if (written.size > WRITTEN_LIMIT) written.delete(written.values().next().value);
}

/** Puts a story the API answered with (after an edit) on the page, keeping tests and tasks. */
export function showStory(story) {
  noteWritten(story);
  remember(story);
  update('story', (current) => ({
    detail: current.detail && current.detail.id === story.id ? { ...current.detail, ...story } : current.detail,
  }));
}

/**
 * A story changed (a live notice): read it again and put it where the page shows it.
 * `structural`: it was created, moved, deleted or restored, so its parents' child counts moved
 * too. `me`: this page's person, to word a change they made in another window.
 */
export async function refreshStory(id, { structural = false, notice = null, me = null } = {}) {
  const known = getState().stories.byId[id];
  let data;
  try {
    ({ data } = await api('GET', scoped(`/stories/${id}`)));
  } catch (failure) {
    if (failure.status !== 404) return;
    // Deleted (to the trash): out of the tree and the board, and the open page says so.
    forget([id, ...descendants(getState().stories.byId, id)]);
    if (getState().story.id === id) {
      const by = notice?.by ? `${notice.by} deleted this story` : 'This story was deleted';
      update('story', { detail: null, loading: false, error: { status: 404, code: 'STORY_DELETED', message: `${by}; it can be restored from the Trash.` } });
    }
    if (known?.parentId != null) refreshParent(known.parentId);
    return;
  }
  remember(data);
  const parents = new Set([data.parentId, known?.parentId].filter((parent) => parent != null));
  if (structural) for (const parent of parents) refreshParent(parent);
  const open = getState().story.id;
  if (open === id) {
    const elsewhere = notice && !written.has(`${id}:${data.version}`);
    const by = notice?.bySub && notice.bySub === me ? 'You, in another window,' : notice?.by;
    update('story', (current) => ({
      detail: data,
      error: null,
      // The form compares this with the version it is given: a version written elsewhere is
      // not taken under the user's typing.
      remote: elsewhere ? { version: data.version, by, fields: notice.fields || [], action: notice.action } : current.remote,
    }));
  } else if (open != null && parents.has(open) && !structural) {
    refreshParent(open);
  }
}

/** A parent's own record (child counts, done counts) and, when it is open, its page. */
async function refreshParent(id) {
  try {
    const { data } = await api('GET', scoped(`/stories/${id}`));
    remember(data);
    if (getState().story.id === id) update('story', { detail: data });
  } catch {
    // A parent that cannot be read now is read again with the next change or reload.
  }
}

/**
 * After the live channel was down: every loaded level of the tree, the board's listing and the
 * open story read again; a level that fits one page also drops what is no longer in it.
 */
export async function resyncStories() {
  const { levels, loaded } = getState().stories;
  const keys = Object.keys(levels).filter((key) => levels[key].loaded);
  await Promise.all(keys.map(async (key) => {
    try {
      const { data } = await api('GET', scoped(`/stories?parentId=${key}&limit=${LEVEL_SIZE}`));
      if (!data.nextCursor) {
        const present = new Set(data.stories.map((story) => story.id));
        const gone = Object.values(getState().stories.byId)
          .filter((story) => String(story.parentId ?? 'root') === key && !present.has(story.id))
          .map((story) => story.id);
        if (gone.length) forget(gone);
      }
      merge(data.stories);
      setLevel(key, { cursor: data.nextCursor });
    } catch {
      // The next notice or reconnect tries again.
    }
  }));
  if (loaded) {
    update('stories', { cursor: null });
    await loadStories();
  }
  const open = getState().story.id;
  if (open != null) await loadStory(open);
}
