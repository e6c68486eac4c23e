// people.js — the project's people: every member with their role (GET /projects/{key}/members);
// an admin changes a role from the menu beside a name, removes someone, adds a person by their
// sign-in subject or invites one by email; below, the project's own settings. A refusal (the last admin, a role too low) is shown on that row.

import { html, useState, useEffect } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, useAction } from './ui.js';
import { Why, can, loadAccess } from './access.js';
import { currentProject } from './project.js';
import { Invitations } from './invitations.js';
import { ProjectSettings } from './settings.js';

const ROLES = ['viewer', 'contributor', 'maintainer', 'admin'];

function MemberRow({ member, onChanged, manage }) {
  const [change, busy, error] = useAction(async (role) => {
    const path = `/projects/${encodeURIComponent(currentProject())}/members/${encodeURIComponent(member.sub)}`;
    if (role === null) await api('DELETE', path);
    else await api('PUT', path, { body: { role } });
    await onChanged();
  });
  return html`<li class="member" data-sub=${member.sub}>
    <span class="member-name">${member.displayName || member.sub}</span>
    <span class="muted member-sub">${member.sub}</span>
    <label class="visually-hidden" for=${`role-${member.sub}`}>Role of ${member.displayName || member.sub}</label>
    <select id=${`role-${member.sub}`} value=${member.role} disabled=${busy || !manage.allowed}
      onChange=${(event) => change(event.target.value)}>
      ${ROLES.map((role) => html`<option value=${role}>${role}</option>`)}
    </select>
    <button type="button" class="secondary" disabled=${busy || !manage.allowed} onClick=${() => change(null)}>Remove</button>
    <${ErrorNote} error=${error} />
  </li>`;
}

function AddPerson({ onChanged, manage }) {
  const [sub, setSub] = useState('');
  const [role, setRole] = useState('viewer');
  const [add, busy, error] = useAction(async () => {
    await api('PUT', `/projects/${encodeURIComponent(currentProject())}/members/${encodeURIComponent(sub.trim())}`, { body: { role } });
    setSub('');
    await onChanged();
  });
  return html`<form class="inline-form" onSubmit=${(event) => { event.preventDefault(); add(); }}>
    <label for="new-member">Add a person by their sign-in subject</label>
    <input id="new-member" value=${sub} maxlength="128" placeholder="e.g. local-outsider"
      onInput=${(event) => setSub(event.target.value)} disabled=${!manage.allowed} />
    <label class="visually-hidden" for="new-member-role">Their role</label>
    <select id="new-member-role" value=${role} onChange=${(event) => setRole(event.target.value)} disabled=${!manage.allowed}>
      ${ROLES.map((name) => html`<option value=${name}>${name}</option>`)}
    </select>
    <button type="submit" disabled=${busy || !sub.trim() || !manage.allowed}>${busy ? 'Adding…' : 'Add'}</button>
    <${ErrorNote} error=${error} onRetry=${add} />
  </form>`;
}

export function People({ project }) {
  const [members, setMembers] = useState(null);
  const [load, loading, error] = useAction(async () => {
    const { data } = await api('GET', `/projects/${encodeURIComponent(currentProject())}/members`);
    setMembers(data.members);
  });
  // A change to one's own role changes what the page may offer.
  const reload = async () => { await load(); await loadAccess(); };
  useEffect(() => { load(); }, []);
  const manage = can('manageMembers');
  return html`<section class="story-page people" aria-labelledby="people-heading">
    <h2 id="people-heading">People</h2>
    <p class="muted">Roles: a viewer reads; a contributor writes stories and tests and generates code;
      a maintainer also manages any task and the project's settings; an admin also manages people.</p>
    <${Why} check=${manage} id="people-denied" />
    <${ErrorNote} error=${error} onRetry=${load} />
    ${members === null ? html`<p class="muted">${loading ? 'Loading people…' : ''}</p>` : html`<ul class="members">
      ${members.map((member) => html`<${MemberRow} key=${member.sub} member=${member} onChanged=${reload} manage=${manage} />`)}
    </ul>`}
    <${AddPerson} onChanged=${reload} manage=${manage} />
    ${manage.allowed ? html`<${Invitations} />` : null}
    ${project ? html`<${ProjectSettings} key=${project.id} project=${project} />` : null}
  </section>`;
}
