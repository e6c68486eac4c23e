// matrix.js — the traceability matrix: the project's stories in tree order, each expanding to its
// acceptance tests with what CI says of them (result, commit, pull request, run); filters that
// put the gaps first, and the test cases CI ran that name no test (unmapped); an evidence
// drawer per result; a CSV export; for one story or epic its
// runs × tests; and the documents (requirements specification, test completion report).

import { html, useEffect, useState } from './vendor-htm-preact.js';
import { ErrorNote, StatusChip, formatTime } from './ui.js';
import { CiRanWithoutEvidence, EvidenceChip, RollupChip, loadTraceability, shortCommit } from './evidence.js';
import { href, storyHref } from './router.js';
import { storyLabel } from './project.js';

/** Filters, the gaps first; each keeps the stories with at least one test it matches. */
export const FILTERS = [
  ['gaps', 'All gaps', (test) => ['Uncovered', 'Stale', 'Suspect', 'Fail', 'Not run'].includes(test.evidence)],
  ['uncovered', 'Uncovered', (test) => test.evidence === 'Uncovered'],
  ['stale', 'Stale', (test) => test.evidence === 'Stale' || test.evidence === 'Not run'],
  ['suspect', 'Suspect', (test) => test.evidence === 'Suspect'],
  ['failing', 'Failing', (test) => test.evidence === 'Fail'],
  ['all', 'Everything', () => true],
];

const CSV_COLUMNS = ['Story', 'Story title', 'Status', 'Rollup', 'Key', 'Test', 'Evidence', 'Manual status',
  'Manual status set by', 'Manual status set at', 'Outcome', 'Commit', 'Pull request', 'Run', 'Run URL', 'Recorded at', 'Message'];

/** One CSV field: quoted when it holds a comma, quote or line break; a leading = + - @ is
 * defused so a spreadsheet does not run it as a formula. */
function field(value) {
  let text = value == null ? '' : String(value);
  if (/^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The matrix as CSV: one line per test (a story without tests gets one line of its own). */
export function matrixCsv(stories) {
  const lines = [CSV_COLUMNS.map(field).join(',')];
  for (const story of stories) {
    const base = [storyLabel(story.id), story.title, story.status, story.rollup];
    const tests = story.tests.length ? story.tests : [null];
    for (const test of tests) {
      const result = test?.result;
      lines.push([...base, test?.key, test?.title, test?.evidence, test?.manualStatus, test?.manualBy, test?.manualAt, result?.outcome,
        result?.commit, story.target?.prNumber, result?.run, result?.runUrl, result?.recordedAt, result?.message]
        .map(field).join(','));
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Offers `text` as a file called `name` (a link the person can click again). */
function useDownload() {
  const [file, setFile] = useState(null);
  const offer = (name, text, type) => {
    if (file) URL.revokeObjectURL(file.url);
    const url = URL.createObjectURL(new Blob([text], { type }));
    setFile({ url, name });
    const link = document.createElement('a');
    link.href = url;
    link.download = name;
    link.click();
  };
  const link = file ? html`<a class="muted" href=${file.url} download=${file.name}>${file.name}</a>` : null;
  return [offer, link];
}

function Drawer({ story, test, onClose }) {
  useEffect(() => {
    const close = (event) => { if (event.key === 'Escape') onClose(); };
    document.addEventListener('keydown', close);
    document.getElementById('evidence-drawer-close')?.focus();
    return () => document.removeEventListener('keydown', close);
  }, [test.id]);
  const result = test.result;
  return html`<aside class="drawer" role="dialog" aria-modal="false" aria-labelledby="drawer-heading">
    <div class="panel-head">
      <h3 id="drawer-heading">${test.key || 'Test'} · ${test.title}</h3>
      <button type="button" id="evidence-drawer-close" class="secondary" onClick=${onClose}>Close</button>
    </div>
    <p><${EvidenceChip} evidence=${test.evidence} /> <span class="muted">of <a href=${storyHref(story.id)}>${storyLabel(story.id)} ${story.title}</a></span></p>
    <dl class="facts">
      <dt>Judged at</dt><dd>${story.target ? html`<code>${story.target.commit}</code> (${story.target.merged ? 'merged commit' : `head of pull request #${story.target.prNumber ?? '?'}`})` : 'the latest result (no pull request yet)'}</dd>
      <dt>Manual status</dt><dd>${test.manualStatus} <span class="muted">(${test.manualBy
        ? `set by ${test.manualBy}, ${formatTime(test.manualAt)}`
        : `never set by hand; test changed ${formatTime(test.updatedAt)}`}; counts while the test is Uncovered)</span></dd>
      ${result ? html`
        <dt>Outcome</dt><dd>${result.outcome}</dd>
        <dt>Commit</dt><dd><code>${result.commit}</code></dd>
        <dt>Run</dt><dd>${result.runUrl ? html`<a href=${result.runUrl} target="_blank" rel="noopener">${result.run || result.runUrl}</a>` : result.run || '—'}</dd>
        <dt>Recorded</dt><dd>${formatTime(result.recordedAt)}</dd>
        <dt>Test case</dt><dd><code>${result.case}</code></dd>
        ${result.message ? html`<dt>Failure</dt><dd><pre class="failure-message">${result.message}</pre></dd>` : null}`
        : html`<dt>CI</dt><dd>No CI result names ${test.key || 'this test'} yet.</dd>`}
    </dl>
  </aside>`;
}

function RunsByTests({ matrix }) {
  const runs = matrix.runs || [];
  const keys = matrix.stories.flatMap((story) => story.tests.map((test) => test.key)).filter(Boolean);
  if (!runs.length) return html`<p class="muted">No CI run has reported on these tests yet.</p>`;
  return html`<div class="table-scroll"><table class="runs">
    <caption>Runs × tests, newest first</caption>
    <thead><tr><th scope="col">Run</th><th scope="col">Commit</th><th scope="col">When</th>
      ${keys.map((key) => html`<th scope="col">${key}</th>`)}</tr></thead>
    <tbody>${runs.map((run) => html`<tr>
      <th scope="row">${run.runUrl ? html`<a href=${run.runUrl} target="_blank" rel="noopener">${run.run}</a>` : run.run}</th>
      <td><code>${shortCommit(run.commit)}</code></td>
      <td>${formatTime(run.recordedAt)}</td>
      ${keys.map((key) => html`<td class=${`outcome outcome-${run.results[key] || 'none'}`}>${run.results[key] || '—'}</td>`)}
    </tr>`)}</tbody>
  </table></div>`;
}

function Documents({ matrix }) {
  const [offer, link] = useDownload();
  const [error, setError] = useState(null);
  const make = async (which) => {
    setError(null);
    try {
      const documents = await import('./documents.js');
      const key = matrix.project.key;
      const made = which === 'spec'
        ? [`${key}-requirements.md`, documents.requirementsSpecification(matrix, storyLabel)]
        : [`${key}-test-completion-report.md`, documents.testCompletionReport(matrix, storyLabel)];
      offer(made[0], made[1], 'text/markdown');
    } catch (failure) {
      setError({ message: `The document could not be made: ${failure.message}` });
    }
  };
  return html`<div class="actions documents" role="group" aria-label="Documents">
    <button type="button" class="secondary" onClick=${() => make('spec')}>Requirements specification (.md)</button>
    <button type="button" class="secondary" onClick=${() => make('report')}>Test completion report (.md)</button>
    <button type="button" class="secondary" onClick=${() => window.print()}>Print / PDF</button>
    ${link}
    <${ErrorNote} error=${error} onDismiss=${() => setError(null)} />
  </div>`;
}

/** The test cases CI's latest reports ran that name no acceptance test, and how to map them. */
function UnmappedCases({ unmapped }) {
  const runs = unmapped.reports.map((report) => report.runUrl
    ? html`<a href=${report.runUrl} target="_blank" rel="noopener">${report.run}</a>`
    : report.run);
  return html`<section class="unmapped-cases" aria-label="Unmapped test cases">
    <p class="muted">Test cases in the latest ${unmapped.reports.length === 1 ? 'report' : 'reports'} at${' '}
      <code>${shortCommit(unmapped.commit)}</code> (${runs.map((run, index) => html`${index ? ', ' : ''}${run}`)})
      that name no acceptance test. To count one as evidence, give it a key: a JUnit property${' '}
      <code>aipm</code> = <code>AT-n</code>, a Cucumber tag <code>@AT-n</code>, or <code>AT-n</code> in its name.</p>
    ${unmapped.cases.length
      ? html`<ul class="unmapped-list">${unmapped.cases.map((name) => html`<li><code>${name}</code></li>`)}</ul>`
      : html`<p class="muted empty-filter">None: every test case names an acceptance test.</p>`}
  </section>`;
}

export function Traceability({ storyId }) {
  const [matrix, setMatrix] = useState(null);
  const [error, setError] = useState(null);
  const [attempt, setAttempt] = useState(0);
  const [filter, setFilter] = useState(storyId ? 'all' : 'gaps');
  const [open, setOpen] = useState({});
  const [drawer, setDrawer] = useState(null);
  const [offerCsv, csvLink] = useDownload();
  useEffect(() => {
    let current = true;
    setError(null);
    loadTraceability(storyId).then(
      (data) => {
        if (!current) return;
        // For the benchmark: the matrix's data has arrived (`aipm:matrix-rendered` follows).
        performance.mark('aipm:matrix-loaded');
        setMatrix(data);
      },
      (failure) => current && setError(failure),
    );
    return () => { current = false; };
  }, [storyId, attempt]);
  // Effects run after the frame is painted: the mark is when the person sees the rows.
  useEffect(() => { if (matrix) performance.mark('aipm:matrix-rendered'); }, [matrix, filter, open]);

  if (error) return html`<section class="story-page"><${ErrorNote} error=${error} onRetry=${() => setAttempt(attempt + 1)} /></section>`;
  if (!matrix) return html`<section class="story-page"><p class="muted" role="status">Loading the matrix…</p></section>`;
  const matches = FILTERS.find(([name]) => name === filter)?.[2] || (() => false);
  const shown = matrix.stories.filter((story) => filter === 'all' || story.tests.some(matches)
    || (filter === 'uncovered' && story.tests.length === 0));
  const counts = Object.fromEntries(['OK', 'NOK', 'NOT RUN', 'UNCOVERED'].map((rollup) =>
    [rollup, matrix.stories.filter((story) => story.rollup === rollup).length]));
  const everyOpen = shown.length > 0 && shown.every((story) => open[story.id]);
  const drawerStory = drawer && matrix.stories.find((story) => story.id === drawer.story);
  const drawerTest = drawerStory?.tests.find((test) => test.id === drawer.test);

  return html`<section class="story-page matrix" aria-labelledby="matrix-heading">
    <div class="panel-head">
      <h2 id="matrix-heading">${storyId ? html`Traceability of ${storyLabel(storyId)}` : 'Traceability'}</h2>
      ${storyId ? html`<a href=${href('/traceability')}>Whole project</a>` : null}
    </div>
    <p class="rollups">${Object.entries(counts).map(([rollup, count]) => html`<span><${RollupChip} rollup=${rollup} /> ${count}</span>`)}
      ${matrix.truncated ? html`<span class="muted">Only the first 5,000 stories are shown.</span>` : null}</p>
    ${storyId ? html`<${RunsByTests} matrix=${matrix} />` : null}
    <div class="filters" role="group" aria-label="Show">
      ${FILTERS.map(([name, label, test]) => {
        const count = name === 'all' ? matrix.stories.length
          : matrix.stories.filter((story) => story.tests.some(test) || (name === 'uncovered' && story.tests.length === 0)).length;
        return html`<button type="button" class=${`filter ${filter === name ? 'selected' : ''}`} aria-pressed=${filter === name}
          data-filter=${name} onClick=${() => setFilter(name)}>${label} (${count})</button>`;
      })}
      ${matrix.unmapped ? html`<button type="button" class=${`filter ${filter === 'unmapped' ? 'selected' : ''}`} aria-pressed=${filter === 'unmapped'}
        data-filter="unmapped" onClick=${() => setFilter('unmapped')}>Unmapped (${matrix.unmapped.cases.length})</button>` : null}
    </div>
    <div class="actions">
      <button type="button" class="secondary" onClick=${() => setOpen(everyOpen ? {} : Object.fromEntries(shown.map((story) => [story.id, true])))}>
        ${everyOpen ? 'Collapse all' : 'Expand all'}</button>
      <button type="button" class="secondary" onClick=${() => offerCsv(`${matrix.project.key}-traceability.csv`, matrixCsv(matrix.stories), 'text/csv')}>Download CSV</button>
      ${csvLink}
    </div>
    <${Documents} matrix=${matrix} />
    ${filter === 'unmapped'
      ? html`<${UnmappedCases} unmapped=${matrix.unmapped} />`
      : shown.length === 0
      ? html`<p class="muted empty-filter">${filter === 'gaps' ? 'No gaps: every test is proven by CI or passed by hand.' : 'No story matches this filter.'}</p>`
      : html`<div class="table-scroll"><table class="trace">
      <thead><tr><th scope="col">Story / test</th><th scope="col">Result</th><th scope="col">Commit</th><th scope="col">PR</th><th scope="col">Run</th></tr></thead>
      <tbody>${shown.map((story) => {
        const expanded = Boolean(open[story.id]);
        const tests = filter === 'all' ? story.tests : story.tests.filter(matches);
        return html`
          <tr class="story-row" data-story=${story.id}>
            <th scope="row" style=${`padding-left: ${0.5 + story.depth * 1.2}rem`}>
              <button type="button" class="link toggle" aria-expanded=${expanded} disabled=${story.tests.length === 0}
                onClick=${() => setOpen({ ...open, [story.id]: !expanded })}
                aria-label=${`${expanded ? 'Collapse' : 'Expand'} ${storyLabel(story.id)}`}>${story.tests.length ? (expanded ? '▾' : '▸') : '·'}</button>
              <a href=${storyHref(story.id)}>${storyLabel(story.id)}</a> ${story.title}
              <${StatusChip} status=${story.status} />
            </th>
            <td><${RollupChip} rollup=${story.rollup} /></td>
            <td>${story.target ? html`<code>${shortCommit(story.target.commit)}</code>` : '—'}</td>
            <td>${story.target?.prNumber ? (story.target.prUrl ? html`<a href=${story.target.prUrl}>#${story.target.prNumber}</a>` : `#${story.target.prNumber}`) : '—'}</td>
            <td><${CiRanWithoutEvidence} run=${story.ciRun} /> <a href=${`${href('/traceability')}/${story.id}`}>Runs</a></td>
          </tr>
          ${expanded ? tests.map((test) => html`<tr class="test-row" data-test=${test.key || test.id}>
            <th scope="row" style=${`padding-left: ${2 + story.depth * 1.2}rem`}><code class="test-key">${test.key || '—'}</code> ${test.title}</th>
            <td><button type="button" class="link cell" onClick=${() => setDrawer({ story: story.id, test: test.id })}
              aria-label=${`Evidence of ${test.key || test.title}`}><${EvidenceChip} evidence=${test.evidence} /></button></td>
            <td>${test.result ? html`<code>${shortCommit(test.result.commit)}</code>` : '—'}</td>
            <td>${story.target?.prNumber ? `#${story.target.prNumber}` : '—'}</td>
            <td>${test.result?.runUrl ? html`<a href=${test.result.runUrl} target="_blank" rel="noopener">${test.result.run}</a>` : test.result?.run || '—'}</td>
          </tr>`) : null}`;
      })}</tbody>
    </table></div>`}
    ${drawerTest ? html`<${Drawer} story=${drawerStory} test=${drawerTest} onClose=${() => setDrawer(null)} />` : null}
  </section>`;
}
