// invitations.js — inviting people by email (on the People page: invite, the link to send,
// pending invitations with Re-send and Revoke) and the page a link opens (#/join/<token>), where
// the invited person accepts and lands in the project.

import { html, useState, useEffect } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, useAction } from './ui.js';
import { currentProject, loadMyProjects } from './project.js';
import { href } from './router.js';

const ROLES = ['viewer', 'contributor', 'maintainer', 'admin'];

function invitationsPath(suffix = '') {
  return `/projects/${encodeURIComponent(currentProject())}/invitations${suffix}`;
}

/** The link a person opens to accept, on this site. */
function linkOf(issued) {
  return `${location.origin}${location.pathname}${issued.acceptPath.replace(/^\//, '')}`;
}

/** A link shown once, with a button that copies it. */
function IssuedLink({ issued }) {
  const [copied, setCopied] = useState(false);
  const link = linkOf(issued);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return html`<div class="issued-link" role="status">
    <p>Send this link to <strong>${issued.invitation.email}</strong>. ${`It works once, until ${new Date(issued.invitation.expiresAt).toLocaleDateString()}; it is shown only now.`}</p>
    <div class="copy-row">
      <input id="invitation-link" readonly value=${link} aria-label="Invitation link"
        onFocus=${(event) => event.target.select()} />
      <button type="button" class="secondary" onClick=${copy}>${copied ? 'Copied' : 'Copy link'}</button>
    </div>
  </div>`;
}

function InvitationRow({ invitation, onChanged, onIssued }) {
  const [act, busy, error] = useAction(async (resend) => {
    const path = invitationsPath(`/${invitation.invitationId}${resend ? '/resend' : ''}`);
    const { data } = await api(resend ? 'POST' : 'DELETE', path);
    if (resend) onIssued(data);
    await onChanged();
  });
  const open = invitation.state === 'pending' || invitation.state === 'expired';
  return html`<li class="invitation" data-email=${invitation.email} data-state=${invitation.state}>
    <span class="member-name">${invitation.email}</span>
    <span class="muted">${invitation.role} · ${invitation.state}${invitation.state === 'pending'
      ? ` until ${new Date(invitation.expiresAt).toLocaleDateString()}` : ''}</span>
    ${open ? html`<button type="button" class="secondary" disabled=${busy} onClick=${() => act(true)}>Re-send</button>` : null}
    ${invitation.state === 'pending' ? html`<button type="button" class="secondary" disabled=${busy} onClick=${() => act(false)}>Revoke</button>` : null}
    <${ErrorNote} error=${error} />
  </li>`;
}

/** The People page's invitations: only for those who may manage members. */
export function Invitations() {
  const [list, setList] = useState(null);
  const [issued, setIssued] = useState(null);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('viewer');
  const [load, loading, loadError] = useAction(async () => {
    const { data } = await api('GET', invitationsPath());
    setList(data.invitations);
  });
  const [invite, busy, error] = useAction(async () => {
    const { data } = await api('POST', invitationsPath(), { body: { email: email.trim(), role } });
    setIssued(data);
    setEmail('');
    await load();
  });
  useEffect(() => { load(); }, []);
  const shown = (list || []).filter((invitation) => invitation.state !== 'accepted' && invitation.state !== 'revoked');
  return html`<section class="invitations" aria-labelledby="invitations-heading">
    <h3 id="invitations-heading">Invitations</h3>
    <form class="inline-form" onSubmit=${(event) => { event.preventDefault(); invite(); }}>
      <label for="invite-email">Invite someone by email</label>
      <input id="invite-email" type="email" value=${email} maxlength="254" placeholder="name@example.com"
        onInput=${(event) => setEmail(event.target.value)} />
      <label class="visually-hidden" for="invite-role">Their role</label>
      <select id="invite-role" value=${role} onChange=${(event) => setRole(event.target.value)}>
        ${ROLES.map((name) => html`<option value=${name}>${name}</option>`)}
      </select>
      <button type="submit" disabled=${busy || !email.trim()}>${busy ? 'Inviting…' : 'Invite'}</button>
      <${ErrorNote} error=${error} onRetry=${invite} />
    </form>
    ${issued ? html`<${IssuedLink} issued=${issued} />` : null}
    <${ErrorNote} error=${loadError} onRetry=${load} />
    ${list === null ? html`<p class="muted">${loading ? 'Loading invitations…' : ''}</p>`
      : shown.length === 0 ? html`<p class="muted">No open invitations.</p>`
      : html`<ul class="members">${shown.map((invitation) => html`<${InvitationRow} key=${invitation.invitationId}
          invitation=${invitation} onChanged=${load} onIssued=${setIssued} />`)}</ul>`}
  </section>`;
}

/** #/join/<token>: accept, then open the project. */
export function JoinProject({ token }) {
  const [joined, setJoined] = useState(null);
  const [accept, busy, error] = useAction(async () => {
    const { data } = await api('POST', '/invitations/accept', { body: { token } });
    setJoined(data);
    await loadMyProjects();
  });
  const explain = {
    INVITATION_NOT_FOUND: 'This link does not match any invitation. It may have been replaced by a newer one; ask for a new link.',
    INVITATION_NOT_PENDING: error?.details?.state === 'accepted'
      ? 'This invitation has already been used.'
      : `This invitation is ${error?.details?.state || 'no longer valid'}. Ask an admin of the project to send a new one.`,
    INVITATION_EMAIL_MISMATCH: 'This invitation was sent to another email address than the one you are signed in with.',
  }[error?.code];
  return html`<section class="story-page join" aria-labelledby="join-heading">
    <h2 id="join-heading">${joined ? `You joined ${joined.project.name}` : 'You have been invited to a project'}</h2>
    ${joined
      ? html`<p>Your role: <strong>${joined.role}</strong>.</p>
          <p><a class="button-link" href=${href('/', joined.project.key)}>Open ${joined.project.key}</a></p>`
      : html`<p>Accepting adds you to the project with the role the invitation names.</p>
          <button type="button" class="primary" disabled=${busy} onClick=${accept}>${busy ? 'Joining…' : 'Accept invitation'}</button>
          ${explain ? html`<div class="error-note" role="alert"><span>${explain}</span></div>` : html`<${ErrorNote} error=${error} onRetry=${accept} />`}`}
  </section>`;
}
