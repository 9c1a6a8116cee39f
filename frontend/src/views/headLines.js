// The head view's drawing (BertViz-style): the probe's tokens in two columns (queries left, keys
// right, always as text) joined on a canvas by lines weighted by attention, one colour per head;
// hovering a token isolates its lines and shades the tokens at their other end. Used by the head
// view of each run (headView.js); it knows nothing of runs or loading.

import { el, clear, tokenLabel } from '../dom.js';
import { headColor, rgbCss } from '../colorScale.js';
import { subMatrix } from '../renormalize.js';
import { attentionLines } from '../layout.js';
import { mapOffset } from '../model.js';

const ROW_H = 20;

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

/** The notes under the columns: what the drawing shows for this kind and setting. */
function notesText(k, query, hideSpecial) {
  const notes = [];
  if (k.causal) notes.push('causal: each token attends only to itself and earlier tokens');
  if (k.query !== k.key) notes.push('cross attention: decoder tokens (left) attend to encoder tokens (right)');
  if ((query.segments || []).some((v) => v === 1)) notes.push('shaded tokens: second segment of the sentence pair');
  if (hideSpecial) notes.push('special tokens hidden, rows renormalized');
  notes.push('hover a token to isolate its lines');
  return notes.join(' \u00b7 ');
}

/** Inputs: `tid`, the test id prefix (hv, hv-b). `body` and `notes` go in the card; setWeights, renderTokens. */
export class HeadLines {
  constructor(tid) {
    this.hover = null; // {side: 'q'|'k', index}
    this.weights = null;
    this.leftEls = [];
    this.rightEls = [];
    this.leftHead = el('div', { class: 'tba-hv-colhead left' });
    this.rightHead = el('div', { class: 'tba-hv-colhead right' });
    this.leftCol = el('div', { 'data-testid': `${tid}-left` });
    this.rightCol = el('div', { 'data-testid': `${tid}-right` });
    this.canvas = el('canvas', { class: 'tba-hv-canvas', 'data-testid': `${tid}-canvas` });
    this.canvasWrap = el('div', { style: { position: 'relative', minWidth: '120px' } }, this.canvas);
    this.notes = el('div', { class: 'tba-hv-notes' });
    const cols = [this.leftHead, el('div'), this.rightHead, this.leftCol, this.canvasWrap, this.rightCol];
    this.body = el('div', { class: 'tba-hv-body' }, el('div', { class: 'tba-hv-cols' }, ...cols));
    this.body.addEventListener('pointerleave', () => this.setHover(null));
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
      els.push(node);
    };
    rows.forEach(add('q', this.leftCol, this.leftEls, query));
    cols.forEach(add('k', this.rightCol, this.rightEls, key));
    this.notes.textContent = notesText(k, query, hideSpecial);
    this.canvas.style.height = `${Math.max(rows.length, cols.length) * ROW_H}px`;
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
  }

  draw() {
    const cv = this.canvas;
    const w = Math.max(60, this.canvasWrap.clientWidth);
    const nRows = this.leftEls.length;
    const nCols = this.rightEls.length;
    const hPx = Math.max(nRows, nCols) * ROW_H;
    const dpr = window.devicePixelRatio || 1;
    cv.width = Math.round(w * dpr);
    cv.height = Math.max(1, Math.round(hPx * dpr));
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hPx);
    for (const e of [...this.leftEls, ...this.rightEls]) {
      e.style.background = '';
      e.classList.remove('hover');
    }
    if (!this.weights || !this.weights.length) return;
    const hov = this.hover;
    const highlight = new Float32Array(hov ? (hov.side === 'q' ? nCols : nRows) : 0);
    for (const weights of this.weights) this.drawLines(ctx, weights, w, hov, highlight);
    ctx.globalAlpha = 1;
    if (hov) this.highlightTokens(hov, highlight);
  }

  /** One head's lines (only the hovered token's when hovering); the weights per other-side token. */
  drawLines(ctx, { head, w: wt, nr, nc }, width, hov, highlight) {
    const lines = attentionLines(wt, nr, nc, {
      minWeight: hov ? 0.005 : 0.02,
      onlyRow: hov && hov.side === 'q' ? hov.index : -1,
      onlyCol: hov && hov.side === 'k' ? hov.index : -1,
    });
    ctx.strokeStyle = rgbCss(headColor(head));
    for (const [r, col, v] of lines) {
      ctx.globalAlpha = Math.min(1, 0.08 + v * 0.92);
      ctx.lineWidth = 1 + 2 * v;
      ctx.beginPath();
      ctx.moveTo(2, r * ROW_H + ROW_H / 2);
      ctx.lineTo(width - 2, col * ROW_H + ROW_H / 2);
      ctx.stroke();
      if (hov) {
        const idx = hov.side === 'q' ? col : r;
        highlight[idx] = Math.max(highlight[idx], v);
      }
    }
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
