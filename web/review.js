// review.js — the AI INVEST review panel: ask for a review, follow it while it runs, and show the
// model's verdict per criterion next to the deterministic check, marked as the model's and as
// advisory (the deterministic check alone decides Ready), and stale once the story changes.

import { html, useEffect } from './vendor-htm-preact.js';
import { api } from './api.js';
import { ErrorNote, useAction } from './ui.js';
import { loadStory } from './stories.js';
import { can } from './access.js';
import { scoped } from './project.js';

const POLL_MS = 2000;
const VERDICT_MARK = { pass: '✓', concern: '~', fail: '!' };

export function AiReviewPanel({ story }) {
  const review = story.aiReview;
  const pending = review?.status === 'pending';
  const [ask, asking, error] = useAction(async () => {
    await api('POST', scoped(`/stories/${story.id}/invest-review`));
    await loadStory(story.id);
  });
  // While the review runs, the story is read again until it is there.
  useEffect(() => {
    if (!pending) return undefined;
    const timer = setTimeout(() => loadStory(story.id), POLL_MS);
    return () => clearTimeout(timer);
  }, [pending, story.version, review?.requestedAt, story.aiReview]);
  const allowed = can('useAiAssist');
  const askButton = (label) => html`<button type="button" class="secondary" disabled=${asking || pending || !allowed.allowed}
    title=${allowed.reason || undefined} onClick=${() => asking || ask()}>${asking ? 'Asking…' : label}</button>`;
  return html`<section class="panel ai-review" aria-labelledby="ai-review-heading" data-review-status=${review?.status || 'none'}>
    <h3 id="ai-review-heading">AI review ${review?.status === 'done'
      ? html`<span class="score">${review.score}/100</span>` : null}</h3>
    <p class="muted">Advisory: a model’s opinion. The INVEST check above alone decides Ready.</p>
    ${!review ? askButton('Ask AI to review') : null}
    ${pending ? html`<p role="status">Reviewing… this takes a few seconds.</p>` : null}
    ${review?.status === 'failed' ? html`<p role="status">The review could not be made (${review.failure || 'unknown'}).</p>
      ${askButton('Try again')}` : null}
    ${review?.status === 'done' ? html`
      <p class="provenance ai"><span class="badge ai">AI review</span> by ${review.model || 'a model'}</p>
      ${story.aiReviewStale ? html`<p class="stale" role="status">The story or its tests changed since this review.</p>
        ${askButton('Review again')}` : null}
      <ul class="verdicts">${review.criteria.map((item) => html`<li class=${`verdict-${item.verdict}`}>
        <strong><span aria-hidden="true">${VERDICT_MARK[item.verdict]}</span> ${item.criterion}: ${item.verdict}</strong>
        <div>${item.message}</div>
        <div class="suggestion">Suggestion: ${item.suggestion}</div>
      </li>`)}</ul>
      ${review.summary ? html`<p>${review.summary}</p>` : null}` : null}
    <${ErrorNote} error=${error} onRetry=${ask} />
  </section>`;
}
