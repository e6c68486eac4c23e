// evidence.js — what CI says of acceptance tests: the traceability matrix read from the API
// (the whole project, or one story's subtree with its runs), and the chips every view shows for
// an evidence (Pass, Fail, Skipped, Stale, Suspect, Not run, Uncovered) and a story's rollup.

import { html } from './vendor-htm-preact.js';
import { api } from './api.js';
import { scoped } from './project.js';
import { formatTime } from './ui.js';

/** What each evidence means, for titles and the README's table alike. */
export const EVIDENCE_MEANING = {
  Pass: 'CI passed it at the commit the story is judged at.',
  Fail: 'CI failed it at the commit the story is judged at.',
  Skipped: 'CI skipped it at that commit.',
  Stale: 'Its latest result is for an older commit than the story is judged at.',
  Suspect: 'Its Given/When/Then changed after its latest result.',
  'Not run': 'CI reported at that commit without this test.',
  Uncovered: 'No CI result names it yet: its manual Pass/Fail applies.',
};

export const ROLLUP_MEANING = {
  OK: 'Every test passes.',
  NOK: 'A test fails (in CI, or by hand where CI does not cover it).',
  'NOT RUN': 'A test has no current result (stale, suspect, skipped or not run).',
  UNCOVERED: 'A test is neither covered by CI nor passed by hand, or there are no tests.',
};

const slug = (text) => text.toLowerCase().replace(/\s+/g, '-');

/** GET /projects/{key}/traceability (with `story`: its subtree and runs). */
export async function loadTraceability(storyId) {
  const query = storyId ? `?story=${encodeURIComponent(storyId)}` : '';
  const { data } = await api('GET', scoped(`/traceability${query}`));
  return data;
}

export function shortCommit(commit) {
  return commit ? commit.slice(0, 7) : '';
}

export function EvidenceChip({ evidence }) {
  if (!evidence) return null;
  return html`<span class=${`evidence evidence-${slug(evidence)}`} title=${EVIDENCE_MEANING[evidence]}>${evidence}</span>`;
}

export function RollupChip({ rollup }) {
  return html`<span class=${`rollup rollup-${slug(rollup)}`} title=${ROLLUP_MEANING[rollup]}>${rollup}</span>`;
}

/** One test's CI line on the story page: the evidence, and where the result came from. */
export function TestEvidence({ row }) {
  if (!row) return null;
  const result = row.result;
  return html`<div class="test-evidence">
    <${EvidenceChip} evidence=${row.evidence} />
    ${result ? html`<span class="muted">
      ${result.outcome} at <code>${shortCommit(result.commit)}</code>
      ${result.runUrl ? html` in <a href=${result.runUrl} target="_blank" rel="noopener">run ${result.run || ''}</a>` : result.run ? ` in run ${result.run}` : ''}${' · '}${formatTime(result.recordedAt)}</span>` : html`<span class="muted">no CI result yet</span>`}
    ${result?.message && row.evidence === 'Fail' ? html`<pre class="failure-message">${result.message}</pre>` : null}
  </div>`;
}

/** A story's latest CI run that uploaded no report for its commit: CI ran, but says nothing per test. */
export function CiRanWithoutEvidence({ run }) {
  if (!run || run.reported) return null;
  return html`<span class="ci-no-evidence" title=${`${run.name || 'CI'} ${run.conclusion} at ${shortCommit(run.commit)}, ${formatTime(run.completedAt)}; no test report was uploaded for that commit`}>
    CI ran${' '}(<a href=${run.url} target="_blank" rel="noopener">${run.name || 'run'}: ${run.conclusion}</a>), no per-test evidence</span>`;
}
