// access.js — what the API says this person may do in the project (GET /projects/{key}/me),
// loaded once per page: buttons are disabled with the API's own reason instead of guessing
// from a role, and a project the person cannot see gets a page that says so.

import { html } from './vendor-htm-preact.js';
import { api } from './api.js';
import { setState, getState } from './store.js';
import { currentProject } from './project.js';

export async function loadAccess() {
  const project = currentProject();
  setState({ access: { ...(getState().access || {}), loading: true, error: null } });
  try {
    const { data } = await api('GET', `/projects/${encodeURIComponent(project)}/me`);
    // A project switched meanwhile has its own answer coming.
    if (currentProject() === project) setState({ access: { loading: false, error: null, ...data } });
  } catch (failure) {
    if (currentProject() === project) setState({ access: { loading: false, error: failure } });
  }
}

/**
 * `{allowed, reason}` for one policy action. `ownTask`: the code task acted on was started by
 * this person (contributors may act on their own tasks only). Until the answer is in, nothing
 * is allowed and the reason says so.
 */
export function can(action, { ownTask = false } = {}) {
  const access = getState().access || {};
  const entry = access.permissions?.[action];
  if (!entry) {
    return {
      allowed: false,
      reason: access.loading !== false ? 'Checking what you may do…' : 'Your access could not be checked; reload the page.',
    };
  }
  const allowed = ownTask && entry.onOwnTasks !== undefined ? entry.onOwnTasks : entry.allowed;
  if (allowed) return { allowed: true, reason: null };
  const reason = entry.reason || 'not allowed';
  // An archived project refuses everyone alike: that is about the project, not the person.
  if (reason.startsWith('the project is archived')) return { allowed: false, reason: `The${reason.slice(3)}.` };
  return { allowed: false, reason: `Not for you: ${reason}.` };
}

/**
 * Why code cannot be generated in this project whoever asks: it links no repository (the
 * default project then uses the deployment's own), or the GitHub App lost access to the one
 * chosen (`target`, else the default). Null when it can.
 */
export function missingRepository(target) {
  const project = getState().access?.project;
  const link = target || project?.repository;
  if (link?.disconnected) {
    return `The repository ${link.owner}/${link.name} is disconnected: the GitHub App was removed from it, suspended or uninstalled. An owner of the repository installs the App on it again.`;
  }
  if (!project || link || project.id === 'default') return null;
  return 'This project has no code repository yet: a maintainer links one in the project settings (People page).';
}

/** The repositories a code task of this project may work in, the default first. */
export function taskRepositories() {
  const project = getState().access?.project;
  return [project?.repository, ...(project?.otherRepositories || [])].filter(Boolean);
}

/** Whether the signed-in person started this code task. */
export function startedByMe(task) {
  const sub = getState().access?.person?.sub;
  return Boolean(sub && task?.requestedBy === sub);
}

/** The reason beside a control the person may not use; nothing when they may. */
export function Why({ check, id }) {
  return check.allowed ? null : html`<span id=${id} class="muted denied">${check.reason}</span>`;
}
