// One large map of the head evolution card, the same component for run A and the compare run B
// (headMaps.js, compareMaps.js): caption, canvas, hover readout, the error in place and (B) the
// "no snapshot" message, or the note that the head has no stored map at the step (a storage
// budget's); plus the painter of one head's map that the large maps and the filmstrip frames share.

import { el } from '../../paint/dom.js';
import { paintHeatmap } from '../../paint/heatmap.js';
import { lutsFor } from '../../paint/colorScale.js';
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

/**
 * Head (layer, head) of `snap`, minus head `refHead` ([layer, head]) of `ref` when there is one,
 * in `px` CSS pixels with the contrast's colours; blank when a map is missing or the shapes differ.
 */
export function paintMap(canvas, { snap, ref }, px, contrast, layer, head, refHead = [layer, head]) {
  const off = mapOffset(snap, layer, head);
  const refOff = ref ? mapOffset(ref, ...refHead) : -1;
  const h = snap.header;
  if (off < 0 || (ref && (refOff < 0 || ref.header.query_len !== h.query_len || ref.header.key_len !== h.key_len))) {
    clearCanvas(canvas);
    return;
  }
  const refOpt = ref ? { data: ref.data, offset: refOff } : null;
  const dpr = window.devicePixelRatio || 1;
  paintHeatmap(canvas, snap.data, off, h.query_len, h.key_len, {
    ...lutsFor(contrast),
    targetPx: px * dpr,
    ref: refOpt,
  });
}

/**
 * Inputs: `tid` (the canvas's test id: bigmap, bigmap-b), `compare` (B's map: test ids on its
 * caption and readout, the missing-step message, hidden until there is a compare run) and
 * `readoutText(shown, qi, ki)` (the hover text of cell qi, ki of what is painted, `shown`).
 */
export class BigMap {
  constructor({ tid, compare = false, readoutText }) {
    this.readoutText = readoutText;
    this.shown = null; // what is painted ({snap, ...}): the hover readout reads exactly that
    const sub = (name) => (compare ? `${tid}-${name}` : null);
    this.canvas = el('canvas', { width: 1, height: 1, 'data-testid': tid });
    this.caption = el('div', { class: 'tba-caption', 'data-testid': sub('caption') });
    this.readout = el('div', { class: 'tba-readout', 'data-testid': sub('readout') });
    this.error = el('div', { class: 'tba-view-error', 'data-testid': `${tid}-error`, role: 'alert', hidden: true });
    this.missing = compare
      ? el('div', { class: 'tba-view-error tba-missing', 'data-testid': 'no-snapshot', hidden: true })
      : null;
    this.noMap = el('div', { class: 'tba-view-error tba-no-map', 'data-testid': `${tid}-no-map`, hidden: true });
    this.el = el(
      'div',
      { class: compare ? 'tba-bigmap tba-bigmap-b' : 'tba-bigmap', hidden: compare },
      this.caption,
      this.canvas,
      this.readout,
      this.error,
      this.missing,
      this.noMap,
    );
    this.canvas.addEventListener('pointermove', (e) => this.onHover(e));
    this.canvas.addEventListener('pointerleave', () => {
      this.readout.textContent = '';
    });
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
    const shown = this.shown;
    if (!shown) return;
    const h = shown.snap.header;
    const r = this.canvas.getBoundingClientRect();
    const qi = Math.floor(((e.clientY - r.top) / r.height) * h.query_len);
    const ki = Math.floor(((e.clientX - r.left) / r.width) * h.key_len);
    if (qi < 0 || ki < 0 || qi >= h.query_len || ki >= h.key_len) return;
    this.readout.textContent = this.readoutText(shown, qi, ki); // textContent: tokens are never parsed as HTML
  }
}
