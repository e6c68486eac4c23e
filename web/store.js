// store.js — the one application state and its change notifications: views read it, actions
// replace parts of it, and every change re-renders from the top (state flows one way).

let state = {};
const listeners = new Set();

export function getState() {
  return state;
}

/** Replaces top-level keys (or applies `fn(state)` returning them) and notifies. */
export function setState(patch) {
  const changes = typeof patch === 'function' ? patch(state) : patch;
  state = { ...state, ...changes };
  for (const listener of listeners) listener(state);
}

/** Updates one top-level key, given as an object, with `changes` (object or function). */
export function update(key, changes) {
  setState((current) => {
    const before = current[key] || {};
    const after = typeof changes === 'function' ? changes(before) : changes;
    return { [key]: { ...before, ...after } };
  });
}

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
