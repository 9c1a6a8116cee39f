// The model overview's numbers, pure: per-layer means of a statistic over steps, each head's
// changes between a reference step and the cursor step, the table's sort, and the alerts at the
// cursor step with the step each started. Input: the `stats` answer
// ({header: {steps, stats, layers, heads}, data}, model.js reads it).

import { statAt, statIndex } from './model.js';

/**
 * [layers][steps]: the mean (or with `reduce` 'max', the largest) over a layer's heads of statistic
 * `name` (NaN heads skipped; null if none).
 */
export function layerValues(stats, name, reduce = 'mean') {
  const h = stats?.header;
  if (!h || statIndex(stats, name) < 0) return [];
  const out = [];
  for (let l = 0; l < h.layers; l++) {
    const row = new Array(h.steps.length);
    for (let s = 0; s < h.steps.length; s++) {
      let sum = 0;
      let most = -Infinity;
      let n = 0;
      for (let k = 0; k < h.heads; k++) {
        const v = statAt(stats, name, s, l, k);
        if (Number.isFinite(v)) {
          sum += v;
          most = Math.max(most, v);
          n++;
        }
      }
      row[s] = n ? (reduce === 'max' ? most : sum / n) : null;
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

// The alerts (sharp heads, entropy collapse, attention sinks) are the server's: `header.alerts`
// holds, per rule of analysis/alerts.py, each head's runs of consecutive snapshots where the rule held
// ([first step, last step]); `header.alert_rules` the rules' constants. The statistic shown with each.
export const ALERT_VALUE = { sharp: 'entropy', collapse: 'max_logit', sink: 'first' };

/**
 * Heads for which `rule` holds at `stepIdx`, each with `since` (the first step of the run of
 * snapshots that holds the cursor step) and `value` (ALERT_VALUE's statistic at `stepIdx`).
 */
export function alertsAt(stats, rule, stepIdx) {
  const h = stats?.header;
  if (!h || stepIdx < 0 || stepIdx >= h.steps.length) return [];
  const step = h.steps[stepIdx];
  const out = [];
  for (const a of h.alerts?.[rule] || []) {
    const run = a.intervals.find(([from, to]) => from <= step && step <= to);
    if (run)
      out.push({
        layer: a.layer,
        head: a.head,
        since: run[0],
        value: statAt(stats, ALERT_VALUE[rule], stepIdx, a.layer, a.head),
      });
  }
  return out;
}
