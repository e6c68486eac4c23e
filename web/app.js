// app.js — the page's entry: reads config.json, finishes a sign-in round trip, opens the project
// the address names (or the one opened last), loads its first page of stories, and renders the
// views from the one store whenever it changes.

import { html, render } from './vendor-htm-preact.js';
import * as auth from './auth.js';
import * as person from './person.js';
import { loadAccess } from './access.js';
import { getState, setState, subscribe } from './store.js';
import { PROJECTS_HREF, href, parseRoute } from './router.js';
import { lastProject, rememberProject } from './project.js';
import { MyProjects } from './projects.js';
import { initialStories, loadLevel } from './stories.js';
import { Header } from './header.js';
import { StoryTree } from './tree.js';
import { StoryPage } from './story.js';
import { Board } from './board.js';
import { DraftFromIdea } from './drafts.js';
import { ErrorNote } from './ui.js';
import { Lazy } from './lazy.js';
import { UndoBar } from './trash.js';
import { followProject } from './live.js';

// Pages a first load does not need arrive when first shown.
const loadPeople = () => import('./people.js');
const loadInvitations = () => import('./invitations.js');
const loadMatrix = () => import('./matrix.js');
const loadMindmap = () => import('./mindmap.js');
const loadWorkload = () => import('./workload.js');
const loadTrash = () => import('./trash.js');
const loadActivity = () => import('./activity.js');

function NoAccess({ error }) {
  const hidden = error.status === 404;
  return html`<section class="story-page no-access" aria-labelledby="no-access-heading">
    <h2 id="no-access-heading">${hidden ? 'This project is not available to you' : 'Your access could not be checked'}</h2>
    <p>${hidden
      ? 'Either it does not exist or you are not one of its members. Ask one of its admins to add you.'
      : error.message}</p>
    ${hidden ? html`<p><a href=${PROJECTS_HREF}>See your projects</a></p>` : html`<button type="button" onClick=${loadAccess}>Try again</button>`}
  </section>`;
}

function App({ state }) {
  const { config, route, stories, story, health, signInError, access, projects, undo, restored, live } = state;
  const main = route.view === 'projects'
    ? html`<${MyProjects} projects=${projects} />`
    : route.view === 'join'
    ? html`<${Lazy} load=${loadInvitations} name="JoinProject" props=${{ token: route.token }} />`
    : access?.error && (access.error.status === 404 || !access.permissions)
    ? html`<${NoAccess} error=${access.error} />`
    : route.view === 'board'
    ? html`<${Board} stories=${stories} query=${route.query} project=${access?.project} />`
    : route.view === 'traceability'
    ? html`<${Lazy} load=${loadMatrix} name="Traceability" props=${{ storyId: route.id }} />`
    : route.view === 'mindmap'
    ? html`<${Lazy} load=${loadMindmap} name="Mindmap" props=${{ stories }} />`
    : route.view === 'workload'
    ? html`<${Lazy} load=${loadWorkload} name="Workload" props=${{ stories, query: route.query }} />`
    : route.view === 'people'
    ? html`<${Lazy} load=${loadPeople} name="People" props=${{ project: access?.project }} />`
    : route.view === 'trash'
    ? html`<${Lazy} load=${loadTrash} name="TrashPage" props=${{}} />`
    : route.view === 'activity'
    ? html`<${Lazy} load=${loadActivity} name="ProjectActivity" props=${{}} />`
    : html`<div class=${`workspace ${route.view === 'home' ? 'no-story' : 'has-story'}`}>
        <${StoryTree} stories=${stories} selectedId=${route.id} />
        ${route.view === 'story'
          ? html`<${StoryPage} id=${route.id} story=${story} byId=${stories.byId} />`
          : route.view === 'draft'
            ? html`<${DraftFromIdea} />`
            : html`<section class="story-page placeholder"><p class="muted">Select a story in the tree, or create one.</p></section>`}
      </div>`;
  return html`<${Header} config=${config} health=${health} route=${route} access=${access} projects=${projects} live=${live} />
    ${signInError ? html`<div class="banner"><${ErrorNote} error=${{ message: signInError }} /></div>` : null}
    <${UndoBar} undo=${undo} restored=${restored} />
    <main id="main">${main}</main>`;
}

async function start() {
  const root = document.getElementById('app');
  let config;
  try {
    const response = await fetch('/config.json', { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`config.json answered ${response.status}`);
    config = await response.json();
  } catch (failure) {
    root.innerHTML = '';
    const note = document.createElement('p');
    note.className = 'boot error-note';
    note.textContent = `AIPM could not load its settings (${failure.message}). Reload the page to try again.`;
    root.append(note);
    return;
  }
  auth.configure(config);
  person.configure(config);
  const signInError = await auth.completeSignIn();
  // A bare address opens the project this browser had open last; a link names its project.
  const landing = parseRoute(location.hash);
  if (!landing.project && landing.view === 'home' && lastProject()) {
    history.replaceState(null, '', href('/', lastProject()));
  }
  setState({
    config,
    signInError,
    route: parseRoute(location.hash),
    projects: {},
    stories: initialStories(),
    story: { id: null, detail: null, loading: false, error: null },
    health: {},
    access: { loading: true },
  });
  // One render per burst of changes, and never inside a render: an effect that changes the
  // store (loading a story) must not re-enter Preact's render.
  let scheduled = false;
  const draw = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      render(html`<${App} state=${getState()} />`, root);
      // For the benchmark: when the page shows the state (see stories.js for the other marks).
      performance.mark('aipm:rendered');
    });
  };
  root.innerHTML = '';
  subscribe(draw);
  openProject = getState().route.project;
  window.addEventListener('hashchange', () => {
    const route = parseRoute(location.hash);
    setState({ route });
    if (!OUTSIDE_PROJECTS.includes(route.view) && route.project !== openProject) enterProject(route.project);
  });
  draw();
  if (auth.enabled() && !auth.accessToken()) {
    auth.signIn();
    return;
  }
  loadAccess();
  loadLevel('root');
  followProject();
}

/** Pages that belong to no project: what was open stays loaded behind them. */
const OUTSIDE_PROJECTS = ['projects', 'join'];

/** The project whose stories and access are loaded (null: the default project). */
let openProject = null;

/** Everything shown is of one project: switching drops the last one's stories and access. */
function enterProject(key) {
  openProject = key;
  rememberProject(key);
  setState({
    stories: initialStories(),
    story: { id: null, detail: null, loading: false, error: null },
    access: { loading: true },
    undo: null,
    restored: null,
  });
  loadAccess();
  loadLevel('root');
  followProject();
}

start();
