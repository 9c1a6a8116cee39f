// Helpers over the API's data: the index (runs/probes/kinds), stats and snapshots.

import { atOrBeforeIndex } from './stepNav.js';

export function findRun(index, run) {
  return index?.runs?.find((r) => r.run === run) || null;
}

export function findProbe(runEntry, probe) {
  return runEntry?.probes?.find((p) => p.name === probe) || null;
}

export function findKind(probeEntry, kind) {
  return probeEntry?.kinds?.find((k) => k.kind === kind) || null;
}

/** Keep the current run/probe/kind when they still exist, else fall back to the first ones. */
export function resolveSelection(index, { run, probe, kind }) {
  const runs = index?.runs || [];
  const r = findRun(index, run) || runs[0] || null;
  if (!r) return { run: null, probe: null, kind: null };
  const p = findProbe(r, probe) || r.probes[0] || null;
  if (!p) return { run: r.run, probe: null, kind: null };
  const k = findKind(p, kind) || p.kinds[0] || null;
  return { run: r.run, probe: p.name, kind: k ? k.kind : null };
}

/** The token lists that a kind's query rows and key columns refer to. */
export function kindTokens(probe, kindInfo) {
  const side = (which) =>
    which === 'decoder_tokens'
      ? { tokens: probe.decoder_tokens || [], special: probe.decoder_special || null, segments: null }
      : { tokens: probe.tokens || [], special: probe.special || null, segments: probe.segments || null };
  return { query: side(kindInfo?.query || 'tokens'), key: side(kindInfo?.key || 'tokens') };
}

/** Runs (other than `run`) that hold the same probe and kind, for side-by-side comparison. */
export function comparableRuns(index, run, probe, kind) {
  return (index?.runs || [])
    .filter((r) => r.run !== run)
    .filter((r) => findKind(findProbe(r, probe), kind))
    .map((r) => r.run);
}

// ---- snapshots ------------------------------------------------------------------------

/**
 * Offset of map (layer, head) in a snapshot's data, or -1 when the answer does not hold it (another
 * layer, or a one-head answer of another head: its header's `head`); maps are `header.shape[2]` x
 * `header.shape[3]` (the tokens, or the blocks of a pooled snapshot).
 */
export function mapOffset(snapshot, layer, head) {
  const h = snapshot.header;
  const li = h.layers.indexOf(layer);
  if (li < 0 || head < 0 || head >= h.heads) return -1;
  if (h.head !== undefined && h.head !== null) return head === h.head ? li * h.shape[2] * h.shape[3] : -1;
  return (li * h.heads + head) * h.shape[2] * h.shape[3];
}

// ---- stats ----------------------------------------------------------------------------

// The statistics' display: ONE table. Which statistics exist comes from the server (the
// `stats` header of ./stats, docs/http-api.md); a name missing here shows under its own name
// and, without a colour, only in the badge picker. Curves of the evolution chart: the
// statistics with a colour, in this table's order.
export const STATS = {
  entropy: { label: 'entropy (normalized)', color: '#5f6368' },
  first: { label: 'first-token mass', color: '#1a73e8' },
  sep: { label: 'separator mass', color: '#12b5cb' },
  prev: { label: 'previous token', color: '#d93025' },
  next: { label: 'next token', color: '#9334e6' },
  self: { label: 'self', color: '#d01884' },
  max: { label: 'max weight' },
  drift: { label: 'drift since first snapshot', color: '#e8710a', width: 2 },
  induction: { label: 'induction score', color: '#188038', width: 2 },
  duplicate: { label: 'duplicate token' },
  self_repeated: { label: 'self, on tokens seen before' },
  max_logit: { label: 'max attention logit' },
};

export function statLabel(name) {
  return Object.hasOwn(STATS, name) ? STATS[name].label : String(name);
}

/** The statistics the server sent (in its order), or [] before they are loaded. */
export function statNames(stats) {
  return stats?.header?.stats ? stats.header.stats.slice() : [];
}

/** The statistics drawn as curves: those sent that have a colour, in the table's order. */
export function curveStats(names) {
  return Object.keys(STATS).filter((n) => STATS[n].color && names.includes(n));
}

export function statIndex(stats, name) {
  return stats ? stats.header.stats.indexOf(name) : -1;
}

export function statAt(stats, name, stepIdx, layer, head) {
  const s = statIndex(stats, name);
  if (s < 0 || stepIdx < 0) return NaN;
  const h = stats.header;
  const nSteps = h.steps.length;
  if (stepIdx >= nSteps) return NaN;
  return stats.data[((s * nSteps + stepIdx) * h.layers + layer) * h.heads + head];
}

/** Stats step index that applies to `step` (the last logged step at or before it). */
export function statsStepIndex(stats, step) {
  if (!stats || step === null || step === undefined) return -1;
  return atOrBeforeIndex(stats.header.steps, step);
}

/** One statistic of one head over every logged step (NaN -> null for charts). */
export function statSeries(stats, name, layer, head) {
  const n = stats ? stats.header.steps.length : 0;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = statAt(stats, name, i, layer, head);
    out[i] = Number.isFinite(v) ? v : null;
  }
  return out;
}

/** Largest finite value of a statistic over every head at one step. */
export function statMaxAt(stats, name, stepIdx) {
  const h = stats?.header;
  if (!h) return NaN;
  let m = -Infinity;
  for (let l = 0; l < h.layers; l++)
    for (let k = 0; k < h.heads; k++) {
      const v = statAt(stats, name, stepIdx, l, k);
      if (Number.isFinite(v) && v > m) m = v;
    }
  return m === -Infinity ? NaN : m;
}

/** Head-type labels of one head: [{type, score, formed_step}]. */
export function headTypes(stats, layer, head) {
  return (stats?.header?.head_types || []).filter((t) => t.layer === layer && t.head === head);
}

// Head types of docs/format.md (previous-token, next-token, self, first-token, separator,
// induction, duplicate-token, broad), shown with the token names people know from BertViz.
export const TYPE_LABELS = {
  'previous-token': 'previous-token',
  'next-token': 'next-token',
  self: 'self',
  'first-token': '[CLS]/BOS',
  separator: '[SEP]/EOS',
  induction: 'induction',
  'duplicate-token': 'duplicate-token',
  broad: 'broad',
};

export function typeLabel(type) {
  return TYPE_LABELS[type] || String(type);
}

export function formatStat(v) {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
