// router.js — the page's place in the URL hash: the project (#/p/SHOP/…; none means the default
// project, so links from before projects keep working) and the view in it (#/p/SHOP/stories/42,
// #/p/SHOP/board), so links work and the back button goes back.

import { getState } from './store.js';

export function parseRoute(hash) {
  let path = (hash || '').replace(/^#/, '');
  let project = null;
  const scoped = path.match(/^\/p\/([A-Za-z0-9]{1,64})(\/.*)?$/);
  if (scoped) {
    project = scoped[1];
    path = scoped[2] || '/';
  }
  // A view's options ride after `?` in the hash (`#/p/SHOP/board?assignee=ada`), so a filtered
  // view can be shared and survives a reload.
  const [bare, search = ''] = path.split('?');
  path = bare;
  const query = Object.fromEntries(new URLSearchParams(search));
  const join = path.match(/^\/join\/([A-Za-z0-9.]{1,200})$/);
  if (join) return { project: null, view: 'join', token: join[1] };
  const story = path.match(/^\/stories\/(\d+)$/);
  if (story) return { project, view: 'story', id: Number(story[1]) };
  if (path === '/board') return { project, view: 'board', query };
  const trace = path.match(/^\/traceability(?:\/(\d+))?$/);
  if (trace) return { project, view: 'traceability', id: trace[1] ? Number(trace[1]) : null };
  if (path === '/people') return { project, view: 'people' };
  if (path === '/trash') return { project, view: 'trash' };
  if (path === '/activity') return { project, view: 'activity' };
  if (path === '/mindmap') return { project, view: 'mindmap' };
  if (path === '/workload') return { project, view: 'workload', query };
  if (path === '/drafts/new') return { project, view: 'draft' };
  if (path === '/projects') return { project, view: 'projects' };
  return { project, view: 'home' };
}

/** A link to `path` (`/board`, `/stories/4`) in the project the page is in. */
export function href(path, project = getState().route?.project) {
  return project ? `#/p/${project}${path}` : `#${path}`;
}

/** The board's address with its filters (empty ones left out). */
export function boardHref(filters) {
  const query = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== '' && value != null && value !== false));
  const search = query.toString();
  return href(`/board${search ? `?${search}` : ''}`);
}

export function storyHref(id) {
  return href(`/stories/${id}`);
}

export function draftHref() {
  return href('/drafts/new');
}

export const PROJECTS_HREF = '#/projects';

export function navigate(hash) {
  if (location.hash !== hash) location.hash = hash;
}
