// One panel of the model view: a run's layers x heads grid of canvases, its title and its
// error. Painted from what its want resolves to (shown.js); decorated with badges, drift
// colours, head types and the selection outlines.

import { el, clear } from '../dom.js';
import { gridLayout } from '../layout.js';
import { paintHeatmap } from '../heatmap.js';
import { driftColor, lutsFor } from '../colorScale.js';
import { mapOffset, statAt, statsStepIndex, statMaxAt, headTypes, typeLabel, formatStat, statLabel } from '../model.js';
import { wantKey, failureText, SnapshotSlot } from '../shown.js';

/** A panel of `run` (its stats are `state[statsKey]`) for a kind of `layers` x `heads`. */
export function buildPanel({ run, statsKey }, layers, heads, selectHead) {
  const title = el('div', { class: 'tba-panel-title' });
  const grid = el('div', { class: 'tba-grid', 'data-testid': 'grid', 'data-run': run });
  const cells = [];
  grid.appendChild(el('div'));
  for (let h = 0; h < heads; h++) grid.appendChild(el('div', { class: 'hlabel' }, `H${h}`));
  for (let l = 0; l < layers; l++) {
    grid.appendChild(el('div', { class: 'llabel' }, `L${l}`));
    for (let h = 0; h < heads; h++) {
      const canvas = el('canvas', { width: 1, height: 1, 'data-layer': l, 'data-head': h });
      const badge = el('span', { class: 'tba-badge' });
      const type = el('span', { class: 'tba-type' });
      const cell = el(
        'div',
        {
          class: 'tba-cell',
          'data-testid': 'cell',
          'data-layer': l,
          'data-head': h,
          role: 'button',
          tabindex: '-1',
          onclick: (e) => selectHead(l, h, { add: e.shiftKey || e.metaKey || e.ctrlKey }),
        },
        canvas,
        type,
        badge,
      );
      cells.push({ layer: l, head: h, cell, canvas, badge, type });
      grid.appendChild(cell);
    }
  }
  const errorEl = el('div', { class: 'tba-panel-error', 'data-testid': 'grid-error', role: 'alert', hidden: true });
  const missingEl = el('div', { class: 'tba-panel-error tba-missing', 'data-testid': 'no-snapshot', hidden: true });
  const body = el('div', { class: 'tba-panel-body' }, grid, errorEl, missingEl);
  return {
    spec: { run, statsKey },
    el: el('div', { class: 'tba-panel', 'data-testid': 'panel', 'data-run': run }, title, body),
    title,
    grid,
    errorEl,
    missingEl,
    missing: null,
    cells,
    layers,
    heads,
    step: null,
    slot: new SnapshotSlot(),
    paintSig: '',
  };
}

/** Size a panel's cells to `width` pixels. */
export function layoutPanel(p, width) {
  const lay = gridLayout({
    layers: p.layers,
    heads: p.heads,
    width,
    minCell: 22,
    maxCell: 150,
    gap: p.heads > 12 ? 2 : 3,
  });
  p.layout = lay;
  p.grid.style.gridTemplateColumns = `${lay.labelW}px repeat(${p.heads}, ${lay.cell}px)`;
  p.grid.style.gridTemplateRows = `16px repeat(${p.layers}, ${lay.cell}px)`;
  p.grid.style.gap = `${lay.gap}px`;
  p.grid.classList.toggle('small', lay.cell < 64);
  p.grid.classList.toggle('tiny', lay.cell < 36);
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
  panel.grid.classList.toggle('stale', view.state === 'stale');
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
  panel.painted = 0;
  for (const c of panel.cells) c.canvas.getContext('2d').clearRect(0, 0, c.canvas.width, c.canvas.height);
}

function paintCells(panel, { snap, ref }, contrast) {
  const dpr = window.devicePixelRatio || 1;
  const targetPx = Math.max(8, Math.round(panel.layout.cell * dpr));
  const sig = JSON.stringify([wantKey(panel.slot.last.want), contrast, targetPx]);
  if (sig === panel.paintSig) return panel.painted; // these very pixels are on screen
  const luts = lutsFor(contrast);
  const h = snap.header;
  let painted = 0;
  for (const c of panel.cells) {
    const off = mapOffset(snap, c.layer, c.head);
    if (off < 0) {
      c.canvas.getContext('2d').clearRect(0, 0, c.canvas.width, c.canvas.height);
      continue;
    }
    const refOff = ref ? mapOffset(ref, c.layer, c.head) : -1;
    if (ref && (refOff < 0 || ref.header.query_len !== h.query_len || ref.header.key_len !== h.key_len)) {
      c.canvas.getContext('2d').clearRect(0, 0, c.canvas.width, c.canvas.height); // nothing to subtract
      continue;
    }
    const refOpt = ref ? { data: ref.data, offset: refOff } : null;
    paintHeatmap(c.canvas, snap.data, off, h.query_len, h.key_len, { ...luts, targetPx, ref: refOpt });
    painted++;
  }
  panel.paintSig = sig;
  panel.painted = painted;
  return painted;
}

/** Badges, drift colouring, head types and selection outlines of a panel at `step` (no pixels). */
export function decoratePanel(p, s, step) {
  const stats = s[p.spec.statsKey];
  const si = statsStepIndex(stats, step);
  const driftMax = s.colorByDrift && stats ? statMaxAt(stats, 'drift', stats.header.steps.length - 1) : NaN;
  for (const c of p.cells) {
    const v = stats ? statAt(stats, s.badgeStat, si, c.layer, c.head) : NaN;
    c.badge.textContent = formatStat(v);
    const types = stats ? headTypes(stats, c.layer, c.head) : [];
    const formed = types.filter(
      (t) => step === null || t.formed_step === undefined || t.formed_step === null || t.formed_step <= step,
    );
    c.type.textContent = formed.map((t) => typeLabel(t.type)).join(', ');
    let tip = `layer ${c.layer}, head ${c.head}\n${statLabel(s.badgeStat)}: ${formatStat(v)}`;
    for (const t of types)
      tip += `\n${typeLabel(t.type)} (score ${formatStat(t.score)}), formed at step ${t.formed_step ?? '?'}`;
    c.cell.title = tip;
    if (s.colorByDrift && stats) {
      const d = statAt(stats, 'drift', si, c.layer, c.head);
      c.cell.style.background = driftColor(d, driftMax);
      c.cell.style.padding = '4px';
    } else {
      c.cell.style.background = '';
      c.cell.style.padding = '';
    }
    const primary = p.spec.run === s.run;
    c.cell.classList.toggle('selected', primary && c.layer === s.layer && c.head === s.head);
    c.cell.classList.toggle('in-headview', primary && c.layer === s.layer && (s.heads || []).includes(c.head));
  }
}
