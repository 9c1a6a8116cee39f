// The grid's minimap (captioned "overview" in the tab), shown when the grid does not fit its
// viewport: every head of every layer as a few pixels coloured by the badge statistic at the step
// (from ./stats, so it is there before any snapshot), the viewport as a rectangle and the selected
// head ringed. A click picks a head (the grid scrolls to it), a drag pans the grid.

import { el } from '../../paint/dom.js';
import { sequentialLUT, packRGBA } from '../../paint/colorScale.js';

const LUT = sequentialLUT('linear');
const NAN = packRGBA(218, 220, 224);

/** Per-head colours of `values` (layer-major), scaled to their finite min..max. */
export function minimapPixels(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values)
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  const span = hi > lo ? hi - lo : 1;
  return Uint32Array.from(values, (v) => (Number.isFinite(v) ? LUT[Math.round((255 * (v - lo)) / span)] : NAN));
}

/**
 * Inputs: `layers`, `heads`, `onPick(layer, head)`, `onPan(layer, head)` (centre the grid there),
 * `readout(layer, head)` (the caption while hovering a head).
 */
export class GridMinimap {
  constructor({ layers, heads, onPick, onPan, readout }) {
    Object.assign(this, { layers, heads, onPick, onPan, readout });
    this.block = Math.max(2, Math.min(6, Math.floor(192 / heads), Math.floor(320 / layers)));
    this.width = heads * this.block + 2 + 10 + 24; // with its border, the layer ticks and the gap
    this.canvas = el('canvas', { width: heads * this.block, height: layers * this.block });
    this.caption = el('div', { class: 'tba-overview-caption', 'data-testid': 'overview-caption' });
    this.label = '';
    const every = Math.max(1, Math.ceil(12 / this.block / 5) * 5); // a tick fits every `every` layers
    const ticks = el('div', { class: 'tba-overview-ticks', style: { height: `${layers * this.block}px` } });
    for (let l = 0; l < layers; l += every)
      ticks.append(el('span', { style: { top: `${l * this.block + this.block / 2}px` } }, `L${l}`));
    this.el = el(
      'div',
      { class: 'tba-overview', 'data-testid': 'grid-overview', hidden: true },
      el('div', { class: 'tba-overview-map' }, ticks, this.canvas),
      this.caption,
    );
    this.pixels = null;
    this.view = null;
    this.selected = null;
    this.listen();
  }

  listen() {
    let down = null;
    const at = (e) => {
      const r = this.canvas.getBoundingClientRect();
      const f = (v, size, n) => Math.max(0, Math.min(n - 1, Math.floor(((v / size) * n) | 0)));
      return [f(e.clientY - r.top, r.height, this.layers), f(e.clientX - r.left, r.width, this.heads)];
    };
    this.canvas.addEventListener('pointerdown', (e) => {
      down = { x: e.clientX, y: e.clientY, moved: false };
      this.canvas.setPointerCapture?.(e.pointerId);
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (!down) this.caption.textContent = this.readout(...at(e));
      if (!down) return;
      if (Math.abs(e.clientX - down.x) + Math.abs(e.clientY - down.y) > 3) down.moved = true;
      if (down.moved) this.onPan(...at(e));
    });
    this.canvas.addEventListener('pointerleave', () => (this.caption.textContent = this.label));
    this.canvas.addEventListener('pointerup', (e) => {
      if (down && !down.moved) this.onPick(...at(e));
      down = null;
    });
  }

  /** Colours (minimapPixels), the statistic's label, the viewport's heads and the selection. */
  update({ pixels, label, range, selected, shown }) {
    this.el.hidden = !shown;
    if (pixels !== undefined) this.pixels = pixels;
    if (label !== undefined) this.caption.textContent = this.label = `overview \u00b7 ${label}`;
    if (range !== undefined) this.view = range;
    if (selected !== undefined) this.selected = selected;
    if (shown) this.draw();
  }

  draw() {
    const { canvas, block: b, layers, heads } = this;
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(heads * b, layers * b);
    const out = new Uint32Array(img.data.buffer);
    const px = this.pixels && this.pixels.length === layers * heads ? this.pixels : null;
    for (let l = 0; l < layers; l++)
      for (let h = 0; h < heads; h++) {
        const c = px ? px[l * heads + h] : NAN;
        for (let y = 0; y < b; y++) out.fill(c, (l * b + y) * heads * b + h * b, (l * b + y) * heads * b + h * b + b);
      }
    ctx.putImageData(img, 0, 0);
    const r = this.view;
    if (r) {
      ctx.strokeStyle = '#e8710a';
      ctx.lineWidth = 2;
      ctx.strokeRect(r.h0 * b + 1, r.l0 * b + 1, (r.h1 - r.h0) * b - 2, (r.l1 - r.l0) * b - 2);
    }
    if (this.selected) {
      ctx.strokeStyle = '#d93025';
      ctx.lineWidth = 2;
      ctx.strokeRect(this.selected[1] * b - 2, this.selected[0] * b - 2, b + 4, b + 4);
    }
  }
}
