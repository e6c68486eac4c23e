// router.js — the page's place in the URL hash (#/stories/42, #/board), so links to a story
// work and the back button goes back.

export function parseRoute(hash) {
  const path = (hash || '').replace(/^#/, '');
  const story = path.match(/^\/stories\/(\d+)$/);
  if (story) return { view: 'story', id: Number(story[1]) };
  if (path === '/board') return { view: 'board' };
  if (path === '/people') return { view: 'people' };
  if (path === '/drafts/new') return { view: 'draft' };
  return { view: 'home' };
}

export function storyHref(id) {
  return `#/stories/${id}`;
}

export const DRAFT_HREF = '#/drafts/new';

export function navigate(hash) {
  if (location.hash !== hash) location.hash = hash;
}
