// The head view's drawing (BertViz-style): the probe's tokens in two columns (queries left, keys
// right, always as text) joined on a canvas by lines weighted by attention, one colour per head;
// hovering a token isolates its lines and shades the tokens at their other end. Used by the head
// view of each run (headView.js); it knows nothing of runs or loading.

import { el, clear, tokenLabel } from '../../paint/dom.js';
import { headColor, rgbCss } from '../../paint/colorScale.js';
import { subMatrix } from '../../answers/renormalize.js';
import { attentionLines, tokenRows } from '../../paint/layout.js';
import { mapOffset } from '../../answers/model.js';
import { LEVELS, levelOf, levelStyle, headFigure } from './headFigure.js';
import { FONT } from '../../paint/figure.js';

/**
 * The renormalized weights of each head of `shown` ([{layer, head, color}]: `color` is the head
 * index whose colour its lines take) over the kept rows/columns (those in the snapshot).
 */
export function headWeights(snap, shown, rows, cols) {
  const h = snap.header;
  const validRows = rows.filter((r) => r < h.query_len);
  const validCols = cols.filter((c) => c < h.key_len);
  return shown
    .map(({ layer, head, color }) => {
      const off = mapOffset(snap, layer, head);
      if (off < 0) return null;
      const w = subMatrix(snap.data, off, h.key_len, validRows, validCols, h.scale ?? 1 / 255, true);
      return { head: color, w, nr: validRows.length, nc: validCols.length };
    })
    .filter(Boolean);
}

/** One token of a column (`side` 'q' or 'k'), its text set as text. */
function tokenEl(side, list, idx) {
  const t = list.tokens[idx];
  const cls = ['tba-tok', side === 'q' ? 'left' : 'right'];
  if (list.segments && list.segments[idx] === 1) cls.push('seg1');
  if (list.special && list.special[idx]) cls.push('special');
  const node = el('span', { class: cls.join(' '), title: `${idx}: ${String(t)}`, 'data-index': idx });
  node.textContent = tokenLabel(t); // always text, never HTML
  return node;
}

/**
 * A tick from the end in view of a line whose other end is out of view (long probes): a fifth of
 * the way across, towards that end (at most 30 px up or down), so far targets read as a direction.
 */
function stub(path, fromQuery, y0, y1, width) {
  const len = 0.2 * (width - 4);
  const [x, y, dx, dy] = fromQuery ? [2, y0, len, y1 - y0] : [width - 2, y1, -len, y0 - y1];
  path.moveTo(x, y);
  path.lineTo(x + dx, y + Math.max(-30, Math.min(30, dy)));
}

/** The notes under the columns: what the drawing shows for this kind and setting. */
function notesText(k, query, hideSpecial) {
  const notes = [];
  if (k.causal) notes.push('causal: each token attends only to itself and earlier tokens');
  if (k.query !== k.key) notes.push('cross attention: decoder tokens (left) attend to encoder tokens (right)');
  if ((query.segments || []).some((v) => v === 1)) notes.push('shaded tokens: second segment of the sentence pair');
  if (hideSpecial) notes.push('special tokens hidden, rows renormalized');
  notes.push('hover a token to isolate its lines and list what it attends to');
  return notes.join(' \u00b7 ');
}

/**
 * Inputs: `tid`, the test id prefix (hv, hv-b); `onHover(token)` and `onPick(token)` get the hovered
 * (null: none) and the clicked token as {side, index} (its index in the probe's token list).
 * `body`, `focus` and `notes` go in the card; setWeights, renderTokens.
 */
export class HeadLines {
  constructor(tid, { onHover = () => {}, onPick = () => {} } = {}) {
    Object.assign(this, { onHover, onPick });
    this.hover = null; // {side: 'q'|'k', index} (index among the tokens shown)
    this.weights = null;
    this.leftEls = [];
    this.rightEls = [];
    this.leftHead = el('div', { class: 'tba-hv-colhead left' });
    this.rightHead = el('div', { class: 'tba-hv-colhead right' });
    this.leftCol = el('div', { 'data-testid': `${tid}-left` });
    this.rightCol = el('div', { 'data-testid': `${tid}-right` });
    this.density = tokenRows(0);
    // the canvas covers only the part of the columns in view (a 512-token probe is ~5600 px high)
    this.canvas = el('canvas', { class: 'tba-hv-canvas', 'data-testid': `${tid}-canvas` });
    this.canvasWrap = el('div', { class: 'tba-hv-lines' }, this.canvas);
    this.notes = el('div', { class: 'tba-hv-notes' });
    // what the hovered token attends to (or is attended by), as text: far ends included; always
    // one line high, so hovering never moves the tokens
    this.focus = el('div', { class: 'tba-hv-focus', 'data-testid': `${tid}-focus` });
    const cols = [this.leftHead, el('div'), this.rightHead, this.leftCol, this.canvasWrap, this.rightCol];
    this.body = el('div', { class: 'tba-hv-body' }, el('div', { class: 'tba-hv-cols' }, ...cols));
    this.body.addEventListener('pointerleave', () => this.setHover(null));
    this.body.addEventListener('scroll', () => this.draw());
    new ResizeObserver(() => this.draw()).observe(this.canvasWrap);
  }

  /** The token columns of `info` ({k, query, key, rows, cols}; null: none) and their notes. */
  renderTokens(info, hideSpecial) {
    clear(this.leftCol);
    clear(this.rightCol);
    this.leftEls = [];
    this.rightEls = [];
    if (!info) return;
    const { k, query, key, rows, cols } = info;
    const cross = k.query !== k.key;
    this.leftHead.textContent = cross ? 'decoder (query)' : 'query';
    this.rightHead.textContent = cross ? 'encoder (key)' : 'key';
    const add = (side, col, els, list) => (idx, i) => {
      const node = col.appendChild(tokenEl(side, list, idx));
      node.addEventListener('pointerenter', () => this.setHover({ side, index: i }));
      node.addEventListener('click', () => this.onPick({ side, index: idx }));
      els.push(node);
    };
    rows.forEach(add('q', this.leftCol, this.leftEls, query));
    cols.forEach(add('k', this.rightCol, this.rightEls, key));
    this.notes.textContent = notesText(k, query, hideSpecial);
    this.density = tokenRows(Math.max(rows.length, cols.length));
    this.body.style.setProperty('--tba-row', `${this.density.rowH}px`);
    this.body.style.setProperty('--tba-tok-font', `${this.density.font}px`);
    this.canvasWrap.style.height = `${Math.max(rows.length, cols.length) * this.density.rowH}px`;
  }

  /** The heads' weights to draw (headWeights; null: none), then draw. */
  setWeights(weights) {
    this.weights = weights;
    this.draw();
  }

  setHover(h) {
    const same = (a, b) => a === b || (a && b && a.side === b.side && a.index === b.index);
    if (same(this.hover, h)) return;
    this.hover = h;
    this.draw();
    this.focus.textContent = h && this.weights?.length ? this.focusText(h) : '\u00a0';
    const node = h && (h.side === 'q' ? this.leftEls : this.rightEls)[h.index];
    this.onHover(node ? { side: h.side, index: Number(node.dataset.index) } : null);
  }

  /** "tok839 #312 attends to: tok4455 #57 0.61, <bos> #0 0.20" (per head when several). */
  focusText(hov) {
    const q = hov.side === 'q';
    const [mine, other] = q ? [this.leftEls, this.rightEls] : [this.rightEls, this.leftEls];
    const name = (e) => `${e.textContent} #${e.dataset.index}`;
    const parts = this.weights.map(({ head, w, nr, nc }) => {
      const n = q ? nc : nr;
      const at = (i) => (q ? w[hov.index * nc + i] : w[i * nc + hov.index]);
      const top = Array.from({ length: n }, (_, i) => i)
        .filter((i) => at(i) >= 0.01)
        .sort((a, b) => at(b) - at(a))
        .slice(0, 4);
      const text = top.map((i) => `${name(other[i])} ${at(i).toFixed(2)}`).join(', ') || 'nothing above 0.01';
      return this.weights.length > 1 ? `H${head}: ${text}` : text;
    });
    return `${name(mine[hov.index])} ${q ? 'attends to' : 'is attended by'}: ${parts.join(' \u00b7 ')}`;
  }

  /** The columns' part in view, in their pixels: {top, bottom} (the body scrolls). */
  band(hPx) {
    const b = this.body.getBoundingClientRect();
    const w = this.canvasWrap.getBoundingClientRect();
    const clamp = (v) => Math.max(0, Math.min(hPx, v));
    return { top: clamp(b.top - w.top), bottom: clamp(b.bottom - w.top) };
  }

  draw() {
    const cv = this.canvas;
    const w = Math.max(60, this.canvasWrap.clientWidth);
    const nRows = this.leftEls.length;
    const nCols = this.rightEls.length;
    const band = this.band(Math.max(nRows, nCols) * this.density.rowH);
    const dpr = window.devicePixelRatio || 1;
    cv.width = Math.round(w * dpr);
    cv.height = Math.max(1, Math.round((band.bottom - band.top) * dpr));
    cv.style.top = `${band.top}px`;
    cv.style.height = `${band.bottom - band.top}px`;
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, -band.top * dpr);
    for (const e of [...this.leftEls, ...this.rightEls]) {
      e.style.background = '';
      e.classList.remove('hover');
    }
    if (!this.weights || !this.weights.length) return;
    const hov = this.hover;
    const highlight = new Float32Array(hov ? (hov.side === 'q' ? nCols : nRows) : 0);
    for (const weights of this.weights) this.drawLines(ctx, weights, w, hov, highlight, band);
    ctx.globalAlpha = 1;
    if (hov) this.highlightTokens(hov, highlight);
  }

  /**
   * One head's lines crossing the band in view (only the hovered token's when hovering, else
   * each query's strongest few on long probes), by strength: LEVELS strokes; the weights per
   * other-side token go in `highlight`.
   */
  drawLines(ctx, { head, w: wt, nr, nc }, width, hov, highlight, band) {
    const { rowH, perRow } = this.density;
    const lines = attentionLines(wt, nr, nc, {
      minWeight: hov ? 0.005 : 0.02,
      onlyRow: hov && hov.side === 'q' ? hov.index : -1,
      onlyCol: hov && hov.side === 'k' ? hov.index : -1,
      perRow: hov ? Infinity : perRow,
    });
    const paths = Array.from({ length: LEVELS }, () => new Path2D());
    const stubs = !hov && perRow !== Infinity; // long probe: far ends drawn as ticks, not streaks
    const seen = (y) => y >= band.top && y <= band.bottom;
    for (const [r, col, v] of lines) {
      if (hov) {
        const idx = hov.side === 'q' ? col : r;
        highlight[idx] = Math.max(highlight[idx], v);
      }
      const y0 = r * rowH + rowH / 2;
      const y1 = col * rowH + rowH / 2;
      if (Math.max(y0, y1) < band.top || Math.min(y0, y1) > band.bottom) continue;
      const path = paths[levelOf(v)];
      if (!stubs || (seen(y0) && seen(y1))) {
        path.moveTo(2, y0);
        path.lineTo(width - 2, y1);
      } else if (seen(y0) || seen(y1)) stub(path, seen(y0), y0, y1, width);
    }
    ctx.strokeStyle = rgbCss(headColor(head));
    paths.forEach((path, i) => {
      const { opacity, width: lineWidth } = levelStyle(i);
      ctx.globalAlpha = opacity;
      ctx.lineWidth = lineWidth;
      ctx.stroke(path);
    });
  }

  /** What is drawn (every token and line, not only those scrolled into view) as a figure; null: nothing. */
  figure(title) {
    if (!this.weights || !this.weights.length) return null;
    const tok = (e) => ({
      text: e.textContent,
      special: e.classList.contains('special'),
      seg1: e.classList.contains('seg1'),
    });
    const [left, right] = [this.leftEls.map(tok), this.rightEls.map(tok)];
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `${this.density.font}px ${FONT}`; // the figure's text: every token in full, none cut off
    const widest = Math.max(0, ...[...left, ...right].map((t) => ctx.measureText(t.text).width));
    const colW = Math.max(60, Math.ceil(widest) + 16);
    return headFigure({
      title,
      heads: [this.leftHead.textContent, this.rightHead.textContent],
      left,
      right,
      weights: this.weights,
      density: this.density,
      colW,
      lineW: Math.max(60, this.canvasWrap.clientWidth),
    });
  }

  /** The hovered token outlined, the tokens it attends to (or that attend to it) shaded. */
  highlightTokens(hov, highlight) {
    const mine = hov.side === 'q' ? this.leftEls : this.rightEls;
    const other = hov.side === 'q' ? this.rightEls : this.leftEls;
    mine[hov.index]?.classList.add('hover');
    const one = this.weights.length === 1;
    const c = headColor(one ? this.weights[0].head : 0);
    other.forEach((e, i) => {
      if (highlight[i] > 0.005)
        e.style.background = one
          ? rgbCss(c, 0.15 + 0.6 * highlight[i])
          : `rgba(26,115,232,${0.15 + 0.6 * highlight[i]})`;
    });
  }
}
