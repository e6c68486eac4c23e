// header.js — always visible: the product name, the project switcher, the views, the stage
// (local, dev, prod), the backend's health from GET /health, checked every 30 s, and whether
// the live channel is open.

import { html, useEffect } from './vendor-htm-preact.js';
import { api } from './api.js';
import { update } from './store.js';
import * as auth from './auth.js';
import { currentPerson, localPeople, switchPerson } from './person.js';
import { loadMyProjects } from './project.js';
import { PROJECTS_HREF, href, navigate } from './router.js';

const HEALTH_EVERY_MS = 30000;

export async function checkHealth() {
  try {
    const { data } = await api('GET', '/health');
    update('health', { status: data.status, down: [], checked: Date.now() });
  } catch (failure) {
    const down = (failure.data?.dependencies || []).filter((dep) => !dep.healthy).map((dep) => dep.name);
    update('health', { status: failure.isNetwork ? 'unreachable' : 'unavailable', down, checked: Date.now() });
  }
}

function Who({ access }) {
  const people = localPeople();
  const me = currentPerson();
  const role = access?.role;
  return html`<span class="who">
    ${people.length ? html`<label class="person"><span class="visually-hidden">Acting as</span>
      <select aria-label="Acting as (local people)" value=${me?.sub} onChange=${(event) => switchPerson(event.target.value)}>
        ${people.map((person) => html`<option value=${person.sub}>${person.name}</option>`)}
      </select></label>` : null}
    ${role ? html`<span class="project-role" title="Your role in this project"><strong>${role}</strong></span>` : null}
  </span>`;
}

/** The project the page is in, and a menu of the person's other projects. */
function ProjectSwitcher({ access, projects }) {
  useEffect(() => { if (!projects?.list && !projects?.loading) loadMyProjects(); }, []);
  const current = access?.project;
  const list = projects?.list || [];
  const known = current && list.some(({ project }) => project.key === current.key);
  const options = known || !current ? list : [{ project: current }, ...list];
  return html`<label class="project-switcher"><span class="visually-hidden">Project</span>
    <select aria-label="Project" value=${current?.key || ''}
      onChange=${(event) => navigate(event.target.value === '' ? PROJECTS_HREF : href('/', event.target.value))}>
      ${current ? null : html`<option value="">Projects…</option>`}
      ${options.map(({ project }) => html`<option value=${project.key}>${project.key} · ${project.name}${project.archived ? ' (archived)' : ''}</option>`)}
      <option value="">All my projects…</option>
    </select></label>`;
}

/** Whether changes by others arrive by themselves, and what happens when they do not. */
function LiveStatus({ live }) {
  const status = live?.status || 'off';
  if (status === 'off' && !live?.reason) return null;
  const text = {
    open: 'Live',
    connecting: 'Connecting…',
    retrying: 'Reconnecting…',
    off: 'Not live',
  }[status];
  const title = status === 'open'
    ? "Other people's changes appear as they make them"
    : status === 'retrying'
      ? `${live.reason || 'The live channel is down.'} Trying again; the page catches up when it is back.`
      : live?.reason || '';
  return html`<span class=${`live live-${status}`} role="status" title=${title}>
    <span class="dot" aria-hidden="true"></span><span class="live-text">${text}</span></span>`;
}

export function Header({ config, health, route, access, projects, live }) {
  useEffect(() => {
    checkHealth();
    const timer = setInterval(checkHealth, HEALTH_EVERY_MS);
    return () => clearInterval(timer);
  }, []);
  const healthText = {
    ok: 'Backend healthy',
    unavailable: `Backend degraded${health.down?.length ? `: ${health.down.join(', ')}` : ''}`,
    unreachable: 'Backend unreachable',
  }[health.status] || 'Checking backend…';
  return html`<header class="top">
    <a class="brand" href=${href('/')}>AIPM</a>
    <${ProjectSwitcher} access=${access} projects=${projects} />
    <nav aria-label="Views">
      <a href=${href('/')} aria-current=${['home', 'story', 'draft'].includes(route.view) ? 'page' : undefined}>Stories</a>
      <a href=${href('/board')} aria-current=${route.view === 'board' ? 'page' : undefined}>Board</a>
      <a href=${href('/mindmap')} aria-current=${route.view === 'mindmap' ? 'page' : undefined}>Mindmap</a>
      <a href=${href('/workload')} aria-current=${route.view === 'workload' ? 'page' : undefined}>Workload</a>
      <a href=${href('/traceability')} aria-current=${route.view === 'traceability' ? 'page' : undefined}>Traceability</a>
      <a href=${href('/people')} aria-current=${route.view === 'people' ? 'page' : undefined}>People</a>
      <a href=${href('/activity')} aria-current=${route.view === 'activity' ? 'page' : undefined}>Activity</a>
      <a href=${href('/trash')} aria-current=${route.view === 'trash' ? 'page' : undefined}>Trash</a>
      <a href=${PROJECTS_HREF} aria-current=${route.view === 'projects' ? 'page' : undefined}>Projects</a>
    </nav>
    <span class=${`stage stage-${config.stage}`} title="Stage">${config.stage}</span>
    <button type="button" class=${`health health-${health.status || 'unknown'}`} onClick=${checkHealth}
      title="Check again" aria-live="polite"><span class="dot" aria-hidden="true"></span><span class="health-text">${healthText}</span></button>
    <${LiveStatus} live=${live} />
    <${Who} access=${access} />
    ${auth.enabled() ? html`<button type="button" class="link" onClick=${auth.signOut}>Sign out</button>` : null}
  </header>`;
}
