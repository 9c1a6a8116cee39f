// One panel of the model view: a run's layers x heads grid (gridCanvas.js), its minimap, its
// title and its error. Painted from what its want resolves to (shown.js); decorated with badges,
// drift colours, head types, the selection outlines and the hover readout. A head whose map a
// storage budget left out is hatched, shows its statistics, and its readout says why; one that keeps
// a summary instead is painted from its block means with a blue cross-hatched corner (gridCanvas.js),
// its readout saying so (a difference of a summary and a map is not painted: cross-hatched, said).

import { el, clear } from '../../paint/dom.js';
import { driftRGBA, lutsFor } from '../../paint/colorScale.js';
import { statAt, statsStepIndex, statMaxAt, headTypes, typeLabel, formatStat, statLabel } from '../../answers/model.js';
import { cellStatText, statValuesText, noMapText, storageCounts, onlySummaries } from '../../answers/storage.js';
import { summaryText, summaryCellText, summaryMapDiffText } from '../../answers/summaries.js';
import { wantKey, failureText, SnapshotSlot } from '../../state/shown.js';
import { kindInfo } from '../../state/selection.js';
import { visibleRange, zoomCell, fitCell, TYPE_CELL } from '../../paint/gridGeometry.js';

// Width beside the cells: the frozen layer labels and a vertical scrollbar.
const GUTTERS = 30 + 16;
import { GridCanvas } from './gridCanvas.js';
import { GridMinimap, minimapPixels } from './gridMinimap.js';

/**
 * A panel of `run` (its stats are `state[statsKey]`) for a kind of `layers` x `heads`; `actions`:
 * `selectHead(layer, head, opts)`, `onScroll(panel)` (its viewport moved).
 */
export function buildPanel({ run, statsKey }, layers, heads, { selectHead, onScroll }) {
  const panel = {
    spec: { run, statsKey },
    title: el('div', { class: 'tba-panel-title' }),
    errorEl: el('div', { class: 'tba-panel-error', 'data-testid': 'grid-error', role: 'alert', hidden: true }),
    missingEl: el('div', { class: 'tba-panel-error tba-missing', 'data-testid': 'no-snapshot', hidden: true }),
    missing: null,
    layers,
    heads,
    step: null,
    slot: new SnapshotSlot(),
    paintSig: '',
    state: null,
  };
  panel.grid = new GridCanvas({
    run,
    layers,
    heads,
    onPick: (l, h, e) => selectHead(l, h, { add: e.shiftKey || e.metaKey || e.ctrlKey }),
    onScroll: () => {
      updateMinimap(panel, {});
      onScroll(panel);
    },
    readout: (l, h) => readoutText(panel, l, h),
  });
  panel.minimap = new GridMinimap({
    layers,
    heads,
    onPick: (l, h) => {
      selectHead(l, h);
      panel.grid.reveal(l, h);
    },
    onPan: (l, h) => {
      const g = panel.grid.geom;
      const v = panel.grid.view();
      panel.grid.scrollTo(h * g.pitch - v.w / 2, l * g.pitch - v.h / 2);
    },
    readout: (l, h) => readoutText(panel, l, h),
  });
  const body = el('div', { class: 'tba-panel-body' }, panel.minimap.el, panel.grid.el, panel.errorEl, panel.missingEl);
  panel.el = el('div', { class: 'tba-panel', 'data-testid': 'panel', 'data-run': run }, panel.title, body);
  return panel;
}

/**
 * The cell size of a panel `width` px wide at `zoom` ('fit' or px). 'fit' shows the whole grid:
 * every head in the width and every layer in the viewport's 75vh (80 layers: ~10 px cells);
 * only where that would be under 6 px does it fit the width beside the minimap, and scroll.
 */
export function panelCell(p, zoom, width) {
  const w = width - GUTTERS;
  if (zoom !== 'fit') return zoomCell(zoom, w, p.heads);
  const all = Math.min(fitCell(w, p.heads), fitCell(0.75 * window.innerHeight, p.layers));
  return all >= 6 ? all : fitCell(w - p.minimap.width, p.heads);
}

/** Cells of `cell` px (the zoom): the minimap shows when the grid does not fit its viewport. */
export function layoutPanel(p, cell) {
  p.grid.setCell(cell);
  p.paintSig = '';
}

/** The minimap's viewport and visibility (and whatever else `patch` gives it). */
function updateMinimap(p, patch) {
  const g = p.grid.geom;
  if (!g) return;
  const v = p.grid.view();
  const shown = g.width > p.grid.scroll.clientWidth + 1 || g.height > p.grid.scroll.clientHeight + 1;
  p.minimap.update({ ...patch, shown, range: visibleRange(g, v.left, v.top, v.w, v.h) });
}

/**
 * Hover text of head (layer, head): its badge statistic and head types at the panel's step, and
 * that its map shows block means when the snapshot painted is pooled (never a weight as exact).
 */
function readoutText(p, layer, head) {
  const s = p.state;
  if (!s) return '';
  const stats = s[p.spec.statsKey];
  const si = statsStepIndex(stats, p.step);
  let text = `L${layer} H${head}`;
  if (stats) text += ` \u00b7 ${statLabel(s.badgeStat)} ${formatStat(statAt(stats, s.badgeStat, si, layer, head))}`;
  for (const t of stats ? headTypes(stats, layer, head) : [])
    text += ` \u00b7 ${typeLabel(t.type)} (formed @${t.formed_step ?? '?'})`;
  const missing = p.grid.noMap(layer, head);
  if (missing.length) return text + noMapReadout(p, missing, layer, head);
  const pool = p.grid.source?.snap.header.pool;
  if (pool) text += ` \u00b7 map: means of ${pool}\u00d7${pool}-token blocks (exact in the head view)`;
  return text;
}

/**
 * Why a head shows no map (the snapshots that lack it: headers), or that it shows their summaries'
 * block means, or why a summary and a map are not subtracted, and its statistics.
 */
function noMapReadout(p, missing, layer, head) {
  const s = p.state;
  const { snap, ref, means } = p.grid.source;
  const where = (h) => `${h.run === p.spec.run ? '' : `run ${h.run} `}step ${h.step}`;
  const summary = onlySummaries(missing, layer, head);
  let why = missing.map((h) => {
    const run = h.run === p.spec.run ? '' : `run ${h.run}: `;
    return summary ? run + summaryText(h.step) : noMapText(h.step, kindInfo(s, h.run), run ? h.run : null);
  });
  if (p.grid.summaryCell(layer, head))
    why = [summaryCellText(means.block, where(snap.header), ref ? where(ref.header) : null)];
  else if (summary && ref && missing.length === 1)
    why = [summaryMapDiffText(where(missing[0]), where(missing[0] === snap.header ? ref.header : snap.header))];
  const values = statValuesText(s[p.spec.statsKey], p.step, layer, head, s.badgeStat); // the badge's said already
  return ` \u00b7 ${why.join(' \u00b7 ')}${values ? ` \u00b7 ${values}` : ''}`;
}

/**
 * "step 700 of 32 heads: 5 maps · ▦ 3 summaries · ▨ 24 statistics only" in the title when a budget
 * left maps out (`data-count`: the heads without a map).
 */
function noMapNote(panel, view) {
  const data = view.state === 'data' || view.state === 'stale' ? view.data : null;
  const n = data ? storageCounts(data, panel.layers, panel.heads) : null;
  if (!n || n.maps === panel.layers * panel.heads) return null;
  const step = view.state === 'stale' ? view.step : panel.step;
  const parts = [`step ${step}, ${panel.layers * panel.heads} heads: ${n.maps} maps`];
  if (n.summaries)
    parts.push(' \u00b7 ', el('span', { class: 'tba-no-map-swatch summary' }), `${n.summaries} summaries`);
  if (n.statistics)
    parts.push(' \u00b7 ', el('span', { class: 'tba-no-map-swatch' }), `${n.statistics} statistics only`);
  const dataset = { 'data-count': n.summaries + n.statistics, 'data-summaries': n.summaries, 'data-maps': n.maps };
  return el('span', { class: 'tba-no-map-note', 'data-testid': 'no-map-count', ...dataset }, ...parts);
}

function setTitle(panel, view, state) {
  const w = panel.slot.pending || panel.slot.last?.want;
  const minus = w && w.vs !== null && w.vs !== undefined ? ` \u2212 ${w.vs}` : '';
  const parts = [el('b', {}, panel.spec.run + minus), `step ${panel.step ?? state.step ?? '\u2013'}`];
  if (panel.missing) parts.push(el('span', { class: 'tba-message' }, 'no snapshot'));
  if (view.state === 'loading') parts.push(el('span', { class: 'tba-loading' }, 'loading\u2026'));
  if (view.state === 'stale')
    parts.push(el('span', { class: 'tba-loading' }, `loading\u2026 (showing step ${view.step})`));
  if (view.state === 'error') parts.push(el('span', { class: 'tba-message error' }, 'could not load'));
  const note = noMapNote(panel, view);
  if (note) parts.push(note);
  clear(panel.title).append(...parts);
}

/**
 * Show what a panel's want resolves to (shown.js): the cells painted from its snapshot, the
 * previous step's pixels marked stale while loading, or blank cells under the error.
 * Returns the number of cells painted from data.
 */
export function renderPanel(panel, w, state) {
  const view = panel.slot.shown(w);
  panel.step = w ? w.step : null;
  panel.el.dataset.state = panel.missing ? 'missing' : view.state;
  panel.missingEl.textContent = panel.missing || '';
  panel.missingEl.hidden = !panel.missing;
  setTitle(panel, view, state);
  panel.grid.el.classList.toggle('stale', view.state === 'stale');
  if (view.state === 'error') {
    const t = failureText(w, view.error);
    clear(panel.errorEl).append(
      el('b', {}, t.title),
      el('div', {}, t.reason),
      el('div', { class: 'tba-hint' }, t.hint),
    );
    panel.errorEl.hidden = false;
  } else {
    panel.errorEl.hidden = true;
  }
  if (view.state === 'data' || view.state === 'stale') return paintCells(panel, view.data, state.contrast);
  blankCells(panel);
  return 0;
}

function blankCells(panel) {
  if (panel.paintSig === '') return;
  panel.paintSig = '';
  panel.grid.source = null;
  panel.grid.paint();
}

function paintCells(panel, pair, contrast) {
  const sig = JSON.stringify([wantKey(panel.slot.last.want), contrast]);
  if (sig === panel.paintSig) return panel.painted; // these very pixels are on screen
  panel.grid.source = { ...pair, luts: lutsFor(contrast) }; // {snap, ref, means, refMeans}
  panel.painted = panel.grid.paint();
  panel.paintSig = sig;
  return panel.painted;
}

/** Badges, drift colouring, head types, outlines and the minimap of a panel at `step`. */
export function decoratePanel(p, s, step) {
  p.state = s;
  const stats = s[p.spec.statsKey];
  const si = statsStepIndex(stats, step);
  const grid = p.grid;
  const frames = s.colorByDrift && stats ? driftFrames(stats, si, p.layers, p.heads) : null;
  if (frames || grid.frames) {
    grid.frames = frames;
    grid.paint();
  }
  const types = typesByHead(stats);
  const large = (grid.geom?.cell ?? 0) >= TYPE_CELL; // room for every statistic of a head without a map
  grid.overlay.setLabels((l, h) => ({
    badge: stats ? formatStat(statAt(stats, s.badgeStat, si, l, h)) : '',
    stats: stats ? cellStatText(stats, si, l, h, large, grid.summarized(l, h)) : '',
    types: (types.get(l * p.heads + h) || [])
      .filter((t) => step === null || t.formed_step === undefined || t.formed_step === null || t.formed_step <= step)
      .map((t) => typeLabel(t.type))
      .join(', '),
  }));
  const primary = p.spec.run === s.run;
  grid.overlay.setMarks(primary ? [s.layer, s.head] : null, primary ? (s.heads || []).map((h) => [s.layer, h]) : []);
  if (grid.active.layer !== s.layer || grid.active.head !== s.head) {
    grid.active = { layer: s.layer, head: s.head };
    if (grid.geom) grid.drawLabels(grid.view(), window.devicePixelRatio || 1);
  }
  const values = new Float32Array(p.layers * p.heads);
  for (let i = 0; i < values.length; i++)
    values[i] = stats ? statAt(stats, s.badgeStat, si, Math.floor(i / p.heads), i % p.heads) : NaN;
  updateMinimap(p, { pixels: minimapPixels(values), label: statLabel(s.badgeStat), selected: [s.layer, s.head] });
}

/** (layer, head) -> packed drift colour at step index `si`, relative to the largest drift of the run. */
function driftFrames(stats, si, layers, heads) {
  const max = statMaxAt(stats, 'drift', stats.header.steps.length - 1);
  const colors = new Uint32Array(layers * heads);
  for (let l = 0; l < layers; l++)
    for (let h = 0; h < heads; h++) colors[l * heads + h] = driftRGBA(statAt(stats, 'drift', si, l, h), max);
  return (l, h) => colors[l * heads + h];
}

const typeCache = new WeakMap();

/** The head types of a stats answer by head (layer * heads + head), built once per answer. */
function typesByHead(stats) {
  if (!stats) return new Map();
  let m = typeCache.get(stats);
  if (!m) {
    m = new Map();
    for (const t of stats.header.head_types || []) {
      const key = t.layer * stats.header.heads + t.head;
      m.set(key, [...(m.get(key) || []), t]);
    }
    typeCache.set(stats, m);
  }
  return m;
}
