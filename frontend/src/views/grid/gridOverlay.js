// What the grid shows over its canvas, in the scrolled content so it moves with it: outlines of
// the selected head and of the head view's heads, the hovered head, and, when cells are large
// enough to read them, one element per head IN VIEW with its badge and head types (text), so the
// DOM stays a few hundred elements at 80 x 64 heads. Click targets are the grid's (geometry).
// A head without a stored map (a storage budget's) shows its statistics there instead: its head
// types and a few numbers (class `no-map`, and `summary` when it keeps a summary), over the
// canvas's hatched cell.

import { el } from '../../paint/dom.js';
import { BADGE_CELL, TYPE_CELL } from '../../paint/gridGeometry.js';

const place = (node, g, layer, head, grow = 0) =>
  Object.assign(node.style, {
    left: `${head * g.pitch - grow}px`,
    top: `${layer * g.pitch - grow}px`,
    width: `${g.cell + 2 * grow}px`,
    height: `${g.cell + 2 * grow}px`,
  });

/**
 * Over the scrolled `content`; `noMap(layer, head)`: the snapshots of the cell lacking its map
 * ([] when the cell shows a map); `summarized(layer, head)`: whether they all keep its summary.
 */
export class GridOverlay {
  constructor(content, noMap, summarized) {
    Object.assign(this, { content, noMap, summarized });
    this.source = null; // what the cells were filled for (the grid's source)
    this.cells = new Map(); // "l,h" -> {node, badge, type}
    this.range = null;
    this.labels = null; // (layer, head) -> {badge, types, stats (shown without a map)}
    this.marks = { selected: null, heads: [] };
    this.hoverEl = el('div', { class: 'tba-mark hover', hidden: true });
    this.markEls = [];
    content.append(this.hoverEl);
  }

  setGeometry(g) {
    this.g = g;
    for (const c of this.cells.values()) c.node.remove();
    this.cells.clear();
    this.range = null;
    this.drawMarks();
  }

  /** The heads in view; their cells are (re)built when the range changed. */
  setRange(range) {
    const r = this.range;
    if (r && r.l0 === range.l0 && r.l1 === range.l1 && r.h0 === range.h0 && r.h1 === range.h1) return;
    this.range = range;
    this.syncCells();
  }

  /** Badge and head-type text of each head (or null: none), then refresh the cells in view. */
  setLabels(labels) {
    this.labels = labels;
    this.refresh(this.source);
  }

  /** Fill the cells in view again, for the grid's `source` (which heads have a map). */
  refresh(source) {
    this.source = source;
    for (const [key, c] of this.cells) this.fill(c, ...key.split(',').map(Number));
  }

  syncCells() {
    const g = this.g;
    const r = this.range;
    const want = new Set();
    if (g && r && g.cell >= BADGE_CELL)
      for (let l = r.l0; l < r.l1; l++) for (let h = r.h0; h < r.h1; h++) want.add(`${l},${h}`);
    for (const [key, c] of this.cells)
      if (!want.has(key)) {
        c.node.remove();
        this.cells.delete(key);
      }
    for (const key of want) if (!this.cells.has(key)) this.addCell(key);
  }

  addCell(key) {
    const [layer, head] = key.split(',').map(Number);
    const badge = el('span', { class: 'tba-badge' });
    const type = el('span', { class: 'tba-type' });
    const node = el(
      'div',
      { class: 'tba-cell', 'data-testid': 'cell', 'data-layer': layer, 'data-head': head },
      type,
      badge,
    );
    place(node, this.g, layer, head);
    const c = { node, badge, type };
    this.cells.set(key, c);
    this.fill(c, layer, head);
    this.content.append(node);
  }

  fill(c, layer, head) {
    const t = this.labels ? this.labels(layer, head) : { badge: '', types: '', stats: '' };
    const noMap = this.noMap(layer, head).length > 0;
    c.node.classList.toggle('no-map', noMap);
    c.node.classList.toggle('summary', noMap && this.summarized(layer, head));
    c.badge.textContent = noMap ? t.stats : t.badge;
    c.type.textContent = this.g.cell >= TYPE_CELL || noMap ? t.types : '';
    const sel = this.marks.selected;
    c.node.classList.toggle('selected', !!sel && sel[0] === layer && sel[1] === head);
    c.node.classList.toggle(
      'in-headview',
      this.marks.heads.some(([l, h]) => l === layer && h === head),
    );
  }

  /** Outlines: `selected` [layer, head] or null, `heads` [[layer, head]] of the head view. */
  setMarks(selected, heads) {
    this.marks = { selected, heads };
    this.drawMarks();
    for (const [key, c] of this.cells) this.fill(c, ...key.split(',').map(Number));
  }

  drawMarks() {
    for (const m of this.markEls) m.remove();
    this.markEls = [];
    if (!this.g) return;
    const { selected, heads } = this.marks;
    for (const [l, h] of heads) {
      if (selected && l === selected[0] && h === selected[1]) continue;
      this.markEls.push(this.markAt('tba-mark in-headview', l, h, 1));
    }
    if (selected) this.markEls.push(this.markAt('tba-mark selected', selected[0], selected[1], 2));
    this.content.append(...this.markEls);
  }

  markAt(cls, layer, head, grow) {
    const node = el('div', { class: cls });
    place(node, this.g, layer, head, grow);
    return node;
  }

  hover(cell) {
    this.hoverEl.hidden = !cell;
    if (cell) place(this.hoverEl, this.g, cell.layer, cell.head, 1);
  }
}
