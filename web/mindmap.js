// mindmap.js — the story tree as a right-growing mindmap laid out by d3-hierarchy: pan and zoom
// by pointer, wheel and keyboard, collapse and expand, status colours, click (or Enter) to open
// a story, and a dependency overlay with blocked marks. Small trees are SVG; past CANVAS_ABOVE
// visible nodes it draws on a canvas, which keeps a pan frame cheap. What is collapsed and where
// the view stands is kept per project in this browser. The tree view stays the accessible view
// of the same data; here a live region says which story the keyboard is on.

import { html, useState, useEffect, useRef } from './vendor-htm-preact.js';
import { hierarchy, tree } from './vendor-d3-hierarchy.js';
import { ErrorNote } from './ui.js';
import { href, navigate, storyHref } from './router.js';
import { childrenIndex, loadAllStories } from './stories.js';
import { currentProject, storyLabel } from './project.js';
import { openBlockersOf } from './links.js';

const NODE_WIDTH = 190;
const NODE_HEIGHT = 26;
const COLUMN = NODE_WIDTH + 50;
const ROW = 34;
/** Past this many visible nodes the map is drawn on a canvas: SVG repaints every node per frame. */
export const CANVAS_ABOVE = 500;
const ZOOM = { min: 0.1, max: 3 };
const COLOURS = {
  Draft: ['#e2e8f0', '#2d3748'],
  Ready: ['#dbeafe', '#1e40af'],
  'In Progress': ['#fef3c7', '#92400e'],
  Done: ['#dcfce7', '#166534'],
  Blocked: ['#fee2e2', '#991b1b'],
};

function storageKey() {
  return `aipm.mindmap.${currentProject()}`;
}

function remembered() {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey()) || '{}');
    return {
      collapsed: new Set(saved.collapsed || []),
      view: saved.view || null,
      overlay: saved.overlay !== false,
    };
  } catch {
    return { collapsed: new Set(), view: null, overlay: true };
  }
}

function keep(state) {
  localStorage.setItem(storageKey(), JSON.stringify({
    collapsed: [...state.collapsed], view: state.view, overlay: state.overlay,
  }));
}

/** Node positions for the stories shown: roots in a column on the left, children to the right.
 * A collapsed story's subtree is left out. `x` runs right, `y` down. */
export function layoutMindmap(byId, collapsed) {
  const started = performance.now();
  const index = childrenIndex(byId);
  const roots = Object.values(byId)
    .filter((story) => story.parentId == null || !byId[story.parentId])
    .map((story) => story.id)
    .sort((a, b) => a - b);
  const root = hierarchy({ id: null }, (node) => {
    const ids = node.id === null ? roots : collapsed.has(node.id) ? [] : index[node.id] || [];
    return ids.map((id) => ({ id }));
  });
  tree().nodeSize([ROW, COLUMN])(root);
  const nodes = [];
  const edges = [];
  root.each((node) => {
    if (node.data.id === null) return;
    const id = node.data.id;
    nodes.push({
      id,
      x: (node.depth - 1) * COLUMN,
      y: node.x,
      story: byId[id],
      childCount: (index[id] || []).length,
      collapsed: collapsed.has(id) && (index[id] || []).length > 0,
      parent: node.parent.data.id,
    });
    if (node.parent.data.id !== null) edges.push([node.parent.data.id, id]);
  });
  performance.measure('aipm:mindmap-layout', { start: started });
  return { nodes, edges };
}

/** The dependency arrows between visible stories: blocker → blocked, open or done. */
function dependencyArrows(nodes, byId) {
  const shown = new Set(nodes.map((node) => node.id));
  const arrows = [];
  for (const node of nodes) {
    const open = new Set(openBlockersOf(node.story, byId));
    for (const blocker of node.story.blockedBy || []) {
      if (shown.has(blocker)) arrows.push({ from: blocker, to: node.id, open: open.has(blocker) });
    }
  }
  return arrows;
}

function label(node) {
  const text = `${storyLabel(node.id)} ${node.story.title}`;
  return text.length > 26 ? `${text.slice(0, 25)}…` : text;
}

function edgePath(from, to) {
  const x1 = from.x + NODE_WIDTH;
  const y1 = from.y;
  const x2 = to.x;
  const y2 = to.y;
  const middle = (x1 + x2) / 2;
  return `M${x1},${y1} C${middle},${y1} ${middle},${y2} ${x2},${y2}`;
}

function arrowPath(from, to) {
  // From the blocker's right edge, bowed out to the right, into the blocked story's right edge:
  // clear of the boxes and of the tree's edges, which meet the boxes' left edges.
  const x1 = from.x + NODE_WIDTH + 10;
  const x2 = to.x + NODE_WIDTH + 10;
  const bow = 40 + Math.abs(to.y - from.y) * 0.25;
  const reach = Math.max(x1, x2) + bow;
  return `M${x1},${from.y - 4} C${reach},${from.y - 4} ${reach},${to.y + 4} ${x2},${to.y + 4}`;
}

/** Draws the whole map on a canvas at the view's transform. */
function paint(canvas, layout, arrows, view, focusId, byId) {
  const context = canvas.getContext('2d');
  const ratio = window.devicePixelRatio || 1;
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.setTransform(view.k * ratio, 0, 0, view.k * ratio, view.x * ratio, view.y * ratio);
  const at = new Map(layout.nodes.map((node) => [node.id, node]));
  context.strokeStyle = '#a0aec0';
  context.lineWidth = 1 / view.k;
  context.beginPath();
  for (const [parent, child] of layout.edges) {
    const from = at.get(parent);
    const to = at.get(child);
    context.moveTo(from.x + NODE_WIDTH, from.y);
    const middle = (from.x + NODE_WIDTH + to.x) / 2;
    context.bezierCurveTo(middle, from.y, middle, to.y, to.x, to.y);
  }
  context.stroke();
  context.font = '12px system-ui, sans-serif';
  context.textBaseline = 'middle';
  for (const node of layout.nodes) {
    const [fill, ink] = COLOURS[node.story.status] || COLOURS.Draft;
    context.fillStyle = fill;
    context.fillRect(node.x, node.y - NODE_HEIGHT / 2, NODE_WIDTH, NODE_HEIGHT);
    if (openBlockersOf(node.story, byId).length) {
      context.strokeStyle = '#b91c1c';
      context.setLineDash([4, 3]);
      context.strokeRect(node.x, node.y - NODE_HEIGHT / 2, NODE_WIDTH, NODE_HEIGHT);
      context.setLineDash([]);
    }
    if (node.id === focusId) {
      context.strokeStyle = '#2563eb';
      context.lineWidth = 3 / view.k;
      context.strokeRect(node.x - 2, node.y - NODE_HEIGHT / 2 - 2, NODE_WIDTH + 4, NODE_HEIGHT + 4);
      context.lineWidth = 1 / view.k;
    }
    if (view.k > 0.35) {
      context.fillStyle = ink;
      context.fillText(`${node.collapsed ? '▸ ' : ''}${label(node)}`, node.x + 6, node.y);
    }
  }
  for (const arrow of arrows) {
    const from = at.get(arrow.from);
    const to = at.get(arrow.to);
    context.strokeStyle = arrow.open ? '#b91c1c' : '#68d391';
    context.stroke(new Path2D(arrowPath(from, to)));
  }
}

function SvgMap({ layout, arrows, focusId, viewRef, onOpen, onToggle, byId }) {
  const at = new Map(layout.nodes.map((node) => [node.id, node]));
  const view = viewRef.current;
  return html`<svg class="mindmap-svg" aria-hidden="true">
    <defs><marker id="arrow-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
      <path d="M0,0 L10,5 L0,10 z" fill="context-stroke" /></marker></defs>
    <g class="mindmap-view" transform=${`translate(${view.x},${view.y}) scale(${view.k})`}>
      ${layout.edges.map(([parent, child]) => html`<path class="mindmap-edge" d=${edgePath(at.get(parent), at.get(child))} />`)}
      ${layout.nodes.map((node) => html`<g key=${node.id} class=${`mindmap-node status-${node.story.status.toLowerCase().replace(/\s+/g, '-')}${node.id === focusId ? ' focused' : ''}${openBlockersOf(node.story, byId).length ? ' waiting' : ''}`}
          data-id=${node.id} transform=${`translate(${node.x},${node.y - NODE_HEIGHT / 2})`}
          onClick=${(event) => { event.stopPropagation(); onOpen(node.id); }}>
        <rect width=${NODE_WIDTH} height=${NODE_HEIGHT} rx="5" />
        <text x="8" y=${NODE_HEIGHT / 2}>${label(node)}</text>
        ${node.childCount ? html`<g class="mindmap-toggle" transform=${`translate(${NODE_WIDTH},${NODE_HEIGHT / 2})`}
            onClick=${(event) => { event.stopPropagation(); onToggle(node.id); }}>
          <circle r="8" /><text text-anchor="middle" y="1">${node.collapsed ? '+' : '−'}</text></g>` : null}
      </g>`)}
      ${arrows.map((arrow) => html`<path class=${`mindmap-arrow${arrow.open ? ' open' : ''}`}
        data-from=${arrow.from} data-to=${arrow.to} d=${arrowPath(at.get(arrow.from), at.get(arrow.to))} marker-end="url(#arrow-head)" />`)}
    </g>
  </svg>`;
}

export function Mindmap({ stories }) {
  useEffect(() => { loadAllStories(); }, []);
  const [saved] = useState(remembered);
  const [collapsed, setShownCollapsed] = useState(saved.collapsed);
  const [overlay, setShownOverlay] = useState(saved.overlay);
  const [focusId, setFocusId] = useState(null);
  const viewRef = useRef(saved.view || { x: 40, y: 300, k: 1 });
  const frame = useRef(null);
  const canvasRef = useRef(null);
  const drag = useRef(null);
  const byId = stories.byId;
  const layout = layoutMindmap(byId, collapsed);
  const arrows = overlay ? dependencyArrows(layout.nodes, byId) : [];
  const onCanvas = layout.nodes.length > CANVAS_ABOVE;
  const ordered = [...layout.nodes].sort((a, b) => a.y - b.y || a.x - b.x);
  const focused = layout.nodes.find((node) => node.id === focusId) || null;

  // A save scheduled by a pan runs later: it must keep what is collapsed then, not what was
  // collapsed when it was scheduled.
  const latest = useRef(null);
  latest.current = { collapsed, overlay };
  const persist = () => keep({ ...latest.current, view: viewRef.current });
  // What is collapsed and the overlay are kept the moment they change, not in an effect:
  // Preact runs an effect after the next paint and drops it if the view is gone by then, so
  // leaving the map right after a change forgot it (web_planning failed so once in CI).
  const setCollapsed = (next) => {
    latest.current = { ...latest.current, collapsed: next };
    persist();
    setShownCollapsed(next);
  };
  const setOverlay = (next) => {
    latest.current = { ...latest.current, overlay: next };
    persist();
    setShownOverlay(next);
  };
  // A first visit (no view kept yet) starts with the whole map in sight.
  const fitted = useRef(Boolean(saved.view));
  // One place moves the view: SVG gets the new transform, a canvas is repainted.
  const show = () => {
    const view = viewRef.current;
    if (onCanvas && canvasRef.current) {
      const started = performance.now();
      paint(canvasRef.current, layout, arrows, view, focusId, byId);
      performance.measure('aipm:mindmap-frame', { start: started });
    } else {
      frame.current?.querySelector('.mindmap-view')
        ?.setAttribute('transform', `translate(${view.x},${view.y}) scale(${view.k})`);
    }
  };
  useEffect(() => {
    const canvas = canvasRef.current;
    if (onCanvas && canvas) {
      const ratio = window.devicePixelRatio || 1;
      canvas.width = canvas.clientWidth * ratio;
      canvas.height = canvas.clientHeight * ratio;
    }
    show();
  });
  // For the benchmark: the same pan a pointer makes, one frame at a time.
  useEffect(() => {
    window.aipmMindmap = {
      panBy: (dx, dy) => { viewRef.current = { ...viewRef.current, x: viewRef.current.x + dx, y: viewRef.current.y + dy }; show(); },
      zoomTo: (k) => { viewRef.current = { ...viewRef.current, k }; show(); },
      nodes: layout.nodes.length,
      canvas: onCanvas,
    };
  });
  const moveView = (change) => {
    viewRef.current = { ...viewRef.current, ...change(viewRef.current) };
    show();
    clearTimeout(moveView.timer);
    moveView.timer = setTimeout(persist, 300);
  };
  const zoomAt = (factor, cx, cy) => moveView((view) => {
    const k = Math.min(ZOOM.max, Math.max(ZOOM.min, view.k * factor));
    return { k, x: cx - ((cx - view.x) * k) / view.k, y: cy - ((cy - view.y) * k) / view.k };
  });
  const centre = () => {
    const box = frame.current?.getBoundingClientRect();
    return box ? [box.width / 2, box.height / 2] : [300, 300];
  };
  const toggle = (id) => {
    const next = new Set(collapsed);
    if (next.has(id)) next.delete(id); else next.add(id);
    setCollapsed(next);
  };
  const open = (id) => navigate(storyHref(id));
  // The keyboard's story stays in sight.
  const reveal = (node) => {
    const box = frame.current?.getBoundingClientRect();
    if (!box || !node) return;
    const view = viewRef.current;
    const left = node.x * view.k + view.x;
    const top = node.y * view.k + view.y;
    if (left < 0 || left + NODE_WIDTH * view.k > box.width || top < 0 || top > box.height) {
      moveView(() => ({ x: box.width / 3 - node.x * view.k, y: box.height / 2 - node.y * view.k }));
    }
  };
  const focusNode = (node) => { if (node) { setFocusId(node.id); reveal(node); } };
  const fit = () => {
    if (!layout.nodes.length) return;
    const box = frame.current?.getBoundingClientRect();
    const xs = layout.nodes.map((node) => node.x);
    const ys = layout.nodes.map((node) => node.y);
    const width = Math.max(...xs) + NODE_WIDTH - Math.min(...xs) + 40;
    const height = Math.max(...ys) - Math.min(...ys) + ROW * 2;
    // Never larger than life: a small map is shown at 1:1, not blown up.
    const k = Math.min(1, Math.max(ZOOM.min, Math.min(box.width / width, box.height / height)));
    moveView(() => ({ k, x: 20 - Math.min(...xs) * k, y: ROW * k - Math.min(...ys) * k }));
  };

  useEffect(() => {
    if (!fitted.current && layout.nodes.length && stories.loaded && !stories.loading) {
      fitted.current = true;
      fit();
    }
  });

  const onKeyDown = (event) => {
    const at = focused ? ordered.indexOf(focused) : -1;
    const children = focused ? layout.nodes.filter((node) => node.parent === focused.id) : [];
    const pan = 80;
    const keys = {
      ArrowDown: () => focusNode(ordered[at + 1] || ordered[0]),
      ArrowUp: () => focusNode(ordered[at - 1] || ordered[ordered.length - 1]),
      ArrowRight: () => {
        if (!focused) return focusNode(ordered[0]);
        if (focused.collapsed) return toggle(focused.id);
        return focusNode(children[0]);
      },
      ArrowLeft: () => {
        if (!focused) return focusNode(ordered[0]);
        if (focused.childCount && !focused.collapsed) return toggle(focused.id);
        return focusNode(layout.nodes.find((node) => node.id === focused.parent));
      },
      Enter: () => focused && open(focused.id),
      '+': () => zoomAt(1.25, ...centre()),
      '=': () => zoomAt(1.25, ...centre()),
      '-': () => zoomAt(0.8, ...centre()),
      0: fit,
    };
    if (event.shiftKey && event.key.startsWith('Arrow')) {
      const [dx, dy] = { ArrowLeft: [pan, 0], ArrowRight: [-pan, 0], ArrowUp: [0, pan], ArrowDown: [0, -pan] }[event.key];
      event.preventDefault();
      moveView((view) => ({ x: view.x + dx, y: view.y + dy }));
      return;
    }
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
    }
  };
  const pointerDown = (event) => {
    if (event.button !== 0) return;
    drag.current = { x: event.clientX, y: event.clientY, moved: false };
  };
  const pointerMove = (event) => {
    const start = drag.current;
    if (!start) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    if (!start.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    // Captured only once it is a drag, so a plain click still reaches the story under it.
    if (!start.moved) event.currentTarget.setPointerCapture?.(event.pointerId);
    start.moved = true;
    start.x = event.clientX;
    start.y = event.clientY;
    moveView((view) => ({ x: view.x + dx, y: view.y + dy }));
  };
  const pointerUp = (event) => {
    const start = drag.current;
    drag.current = null;
    if (!start || start.moved || !onCanvas) return;
    // A click on the canvas: the story under the pointer, found through the inverse transform.
    const box = canvasRef.current.getBoundingClientRect();
    const view = viewRef.current;
    const x = (event.clientX - box.left - view.x) / view.k;
    const y = (event.clientY - box.top - view.y) / view.k;
    const hit = layout.nodes.find((node) => x >= node.x && x <= node.x + NODE_WIDTH
      && Math.abs(y - node.y) <= NODE_HEIGHT / 2);
    if (hit) open(hit.id);
  };
  const onWheel = (event) => {
    event.preventDefault();
    const box = frame.current.getBoundingClientRect();
    zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
  };
  useEffect(() => {
    const element = frame.current;
    // Wheel zoom must be able to stop the page from scrolling, so the listener is not passive.
    element?.addEventListener('wheel', onWheel, { passive: false });
    return () => element?.removeEventListener('wheel', onWheel);
  });

  const blockedCount = layout.nodes.filter((node) => openBlockersOf(node.story, byId).length).length;
  return html`<section class="mindmap" aria-labelledby="mindmap-heading">
    <div class="mindmap-head">
      <h2 id="mindmap-heading">Mindmap</h2>
      <label class="check"><input type="checkbox" checked=${overlay} onChange=${(event) => setOverlay(event.target.checked)} />
        Dependencies${blockedCount ? ` (${blockedCount} blocked)` : ''}</label>
      <button type="button" class="secondary" onClick=${fit}>Fit</button>
      <button type="button" class="secondary" onClick=${() => setCollapsed(new Set())}>Expand all</button>
      <span class="muted">${layout.nodes.length} shown${onCanvas ? ' (drawn on a canvas)' : ''}</span>
      <a href=${href('/')}>Tree view</a>
    </div>
    <p class="muted mindmap-help" id="mindmap-help">Drag to pan, wheel to zoom. Keys: arrows move between stories
      (→ expands, ← collapses), Enter opens, + and − zoom, Shift+arrows pan, 0 fits.</p>
    <${ErrorNote} error=${stories.error} onRetry=${loadAllStories} />
    <div class="mindmap-frame" ref=${frame} tabindex="0" role="application"
        aria-label="Story mindmap" aria-describedby="mindmap-help" data-renderer=${onCanvas ? 'canvas' : 'svg'}
        onKeyDown=${onKeyDown} onPointerDown=${pointerDown} onPointerMove=${pointerMove} onPointerUp=${pointerUp}
        onFocus=${() => { if (!focused && ordered[0]) setFocusId(ordered[0].id); }}>
      ${onCanvas
        ? html`<canvas ref=${canvasRef} class="mindmap-canvas"></canvas>`
        : html`<${SvgMap} layout=${layout} arrows=${arrows} focusId=${focusId} viewRef=${viewRef}
            onOpen=${open} onToggle=${toggle} byId=${byId} />`}
    </div>
    <p class="visually-hidden" aria-live="polite">${focused
      ? `${storyLabel(focused.id)} ${focused.story.title}, ${focused.story.status}${focused.childCount ? `, ${focused.childCount} children, ${focused.collapsed ? 'collapsed' : 'expanded'}` : ''}${openBlockersOf(focused.story, byId).length ? ', blocked' : ''}`
      : ''}</p>
  </section>`;
}
