// The head view's two token columns (queries left, keys right), virtualised: each column is as
// tall as all its rows, and only the rows in view and an overscan (layout.visibleRows) have a
// token element, placed at its row, so a probe of thousands of tokens scrolls like a short one.
// Tokens are always text. Hover and clicks are read on the columns (delegation), by row.

import { el, clear, tokenLabel } from '../../paint/dom.js';

const MONO = "'Roboto Mono', Menlo, Consolas, monospace";

/** CSS px that hold the widest of `labels` at `font` px (the longest few measured), 40..232. */
function columnWidth(labels, font) {
  const longest = labels
    .map((t, i) => [t.length, i])
    .sort((a, b) => b[0] - a[0])
    .slice(0, 24);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${font}px ${MONO}`;
  const widest = Math.max(0, ...longest.map(([, i]) => ctx.measureText(labels[i]).width));
  return Math.min(232, Math.max(40, Math.ceil(widest) + 14));
}

/**
 * Inputs: `tid` (the test id prefix: hv, hv-b), `onHover({side, pos})` (the pointer entered the
 * token of row `pos` of column `side`, 'q' or 'k') and `onPick({side, pos})` (a click on it).
 * `left`, `right` go in the card; setTokens, showRows, restyle.
 */
export class TokenColumns {
  constructor(tid, { onHover, onPick }) {
    this.left = el('div', { class: 'tba-tokcol left', 'data-testid': `${tid}-left` });
    this.right = el('div', { class: 'tba-tokcol right', 'data-testid': `${tid}-right` });
    this.sides = { q: null, k: null }; // {list, idx, labels, col, els: Map(row -> element)}
    this.rowH = 20;
    for (const [side, col] of [
      ['q', this.left],
      ['k', this.right],
    ]) {
      const at = (e) => e.target.closest?.('.tba-tok');
      col.addEventListener('pointerover', (e) => at(e) && onHover({ side, pos: Number(at(e).dataset.pos) }));
      col.addEventListener('click', (e) => at(e) && onPick({ side, pos: Number(at(e).dataset.pos) }));
    }
  }

  /** The columns of `info` ({query, key, rows, cols}; null: none), rows of `rowH` px, text of `font` px. */
  setTokens(info, rowH, font) {
    this.rowH = rowH;
    for (const side of ['q', 'k']) {
      const col = side === 'q' ? this.left : this.right;
      clear(col);
      if (!info) {
        this.sides[side] = null;
        continue;
      }
      const list = side === 'q' ? info.query : info.key;
      const idx = side === 'q' ? info.rows : info.cols;
      const labels = idx.map((i) => tokenLabel(list.tokens[i]));
      Object.assign(col.style, { height: `${idx.length * rowH}px`, width: `${columnWidth(labels, font)}px` });
      this.sides[side] = { list, idx, labels, col, els: new Map() };
    }
  }

  /** Rows shown in `side` (0 without tokens). */
  count(side) {
    return this.sides[side]?.idx.length ?? 0;
  }

  /** "tok839 #312": the token of row `pos` of `side` as the view shows it, and its probe index. */
  name(side, pos) {
    const s = this.sides[side];
    return `${s.labels[pos]} #${s.idx[pos]}`;
  }

  /** The probe index of row `pos` of `side`. */
  index(side, pos) {
    return this.sides[side].idx[pos];
  }

  /** One token of row `pos` (its text set as text, never HTML), placed at its row. */
  tokenEl(side, pos) {
    const { list, idx, labels } = this.sides[side];
    const i = idx[pos];
    const cls = ['tba-tok', side === 'q' ? 'left' : 'right'];
    if (list.segments && list.segments[i] === 1) cls.push('seg1');
    if (list.special && list.special[i]) cls.push('special');
    const node = el('span', { class: cls.join(' '), title: `${i}: ${String(list.tokens[i])}`, 'data-index': i });
    node.dataset.pos = pos;
    node.style.top = `${pos * this.rowH}px`;
    node.textContent = labels[pos];
    return node;
  }

  /** Only rows first..last-1 have token elements (those already there are kept). */
  showRows(first, last) {
    for (const side of ['q', 'k']) {
      const s = this.sides[side];
      if (!s) continue;
      const end = Math.min(last, s.idx.length);
      for (const [pos, node] of s.els)
        if (pos < first || pos >= end) {
          node.remove();
          s.els.delete(pos);
        }
      for (let pos = first; pos < end; pos++)
        if (!s.els.has(pos)) s.els.set(pos, s.col.appendChild(this.tokenEl(side, pos)));
    }
  }

  /**
   * The marks of the rows in the DOM: `hover` {side, pos} outlined; `shade` {side, values} (a weight
   * per row of that side: the hovered token's lines) as background; `found` (a Set of "side:pos"),
   * `current` ("side:pos") the find box's matches.
   */
  restyle({ hover = null, shade = null, color = null, found = null, current = null }) {
    for (const side of ['q', 'k']) {
      const s = this.sides[side];
      if (!s) continue;
      for (const [pos, node] of s.els) {
        const key = `${side}:${pos}`;
        node.classList.toggle('hover', !!hover && hover.side === side && hover.pos === pos);
        node.classList.toggle('found', !!found && found.has(key));
        node.classList.toggle('found-current', key === current);
        const v = shade && shade.side === side ? shade.values[pos] : 0;
        node.style.background = v > 0.005 ? color(0.15 + 0.6 * v) : '';
      }
    }
  }

  /** Every token of `side` as the figure draws it: [{text, special, seg1}]. */
  figureTokens(side) {
    const s = this.sides[side];
    if (!s) return [];
    return s.idx.map((i, pos) => ({
      text: s.labels[pos],
      special: !!(s.list.special && s.list.special[i]),
      seg1: !!(s.list.segments && s.list.segments[i] === 1),
    }));
  }
}
