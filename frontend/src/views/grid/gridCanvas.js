// One run's layers x heads grid as ONE canvas the size of its scrolled viewport: only the cells
// in view are painted (80 x 64 heads at any zoom is one putImageData of about the viewport), the
// layer and head labels are frozen beside it, and pointer positions map to heads by geometry
// (gridGeometry.js). Badges, outlines and hover live in gridOverlay.js; this knows no state. A head
// a storage budget kept a summary of instead of its map is painted from the summary's block means
// (the step's summary_means answer), on the maps' colour scale, its top-right corner cross-hatched in
// blue: a coarse picture, never passed off as the map.

import { el } from '../../paint/dom.js';
import { fillCell, fillDiffCell, fillHatch, fillCorner, byteLevels } from '../../paint/heatmap.js';
import { mapOffset } from '../../answers/model.js';
import { missingMaps, onlySummaries, summaryCell } from '../../answers/storage.js';
import {
  gridGeometry,
  visibleRange,
  cellAt,
  scrollToCell,
  labelEvery,
  labelsInView,
  cellPixels,
  poolFor,
} from '../../paint/gridGeometry.js';
import { packRGBA } from '../../paint/colorScale.js';
import { GridOverlay } from './gridOverlay.js';

const LABEL_W = 30;
const HEADER_H = 16;
const WHITE = packRGBA(255, 255, 255);
const FRAME = packRGBA(241, 243, 244);
const NO_MAP = packRGBA(248, 249, 250); // a head without a stored map: hatched, never a map's colours
const NO_MAP_LINE = packRGBA(200, 204, 208);
const SUMMARY = packRGBA(232, 240, 254); // a head with a summary instead: cross-hatched in blue
const SUMMARY_LINE = packRGBA(138, 180, 248);

/** The side of a summary's corner mark in a cell of `inner` px: a quarter of it, at least 4 px. */
const cornerPixels = (inner) => Math.min(inner, Math.max(4, Math.round(inner / 4)));

function fillRect(out32, stride, dst, w, h, color) {
  for (let y = 0; y < h; y++) out32.fill(color, dst + y * stride, dst + y * stride + w);
}

/** Whether `ref` can be subtracted from `snap` (same query and key lengths, pooled alike). */
const sameShape = (snap, ref) =>
  ref.header.query_len === snap.header.query_len &&
  ref.header.key_len === snap.header.key_len &&
  (ref.header.pool ?? null) === (snap.header.pool ?? null);

/**
 * Inputs: `run`, `layers`, `heads`, `onPick(layer, head, event)` (a click on a head),
 * `onScroll()` (the viewport moved) and `readout(layer, head)` (hover text, or '' for none).
 */
export class GridCanvas {
  constructor({ run, layers, heads, onPick, onScroll, readout }) {
    Object.assign(this, { layers, heads, onPick, onScroll, readout });
    this.source = null; // {snap, ref, means, refMeans, luts}: what the cells show; null: blank
    this.frames = null; // (layer, head) -> packed colour of the cell's frame (drift), or null
    this.active = { layer: -1, head: -1 }; // labels drawn highlighted
    this.img = null;
    this.canvas = el('canvas', { class: 'tba-grid-cells', 'data-testid': 'grid-cells', width: 1, height: 1 });
    this.content = el('div', { class: 'tba-grid-content' }, this.canvas);
    this.scroll = el('div', { class: 'tba-grid-scroll', 'data-testid': 'grid-scroll' }, this.content);
    this.header = el('canvas', { class: 'tba-grid-header', width: 1, height: HEADER_H });
    this.gutter = el('canvas', { class: 'tba-grid-gutter', width: LABEL_W, height: 1 });
    this.tip = el('div', { class: 'tba-grid-tip', 'data-testid': 'grid-readout', hidden: true });
    this.overlay = new GridOverlay(
      this.content,
      (l, h) => this.noMap(l, h),
      (l, h) => this.summarized(l, h),
    );
    this.el = el(
      'div',
      { class: 'tba-grid', 'data-testid': 'grid', 'data-run': run, 'data-layers': layers, 'data-heads': heads },
      el('div'),
      this.header,
      this.gutter,
      this.scroll,
      this.tip,
    );
    this.listen();
  }

  listen() {
    this.scroll.addEventListener('scroll', () => {
      this.paint();
      this.onScroll();
    });
    new ResizeObserver(() => this.paint()).observe(this.scroll);
    const at = (e) => {
      const r = this.content.getBoundingClientRect();
      return this.geom ? cellAt(this.geom, e.clientX - r.left, e.clientY - r.top) : null;
    };
    this.content.addEventListener('click', (e) => {
      const c = at(e);
      if (c) this.onPick(c.layer, c.head, e);
    });
    this.content.addEventListener('pointermove', (e) => this.hover(at(e), e));
    this.content.addEventListener('pointerleave', () => this.hover(null));
  }

  /** Cells of `cell` CSS px (a zoom step): the content is resized, the viewport kept. */
  setCell(cell) {
    if (this.geom && this.geom.cell === cell) return;
    this.geom = gridGeometry(this.layers, this.heads, cell);
    Object.assign(this.content.style, { width: `${this.geom.width}px`, height: `${this.geom.height}px` });
    Object.assign(this.content.dataset, { cell, pitch: this.geom.pitch });
    this.overlay.setGeometry(this.geom);
  }

  /**
   * The block (./snapshot?pool=B) at which maps of `tokens` tokens are fetched to fill these cells
   * (null: the stored weights); the drift frame is left out, so colouring by drift fetches nothing.
   */
  pool(tokens) {
    return this.geom ? poolFor(tokens, cellPixels(this.geom, window.devicePixelRatio || 1).map) : null;
  }

  /**
   * The snapshot headers (run, step) of what the cell of head (layer, head) shows that have no map
   * of it (a storage budget's): [] when it is painted from its map, or when nothing is shown.
   */
  noMap(layer, head) {
    const src = this.source;
    const shown = src && (!src.ref || sameShape(src.snap, src.ref)) && mapOffset(src.snap, layer, head) >= 0;
    return shown ? missingMaps(src, layer, head) : [];
  }

  /** Whether the cell of head (layer, head) has no map but a summary in each snapshot lacking it. */
  summarized(layer, head) {
    return onlySummaries(this.noMap(layer, head), layer, head);
  }

  /** Where the cell of head (layer, head) is painted from summaries' block means (storage.summaryCell), or null. */
  summaryCell(layer, head) {
    return this.noMap(layer, head).length ? summaryCell(this.source, layer, head) : null;
  }

  /** The viewport in content pixels: {left, top, w, h}. */
  view() {
    const s = this.scroll;
    const w = Math.min(s.clientWidth, this.geom.width);
    const h = Math.min(s.clientHeight, this.geom.height);
    return { left: s.scrollLeft, top: s.scrollTop, w, h };
  }

  scrollTo(left, top) {
    if (Math.abs(this.scroll.scrollLeft - left) >= 1) this.scroll.scrollLeft = left;
    if (Math.abs(this.scroll.scrollTop - top) >= 1) this.scroll.scrollTop = top;
  }

  /** Bring head (layer, head) into view (centred when it was out of view). */
  reveal(layer, head) {
    if (!this.geom) return;
    const to = scrollToCell(this.geom, layer, head, this.view());
    this.scrollTo(to.left, to.top);
  }

  hover(cell, e) {
    this.overlay.hover(cell);
    const text = cell ? this.readout(cell.layer, cell.head) : '';
    this.tip.hidden = !text;
    if (!text) return;
    this.tip.textContent = text;
    const r = this.el.getBoundingClientRect();
    const x = e.clientX - r.left;
    const w = this.tip.offsetWidth; // a long readout near the right edge goes left of the pointer
    this.tip.style.left = `${x + 14 + w > r.width ? Math.max(0, x - 14 - w) : x + 14}px`;
    this.tip.style.top = `${e.clientY - r.top + 14}px`;
  }

  /**
   * Paint the cells in view from `source` (blank without one) with their frames, and the
   * frozen labels; returns the number of heads painted from data.
   */
  paint() {
    if (!this.geom) return 0;
    const v = this.view();
    const dpr = window.devicePixelRatio || 1;
    this.sizeCanvas(this.canvas, v.w, v.h, dpr);
    this.drawLabels(v, dpr);
    const range = visibleRange(this.geom, v.left, v.top, v.w, v.h);
    this.overlay.setRange(range);
    if (this.overlay.source !== this.source) this.overlay.refresh(this.source); // which cells have no map
    if (range.l1 <= range.l0 || range.h1 <= range.h0) return 0;
    const p = Math.max(1, Math.round(this.geom.pitch * dpr));
    const bw = (range.h1 - range.h0) * p;
    const bh = (range.l1 - range.l0) * p;
    const ctx = this.canvas.getContext('2d');
    if (!this.img || this.img.width !== bw || this.img.height !== bh) this.img = ctx.createImageData(bw, bh);
    const out32 = new Uint32Array(this.img.data.buffer);
    out32.fill(WHITE);
    const n = this.paintCells(out32, bw, range, p, dpr);
    const dx = Math.round((range.h0 * this.geom.pitch - v.left) * dpr);
    const dy = Math.round((range.l0 * this.geom.pitch - v.top) * dpr);
    ctx.putImageData(this.img, dx, dy);
    return n;
  }

  sizeCanvas(canvas, w, h, dpr) {
    const W = Math.max(1, Math.round(w * dpr));
    const H = Math.max(1, Math.round(h * dpr));
    if (canvas.width !== W) canvas.width = W;
    if (canvas.height !== H) canvas.height = H;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
  }

  /** Cells of `range` into `out32` (`stride` px a row, cell (l0, h0) at 0, `p` device px apart). */
  paintCells(out32, stride, range, p, dpr) {
    const g = this.geom;
    const { size: cs, pad, map: inner } = cellPixels(g, dpr, !!this.frames);
    this.content.dataset.pad = this.frames ? 2 * g.pad : g.pad; // where the maps are (tests read their pixels)
    const src = this.source;
    const ok = src && (!src.ref || sameShape(src.snap, src.ref));
    const [q, k] = src ? src.snap.header.shape.slice(2) : [0, 0]; // tokens, or blocks when pooled
    const data = src && byteLevels(src.snap.data);
    const refData = src?.ref && byteLevels(src.ref.data);
    let n = 0;
    for (let l = range.l0; l < range.l1; l++) {
      for (let h = range.h0; h < range.h1; h++) {
        const dst = (l - range.l0) * p * stride + (h - range.h0) * p;
        fillRect(out32, stride, dst, cs, cs, (this.frames && this.frames(l, h)) || FRAME);
        const at = dst + pad * stride + pad;
        const off = ok ? mapOffset(src.snap, l, h) : -1;
        const refOff = off >= 0 && src.ref ? mapOffset(src.ref, l, h) : 0;
        if (off < 0 || refOff < 0) {
          fillRect(out32, stride, at, inner, inner, WHITE);
          continue;
        }
        n++;
        const means = this.summaryCell(l, h);
        if (means) this.paintSummary(out32, stride, at, inner, means);
        else if (this.summarized(l, h)) fillHatch(out32, stride, at, inner, inner, SUMMARY, SUMMARY_LINE, 6, true);
        else if (this.noMap(l, h).length) fillHatch(out32, stride, at, inner, inner, NO_MAP, NO_MAP_LINE);
        else if (src.ref)
          fillDiffCell(out32, stride, at, data, off, refData, refOff, q, k, src.luts.divLut, inner, inner);
        else fillCell(out32, stride, at, data, off, q, k, src.luts.lut, inner, inner);
      }
    }
    return n;
  }

  /**
   * A cell of `inner` px at `at` from the block means of summaries (`cell`: summaryCell's offsets), or
   * their difference, with the summary's corner mark.
   */
  paintSummary(out32, stride, at, inner, { off, refOff }) {
    const { means, refMeans, luts } = this.source;
    const data = byteLevels(means.data);
    const [r, c] = [means.rows, means.cols];
    if (refOff >= 0)
      fillDiffCell(out32, stride, at, data, off, byteLevels(refMeans.data), refOff, r, c, luts.divLut, inner, inner);
    else fillCell(out32, stride, at, data, off, r, c, luts.lut, inner, inner);
    fillCorner(out32, stride, at, inner, cornerPixels(inner), SUMMARY, SUMMARY_LINE);
  }

  /** The frozen head labels above and layer labels beside the viewport; the active ones bold. */
  drawLabels(v, dpr) {
    this.sizeCanvas(this.header, v.w, HEADER_H, dpr);
    this.sizeCanvas(this.gutter, LABEL_W, v.h, dpr);
    const draw = (canvas, along, labels, name) => {
      const ctx = canvas.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.textBaseline = 'middle';
      ctx.textAlign = along === 'x' ? 'center' : 'right';
      for (const { i, c, active } of labels) {
        ctx.fillStyle = active ? '#1a73e8' : '#5f6368';
        ctx.font = `${active ? 'bold ' : ''}10px system-ui, sans-serif`;
        if (along === 'x') ctx.fillText(`${name}${i}`, c, HEADER_H / 2);
        else ctx.fillText(`${name}${i}`, LABEL_W - 4, c);
      }
    };
    const { heads, layers } = this.labels(v);
    draw(this.header, 'x', heads, 'H');
    draw(this.gutter, 'y', layers, 'L');
  }

  /** The head and layer labels of viewport `v` (labelsInView). */
  labels(v) {
    const g = this.geom;
    return {
      heads: labelsInView(g, v.left, v.w, g.heads, labelEvery(g.pitch, 24), this.active.head),
      layers: labelsInView(g, v.top, v.h, g.layers, labelEvery(g.pitch, 12), this.active.layer),
    };
  }

  /**
   * What the grid shows, as a figure (figure.js): `title` above, the cells in view as one image
   * (the canvas as painted) and the layer/head labels as text; the selected head outlined.
   */
  figure(title) {
    if (!this.geom) return null;
    const v = this.view();
    const top = 22 + HEADER_H;
    const text = (x, y, t, o = {}) => ({ t: 'text', x, y, text: t, size: 10, fill: '#5f6368', ...o });
    const items = [text(0, 10, title, { size: 12, fill: '#202124', weight: 600 })];
    items.push({ t: 'image', x: LABEL_W, y: top, w: v.w, h: v.h, canvas: this.canvas });
    const { heads, layers } = this.labels(v);
    const bold = (active) => (active ? { fill: '#1a73e8', weight: 700 } : {});
    for (const h of heads)
      items.push(text(LABEL_W + h.c, top - HEADER_H / 2, `H${h.i}`, { anchor: 'middle', ...bold(h.active) }));
    for (const l of layers) items.push(text(LABEL_W - 4, top + l.c, `L${l.i}`, { anchor: 'end', ...bold(l.active) }));
    const { layer, head } = this.active;
    if (layer >= 0 && head >= 0) {
      const g = this.geom;
      const [x, y] = [LABEL_W + head * g.pitch - v.left, top + layer * g.pitch - v.top];
      if (x >= LABEL_W && y >= top && x + g.cell <= LABEL_W + v.w && y + g.cell <= top + v.h)
        items.push({ t: 'rect', x: x - 1, y: y - 1, w: g.cell + 2, h: g.cell + 2, stroke: '#1a73e8', width: 2 });
    }
    return { width: LABEL_W + v.w, height: top + v.h, items };
  }
}
