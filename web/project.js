// project.js — which project the page works in and the person's projects: every
// project-scoped API path goes through scoped(), stories show as KEY-n, and the last project
// opened in this browser is where a bare address (#/) lands.

import { api } from './api.js';
import { getState, update } from './store.js';

const STORAGE_KEY = 'aipm.project';
// The default project's id: the API takes an id wherever it takes a key.
const DEFAULT_PROJECT = 'default';
// A story's number is the low 32 bits of its id (the API numbers stories per project).
const NUMBER_SPAN = 2 ** 32;

/** The project the page is in: the URL's key, or the default project. */
export function currentProject() {
  return getState().route?.project || DEFAULT_PROJECT;
}

/** `/stories/4` → `/projects/SHOP/stories/4`, for the project the page is in. */
export function scoped(path) {
  return `/projects/${encodeURIComponent(currentProject())}${path}`;
}

/** A story as people name it: `SHOP-4` (or `#4` until the project's key is known). */
export function storyLabel(id) {
  const key = getState().access?.project?.key;
  const number = Number(id) % NUMBER_SPAN;
  return key ? `${key}-${number}` : `#${number}`;
}

/** The project opened last in this browser, if it was not the default one. */
export function lastProject() {
  return localStorage.getItem(STORAGE_KEY);
}

export function rememberProject(key) {
  if (key) localStorage.setItem(STORAGE_KEY, key);
  else localStorage.removeItem(STORAGE_KEY);
}

/** GET /projects: the person's projects with their role, into `state.projects`. */
export async function loadMyProjects() {
  update('projects', { loading: true, error: null });
  try {
    const { data } = await api('GET', '/projects');
    update('projects', { list: data.projects, loading: false });
  } catch (error) {
    update('projects', { loading: false, error });
  }
}

/** POST /projects; the person becomes its admin. Answers the new project. */
export async function createProject(fields) {
  const { data } = await api('POST', '/projects', { body: fields });
  await loadMyProjects();
  return data;
}
