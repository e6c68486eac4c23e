// projects.js — "My projects": every project the person is a member of, with their role, and
// the form that starts a new one (the person becomes its admin). What the person typed stays in
// the form when the API refuses it, with the refusal beside the field it is about.

import { html, useState, useEffect } from './vendor-htm-preact.js';
import { ErrorNote, useAction } from './ui.js';
import { createProject, loadMyProjects } from './project.js';
import { href, navigate } from './router.js';

function fieldError(error, field) {
  const problem = error?.details?.fields?.find?.((entry) => entry.field === field);
  return problem ? problem.message : null;
}

function CreateProject() {
  const [fields, setFields] = useState({ key: '', name: '', owner: '', repo: '', baseBranch: 'main' });
  const set = (name) => (event) => {
    const value = name === 'key' ? event.target.value.toUpperCase() : event.target.value;
    setFields({ ...fields, [name]: value });
  };
  const [create, busy, error] = useAction(async () => {
    const body = { key: fields.key.trim(), name: fields.name.trim() };
    if (fields.owner.trim() || fields.repo.trim()) {
      body.repository = { owner: fields.owner.trim(), name: fields.repo.trim(), baseBranch: fields.baseBranch.trim() || 'main' };
    }
    const created = await createProject(body);
    navigate(href('/', created.project.key));
  });
  const keyProblem = fieldError(error, 'key') || (error?.code === 'PROJECT_KEY_TAKEN' ? error.message : null);
  const nameProblem = fieldError(error, 'name');
  const repositoryProblem = fieldError(error, 'repository');
  const general = error && !keyProblem && !nameProblem && !repositoryProblem ? error : null;
  return html`<form class="create-project" aria-labelledby="create-project-heading"
      onSubmit=${(event) => { event.preventDefault(); create(); }}>
    <h3 id="create-project-heading">Start a project</h3>
    <div class="field">
      <label for="project-key">Key</label>
      <input id="project-key" value=${fields.key} onInput=${set('key')} maxlength="10" required
        pattern="[A-Z]{2,10}" autocomplete="off" aria-describedby="project-key-help project-key-error"
        aria-invalid=${keyProblem ? 'true' : undefined} />
      <span id="project-key-help" class="muted">2–10 capital letters; stories show as KEY-1, KEY-2… The key is reserved for good.</span>
      ${keyProblem ? html`<span id="project-key-error" class="field-error" role="alert">${keyProblem}</span>` : null}
    </div>
    <div class="field">
      <label for="project-name">Name</label>
      <input id="project-name" value=${fields.name} onInput=${set('name')} maxlength="100" required
        aria-invalid=${nameProblem ? 'true' : undefined} />
      ${nameProblem ? html`<span class="field-error" role="alert">${nameProblem}</span>` : null}
    </div>
    <fieldset class="repository">
      <legend>Code repository (optional)</legend>
      <label for="project-owner">Owner</label>
      <input id="project-owner" value=${fields.owner} onInput=${set('owner')} maxlength="100" placeholder="acme" />
      <label for="project-repo">Repository</label>
      <input id="project-repo" value=${fields.repo} onInput=${set('repo')} maxlength="100" placeholder="shop" />
      <label for="project-branch">Base branch</label>
      <input id="project-branch" value=${fields.baseBranch} onInput=${set('baseBranch')} maxlength="100" />
      ${repositoryProblem ? html`<span class="field-error" role="alert">${repositoryProblem}</span>` : null}
    </fieldset>
    <button type="submit" disabled=${busy || !fields.key.trim() || !fields.name.trim()}>${busy ? 'Creating…' : 'Create project'}</button>
    <${ErrorNote} error=${general} onRetry=${create} />
  </form>`;
}

export function MyProjects({ projects }) {
  useEffect(() => { loadMyProjects(); }, []);
  const list = projects?.list;
  return html`<section class="story-page projects-page" aria-labelledby="projects-heading">
    <h2 id="projects-heading">My projects</h2>
    <${ErrorNote} error=${projects?.error} onRetry=${loadMyProjects} />
    ${!list ? html`<p class="muted">${projects?.loading ? 'Loading your projects…' : ''}</p>`
      : list.length === 0 ? html`<p class="muted">You are not a member of any project yet. Start one below, or ask an admin to add you.</p>`
      : html`<ul class="project-list">
        ${list.map(({ project, role }) => html`<li key=${project.id} data-key=${project.key}>
          <a href=${href('/', project.key)}><strong>${project.key}</strong> ${project.name}</a>
          <span class="muted">${role}${project.archived ? ' · archived (read-only)' : ''}</span>
          ${project.repository ? html`<span class="muted repo">${project.repository.owner}/${project.repository.name} · ${project.repository.baseBranch}</span>` : null}
        </li>`)}
      </ul>`}
    <${CreateProject} />
  </section>`;
}
