// tests.js — a story's acceptance tests: Given/When/Then steps, add, edit and delete inline, Pass
// and Fail, the Given/When/Then health warnings and the needs-review badge.

import { html, useEffect, useState } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, StatusChip, formatTime, useAction } from './ui.js';
import { loadStory } from './stories.js';
import { SuggestTests } from './drafts.js';
import { Why, can } from './access.js';
import { scoped, storyLabel } from './project.js';
import { CiRanWithoutEvidence, RollupChip, TestEvidence, loadTraceability, shortCommit } from './evidence.js';
import { href } from './router.js';

/** Builds the story's `.feature` file (feature.js, fetched on first use) and hands it over. */
function FeatureDownload({ story }) {
  const [file, setFile] = useState(null);
  const [build, building, error] = useAction(async () => {
    const { featureFile } = await import('./feature.js');
    const label = storyLabel(story.id);
    if (file) URL.revokeObjectURL(file.url);
    const url = URL.createObjectURL(new Blob([featureFile(story, label)], { type: 'text/plain' }));
    const next = { url, name: `${label}.feature` };
    setFile(next);
    const link = document.createElement('a');
    link.href = url;
    link.download = next.name;
    link.click();
  });
  return html`<div class="actions feature-download">
    <button type="button" class="secondary" disabled=${building} onClick=${() => build()}>Download .feature</button>
    ${file ? html`<a class="muted" href=${file.url} download=${file.name}>${file.name}</a>` : null}
    <${ErrorNote} error=${error} onRetry=${build} />
  </div>`;
}

const PARTS = [['given', 'Given'], ['when', 'When'], ['then', 'Then']];

function lines(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

function TestForm({ storyId, test, onDone }) {
  const [draft, setDraft] = useState(() => ({
    title: test?.title || '',
    given: (test?.given || []).join('\n'),
    when: (test?.when || []).join('\n'),
    then: (test?.then || []).join('\n'),
  }));
  const prefix = test ? `test-${test.id}` : 'new-test';
  const [save, busy, error] = useAction(async () => {
    const body = { title: draft.title.trim(), given: lines(draft.given), when: lines(draft.when), then: lines(draft.then) };
    try {
      if (test) {
        await api('PATCH', scoped(`/stories/${storyId}/tests/${test.id}`), { body, headers: { 'if-match': `"${test.version}"` } });
      } else {
        await api('POST', scoped(`/stories/${storyId}/tests`), { body });
      }
    } catch (failure) {
      if (failure.status === 412) {
        failure.message = 'Someone else changed this test meanwhile. Your text is kept; copy it, cancel and edit again.';
      }
      throw failure;
    }
    await loadStory(storyId);
    onDone();
  });
  const submit = (event) => {
    event.preventDefault();
    save();
  };
  return html`<form class="test-form" onSubmit=${submit} aria-label=${test ? `Edit test ${test.title}` : 'New acceptance test'}>
    <div class="field">
      <label for=${`${prefix}-title`}>Test title</label>
      <input id=${`${prefix}-title`} value=${draft.title} required maxlength="200"
        onInput=${(event) => setDraft({ ...draft, title: event.target.value })} />
    </div>
    ${PARTS.map(([part, label]) => html`<div class="field">
      <label for=${`${prefix}-${part}`}>${label} (one step per line)</label>
      <textarea id=${`${prefix}-${part}`} rows="2" value=${draft[part]}
        onInput=${(event) => setDraft({ ...draft, [part]: event.target.value })}></textarea>
    </div>`)}
    <${ErrorNote} error=${error} onRetry=${save} />
    <div class="actions">
      <button type="submit" disabled=${busy || !draft.title.trim()}>${busy ? 'Saving…' : test ? 'Save test' : 'Add test'}</button>
      <button type="button" class="secondary" onClick=${onDone}>Cancel</button>
    </div>
  </form>`;
}

function TestItem({ storyId, test, evidence }) {
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [act, busy, error, setError] = useAction(async (method, body) => {
    await api(method, scoped(`/stories/${storyId}/tests/${test.id}`), body ? { body } : {});
    await loadStory(storyId);
  });
  const editable = can('editTests');
  if (editing) return html`<li id=${`test-${test.id}`} class="test"><${TestForm} storyId=${storyId} test=${test} onDone=${() => setEditing(false)} /></li>`;
  return html`<li id=${`test-${test.id}`} class="test">
    <div class="test-head">
      ${test.key ? html`<code class="test-key" title="The key CI reports name this test by">${test.key}</code>` : null}
      <strong>${test.title}</strong>
      <${StatusChip} status=${test.status} />
      ${test.statusSetBy ? html`<span class="muted status-set" title=${formatTime(test.statusSetAt)}>set by ${test.statusSetBy}</span>` : null}
      ${test.needsReview ? html`<span class="badge review" title="The story changed after this test was written">Needs review</span>` : null}
    </div>
    <${TestEvidence} row=${evidence} />
    <dl class="gwt">
      ${PARTS.map(([part, label]) => html`<dt>${label}</dt><dd>${test[part].length
        ? html`<ul>${test[part].map((step) => html`<li>${step}</li>`)}</ul>` : html`<span class="muted">—</span>`}</dd>`)}
    </dl>
    ${test.gwtHealth.healthy ? null : html`<ul class="warnings">
      ${test.gwtHealth.issues.map((issue) => html`<li><strong>${issue.field}:</strong> ${issue.message} <div class="suggestion">Suggestion: ${issue.suggestion}</div></li>`)}
    </ul>`}
    <div class="actions" role="group" aria-label=${`Actions for ${test.title}`}>
      ${editable.allowed ? null : html`<${Why} check=${editable} />`}
      <button type="button" class="secondary pass" disabled=${busy || test.status === 'Pass' || !editable.allowed} onClick=${() => act('PATCH', { status: 'Pass' })}>Pass</button>
      <button type="button" class="secondary fail" disabled=${busy || test.status === 'Fail' || !editable.allowed} onClick=${() => act('PATCH', { status: 'Fail' })}>Fail</button>
      <button type="button" class="secondary" disabled=${busy || !editable.allowed} onClick=${() => setEditing(true)}>Edit</button>
      ${confirming
        ? html`<button type="button" class="destructive" disabled=${busy} onClick=${() => act('DELETE')}>Delete this test</button>
               <button type="button" class="secondary" onClick=${() => setConfirming(false)}>Keep</button>`
        : html`<button type="button" class="secondary" disabled=${busy || !editable.allowed} onClick=${() => setConfirming(true)}>Delete…</button>`}
    </div>
    <${ErrorNote} error=${error} onRetry=${() => setError(null)} />
  </li>`;
}

/** The story's CI evidence, read again whenever the story or its tests change. */
function useEvidence(story) {
  const [matrix, setMatrix] = useState(null);
  const [error, setError] = useState(null);
  const versions = (story.acceptanceTests || []).map((test) => test.version).join(',');
  useEffect(() => {
    let current = true;
    setError(null);
    loadTraceability(story.id).then(
      (data) => current && setMatrix(data),
      (failure) => current && setError(failure),
    );
    return () => { current = false; };
  }, [story.id, story.version, versions]);
  return [matrix?.stories?.[0] || null, error];
}

/** Where the story's tests are judged, and its rollup. */
function EvidenceSummary({ row, storyId }) {
  if (!row) return null;
  const target = row.target;
  return html`<p class="evidence-summary">
    <${RollupChip} rollup=${row.rollup} />
    <span class="muted">${target
      ? html`CI evidence at <code>${shortCommit(target.commit)}</code>, ${target.merged ? 'the merged commit' : `the head of pull request #${target.prNumber ?? '?'}`}`
      : 'CI evidence at the latest result of each test (no pull request yet)'}</span>
    <${CiRanWithoutEvidence} run=${row.ciRun} />
    <a href=${`${href('/traceability')}/${storyId}`}>Runs × tests</a>
  </p>`;
}

export function AcceptanceTests({ story }) {
  const [adding, setAdding] = useState(false);
  const tests = story.acceptanceTests || [];
  const mayAdd = can('editTests');
  const [row, evidenceError] = useEvidence(story);
  const evidenceOf = (test) => row?.tests?.find((candidate) => candidate.id === test.id);
  return html`<section class="panel tests" aria-labelledby="tests-heading">
    <div class="panel-head">
      <h3 id="tests-heading">Acceptance tests (${tests.length})</h3>
      ${adding ? null : html`<button type="button" disabled=${!mayAdd.allowed} onClick=${() => setAdding(true)}>Add test</button>`}
    </div>
    ${tests.length === 0 && !adding ? html`<p class="muted">No acceptance tests yet. A story needs one to be Ready.</p>` : null}
    ${tests.length ? html`<${EvidenceSummary} row=${row} storyId=${story.id} />` : null}
    ${evidenceError ? html`<p class="muted">CI evidence could not be read: ${evidenceError.message}</p>` : null}
    <ul class="test-list">${tests.map((test) => html`<${TestItem} key=${test.id} storyId=${story.id} test=${test} evidence=${evidenceOf(test)} />`)}</ul>
    ${adding ? html`<${TestForm} storyId=${story.id} onDone=${() => setAdding(false)} />` : null}
    ${tests.length ? html`<${FeatureDownload} key=${story.id} story=${story} />` : null}
    <${SuggestTests} key=${story.id} story=${story} />
  </section>`;
}
