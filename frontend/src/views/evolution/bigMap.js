// One large map of the head evolution card, the same component for run A and the compare run B
// (mainMap.js, compareMaps.js): caption, canvas, hover readout, the error in place and (B) the
// "no snapshot" message, or the note that the head has no stored map at the step (a storage
// budget's). The canvas shows a zoom window of the map (mapWindow.js, the state's `mapWindow`,
// shared by A and B): the wheel zooms about the pointer, a drag pans, a double click zooms in
// (shift: out); A's map has − / + / whole buttons. Plus the painter of a window of one head's map
// that the large maps and the filmstrip frames share.

import { el } from '../../paint/dom.js';
import { byteLevels } from '../../paint/heatmap.js';
import { paintRegion } from '../../paint/mapRegion.js';
import { lutsFor } from '../../paint/colorScale.js';
import { zoomWindow, panWindow, tokenAt, wholeWindow, windowText, isWhole } from '../../paint/mapWindow.js';
import { mapOffset } from '../../answers/model.js';
import { failureText } from '../../state/shown.js';

export const errorParts = (t) => [
  el('b', {}, t.title),
  el('div', {}, t.reason),
  el('div', { class: 'tba-hint' }, t.hint),
];

export function clearCanvas(canvas) {
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
}

/** Whether `ref` can be subtracted from `snap` (same tokens, pooled alike). */
const sameShape = (snap, ref) =>
  ref.header.query_len === snap.header.query_len &&
  ref.header.key_len === snap.header.key_len &&
  (ref.header.pool ?? null) === (snap.header.pool ?? null);

/**
 * Window `win` (null: the whole map) of head (layer, head) of `snap` (its bytes, or block means),
 * minus head `refHead` of `ref` when there is one, on `canvas` at `px` device pixels a side with the
 * contrast's colours; blank (-> false) when a map is missing or the shapes differ.
 */
export function paintWindow(canvas, { snap, ref }, px, contrast, win, layer, head, refHead = [layer, head]) {
  const off = mapOffset(snap, layer, head);
  const refOff = ref ? mapOffset(ref, ...refHead) : -1;
  const h = snap.header;
  if (off < 0 || (ref && (refOff < 0 || !sameShape(snap, ref)))) {
    clearCanvas(canvas);
    return false;
  }
  const [rows, cols] = h.shape.slice(2);
  const map = { data: byteLevels(snap.data), offset: off, rows, cols, scale: h.pool ?? 1 };
  const refMap = ref ? { data: byteLevels(ref.data), offset: refOff } : null;
  paintRegion(canvas, px, map, refMap, win || wholeWindow(h.query_len, h.key_len), lutsFor(contrast));
  return true;
}

/**
 * Inputs: `tid` (the canvas's test id, and its caption's, readout's...: bigmap, bigmap-b), `compare`
 * (B's map: the missing-step message, hidden until there is a compare run, no zoom buttons), `readoutText(shown, qi, ki)` (the hover text of token qi, ki of what is painted,
 * `shown`) and `onWindow(win)` (the user zoomed or panned: the window to show).
 */
export class BigMap {
  constructor({ tid, compare = false, readoutText, onWindow }) {
    Object.assign(this, { readoutText, onWindow });
    this.shown = null; // what is painted ({snap, ...}): the hover readout reads exactly that
    this.view = null; // {win, q, k}: the window painted of a q x k map, null when none
    this.drag = null;
    this.canvas = el('canvas', { width: 1, height: 1, 'data-testid': tid });
    this.caption = el('div', { class: 'tba-caption', 'data-testid': `${tid}-caption` });
    this.readout = el('div', { class: 'tba-readout', 'data-testid': `${tid}-readout` });
    this.error = el('div', { class: 'tba-view-error', 'data-testid': `${tid}-error`, role: 'alert', hidden: true });
    this.missing = compare
      ? el('div', { class: 'tba-view-error tba-missing', 'data-testid': 'no-snapshot', hidden: true })
      : null;
    this.noMap = el('div', { class: 'tba-view-error tba-no-map', 'data-testid': `${tid}-no-map`, hidden: true });
    this.bar = compare ? null : this.buildBar(tid);
    this.el = el(
      'div',
      { class: compare ? 'tba-bigmap tba-bigmap-b' : 'tba-bigmap', hidden: compare },
      this.caption,
      this.bar,
      this.canvas,
      this.readout,
      this.error,
      this.missing,
      this.noMap,
    );
    this.listen();
  }

  /** − / + / whole, and the window shown ("rows 512–1023 × columns 0–511"). */
  buildBar(tid) {
    const zoom = (factor) => () => this.zoomBy(factor, 0.5, 0.5);
    const button = (name, text, title, onclick) =>
      el('button', { 'data-testid': `${tid}-zoom-${name}`, title, onclick }, text);
    this.windowEl = el('span', { class: 'tba-sub', 'data-testid': `${tid}-window` });
    return el(
      'div',
      { class: 'tba-bigmap-bar' },
      button('out', '\u2212', 'Zoom out', zoom(0.5)),
      button('in', '+', 'Zoom in (or scroll over the map; drag to pan)', zoom(2)),
      button('fit', 'whole', 'Show the whole map', () => this.view && this.onWindow(null)),
      this.windowEl,
    );
  }

  listen() {
    const c = this.canvas;
    const frac = (e) => this.fraction(e);
    c.addEventListener('wheel', (e) => {
      if (!this.view) return;
      e.preventDefault(); // the map zooms; the page does not scroll under it
      this.zoomBy(Math.min(2, Math.max(0.5, Math.exp(-e.deltaY * 0.002))), ...frac(e));
    });
    c.addEventListener('dblclick', (e) => this.zoomBy(e.shiftKey ? 0.5 : 2, ...frac(e)));
    c.addEventListener('pointerdown', (e) => {
      if (!this.view || e.button !== 0) return;
      this.drag = { x: e.clientX, y: e.clientY, win: this.view.win };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => (this.drag ? this.pan(e) : this.onHover(e)));
    const end = () => (this.drag = null);
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('pointerleave', () => {
      this.readout.textContent = '';
    });
  }

  /** Where event `e` is on the map: fractions [fx, fy] of its width and height (inside its border). */
  fraction(e) {
    const c = this.canvas;
    const r = c.getBoundingClientRect();
    return [(e.clientX - r.left - c.clientLeft) / c.clientWidth, (e.clientY - r.top - c.clientTop) / c.clientHeight];
  }

  zoomBy(factor, fx, fy) {
    const v = this.view;
    if (v) this.onWindow(zoomWindow(v.win, v.q, v.k, factor, fx, fy));
  }

  pan(e) {
    const v = this.view;
    const c = this.canvas;
    const [dx, dy] = [(this.drag.x - e.clientX) / c.clientWidth, (this.drag.y - e.clientY) / c.clientHeight];
    if (v && (dx || dy)) this.onWindow(panWindow(this.drag.win, v.q, v.k, dx, dy));
  }

  /** The canvas's CSS size (`px` a side) and the window painted of a q x k map (null: none). */
  setView(px, view) {
    this.view = view;
    Object.assign(this.canvas.style, { width: `${px}px`, height: `${px}px` }); // inside its border
    this.readout.style.maxWidth = `${px}px`;
    this.el.dataset.window = view ? [view.win.q0, view.win.q1, view.win.k0, view.win.k1].join(',') : '';
    if (this.windowEl)
      this.windowEl.textContent = !view ? '' : isWhole(view.win, view.q, view.k) ? 'whole map' : windowText(view.win);
  }

  /** Mark the map's state (data-state; the error, or the missing message, takes the canvas's place). */
  showState(state, missing = null) {
    this.el.dataset.state = missing ? 'missing' : state;
    if (this.missing) {
      this.missing.hidden = !missing;
      this.missing.textContent = missing || '';
    }
    this.error.hidden = state !== 'error';
    this.canvas.hidden = state === 'error' || !!missing;
    this.shown = null;
    this.view = null;
    this.readout.textContent = '';
    this.noMap.hidden = true;
    this.el.dataset.noMap = 'false';
  }

  /** In the canvas's place, why the head has no map at the step (noMapNote.js lines). */
  showNoMap(lines) {
    this.noMap.replaceChildren(...lines);
    this.noMap.hidden = false;
    this.canvas.hidden = true;
    this.el.dataset.noMap = 'true';
  }

  /** The failure of want `w` in place. */
  showError(w, error) {
    this.error.replaceChildren(...errorParts(failureText(w, error)));
  }

  onHover(e) {
    if (!this.shown || !this.view) return;
    const { qi, ki } = tokenAt(this.view.win, ...this.fraction(e));
    this.readout.textContent = this.readoutText(this.shown, qi, ki); // textContent: tokens are never parsed as HTML
  }
}
