// The head view's drawing (BertViz-style): the probe's tokens in two columns (queries left, keys
// right, always as text; tokenColumns.js, virtualised) joined on a canvas by lines weighted by
// attention, one colour per head; hovering a token isolates its lines and shades the tokens at
// their other end; the find box (findBox.js) scrolls to a token and marks it. Used by the head
// view of each run (headView.js); it knows nothing of runs or loading.

import { el } from '../../paint/dom.js';
import { headColor, rgbCss } from '../../paint/colorScale.js';
import { attentionLines, tokenRows, visibleRows } from '../../paint/layout.js';
import { mapOffset } from '../../answers/model.js';
import { HeadMatrix } from '../../answers/headMatrix.js';
import { SummaryMatrix } from '../../answers/summaryMatrix.js';
import { summaryFor } from './headSummaries.js';
import { LEVELS, levelOf, levelStyle, headFigure } from './headFigure.js';
import { FONT } from '../../paint/figure.js';
import { TokenColumns } from './tokenColumns.js';
import { FindBox } from './findBox.js';

/**
 * The weights of each head of `shown` ([{layer, head, color}]: `color` is the head index whose
 * colour its lines take) over the kept rows/columns, from its summary among `sums` (a storage
 * budget's: each row's top keys) or from whichever of `snaps` (snapshot answers: a layer, or one
 * head each) holds it: [{head: color, m: HeadMatrix or SummaryMatrix}].
 */
export function headWeights(snaps, shown, rows, cols, sums = []) {
  const h = snaps[0].header;
  const validRows = rows.filter((r) => r < h.query_len);
  const validCols = cols.filter((c) => c < h.key_len);
  return shown
    .map(({ layer, head, color }) => {
      const sum = summaryFor(sums, { layer, head });
      if (sum) return { head: color, m: new SummaryMatrix(sum, validRows, validCols) };
      const snap = snaps.find((x) => mapOffset(x, layer, head) >= 0);
      if (!snap) return null;
      const m = new HeadMatrix(snap.data, mapOffset(snap, layer, head), h.key_len, validRows, validCols);
      return { head: color, m };
    })
    .filter(Boolean);
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
 * `body`, `focus`, `notes` and `find.el` go in the card; setWeights, renderTokens.
 */
export class HeadLines {
  constructor(tid, { onHover = () => {}, onPick = () => {} } = {}) {
    Object.assign(this, { onHover, onPick });
    this.hover = null; // {side: 'q'|'k', index} (index: the row among the tokens shown)
    this.found = null; // the find box's {matches, current} ("side:pos" keys), or null
    this.weights = null;
    this.lineCache = new WeakMap(); // HeadMatrix -> its lines drawn when nothing is hovered
    this.cols = new TokenColumns(tid, {
      onHover: ({ side, pos }) => this.setHover({ side, index: pos }),
      onPick: ({ side, pos }) => this.onPick({ side, index: this.cols.index(side, pos) }),
    });
    this.find = new FindBox(tid, { sides: () => this.findSides(), onGo: (m, all) => this.goTo(m, all) });
    this.leftHead = el('div', { class: 'tba-hv-colhead left' });
    this.rightHead = el('div', { class: 'tba-hv-colhead right' });
    this.density = tokenRows(0);
    // the canvas covers only the part of the columns in view (a 4k-token probe is ~45,000 px high)
    this.canvas = el('canvas', { class: 'tba-hv-canvas', 'data-testid': `${tid}-canvas` });
    this.canvasWrap = el('div', { class: 'tba-hv-lines' }, this.canvas);
    this.notes = el('div', { class: 'tba-hv-notes' });
    // what the hovered token attends to (or is attended by), as text: far ends included; always
    // one line high, so hovering never moves the tokens
    this.focus = el('div', { class: 'tba-hv-focus', 'data-testid': `${tid}-focus` });
    const cols = [this.leftHead, el('div'), this.rightHead, this.cols.left, this.canvasWrap, this.cols.right];
    this.body = el('div', { class: 'tba-hv-body' }, el('div', { class: 'tba-hv-cols' }, ...cols));
    this.body.addEventListener('pointerleave', () => this.setHover(null));
    this.body.addEventListener('scroll', () => this.draw());
    new ResizeObserver(() => this.draw()).observe(this.canvasWrap);
  }

  /** The token columns of `info` ({k, query, key, rows, cols}; null: none) and their notes. */
  renderTokens(info, hideSpecial) {
    this.hover = null;
    this.info = info;
    const n = info ? Math.max(info.rows.length, info.cols.length) : 0;
    this.density = tokenRows(n);
    this.cols.setTokens(info, this.density.rowH, this.density.font);
    this.find.refresh();
    if (!info) return;
    const { k, query } = info;
    const cross = k.query !== k.key;
    this.leftHead.textContent = cross ? 'decoder (query)' : 'query';
    this.rightHead.textContent = cross ? 'encoder (key)' : 'key';
    this.notes.textContent = notesText(k, query, hideSpecial);
    this.body.style.setProperty('--tba-row', `${this.density.rowH}px`);
    this.body.style.setProperty('--tba-tok-font', `${this.density.font}px`);
    this.canvasWrap.style.height = `${n * this.density.rowH}px`;
  }

  /** The columns as the find box searches them (the right one only when it shows other tokens). */
  findSides() {
    const { q, k } = this.cols.sides;
    if (!q) return null;
    const same = q.list.tokens === k.list.tokens && q.idx.length === k.idx.length; // self attention
    return { q: { tokens: q.list.tokens, idx: q.idx }, k: same ? null : { tokens: k.list.tokens, idx: k.idx } };
  }

  /** Scroll to match `m` ({side, pos}) of `matches` and mark them (null: unmark). */
  goTo(m, matches) {
    this.found = m ? { keys: new Set(matches.map((x) => `${x.side}:${x.pos}`)), current: `${m.side}:${m.pos}` } : null;
    if (m) {
      const b = this.body.getBoundingClientRect();
      const top = this.canvasWrap.getBoundingClientRect().top - b.top + this.body.scrollTop;
      const rowH = this.density.rowH;
      this.body.scrollTop = Math.max(0, top + m.pos * rowH + rowH / 2 - this.body.clientHeight / 2);
      this.hover = null;
      this.setHover({ side: m.side, index: m.pos }); // its lines isolated, what it attends to as text
    }
    this.draw();
  }

  /** The heads' weights to draw (headWeights; null: none), then draw. */
  setWeights(weights) {
    this.weights = weights;
    this.draw();
    if (this.hover) this.focus.textContent = this.focusText(this.hover);
  }

  setHover(h) {
    const same = (a, b) => a === b || (a && b && a.side === b.side && a.index === b.index);
    if (same(this.hover, h)) return;
    this.hover = h;
    this.draw();
    this.focus.textContent = h && this.weights?.length ? this.focusText(h) : '\u00a0';
    this.onHover(h ? { side: h.side, index: this.cols.index(h.side, h.index) } : null);
  }

  /** "tok839 #312 attends to: tok4455 #57 0.61, <bos> #0 0.20" (per head when several). */
  focusText(hov) {
    if (!this.weights?.length) return '\u00a0';
    const q = hov.side === 'q';
    const other = q ? 'k' : 'q';
    const parts = this.weights.map(({ head, m }) => {
      const w = q ? m.row(hov.index) : m.col(hov.index);
      const top = Array.from({ length: w.length }, (_, i) => i)
        .filter((i) => w[i] >= 0.01)
        .sort((a, b) => w[b] - w[a])
        .slice(0, 4);
      const text = top.map((i) => `${this.cols.name(other, i)} ${w[i].toFixed(2)}`).join(', ') || 'nothing above 0.01';
      return this.weights.length > 1 ? `H${head}: ${text}` : text;
    });
    return `${this.cols.name(hov.side, hov.index)} ${q ? 'attends to' : 'is attended by'}: ${parts.join(' \u00b7 ')}`;
  }

  /** The columns' part in view, in their pixels: {top, bottom} (the body scrolls). */
  band(hPx) {
    const b = this.body.getBoundingClientRect();
    const w = this.canvasWrap.getBoundingClientRect();
    const clamp = (v) => Math.max(0, Math.min(hPx, v));
    return { top: clamp(b.top - w.top), bottom: clamp(b.bottom - w.top) };
  }

  /** The token rows in view, then the lines crossing them, then the tokens' marks. */
  draw() {
    const cv = this.canvas;
    const w = Math.max(60, this.canvasWrap.clientWidth);
    const nRows = this.cols.count('q');
    const nCols = this.cols.count('k');
    const { rowH } = this.density;
    const band = this.band(Math.max(nRows, nCols) * rowH);
    const rows = visibleRows(band.top, band.bottom, rowH, Math.max(nRows, nCols));
    this.cols.showRows(rows.first, rows.last);
    const dpr = window.devicePixelRatio || 1;
    cv.width = Math.round(w * dpr);
    cv.height = Math.max(1, Math.round((band.bottom - band.top) * dpr));
    cv.style.top = `${band.top}px`;
    cv.style.height = `${band.bottom - band.top}px`;
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, -band.top * dpr);
    const hov = this.hover;
    const drawn = !!this.weights?.length;
    const highlight = new Float32Array(hov && drawn ? (hov.side === 'q' ? nCols : nRows) : 0);
    if (drawn) for (const weights of this.weights) this.drawLines(ctx, weights, w, hov, highlight, band);
    ctx.globalAlpha = 1;
    this.restyle(hov && drawn ? highlight : null);
  }

  /** The marks of the token rows in the DOM: hover, the weights of its lines, the find box's matches. */
  restyle(highlight) {
    const hov = this.hover;
    const one = this.weights?.length === 1;
    const c = headColor(one ? this.weights[0].head : 0);
    this.cols.restyle({
      hover: hov && { side: hov.side, pos: hov.index },
      shade: highlight && { side: hov.side === 'q' ? 'k' : 'q', values: highlight },
      color: (a) => (one ? rgbCss(c, a) : `rgba(26,115,232,${a})`),
      found: this.found?.keys,
      current: this.found?.current,
    });
  }

  /** The lines of head `m`: the hovered token's, or (cached) each query's strongest few. */
  linesOf(m, hov, perRow) {
    if (hov)
      return attentionLines(m, {
        minWeight: 0.005,
        onlyRow: hov.side === 'q' ? hov.index : -1,
        onlyCol: hov.side === 'k' ? hov.index : -1,
      });
    let lines = this.lineCache.get(m);
    if (!lines || lines.perRow !== perRow) {
      lines = attentionLines(m, { minWeight: 0.02, perRow });
      lines.perRow = perRow;
      this.lineCache.set(m, lines);
    }
    return lines;
  }

  /**
   * One head's lines crossing the band in view (only the hovered token's when hovering, else
   * each query's strongest few on long probes), by strength: LEVELS strokes; the weights per
   * other-side token go in `highlight`.
   */
  drawLines(ctx, { head, m }, width, hov, highlight, band) {
    const { rowH, perRow } = this.density;
    const paths = Array.from({ length: LEVELS }, () => new Path2D());
    const stubs = !hov && perRow !== Infinity; // long probe: far ends drawn as ticks, not streaks
    const seen = (y) => y >= band.top && y <= band.bottom;
    for (const [r, col, v] of this.linesOf(m, hov, perRow)) {
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
    const [left, right] = [this.cols.figureTokens('q'), this.cols.figureTokens('k')];
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
}
