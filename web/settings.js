// settings.js — the project's settings on the People page: name, key (the old key keeps
// working), default code repository (the others in repositories.js) and the board's
// work-in-progress limits for maintainers, archive and restore for admins; each refusal is
// shown beside the form and nothing typed is lost.

import { html, useEffect, useState } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, useAction } from './ui.js';
import { Why, can, loadAccess } from './access.js';
import { loadMyProjects } from './project.js';
import { href, navigate } from './router.js';
import { LinkedRepositories } from './repositories.js';
import { CiSettings } from './ci-settings.js';

const LIMITED = ['Draft', 'Ready', 'In Progress', 'Blocked'];

/** The board's work-in-progress limits: a number per column, empty for none. */
function WipLimits({ project }) {
  const edit = can('editSettings');
  const limitsOf = () => Object.fromEntries(LIMITED.map((status) => [status, String(project.wipLimits?.[status] ?? '')]));
  const [limits, setLimits] = useState(limitsOf);
  const [saved, setSaved] = useState(false);
  useEffect(() => setLimits(limitsOf()), [project.id, JSON.stringify(project.wipLimits || {})]);
  const [save, saving, error] = useAction(async () => {
    setSaved(false);
    const body = Object.fromEntries(LIMITED.map((status) => [status, Number(limits[status] || 0)]));
    await api('PATCH', `/projects/${encodeURIComponent(project.key)}`, { body: { wipLimits: body } });
    await loadAccess();
    setSaved(true);
  });
  return html`<form class="wip-limits" aria-labelledby="wip-heading" onSubmit=${(event) => { event.preventDefault(); save(); }}>
    <h3 id="wip-heading">Board limits</h3>
    <p class="muted">The most stories a column should hold; the board warns past it. Empty: no limit.</p>
    <div class="wip-fields">${LIMITED.map((status) => html`<label>${status}
      <input type="number" min="0" max="999" name=${`wip-${status}`} value=${limits[status]} readOnly=${!edit.allowed}
        onInput=${(event) => { setLimits({ ...limits, [status]: event.target.value }); setSaved(false); }} /></label>`)}</div>
    <div class="actions">
      <button type="submit" class="secondary" disabled=${saving || !edit.allowed}>${saving ? 'Saving…' : 'Save limits'}</button>
      ${saved ? html`<span class="muted" role="status">Saved.</span>` : null}
    </div>
    <${ErrorNote} error=${error} onRetry=${save} />
  </form>`;
}

function fieldsOf(project) {
  return {
    name: project.name,
    key: project.key,
    owner: project.repository?.owner || '',
    repo: project.repository?.name || '',
    baseBranch: project.repository?.baseBranch || 'main',
  };
}

export function ProjectSettings({ project }) {
  const [fields, setFields] = useState(() => fieldsOf(project));
  const [typed, setTyped] = useState(false);
  const [saved, setSaved] = useState(false);
  // A newer version of the project (saved here, or by someone else) refreshes the form, unless
  // the person has typed since: what they typed is never replaced under them.
  useEffect(() => {
    if (!typed) setFields(fieldsOf(project));
  }, [project.version]);
  const edit = can('editSettings');
  const archive = can('archiveProject');
  const set = (name) => (event) => {
    setSaved(false);
    setTyped(true);
    setFields({ ...fields, [name]: name === 'key' ? event.target.value.toUpperCase() : event.target.value });
  };
  const path = `/projects/${encodeURIComponent(project.key)}`;
  const [save, saving, saveError] = useAction(async () => {
    const body = { name: fields.name.trim(), key: fields.key.trim() };
    body.repository = fields.owner.trim() || fields.repo.trim()
      ? { owner: fields.owner.trim(), name: fields.repo.trim(), baseBranch: fields.baseBranch.trim() || 'main' }
      : null;
    const { data } = await api('PATCH', path, { body });
    setTyped(false);
    setSaved(true);
    await loadMyProjects();
    // A new key is the project's address from now on (the old one keeps working).
    if (data.key !== project.key) navigate(href('/people', data.key));
    await loadAccess();
  });
  const [toggle, toggling, toggleError] = useAction(async () => {
    await api('PATCH', path, { body: { archived: !project.archived } });
    await loadMyProjects();
    await loadAccess();
  });
  return html`<section class="project-settings" aria-labelledby="settings-heading">
    <h3 id="settings-heading">Project</h3>
    ${project.archived ? html`<p class="archived-note" role="status">This project is archived: everyone can read it, nobody can change it until an admin restores it.</p>` : null}
    <form class="settings-form" onSubmit=${(event) => { event.preventDefault(); save(); }}>
      <label for="settings-name">Name</label>
      <input id="settings-name" value=${fields.name} maxlength="100" readonly=${!edit.allowed} onInput=${set('name')} />
      <label for="settings-key">Key</label>
      <input id="settings-key" value=${fields.key} maxlength="10" readonly=${!edit.allowed} onInput=${set('key')}
        aria-describedby="settings-key-help" />
      <span id="settings-key-help" class="muted">Links with the old key keep working; a key is never used again.</span>
      <fieldset class="repository">
        <legend>Default repository (where Generate code & PR works)</legend>
        ${project.repository?.disconnected
          ? html`<p class="disconnected-note" role="status">Disconnected: the GitHub App cannot reach ${project.repository.owner}/${project.repository.name} (removed from it, suspended or uninstalled). Generate code & PR waits until an owner of the repository installs the App on it again.</p>`
          : null}
        <label for="settings-owner">Owner</label>
        <input id="settings-owner" value=${fields.owner} maxlength="100" readonly=${!edit.allowed} onInput=${set('owner')} />
        <label for="settings-repo">Repository</label>
        <input id="settings-repo" value=${fields.repo} maxlength="100" readonly=${!edit.allowed} onInput=${set('repo')} />
        <label for="settings-branch">Base branch</label>
        <input id="settings-branch" value=${fields.baseBranch} maxlength="100" readonly=${!edit.allowed} onInput=${set('baseBranch')} />
      </fieldset>
      <div class="actions">
        <button type="submit" disabled=${saving || !edit.allowed}>${saving ? 'Saving…' : 'Save settings'}</button>
        ${saved ? html`<span class="muted" role="status">Saved.</span>` : null}
        <${Why} check=${edit} id="settings-denied" />
      </div>
      <${ErrorNote} error=${saveError} onRetry=${save} />
    </form>
    <${LinkedRepositories} project=${project} />
    <${CiSettings} project=${project} />
    <${WipLimits} project=${project} />
    <div class="actions archive">
      <button type="button" class=${project.archived ? 'secondary' : 'destructive-outline'} disabled=${toggling || !archive.allowed}
        onClick=${toggle}>${project.archived ? 'Restore project' : 'Archive project'}</button>
      <${Why} check=${archive} id="archive-denied" />
      <${ErrorNote} error=${toggleError} onRetry=${toggle} />
    </div>
  </section>`;
}
