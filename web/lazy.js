// lazy.js — views that a first load does not need (people, settings, joining a project) are
// fetched when first shown, so the tree's first paint carries fewer bytes.

import { html, useEffect, useState } from './vendor-htm-preact.js';
import { ErrorNote } from './ui.js';

/** Each module is fetched once per page; a failed fetch is forgotten so that Retry fetches again. */
const loaded = new Map();

function fetchModule(load) {
  if (!loaded.has(load)) {
    loaded.set(load, load().catch((failure) => {
      loaded.delete(load);
      throw failure;
    }));
  }
  return loaded.get(load);
}

/**
 * Renders `name` from the module `load` fetches (`() => import('./people.js')`, a literal path,
 * so every import of web/ can be checked) with `props`, once the module has arrived.
 */
export function Lazy({ load, name, props }) {
  const [found, setFound] = useState(null);
  const [error, setError] = useState(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let current = true;
    fetchModule(load).then(
      (module) => current && setFound(() => module[name]),
      () => current && setError({ message: 'This page could not be loaded. Check the connection and retry.', isNetwork: true }),
    );
    return () => { current = false; };
  }, [load, name, attempt]);
  if (error) {
    return html`<section class="story-page"><${ErrorNote} error=${error}
      onRetry=${() => { setError(null); setAttempt(attempt + 1); }} /></section>`;
  }
  if (!found) return html`<section class="story-page"><p class="muted" role="status">Loading…</p></section>`;
  return html`<${found} ...${props} />`;
}
