// A run's storage budget (docs/http-api.md), pure and unit-tested: which heads of a snapshot answer
// have a stored map (the header's `stored`: per returned layer, the heads with a map; the data of
// the others are zeros, never a map), and the texts that say so (the index's `storage` of a kind:
// {maps: N heads with a map per snapshot, choice, summaries: M more heads with a summary,
// summaries.js}). Statistics are stored for every head at every step.

import { statAt, statsStepIndex, statLabel, headTypes, typeLabel, formatStat } from './model.js';
import { hasSummary, meansOffset, SUMMARY_TOP_K } from './summaries.js';

/** What each choice of heads means, said after "maps of N heads per snapshot". */
export const CHOICE_TEXT = {
  changed: 'those that changed most since the previous snapshot',
  rotate: 'a different set at each snapshot, in layer order, round robin',
  named: 'a fixed list of heads',
};

/** The heads of `layer` with a map in `snap` (a sorted array), or null: every head has its map. */
export function storedHeads(snap, layer) {
  const h = snap?.header;
  if (!h || !h.stored) return null;
  const li = h.layers.indexOf(layer);
  return li < 0 ? [] : h.stored[li] || [];
}

/** Whether head (layer, head) of `snap` holds a real map (false: a storage budget left it out). */
export function hasMap(snap, layer, head) {
  const heads = storedHeads(snap, layer);
  return heads === null || heads.includes(head);
}

/**
 * The snapshots of `pair` ({snap, ref}: ref null, or a reference snapshot to subtract) that lack the
 * map of their head: [header] of each (its run and step), [] when both hold their maps. `refHead`:
 * the reference's [layer, head] (the same head by default).
 */
export function missingMaps({ snap, ref }, layer, head, refHead = [layer, head]) {
  const out = [];
  if (snap && !hasMap(snap, layer, head)) out.push(snap.header);
  if (ref && !hasMap(ref, ...refHead)) out.push(ref.header);
  return out;
}

/** The index's storage budget of a kind entry ({maps, choice}), or null: every head has its map. */
export function storageOf(kind) {
  const s = kind?.storage;
  return s && Number.isInteger(s.maps) ? s : null;
}

const choiceText = (choice) => CHOICE_TEXT[choice] || `chosen by "${choice}"`;

/** The line under the pickers: what a kind's storage budget keeps (null: no budget). */
export function storageLine(kind) {
  const s = storageOf(kind);
  if (!s) return null;
  const all = `${kind.layers}\u00d7${kind.heads}`;
  const summaries = s.summaries
    ? `summaries (block means and each row's top ${SUMMARY_TOP_K} keys) of ${s.summaries} more; `
    : '';
  return (
    `Storage budget: full maps of ${s.maps} of ${all} heads per snapshot (${choiceText(s.choice)}); ` +
    `${summaries}statistics of every head at every step.`
  );
}

/**
 * "no map stored at step 700 (storage budget: maps of 5 heads per snapshot, those that changed
 * most since the previous snapshot)"; `run` named when given (another run's snapshot).
 */
export function noMapText(step, kind, run = null) {
  const s = storageOf(kind);
  const where = `${run === null ? '' : `run ${run} `}step ${step}`;
  const why = s ? ` (storage budget: maps of ${s.maps} heads per snapshot, ${choiceText(s.choice)})` : '';
  return `no map stored at ${where}${why}`;
}

/** The statistics shown for a head without a map, in this order ([name, short label in a cell]). */
export const NO_MAP_STATS = [
  ['entropy', 'ent'],
  ['max', 'max'],
  ['first', 'first'],
  ['prev', 'prev'],
];

/** [[name, value text]] of NO_MAP_STATS that are defined for head (layer, head) at step index `si`. */
export function headStatValues(stats, si, layer, head) {
  const out = [];
  for (const [name] of NO_MAP_STATS) {
    const v = si < 0 ? NaN : statAt(stats, name, si, layer, head);
    if (Number.isFinite(v)) out.push([name, formatStat(v)]);
  }
  return out;
}

/**
 * What a grid cell without a map shows, one item a line: its first two statistics ("ent 0.42\nmax
 * 0.91"), or in a `large` cell "no map" ("summary" when it is `summarized`) and all of them.
 */
export function cellStatText(stats, si, layer, head, large = false, summarized = false) {
  const short = new Map(NO_MAP_STATS);
  const values = headStatValues(stats, si, layer, head).map(([name, v]) => `${short.get(name)} ${v}`);
  return (large ? [summarized ? 'summary' : 'no map', ...values] : values.slice(0, 2)).join('\n');
}

/**
 * The statistics of head (layer, head) at `step` as one line: "entropy (normalized) 0.42 · max
 * weight 0.91", without the statistic `skip` (one said already).
 */
export function statValuesText(stats, step, layer, head, skip = null) {
  const values = headStatValues(stats, statsStepIndex(stats, step), layer, head).filter(([name]) => name !== skip);
  return values.map(([name, v]) => `${statLabel(name)} ${v}`).join(' \u00b7 ');
}

/** Its head types formed by `step`, then statValuesText: "previous-token · entropy (normalized) 0.42 · …". */
export function headStatText(stats, step, layer, head) {
  const types = headTypes(stats, layer, head)
    .filter((t) => t.formed_step === null || t.formed_step === undefined || t.formed_step <= step)
    .map((t) => typeLabel(t.type));
  return [...types, statValuesText(stats, step, layer, head)].filter(Boolean).join(' \u00b7 ');
}

/**
 * Whether `missing` (missingMaps's headers of a head's snapshots that lack its map) all keep a
 * summary of head (layer, head) instead: false when there are none.
 */
export function onlySummaries(missing, layer, head) {
  return missing.length > 0 && missing.every((h) => hasSummary(h, layer, head));
}

/**
 * Where a grid cell of `pair` ({snap, ref, means, refMeans}: each snapshot's summary_means answer, or
 * null) is painted from summaries: {off, refOff}, where head (layer, head)'s block means start in
 * `means.data` and `refMeans.data` (refOff -1 without a reference), when every snapshot of the pair
 * keeps a summary of the head instead of its map and its block means are at hand (of one shape, for a
 * difference); null otherwise (a map, statistics only, or a summary against a map).
 */
export function summaryCell({ snap, ref, means, refMeans }, layer, head) {
  const at = (x, m) => (hasMap(x, layer, head) ? -1 : meansOffset(m, layer, head));
  const off = at(snap, means);
  const refOff = ref ? at(ref, refMeans) : -1;
  if (off < 0 || (ref && (refOff < 0 || refMeans.rows !== means.rows || refMeans.cols !== means.cols))) return null;
  return { off, refOff };
}

/**
 * What the heads of `layers` x `heads` of a pair ({snap, ref}) show: {maps, summaries, statistics}
 * (a summary where each snapshot lacking the map keeps one; statistics only otherwise).
 */
export function storageCounts(pair, layers, heads) {
  const n = { maps: layers * heads, summaries: 0, statistics: 0 };
  if (!pair.snap.header.stored && !pair.ref?.header.stored) return n;
  for (let l = 0; l < layers; l++)
    for (let h = 0; h < heads; h++) {
      const missing = missingMaps(pair, l, h);
      if (!missing.length) continue;
      n.maps--;
      n[onlySummaries(missing, l, h) ? 'summaries' : 'statistics']++;
    }
  return n;
}

/**
 * How a loaded pair ({snap, ref, sum, refSum}: views/evolution/headPairs.js) shows its head: 'map'
 * (each snapshot holds the map), 'summary' (each keeps a
 * summary instead: its block means, or at one step the top keys too), 'mixed' (a map at one step,
 * a summary at the other: no difference between them to paint), 'none' (a snapshot keeps neither:
 * noMapOf says why).
 */
export function pairShows({ snap, ref, sum, refSum }, layer, head) {
  const map = (x) => !x || hasMap(x, layer, head);
  if (map(snap) && map(ref)) return 'map';
  const kept = (x, s) => map(x) || !!s;
  if (!kept(snap, sum) || !kept(ref, refSum)) return 'none';
  return sum && (refSum || !ref) ? 'summary' : 'mixed';
}
