// workload.js — the workload heat map: open story points (every story not Done) by assignee ×
// component, darker where more is waiting; a cell opens the list of its stories, and the open
// cell is kept in the URL. A story with several components counts in each of their columns, so
// a row's total counts each story once.

import { html, useEffect } from './vendor-htm-preact.js';
import { ErrorNote, StatusChip } from './ui.js';
import { href, storyHref } from './router.js';
import { loadAllStories } from './stories.js';
import { storyLabel } from './project.js';

export const UNASSIGNED = 'Unassigned';
export const NO_COMPONENT = 'No component';

/** The grid: people, components, and per cell its points and stories. */
export function workload(byId) {
  const cells = new Map();
  const people = new Set();
  const components = new Set();
  const totals = new Map();
  for (const story of Object.values(byId)) {
    if (story.status === 'Done') continue;
    const person = story.assigneeEmail || UNASSIGNED;
    const points = story.storyPoint || 0;
    people.add(person);
    totals.set(person, (totals.get(person) || 0) + points);
    const parts = story.components?.length ? story.components : [NO_COMPONENT];
    for (const component of new Set(parts)) {
      components.add(component);
      const key = `${person}\u0000${component}`;
      const cell = cells.get(key) || { points: 0, stories: [] };
      cell.points += points;
      cell.stories.push(story);
      cells.set(key, cell);
    }
  }
  const sorted = (set, last) => [...set].sort((a, b) => (a === last) - (b === last) || a.localeCompare(b));
  return {
    people: sorted(people, UNASSIGNED),
    components: sorted(components, NO_COMPONENT),
    cell: (person, component) => cells.get(`${person}\u0000${component}`) || { points: 0, stories: [] },
    total: (person) => totals.get(person) || 0,
  };
}

function shade(points, most) {
  if (!points) return 'transparent';
  const strength = 0.15 + 0.75 * (points / most);
  return `rgba(220, 38, 38, ${strength.toFixed(2)})`;
}

export function Workload({ stories, query = {} }) {
  useEffect(() => { loadAllStories(); }, []);
  const grid = workload(stories.byId);
  let most = 1;
  for (const person of grid.people) {
    for (const component of grid.components) most = Math.max(most, grid.cell(person, component).points);
  }
  const chosen = query.person !== undefined && query.component !== undefined
    ? { person: query.person, component: query.component, ...grid.cell(query.person, query.component) }
    : null;
  const choose = (person, component) => location.replace(
    href(`/workload?${new URLSearchParams({ person, component })}`),
  );
  return html`<section class="workload" aria-labelledby="workload-heading">
    <h2 id="workload-heading">Workload</h2>
    <p class="muted">Open story points (every story not Done) by assignee and component. A story with several
      components counts in each; the total counts it once.</p>
    <${ErrorNote} error=${stories.error} onRetry=${loadAllStories} />
    ${grid.people.length === 0 ? html`<p class="empty">No open stories.</p>` : html`<div class="workload-frame">
      <table class="heatmap">
        <thead><tr><th scope="col">Assignee</th>
          ${grid.components.map((component) => html`<th scope="col">${component}</th>`)}
          <th scope="col">Total</th></tr></thead>
        <tbody>${grid.people.map((person) => html`<tr>
          <th scope="row">${person}</th>
          ${grid.components.map((component) => {
            const cell = grid.cell(person, component);
            const selected = chosen && chosen.person === person && chosen.component === component;
            return html`<td style=${`background:${shade(cell.points, most)}`} class=${selected ? 'selected' : ''}>
              ${cell.stories.length
                ? html`<button type="button" class="cell" data-person=${person} data-component=${component}
                    aria-label=${`${cell.points} points, ${cell.stories.length} stories: ${person}, ${component}`}
                    onClick=${() => choose(person, component)}>${cell.points}</button>`
                : html`<span class="muted" aria-label="none">·</span>`}
            </td>`;
          })}
          <td class="total" data-person=${person}>${grid.total(person)}</td>
        </tr>`)}</tbody>
      </table>
    </div>`}
    ${chosen ? html`<section class="panel workload-stories" aria-labelledby="cell-heading">
      <h3 id="cell-heading">${chosen.person} · ${chosen.component}: ${chosen.points} points</h3>
      ${chosen.stories.length === 0 ? html`<p class="muted">No open stories here.</p>` : html`<ul>
        ${chosen.stories.map((story) => html`<li><a href=${storyHref(story.id)}>${storyLabel(story.id)} ${story.title}</a>
          <span class="muted"> ${story.storyPoint ?? 0} pts</span> <${StatusChip} status=${story.status} /></li>`)}
      </ul>`}
    </section>` : null}
  </section>`;
}
