// board.js — the board: a column per status; moving a card (drag and drop, or the card's "Move
// to" menu from the keyboard or a phone) changes the status through the API; a refused move
// leaves the card where it was and says why on the card.

import { html, useState, useEffect } from './vendor-htm-preact.js';
import { storyHref } from './router.js';
import { Refusal, StatusChip, STATUSES, nextStatuses } from './ui.js';
import { changeStatus, loadStories } from './stories.js';
import { ErrorNote } from './ui.js';
import { can } from './access.js';
import { storyLabel } from './project.js';

function Card({ story, byId, onMove, moving, error }) {
  const options = nextStatuses(story);
  const mayMove = can('changeStatus');
  return html`<li class="card" draggable="true" data-id=${story.id}
      onDragStart=${(event) => { event.dataTransfer.setData('text/plain', String(story.id)); event.dataTransfer.effectAllowed = 'move'; }}>
    <a href=${storyHref(story.id)}>${storyLabel(story.id)} ${story.title}</a>
    <div class="card-foot">
      <${StatusChip} status=${story.status} />
      <label class="visually-hidden" for=${`move-${story.id}`}>Move ${storyLabel(story.id)} to</label>
      <select id=${`move-${story.id}`} disabled=${moving || !mayMove.allowed} value=""
        title=${mayMove.reason || undefined}
        onChange=${(event) => { const to = event.target.value; event.target.value = ''; if (to) onMove(story, to); }}>
        <option value="">${moving ? 'Moving…' : 'Move to…'}</option>
        ${options.map((status) => html`<option value=${status}>${status}</option>`)}
      </select>
    </div>
    <${Refusal} error=${error} byId=${byId}
      onAcceptWarnings=${error ? () => onMove(story, error.details.to, true) : null} />
  </li>`;
}

export function Board({ stories }) {
  // The board shows every story, so it pages through the flat listing (the tree loads levels).
  useEffect(() => { if (!stories.loaded) loadStories(); }, [stories.loaded]);
  const [moving, setMoving] = useState(null);
  const [errors, setErrors] = useState({});
  const [over, setOver] = useState(null);
  const all = Object.values(stories.byId).sort((a, b) => a.id - b.id);

  const move = async (story, to, acceptWarnings = false) => {
    if (story.status === to) return;
    setMoving(story.id);
    setErrors({ ...errors, [story.id]: null });
    try {
      await changeStatus(story.id, to, { acceptWarnings });
    } catch (failure) {
      setErrors((current) => ({ ...current, [story.id]: failure }));
    } finally {
      setMoving(null);
    }
  };
  const drop = (status) => (event) => {
    event.preventDefault();
    setOver(null);
    const story = stories.byId[Number(event.dataTransfer.getData('text/plain'))];
    if (story) move(story, status);
  };

  return html`<section class="board" aria-labelledby="board-heading">
    <h2 id="board-heading">Board</h2>
    <${ErrorNote} error=${stories.error} onRetry=${() => loadStories({ more: stories.loaded })} />
    <div class="columns">
      ${STATUSES.map((status) => {
        const cards = all.filter((story) => story.status === status);
        return html`<section class=${`column${over === status ? ' over' : ''}`} aria-label=${`${status} (${cards.length})`}
            data-status=${status}
            onDragOver=${(event) => { event.preventDefault(); setOver(status); }}
            onDragLeave=${() => setOver(null)} onDrop=${drop(status)}>
          <h3>${status} <span class="count">${cards.length}</span></h3>
          <ul>${cards.map((story) => html`<${Card} key=${story.id} story=${story} byId=${stories.byId}
            onMove=${move} moving=${moving === story.id} error=${errors[story.id]} />`)}</ul>
        </section>`;
      })}
    </div>
    ${stories.cursor ? html`<button type="button" class="secondary" onClick=${() => loadStories({ more: true })}>Load more stories</button>` : null}
  </section>`;
}
