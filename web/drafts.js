// drafts.js — AI drafts: "Draft from an idea" (a story and its tests to edit, then create) and
// "Suggest tests" on a story page. Everything a model wrote is marked as such; nothing is stored
// until the person creates it, and what they typed stays when something fails.

import { html, useState } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, useAction } from './ui.js';
import { createStory, loadStory } from './stories.js';
import { navigate, storyHref } from './router.js';
import { can } from './access.js';
import { scoped, storyLabel } from './project.js';

const POINTS = ['', '1', '2', '3', '5', '8', '13'];

const REASONS = {
  disabled: 'AI is off for this stage, so this is the template draft.',
  timeout: 'The model took too long, so this is the template draft.',
  throttled: 'The model is busy right now, so this is the template draft.',
  unavailable: 'The model could not be reached, so this is the template draft.',
  access_denied: 'The model refused our credentials, so this is the template draft.',
  refused: 'The model declined to answer, so this is the template draft.',
  truncated: 'The model’s answer was cut off, so this is the template draft.',
  no_structured_output: 'The model’s answer was not usable, so this is the template draft.',
  invalid_output: 'The model’s answer broke our limits, so this is the template draft.',
};

/** Where a draft came from, said plainly next to it. */
export function Provenance({ result }) {
  if (result.source === 'ai') {
    return html`<p class="provenance ai" data-source="ai"><span class="badge ai">AI draft</span>
      Written by ${result.model || 'a model'}${result.cached ? ' (the same idea’s earlier answer)' : ''}: check every word before you use it.</p>`;
  }
  return html`<p class="provenance template" data-source="template"><span class="badge">Template</span>
    ${REASONS[result.fallbackReason] || 'This is the template draft.'} Fill in what it leaves open.</p>`;
}

function lines(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

function steps(list) {
  return (list || []).join('\n');
}

/** One drafted test, to keep or leave out, editable before it is saved. */
function DraftedTest({ index, test, onChange }) {
  const prefix = `draft-test-${index}`;
  return html`<li class="drafted-test">
    <label class="check"><input type="checkbox" checked=${test.keep}
      onChange=${(event) => onChange({ ...test, keep: event.target.checked })} /> Keep this test</label>
    <div class="field"><label for=${`${prefix}-title`}>Test title</label>
      <input id=${`${prefix}-title`} value=${test.title} maxlength="200"
        onInput=${(event) => onChange({ ...test, title: event.target.value })} /></div>
    ${['given', 'when', 'then'].map((part) => html`<div class="field">
      <label for=${`${prefix}-${part}`}>${part[0].toUpperCase() + part.slice(1)} (one step per line)</label>
      <textarea id=${`${prefix}-${part}`} rows="2" value=${test[part]}
        onInput=${(event) => onChange({ ...test, [part]: event.target.value })}></textarea></div>`)}
  </li>`;
}

function editableTests(tests) {
  return tests.map((test) => ({
    keep: true, title: test.title, given: steps(test.given), when: steps(test.when), then: steps(test.then),
  }));
}

/** The page behind "Draft from an idea": idea → draft → edit → create story and kept tests. */
export function DraftFromIdea() {
  const [idea, setIdea] = useState('');
  const [result, setResult] = useState(null);
  const [fields, setFields] = useState(null);
  const [tests, setTests] = useState([]);
  const [created, setCreated] = useState(null);
  const [draft, drafting, draftError] = useAction(async (regenerate = false) => {
    const { data } = await api('POST', scoped('/story-drafts'), { body: { idea: idea.trim(), regenerate } });
    setResult(data);
    const { acceptanceTests, storyPoint, ...rest } = data.draft;
    setFields({ ...rest, storyPoint: storyPoint ? String(storyPoint) : '' });
    setTests(editableTests(acceptanceTests));
    setCreated(null);
  });
  const [create, creating, createError] = useAction(async () => {
    // A story created on an earlier try is not created twice: only its missing tests are added.
    let story = created;
    if (!story) {
      const body = { title: fields.title.trim(), asA: fields.asA, iWant: fields.iWant, soThat: fields.soThat,
        description: fields.description, components: fields.components };
      if (fields.storyPoint) body.storyPoint = Number(fields.storyPoint);
      story = await createStory(body);
      setCreated({ ...story, savedTests: 0 });
    }
    const kept = tests.filter((test) => test.keep);
    for (let index = story.savedTests || 0; index < kept.length; index += 1) {
      const test = kept[index];
      await api('POST', scoped(`/stories/${story.id}/tests`), {
        body: { title: test.title.trim(), given: lines(test.given), when: lines(test.when), then: lines(test.then) },
      });
      story = { ...story, savedTests: index + 1 };
      setCreated(story);
    }
    navigate(storyHref(story.id));
  });
  const submitIdea = (event) => {
    event.preventDefault();
    if (!drafting && idea.trim()) draft(false);
  };
  const submitDraft = (event) => {
    event.preventDefault();
    if (!creating && fields.title.trim()) create();
  };
  const set = (name) => (event) => setFields({ ...fields, [name]: event.target.value });
  const kept = tests.filter((test) => test.keep).length;
  return html`<section class="story-page draft-page" aria-labelledby="draft-heading">
    <h2 id="draft-heading">Draft a story from an idea</h2>
    <form class="idea-form" onSubmit=${submitIdea}>
      <div class="field">
        <label for="story-idea">Your idea, in a sentence or two</label>
        <textarea id="story-idea" rows="3" maxlength="1000" value=${idea}
          placeholder="e.g. Product managers export the story tree as CSV to share progress"
          onInput=${(event) => setIdea(event.target.value)}></textarea>
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled=${drafting || !idea.trim()}>
          ${drafting ? 'Drafting… (up to 20 s)' : result ? 'Draft again' : 'Draft story'}</button>
        ${result?.source === 'ai' ? html`<button type="button" class="secondary" disabled=${drafting}
          onClick=${() => draft(true)}>Ask the model again</button>` : null}
      </div>
      <${ErrorNote} error=${draftError} onRetry=${() => draft(false)} />
    </form>
    ${fields ? html`<form class="draft-form" onSubmit=${submitDraft} aria-label="The drafted story">
      <${Provenance} result=${result} />
      ${result.invest?.warnings?.length ? html`<div class="invest-preview"><strong>INVEST check of this draft</strong>
        <ul class="warnings">${result.invest.warnings.map((warning) => html`<li>${warning.message}</li>`)}</ul></div>` : null}
      <div class="field"><label for="draft-title">Title</label>
        <input id="draft-title" value=${fields.title} maxlength="200" required onInput=${set('title')} /></div>
      <div class="field"><label for="draft-asA">As a</label>
        <input id="draft-asA" value=${fields.asA} maxlength="2000" onInput=${set('asA')} /></div>
      <div class="field"><label for="draft-iWant">I want</label>
        <textarea id="draft-iWant" rows="2" maxlength="2000" value=${fields.iWant} onInput=${set('iWant')}></textarea></div>
      <div class="field"><label for="draft-soThat">So that</label>
        <textarea id="draft-soThat" rows="2" maxlength="2000" value=${fields.soThat} onInput=${set('soThat')}></textarea></div>
      <div class="field"><label for="draft-description">Description</label>
        <textarea id="draft-description" rows="3" value=${fields.description} onInput=${set('description')}></textarea></div>
      <div class="field"><label for="draft-storyPoint">Story points</label>
        <select id="draft-storyPoint" value=${fields.storyPoint} onChange=${set('storyPoint')}>
          ${POINTS.map((points) => html`<option value=${points}>${points || 'not estimated'}</option>`)}
        </select></div>
      <h3>Acceptance tests</h3>
      <ul class="drafted-tests">${tests.map((test, index) => html`<${DraftedTest} key=${index} index=${index} test=${test}
        onChange=${(changed) => setTests(tests.map((old, at) => (at === index ? changed : old)))} />`)}</ul>
      <div class="actions">
        <button type="submit" class="primary" disabled=${creating || !fields.title.trim()}>
          ${creating ? 'Creating…' : `Create story with ${kept} test${kept === 1 ? '' : 's'}`}</button>
        ${created ? html`<span class="muted">${storyLabel(created.id)} is created; ${created.savedTests} of ${kept} tests saved.</span>` : null}
      </div>
      <${ErrorNote} error=${createError} onRetry=${create} />
    </form>` : null}
  </section>`;
}

/** "Suggest tests" on a story page: drafted tests to add one by one. */
export function SuggestTests({ story }) {
  const [focus, setFocus] = useState('');
  const [result, setResult] = useState(null);
  const [added, setAdded] = useState([]);
  const [suggest, suggesting, suggestError] = useAction(async () => {
    const body = focus.trim() ? { idea: focus.trim() } : {};
    const { data } = await api('POST', scoped(`/stories/${story.id}/test-drafts`), { body });
    setResult(data);
    setAdded([]);
  });
  const [add, adding, addError] = useAction(async (index) => {
    const test = result.acceptanceTests[index];
    await api('POST', scoped(`/stories/${story.id}/tests`), {
      body: { title: test.title, given: test.given, when: test.when, then: test.then },
    });
    setAdded([...added, index]);
    await loadStory(story.id);
  });
  return html`<div class="suggest-tests">
    <div class="inline-form">
      <label for="suggest-focus">Suggest tests about (optional)</label>
      <input id="suggest-focus" value=${focus} maxlength="1000" placeholder="e.g. an empty story tree"
        onInput=${(event) => setFocus(event.target.value)} />
      <button type="button" class="secondary" disabled=${suggesting || !can('useAiAssist').allowed}
        title=${can('useAiAssist').reason || undefined} onClick=${() => suggesting || suggest()}>
        ${suggesting ? 'Suggesting… (up to 20 s)' : 'Suggest tests'}</button>
    </div>
    <${ErrorNote} error=${suggestError} onRetry=${suggest} />
    ${result ? html`<${Provenance} result=${result} />
      <ul class="suggested">${result.acceptanceTests.map((test, index) => html`<li class="suggested-test">
        <strong>${test.title}</strong>
        <dl class="gwt">${['given', 'when', 'then'].map((part) => html`<dt>${part[0].toUpperCase() + part.slice(1)}</dt>
          <dd><ul>${test[part].map((step) => html`<li>${step}</li>`)}</ul></dd>`)}</dl>
        ${added.includes(index)
          ? html`<span class="ok-note">Added</span>`
          : html`<button type="button" class="secondary" disabled=${adding} onClick=${() => add(index)}>Add this test</button>`}
      </li>`)}</ul>
      <${ErrorNote} error=${addError} />` : null}
  </div>`;
}
