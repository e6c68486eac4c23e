// repositories.js — the project's other repositories on the People page, below its settings:
// link one (offered from what the GitHub App reaches, or typed), make one the default target of
// Generate code & PR, unlink one. Each change sends the whole set, so the server checks it as
// one; a refusal is shown beside the control and what was typed stays.

import { html, useEffect, useState } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, useAction } from './ui.js';
import { Why, can, loadAccess } from './access.js';
import { loadMyProjects } from './project.js';

const fullName = (link) => `${link.owner}/${link.name}`;
const choice = (link) => ({ owner: link.owner, name: link.name, baseBranch: link.baseBranch || 'main' });
const same = (a, b) => fullName(a).toLowerCase() === fullName(b).toLowerCase();

/** `owner/name` typed by a person, or null when it is not that shape. */
function parseFullName(text) {
  const match = /^\s*([^/\s]+)\/([^/\s]+)\s*$/.exec(text);
  return match ? { owner: match[1], name: match[2] } : null;
}

/** GET /projects/{key}/repositories, once per project: what the GitHub App reaches. */
function useReachable(path, allowed) {
  const [reachable, setReachable] = useState({ loading: allowed, list: [], githubApp: false, error: null });
  useEffect(() => {
    if (!allowed) return undefined;
    let current = true;
    api('GET', `${path}/repositories`)
      .then(({ data }) => current && setReachable({ loading: false, list: data.repositories, githubApp: data.githubApp, truncated: data.truncated, error: null }))
      .catch((error) => current && setReachable({ loading: false, list: [], githubApp: false, error }));
    return () => { current = false; };
  }, [path, allowed]);
  return reachable;
}

function LinkedRow({ link, busy, allowed, onDefault, onUnlink }) {
  return html`<li class="linked-repository" data-repository=${fullName(link)}>
    <span><code>${fullName(link)}</code> <span class="muted">(${link.baseBranch})</span>
      ${link.disconnected ? html` <span class="badge-disconnected" title="The GitHub App cannot reach it">disconnected</span>` : null}</span>
    <span class="row-actions">
      <button type="button" class="secondary" disabled=${busy || !allowed} onClick=${onDefault}>Make default</button>
      <button type="button" class="destructive-outline" disabled=${busy || !allowed} onClick=${onUnlink}
        aria-label=${`Unlink ${fullName(link)}`}>Unlink</button>
    </span>
  </li>`;
}

export function LinkedRepositories({ project }) {
  const edit = can('editSettings');
  const path = `/projects/${encodeURIComponent(project.key)}`;
  const reachable = useReachable(path, edit.allowed);
  const [typed, setTyped] = useState('');
  const [baseBranch, setBaseBranch] = useState('');
  const others = project.otherRepositories || [];
  const linked = [project.repository, ...others].filter(Boolean);
  const account = project.repository?.owner?.toLowerCase();
  const offered = reachable.list.filter((repository) => !repository.linked
    && (!account || repository.owner.toLowerCase() === account));

  const send = async (repository, otherRepositories) => {
    await api('PATCH', path, { body: { repository, otherRepositories } });
    await loadMyProjects();
    await loadAccess();
  };
  const [change, changing, changeError] = useAction(async (kind, link) => {
    const rest = others.filter((other) => !same(other, link)).map(choice);
    if (kind === 'default') await send(choice(link), [choice(project.repository), ...rest]);
    else await send(choice(project.repository), rest);
  });
  const [link, linking, linkError, setLinkError] = useAction(async () => {
    const named = parseFullName(typed);
    if (!named) {
      setLinkError({ message: 'Type the repository as owner/name, for example acme/shop.' });
      return;
    }
    const reached = reachable.list.find((repository) => same(repository, named));
    const added = { ...named, baseBranch: baseBranch.trim() || reached?.defaultBranch || 'main' };
    if (project.repository) await send(choice(project.repository), [...others.map(choice), added]);
    else await send(added, []);
    setTyped('');
    setBaseBranch('');
  });
  const busy = changing || linking;

  return html`<section class="linked-repositories" aria-labelledby="repositories-heading">
    <h4 id="repositories-heading">Repositories</h4>
    <p class="muted">Generate code & PR works in the default repository unless the person picks another one linked here. A project's repositories belong to one GitHub account.</p>
    ${linked.length ? html`<ul class="repository-list">
      ${project.repository ? html`<li class="linked-repository" data-repository=${fullName(project.repository)}>
        <span><code>${fullName(project.repository)}</code> <span class="muted">(${project.repository.baseBranch})</span>
          <span class="badge-default">default</span>
          ${project.repository.disconnected ? html` <span class="badge-disconnected">disconnected</span>` : null}</span>
      </li>` : null}
      ${others.map((other) => html`<${LinkedRow} key=${fullName(other)} link=${other} busy=${busy} allowed=${edit.allowed}
        onDefault=${() => change('default', other)} onUnlink=${() => change('unlink', other)} />`)}
    </ul>` : html`<p class="muted">No repository linked yet.</p>`}
    <${ErrorNote} error=${changeError} />
    <form class="link-repository" onSubmit=${(event) => { event.preventDefault(); if (!busy) link(); }}>
      <label for="link-repository-name">Link a repository</label>
      <input id="link-repository-name" list="reachable-repositories" placeholder="owner/name" value=${typed}
        readonly=${!edit.allowed} autocomplete="off" onInput=${(event) => { setTyped(event.target.value); setLinkError(null); }} />
      <datalist id="reachable-repositories">
        ${offered.map((repository) => html`<option value=${repository.fullName}>${repository.private ? 'private' : 'public'} · ${repository.defaultBranch}</option>`)}
      </datalist>
      <label for="link-repository-branch">Base branch</label>
      <input id="link-repository-branch" placeholder="the repository's default branch" value=${baseBranch}
        readonly=${!edit.allowed} onInput=${(event) => setBaseBranch(event.target.value)} />
      <div class="actions">
        <button type="submit" disabled=${busy || !edit.allowed || !typed.trim()}>${linking ? 'Linking…' : 'Link repository'}</button>
        <${Why} check=${edit} id="link-repository-denied" />
      </div>
      ${reachable.loading ? html`<p class="muted" role="status">Asking GitHub which repositories the App reaches…</p>` : null}
      ${reachable.githubApp && !reachable.loading
        ? html`<p class="muted" id="reachable-count">${offered.length} more ${offered.length === 1 ? 'repository' : 'repositories'} the GitHub App reaches${reachable.truncated ? ' (the first 500)' : ''}; type to pick one.</p>`
        : null}
      ${reachable.error ? html`<p class="muted">Could not ask GitHub which repositories the App reaches (${reachable.error.message}); type owner/name.</p>` : null}
      <${ErrorNote} error=${linkError} onRetry=${link} />
    </form>
  </section>`;
}
