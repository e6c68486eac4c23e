// router.js — the page's place in the URL hash (#/stories/42, #/board), so links to a story
// work and the back button goes back.

export function parseRoute(hash) {
  const path = (hash || '').replace(/^#/, '');
  const story = path.match(/^\/stories\/(\d+)$/);
  if (story) return { view: 'story', id: Number(story[1]) };
  if (path === '/board') return { view: 'board' };
  return { view: 'home' };
}

export function storyHref(id) {
  return `#/stories/${id}`;
}

export function navigate(hash) {
  if (location.hash !== hash) location.hash = hash;
}
