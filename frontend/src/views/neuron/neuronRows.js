// The neuron view's drawing (BertViz's neuron view): for one query token, its query vector q over
// the columns of the key vectors k_j, each key's elementwise product q * k_j (canvases: red for
// positive, blue for negative, intensity for size), then per key q.k_j, the logit (x scale,
// soft-capped, + bias), the softmax weight and, with value norms, the normalized contribution.
// Tokens are text (textContent); each key row carries its numbers as data attributes (data-weight,
// data-logit...) for the tests. It knows nothing of runs or loading.

import { el, clear, tokenLabel } from '../../paint/dom.js';
import { lutsFor, packRGBA } from '../../paint/colorScale.js';
import { queryVector, maxAbs, allowed, shortNumber } from '../../answers/neuronMath.js';

export const ROW = 18; // px per key row, the canvases' rows included
const MASKED = packRGBA(236, 236, 236);
const GAP = packRGBA(255, 255, 255);

/** Pixel width of one vector dimension: the strips about 240 px wide, 2..12 px a dimension. */
export function cellWidth(dim) {
  return Math.max(2, Math.min(12, Math.floor(240 / Math.max(1, dim))));
}

/** Rows x dim values -> packed pixels, ROW px a row (1 px gaps), `cw` px a dimension. */
function stripPixels(values, rows, dim, cw, max, maskedRow) {
  const { divLut } = lutsFor('linear');
  const w = dim * cw;
  const out = new Uint32Array(w * rows * ROW);
  for (let r = 0; r < rows; r++) {
    const masked = maskedRow && maskedRow(r);
    for (let d = 0; d < dim; d++) {
      const v = ((masked ? 0.35 : 1) * values[r * dim + d]) / max; // a masked key's products faded
      const c = divLut[Math.round(255 * Math.max(-1, Math.min(1, v))) + 255];
      for (let y = 2; y < ROW - 1; y++) {
        const base = (r * ROW + y) * w + d * cw;
        for (let x = 0; x < cw; x++) {
          const gap = cw >= 4 && x === cw - 1;
          out[base + x] = gap ? GAP : masked && (x + y) % 3 === 0 ? MASKED : c;
        }
      }
    }
  }
  return out;
}

function stripCanvas(values, rows, dim, max, { testid, maskedRow = null } = {}) {
  const cw = cellWidth(dim);
  const canvas = el('canvas', {
    width: dim * cw,
    height: rows * ROW,
    class: 'tba-nv-strip',
    'data-testid': testid,
    'data-cell': cw,
  });
  if (rows > 0 && dim > 0) {
    const px = stripPixels(values, rows, dim, cw, max, maskedRow);
    canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(px.buffer), dim * cw, rows * ROW), 0, 0);
  }
  return canvas;
}

/** The rows (of `values`, n.D a row) of the keys query i may attend to; all when none. */
function allowedRows(values, n, i) {
  const rows = [];
  for (let j = 0; j < n.K; j++) if (allowed(n, i, j)) rows.push(values.subarray(j * n.D, (j + 1) * n.D));
  return rows.length ? rows : [values];
}

/** Put a grid item at (row, column), 1-based. */
function place(node, row, col) {
  node.style.gridRow = String(row);
  node.style.gridColumn = String(col);
  return node;
}

const fmt = (v, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : '\u2013');

function bar(value, cls) {
  return el(
    'span',
    { class: 'tba-nv-num' },
    el('span', { class: `tba-nv-bar ${cls}`, style: { width: `${Math.round(60 * value)}px` } }),
    fmt(value),
  );
}

/** Inputs: `onPick(j)`: a clicked key token becomes the query (only where keys are the query's tokens). */
export class NeuronRows {
  constructor({ onPick }) {
    this.onPick = onPick;
    this.readout = el('div', { class: 'tba-sub tba-nv-readout', 'data-testid': 'nv-readout' });
    this.el = el('div', { class: 'tba-nv-scroll', 'data-testid': 'nv-body' });
    this.shown = null;
  }

  clear() {
    this.shown = null;
    clear(this.el);
    this.readout.textContent = '';
  }

  /** Draw query `row.i` of neuron data `n`; `tokens` = {query, key} (kindTokens), `pickable` keys. */
  draw(n, row, tokens, pickable) {
    this.shown = { n, row };
    const q = queryVector(n, row.i);
    const vecMax = maxAbs(q, n.key);
    const prodMax = maxAbs(...allowedRows(row.products, n, row.i)); // the keys it may attend to
    const grid = el('div', { class: 'tba-nv-grid' + (row.contributions ? ' with-contrib' : '') });
    grid.style.gridTemplateRows = `auto ${ROW}px repeat(${n.K}, ${ROW}px)`;
    grid.append(...this.headRow(n, row));
    grid.append(...this.queryRow(n, row, tokens, q, vecMax));
    const keys = stripCanvas(n.key, n.K, n.D, vecMax, { testid: 'nv-keys' });
    const prods = stripCanvas(row.products, n.K, n.D, prodMax, {
      testid: 'nv-products',
      maskedRow: (j) => !allowed(n, row.i, j),
    });
    for (const [c, col] of [
      [keys, 2],
      [prods, 3],
    ]) {
      c.style.gridArea = `3 / ${col} / span ${n.K} / span 1`;
      c.addEventListener('pointermove', (e) => this.hover(e, c, col === 2 ? 'k' : 'qk'));
      c.addEventListener('pointerleave', () => (this.readout.textContent = ''));
    }
    grid.append(keys, prods);
    for (let j = 0; j < n.K; j++) grid.append(this.keyRow(n, row, j, tokens.key, pickable));
    this.scale = { vecMax, prodMax };
    clear(this.el).append(grid);
  }

  headRow(n, row) {
    const head = (text, title) => el('span', { class: 'tba-nv-colhead', title }, text);
    const capped = n.softcap > 0 ? `, capped at ${shortNumber(n.softcap)}` : '';
    const logit = `\u00d7 ${shortNumber(n.scale)}${capped}${n.bias ? ' + bias' : ''}`;
    const out = [
      head('key', 'The key tokens; click one to make it the query'),
      head('k\u2c7c', 'Each key vector, one column per dimension'),
      head('q \u2299 k\u2c7c', 'Elementwise product of the query and each key: their sum is q\u00b7k'),
      head('q\u00b7k', 'Dot product of the query and each key'),
      head(logit, 'The logit: q\u00b7k times the scale (soft-capped), plus the position bias where the model adds one'),
      head('softmax', 'The attention weight: the softmax of the logits over the allowed keys'),
    ];
    if (row.contributions)
      out.push(
        head('contribution', 'weight \u00d7 \u2016W_O v\u2c7c\u2016, normalized over keys (Kobayashi et al. 2020)'),
      );
    return out.map((node, c) => place(node, 1, c + 1));
  }

  queryRow(n, row, tokens, q, vecMax) {
    const t = tokens.query.tokens[row.i];
    const label = el('span', { class: 'tba-nv-tok query', 'data-testid': 'nv-query-token', title: `query ${row.i}` });
    label.textContent = tokenLabel(t);
    const strip = stripCanvas(q, 1, n.D, vecMax, { testid: 'nv-query-vector' });
    strip.addEventListener('pointermove', (e) => this.hover(e, strip, 'q'));
    strip.addEventListener('pointerleave', () => (this.readout.textContent = ''));
    return [place(label, 2, 1), place(strip, 2, 2)];
  }

  /** One key row (display: contents): its token and numbers, the numbers also as data attributes. */
  keyRow(n, row, j, keyTokens, pickable) {
    const ok = allowed(n, row.i, j);
    const w = row.weights[j];
    const c = row.contributions ? row.contributions[j] : null;
    const tok = el('span', {
      class: `tba-nv-tok${keyTokens.special?.[j] ? ' special' : ''}${pickable ? ' pickable' : ''}${pickable && j === row.i ? ' is-query' : ''}`,
      title: `key ${j}${pickable ? ' (click: make it the query)' : ''}`,
      'data-index': j,
    });
    tok.textContent = tokenLabel(keyTokens.tokens[j] ?? `#${j}`);
    if (pickable) tok.addEventListener('click', () => this.onPick(j));
    const cells = [tok, el('span', { class: 'tba-nv-num' }, fmt(row.dots[j]))];
    cells.push(
      ok ? el('span', { class: 'tba-nv-num' }, fmt(row.logits[j])) : el('span', { class: 'tba-nv-masked' }, 'masked'),
    );
    cells.push(ok ? bar(w, 'weight') : el('span', { class: 'tba-nv-masked' }, '0'));
    if (c !== null) cells.push(ok ? bar(c, 'contrib') : el('span', { class: 'tba-nv-masked' }, '0'));
    const dataset = { key: j, allowed: ok ? 1 : 0, dot: row.dots[j], weight: w, logit: ok ? row.logits[j] : 'masked' };
    if (c !== null) dataset.contribution = c;
    cells.forEach((node, col) => place(node, j + 3, col < 1 ? 1 : col + 3));
    return el('div', { class: 'tba-nv-row' + (ok ? '' : ' masked'), 'data-testid': 'nv-row', dataset }, ...cells);
  }

  /** The hovered dimension of a strip as text: q[d], k_j[d] and their product. */
  hover(e, canvas, which) {
    if (!this.shown) return;
    const { n, row } = this.shown;
    const rect = canvas.getBoundingClientRect();
    const d = Math.floor((e.clientX - rect.left) / Number(canvas.dataset.cell));
    const j = Math.floor((e.clientY - rect.top) / ROW);
    if (d < 0 || d >= n.D) return;
    const q = n.query[row.i * n.D + d];
    if (which === 'q') return void (this.readout.textContent = `q[${d}] = ${fmt(q, 4)}`);
    if (j < 0 || j >= n.K) return;
    const k = n.key[j * n.D + d];
    this.readout.textContent = `key ${j}, dimension ${d}: q = ${fmt(q, 4)}, k = ${fmt(k, 4)}, q\u00b7k term = ${fmt(q * k, 4)}`;
  }
}
