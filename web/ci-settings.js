// ci-settings.js — a project's CI settings on the People page: whether Done needs CI evidence,
// and the upload token for CI other than GitHub Actions (shown once when issued, revocable),
// with the command a CI job runs to upload its JUnit report.

import { html, useEffect, useState } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, formatTime, useAction } from './ui.js';
import { Why, can, loadAccess } from './access.js';
import { loadTraceability } from './evidence.js';

function uploadCommand(path, token) {
  return `curl --fail-with-body -X POST "${location.origin}${path}?commit=$GIT_COMMIT&run=$BUILD_ID" \\\n`
    + `  -H "Authorization: Bearer ${token}" -H "Content-Type: application/xml" \\\n`
    + '  --data-binary @report.xml';
}

export function CiSettings({ project }) {
  const edit = can('editSettings');
  const path = `/projects/${encodeURIComponent(project.key)}`;
  const [token, setToken] = useState(undefined);
  const [issued, setIssued] = useState(null);
  useEffect(() => {
    let current = true;
    loadTraceability().then((data) => current && setToken(data.uploadToken), () => current && setToken(undefined));
    return () => { current = false; };
  }, [project.id]);
  const [toggle, toggling, toggleError] = useAction(async () => {
    await api('PATCH', path, { body: { doneNeedsCiEvidence: !project.doneNeedsCiEvidence } });
    await loadAccess();
  });
  const [issue, issuing, issueError] = useAction(async () => {
    const { data } = await api('POST', `${path}/upload-token`);
    setIssued(data);
    setToken({ issuedAt: data.issuedAt, issuedBy: data.issuedBy });
  });
  const [revoke, revoking, revokeError] = useAction(async () => {
    await api('DELETE', `${path}/upload-token`);
    setIssued(null);
    setToken(null);
  });
  return html`<section class="ci-settings" aria-labelledby="ci-heading">
    <h3 id="ci-heading">CI evidence</h3>
    <label class="checkbox">
      <input type="checkbox" id="done-needs-ci" checked=${Boolean(project.doneNeedsCiEvidence)}
        disabled=${toggling || !edit.allowed} onChange=${toggle} />
      Done needs CI evidence: a story moves to Done (by a merge or by hand) only when every test CI reports on passes at its commit
    </label>
    <${ErrorNote} error=${toggleError} onRetry=${toggle} />
    <p class="muted">GitHub Actions uploads with its own OIDC token and needs nothing here. Other CI, and forks, use the project's upload token.</p>
    <p role="status">${token ? `An upload token was issued ${formatTime(token.issuedAt)} by ${token.issuedBy}.` : token === null ? 'No upload token.' : ''}</p>
    ${issued ? html`<div class="issued-token">
      <label for="upload-token">Upload token — copy it now, it is not shown again</label>
      <input id="upload-token" readonly value=${issued.token} onFocus=${(event) => event.target.select()} />
      <pre class="recipe">${uploadCommand(issued.uploadPath, '$AIPM_UPLOAD_TOKEN')}</pre>
    </div>` : null}
    <div class="actions">
      <button type="button" class="secondary" disabled=${issuing || !edit.allowed} onClick=${issue}>${token ? 'Issue a new token (the old one stops working)' : 'Issue an upload token'}</button>
      ${token ? html`<button type="button" class="destructive-outline" disabled=${revoking || !edit.allowed} onClick=${revoke}>Revoke token</button>` : null}
      <${Why} check=${edit} id="ci-denied" />
    </div>
    <${ErrorNote} error=${issueError || revokeError} />
  </section>`;
}
