// board-filter.js — which stories the board shows: filters by epic (a subtree), assignee,
// component, text and "blocked only", and the epic each story belongs to for swimlanes. Pure
// functions of the loaded stories, so the board and the benchmark measure the same work.

import { openBlockersOf } from './links.js';

export const NO_ASSIGNEE = '(unassigned)';

/** The filters as the URL holds them, with defaults for what it does not. */
export function filtersOf(query = {}) {
  return {
    epic: query.epic || '',
    assignee: query.assignee || '',
    component: query.component || '',
    text: query.text || '',
    blocked: query.blocked === '1' ? '1' : '',
    lanes: query.lanes === 'epic' ? 'epic' : '',
  };
}

/** Each story's top-level ancestor (itself for a root): its epic for swimlanes. */
export function epicsOf(byId) {
  const epic = {};
  const find = (id) => {
    if (epic[id] !== undefined) return epic[id];
    const chain = [];
    let current = id;
    while (byId[current] && byId[current].parentId != null && byId[byId[current].parentId] && chain.length < 1000) {
      chain.push(current);
      current = byId[current].parentId;
      if (epic[current] !== undefined) { current = epic[current]; break; }
    }
    for (const step of chain) epic[step] = current;
    epic[id] = current;
    return current;
  };
  for (const id of Object.keys(byId)) find(Number(id));
  return epic;
}

/** The choices the filter menus offer: stories with children (epics), people, components. */
export function filterChoices(byId) {
  const parents = new Set();
  const assignees = new Set();
  const components = new Set();
  for (const story of Object.values(byId)) {
    if (story.parentId != null) parents.add(story.parentId);
    if (story.assigneeEmail) assignees.add(story.assigneeEmail);
    for (const component of story.components || []) components.add(component);
  }
  return {
    epics: [...parents].filter((id) => byId[id]).sort((a, b) => a - b),
    assignees: [...assignees].sort(),
    components: [...components].sort(),
  };
}

/** The stories the filters let through, in id order. `label(id)` is how a story is named. */
export function filterStories(byId, filters, label = String) {
  const text = filters.text.trim().toLowerCase();
  let inEpic = null;
  if (filters.epic) {
    const root = Number(filters.epic);
    inEpic = new Set([root]);
    // Children by parent, once, so the subtree is one walk however big the board is.
    const children = {};
    for (const story of Object.values(byId)) {
      if (story.parentId != null) (children[story.parentId] ||= []).push(story.id);
    }
    const stack = [root];
    while (stack.length) {
      for (const child of children[stack.pop()] || []) {
        if (!inEpic.has(child)) { inEpic.add(child); stack.push(child); }
      }
    }
  }
  return Object.values(byId)
    .filter((story) => (!inEpic || inEpic.has(story.id))
      && (!filters.assignee || (filters.assignee === NO_ASSIGNEE
        ? !story.assigneeEmail : story.assigneeEmail === filters.assignee))
      && (!filters.component || (story.components || []).includes(filters.component))
      && (!filters.blocked || story.status === 'Blocked' || openBlockersOf(story, byId).length > 0)
      && (!text || story.title.toLowerCase().includes(text) || label(story.id).toLowerCase() === text))
    .sort((a, b) => a.id - b.id);
}
