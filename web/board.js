// board.js — the board: a column per status with counts and the project's work-in-progress
// limits (warned past), narrowed by filters kept in the URL (epic, assignee, component, text,
// blocked only) and optionally split into swimlanes by epic;
// moving a card (drag and drop, or the card's "Move to" menu from the keyboard or a phone)
// changes the status through the API; a refused move leaves the card where it was and says why
// on the card.

import { html, useState, useEffect } from './vendor-htm-preact.js';
import { boardHref, storyHref } from './router.js';
import { Refusal, StatusChip, STATUSES, nextStatuses } from './ui.js';
import { changeStatus, loadAllStories } from './stories.js';
import { ErrorNote } from './ui.js';
import { can } from './access.js';
import { storyLabel } from './project.js';
import { BlockedBadge } from './links.js';
import { NO_ASSIGNEE, epicsOf, filterChoices, filterStories, filtersOf } from './board-filter.js';

function Card({ story, byId, onMove, moving, error }) {
  const options = nextStatuses(story);
  const mayMove = can('changeStatus');
  return html`<li class="card" draggable="true" data-id=${story.id}
      onDragStart=${(event) => { event.dataTransfer.setData('text/plain', String(story.id)); event.dataTransfer.effectAllowed = 'move'; }}>
    <a href=${storyHref(story.id)}>${storyLabel(story.id)} ${story.title}</a>
    <div class="card-foot">
      <${StatusChip} status=${story.status} />
      <${BlockedBadge} story=${story} byId=${byId} />
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

function Filters({ filters, choices, byId, onChange }) {
  const select = (name, label, options, all) => html`<label>${label}
    <select name=${name} value=${filters[name]} onChange=${(event) => onChange({ [name]: event.target.value })}>
      <option value="">${all}</option>
      ${options.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
    </select></label>`;
  const active = ['epic', 'assignee', 'component', 'text', 'blocked'].some((name) => filters[name]);
  return html`<form class="board-filters" role="search" aria-label="Filter the board"
      onSubmit=${(event) => event.preventDefault()}>
    ${select('epic', 'Epic', choices.epics.map((id) => [String(id), `${storyLabel(id)} ${byId[id].title}`]), 'All epics')}
    ${select('assignee', 'Assignee', [...choices.assignees.map((email) => [email, email]), [NO_ASSIGNEE, 'Unassigned']], 'Anyone')}
    ${select('component', 'Component', choices.components.map((name) => [name, name]), 'All components')}
    <label>Text <input type="search" name="text" value=${filters.text} placeholder="Title or key"
      onInput=${(event) => onChange({ text: event.target.value })} /></label>
    <label class="check"><input type="checkbox" name="blocked" checked=${filters.blocked === '1'}
      onChange=${(event) => onChange({ blocked: event.target.checked ? '1' : '' })} /> Blocked only</label>
    <label class="check"><input type="checkbox" name="lanes" checked=${filters.lanes === 'epic'}
      onChange=${(event) => onChange({ lanes: event.target.checked ? 'epic' : '' })} /> Swimlanes by epic</label>
    ${active ? html`<button type="button" class="link"
      onClick=${() => onChange({ epic: '', assignee: '', component: '', text: '', blocked: '' })}>Clear filters</button>` : null}
  </form>`;
}

function Columns({ cards, byId, over, setOver, drop, move, moving, errors, lane, limits, totals }) {
  return html`<div class="columns">
    ${STATUSES.map((status) => {
      const inColumn = cards.filter((story) => story.status === status);
      // The limit is about the whole column, whatever the filters or lanes show of it.
      const limit = limits[status];
      const overLimit = limit && totals[status] > limit;
      return html`<section class=${`column${over === `${lane}:${status}` ? ' over' : ''}${overLimit ? ' over-limit' : ''}`}
          aria-label=${`${status} (${inColumn.length})`} data-status=${status}
          onDragOver=${(event) => { event.preventDefault(); setOver(`${lane}:${status}`); }}
          onDragLeave=${() => setOver(null)} onDrop=${drop(status)}>
        <h3>${status} <span class="count">${inColumn.length}${limit ? ` / ${limit}` : ''}</span></h3>
        ${overLimit ? html`<p class="wip-warning" role="status">${totals[status]} stories, over the limit of ${limit}</p>` : null}
        <ul>${inColumn.map((story) => html`<${Card} key=${story.id} story=${story} byId=${byId}
          onMove=${move} moving=${moving === story.id} error=${errors[story.id]} />`)}</ul>
      </section>`;
    })}
  </div>`;
}

export function Board({ stories, query, project }) {
  // The board filters across the whole project, so it loads every page of the flat listing.
  useEffect(() => { loadAllStories(); }, []);
  const [moving, setMoving] = useState(null);
  const [errors, setErrors] = useState({});
  const [over, setOver] = useState(null);
  const filters = filtersOf(query);
  const byId = stories.byId;
  const cards = filterStories(byId, filters, storyLabel);
  const total = Object.keys(byId).length;
  const choices = filterChoices(byId);
  const change = (changes) => location.replace(boardHref({ ...filters, ...changes }));

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
    const story = byId[Number(event.dataTransfer.getData('text/plain'))];
    if (story) move(story, status);
  };
  const totals = {};
  for (const story of Object.values(byId)) totals[story.status] = (totals[story.status] || 0) + 1;
  const columns = { byId, over, setOver, drop, move, moving, errors, limits: project?.wipLimits || {}, totals };
  let lanes = null;
  if (filters.lanes === 'epic') {
    const epicOf = epicsOf(byId);
    const groups = new Map();
    for (const story of cards) {
      const epic = epicOf[story.id];
      if (!groups.has(epic)) groups.set(epic, []);
      groups.get(epic).push(story);
    }
    lanes = [...groups.entries()].sort(([a], [b]) => a - b);
  }
  performance.mark('aipm:board-filtered');

  return html`<section class="board" aria-labelledby="board-heading">
    <h2 id="board-heading">Board</h2>
    <${Filters} filters=${filters} choices=${choices} byId=${byId} onChange=${change} />
    <p class="muted board-count" aria-live="polite">${cards.length === total
      ? `${total} ${total === 1 ? 'story' : 'stories'}`
      : `${cards.length} of ${total} stories match`}${stories.loading ? ' (loading…)' : ''}</p>
    <${ErrorNote} error=${stories.error} onRetry=${loadAllStories} />
    ${lanes
      ? lanes.map(([epic, laneCards]) => html`<section class="lane" aria-label=${`Epic ${storyLabel(epic)}`}>
          <h3 class="lane-title"><a href=${storyHref(epic)}>${storyLabel(epic)} ${byId[epic]?.title || ''}</a>
            <span class="count">${laneCards.length}</span></h3>
          <${Columns} ...${columns} cards=${laneCards} lane=${epic} />
        </section>`)
      : html`<${Columns} ...${columns} cards=${cards} lane="all" />`}
  </section>`;
}
