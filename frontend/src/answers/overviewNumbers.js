// The model overview's numbers, pure: per-layer means of a statistic over steps, each head's
// changes between a reference step and the cursor step, the table's sort, and the two alerts
// (entropy collapse, attention sinks) with the step each started. Input: the `stats` answer
// ({header: {steps, stats, layers, heads}, data}, model.js reads it).

import { statAt, statIndex } from './model.js';

/** [layers][steps]: the mean over a layer's heads of statistic `name` (NaN heads skipped; null if none). */
export function layerMeans(stats, name) {
  const h = stats?.header;
  if (!h || statIndex(stats, name) < 0) return [];
  const out = [];
  for (let l = 0; l < h.layers; l++) {
    const row = new Array(h.steps.length);
    for (let s = 0; s < h.steps.length; s++) {
      let sum = 0;
      let n = 0;
      for (let k = 0; k < h.heads; k++) {
        const v = statAt(stats, name, s, l, k);
        if (Number.isFinite(v)) {
          sum += v;
          n++;
        }
      }
      row[s] = n ? sum / n : null;
    }
    out.push(row);
  }
  return out;
}

// The table's columns: the head's drift at the step (a distance to the first snapshot, not a
// difference), then changes (step minus reference step) of the statistics.
export const DELTA_COLUMNS = [
  { key: 'drift', stat: 'drift', label: 'drift', delta: false },
  { key: 'entropy', stat: 'entropy', label: '\u0394 entropy', delta: true },
  { key: 'first', stat: 'first', label: '\u0394 [CLS] mass', delta: true },
  { key: 'sep', stat: 'sep', label: '\u0394 [SEP] mass', delta: true },
  { key: 'prev', stat: 'prev', label: '\u0394 prev', delta: true },
  { key: 'next', stat: 'next', label: '\u0394 next', delta: true },
];

/** One row per head: {layer, head, drift, entropy, first, sep, prev, next} (NaN where undefined). */
export function headDeltas(stats, stepIdx, refIdx) {
  const h = stats?.header;
  if (!h || stepIdx < 0 || refIdx < 0) return [];
  const rows = [];
  for (let l = 0; l < h.layers; l++)
    for (let k = 0; k < h.heads; k++) {
      const row = { layer: l, head: k };
      for (const c of DELTA_COLUMNS) {
        const now = statAt(stats, c.stat, stepIdx, l, k);
        row[c.key] = c.delta ? now - statAt(stats, c.stat, refIdx, l, k) : now;
      }
      rows.push(row);
    }
  return rows;
}

/**
 * Rows sorted by `key` (a column, or a function of the row), descending unless `dir` is 'asc',
 * by absolute value when `abs`; NaN rows last, ties by layer then head.
 */
export function sortRows(rows, key, dir = 'desc', abs = false) {
  const get = typeof key === 'function' ? key : (r) => r[key];
  const val = (r) => {
    const v = get(r);
    return Number.isFinite(v) ? (abs ? Math.abs(v) : v) : null;
  };
  const sign = dir === 'asc' ? 1 : -1;
  return rows.slice().sort((a, b) => {
    const va = val(a);
    const vb = val(b);
    if (va === null || vb === null) return (va === null) - (vb === null) || a.layer - b.layer || a.head - b.head;
    return sign * (va - vb) || a.layer - b.layer || a.head - b.head;
  });
}

// Entropy collapse (Zhai et al. 2023): the head's normalized row entropy (0: every row on one
// token, 1: uniform) is below COLLAPSE_ENTROPY and below COLLAPSE_RATIO of its value at the first
// snapshot, i.e. it fell by 90 % to nearly one-hot rows. Attention sink (Xiao et al. 2023): the
// head puts SINK_MASS or more of its attention on the first token ([CLS]/BOS), averaged over the
// query rows (for causal attention the first row, which can only see itself, is left out).
export const COLLAPSE_ENTROPY = 0.1;
export const COLLAPSE_RATIO = 0.1;
export const SINK_MASS = 0.5;

export function collapsed(entropy, firstEntropy) {
  return entropy < COLLAPSE_ENTROPY && entropy < COLLAPSE_RATIO * firstEntropy;
}

export function sink(first) {
  return first >= SINK_MASS;
}

/**
 * Heads for which `holds(stats, stepIdx, layer, head)` is true at `stepIdx`, each with `since`: the
 * first step from which it held at every snapshot up to `stepIdx`, and `value` at `stepIdx`.
 */
function alertsAt(stats, stepIdx, stat, holds) {
  const h = stats?.header;
  if (!h || stepIdx < 0 || statIndex(stats, stat) < 0) return [];
  const out = [];
  for (let l = 0; l < h.layers; l++)
    for (let k = 0; k < h.heads; k++) {
      if (!holds(stepIdx, l, k)) continue;
      let from = stepIdx;
      while (from > 0 && holds(from - 1, l, k)) from--;
      out.push({ layer: l, head: k, since: h.steps[from], value: statAt(stats, stat, stepIdx, l, k) });
    }
  return out;
}

/** Heads whose entropy collapsed at the step (see COLLAPSE_*), with the step it started. */
export function collapseAlerts(stats, stepIdx) {
  const e = (s, l, k) => statAt(stats, 'entropy', s, l, k);
  return alertsAt(stats, stepIdx, 'entropy', (s, l, k) => collapsed(e(s, l, k), e(0, l, k)));
}

/** Heads that are attention sinks at the step (see SINK_MASS), with the step it started. */
export function sinkAlerts(stats, stepIdx) {
  return alertsAt(stats, stepIdx, 'first', (s, l, k) => sink(statAt(stats, 'first', s, l, k)));
}
