// Comparing two runs (A: the selected run, B: the compare run), as pure functions: which head of
// B is shown for a head of A (by index, or by pattern similarity at the cursor step), its label,
// and what B's panels say when B has no snapshot at the cursor step.
//
// Similarity: the cosine of the two heads' attention maps over the probe's tokens (q x k uint8
// weights, taken as vectors). Every weight is >= 0, so it lies in [0, 1]: 1 for the same map, near
// 0 for heads that attend to disjoint tokens. It compares what the heads do on the probe itself
// (a previous-token head and an induction head differ by one diagonal, which any pooled or
// statistics-based summary would blur), needs no normalisation across runs, and is exact.
// Cost: one head of A against every head of B is layers x heads x q x k multiply-adds
// (24 x 16 x 256 x 256 = 25M: ~45 ms measured in node on a busy core, plus as much once per
// snapshot for the norms). The views only need the match of the heads they show, so they call
// `bestMatch` per shown head (memoized per snapshot pair below) instead of matching all 384 x 384
// pairs (9.7G) up front; `matchAll` exists for the tests and small models.

import { mapOffset } from '../answers/model.js';
import { hasMap } from '../answers/storage.js';
import { neighbourSteps } from '../answers/stepNav.js';

/** Cosine similarity of two uint8 maps of n weights at a[aOff..] and b[bOff..] (0 when one is all zero). */
export function cosine(a, aOff, b, bOff, n, normA = null, normB = null) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[aOff + i];
    const y = b[bOff + i];
    dot += x * y;
    if (normA === null) na += x * x;
    if (normB === null) nb += y * y;
  }
  const den = (normA ?? Math.sqrt(na)) * (normB ?? Math.sqrt(nb));
  return den > 0 ? Math.min(1, dot / den) : 0;
}

const normsMemo = new WeakMap(); // snapshot -> Float64Array of each map's L2 norm

function headNorms(snap) {
  let norms = normsMemo.get(snap);
  if (norms) return norms;
  const h = snap.header;
  const n = h.query_len * h.key_len;
  const count = h.layers.length * h.heads;
  norms = new Float64Array(count);
  for (let m = 0; m < count; m++) {
    let s = 0;
    for (let i = m * n, end = i + n; i < end; i++) s += snap.data[i] * snap.data[i];
    norms[m] = Math.sqrt(s);
  }
  normsMemo.set(snap, norms);
  return norms;
}

/** Whether two snapshots' maps can be compared weight by weight (same probe length). */
export function comparable(snapA, snapB) {
  const a = snapA?.header;
  const b = snapB?.header;
  return !!a && !!b && a.query_len === b.query_len && a.key_len === b.key_len;
}

/**
 * The similarity of head (la, ha) of A and head (lb, hb) of B; NaN when either is missing or has
 * no map (a storage budget's: its zeros are no map to compare).
 */
export function headSimilarity(snapA, la, ha, snapB, lb, hb) {
  if (!comparable(snapA, snapB) || !hasMap(snapA, la, ha) || !hasMap(snapB, lb, hb)) return NaN;
  const oa = mapOffset(snapA, la, ha);
  const ob = mapOffset(snapB, lb, hb);
  if (oa < 0 || ob < 0) return NaN;
  const h = snapA.header;
  const n = h.query_len * h.key_len;
  return cosine(snapA.data, oa, snapB.data, ob, n, headNorms(snapA)[oa / n], headNorms(snapB)[ob / n]);
}

const matchMemo = new WeakMap(); // snapA -> WeakMap(snapB -> Map("l,h" -> match))

/**
 * The head of B most similar to head (layer, head) of A: {layer, head, score}, or null when the
 * head is not in A, has no map there, or the maps are not comparable; heads of B without a map are
 * left out. Ties keep the same index first, then the earliest head (so two identical runs match
 * every head to itself).
 */
export function bestMatch(snapA, layer, head, snapB) {
  if (!comparable(snapA, snapB) || mapOffset(snapA, layer, head) < 0 || !hasMap(snapA, layer, head)) return null;
  let byB = matchMemo.get(snapA);
  if (!byB) matchMemo.set(snapA, (byB = new WeakMap()));
  let memo = byB.get(snapB);
  if (!memo) byB.set(snapB, (memo = new Map()));
  const key = `${layer},${head}`;
  if (memo.has(key)) return memo.get(key);
  const hb = snapB.header;
  let best = null;
  const consider = (l, h) => {
    const score = headSimilarity(snapA, layer, head, snapB, l, h);
    if (Number.isFinite(score) && (best === null || score > best.score)) best = { layer: l, head: h, score };
  };
  if (hb.layers.includes(layer) && head < hb.heads) consider(layer, head);
  for (const l of hb.layers) for (let h = 0; h < hb.heads; h++) if (l !== layer || h !== head) consider(l, h);
  memo.set(key, best);
  return best;
}

/** Every head of A with its best match in B: [{layer, head, match}] in A's order. */
export function matchAll(snapA, snapB) {
  const out = [];
  for (const l of snapA.header.layers)
    for (let h = 0; h < snapA.header.heads; h++) out.push({ layer: l, head: h, match: bestMatch(snapA, l, h, snapB) });
  return out;
}

/**
 * The head of B shown for head (layer, head) of A: by `index` the same one (its similarity when
 * both snapshots are given), by `pattern` the best match (null until both snapshots are known).
 */
export function matchedHead(mode, layer, head, snapA = null, snapB = null) {
  if (mode === 'pattern') return snapA && snapB ? bestMatch(snapA, layer, head, snapB) : null;
  const score = snapA && snapB ? headSimilarity(snapA, layer, head, snapB, layer, head) : NaN;
  return { layer, head, score };
}

/**
 * "B L3H5 ≈ A L2H1 (0.93)" (by pattern) or "B L2H1 = A L2H1 (0.41)" (by index); without a match,
 * "matching…" while the maps load, or (`loaded`) that A's head has no map at the step
 * (`noMapA`: its step) or that no head of B can be compared with A's.
 */
export function matchLabel(mode, a, b, { loaded = false, noMapA = null } = {}) {
  if (!b && loaded && noMapA !== null) return `B: ${unmatchedText(a, noMapA)}`;
  if (!b && loaded) return `B: no head comparable with A L${a.layer}H${a.head} (the probe's lengths differ)`;
  if (!b) return `B: matching A L${a.layer}H${a.head}\u2026`;
  const rel = mode === 'pattern' ? '\u2248' : '=';
  const score = Number.isFinite(b.score) ? ` (${b.score.toFixed(2)})` : '';
  return `B L${b.layer}H${b.head} ${rel} A L${a.layer}H${a.head}${score}`;
}

/** Why no head of B is matched with A's head `a`, which has no map at `step` (a storage budget's). */
export function unmatchedText(a, step) {
  return `A L${a.layer}H${a.head} has no map stored at step ${step}, nothing to match`;
}

/** What B's panels say when B has no snapshot at `step` (null when it has one). */
export function missingStepText(run, steps, step) {
  if (step === null || step === undefined) return null;
  if ((steps || []).includes(step)) return null;
  if (!steps || !steps.length) return `run ${run} has no snapshot of this probe yet`;
  const { before, after } = neighbourSteps(steps, step);
  const near = [before, after].filter((s) => s !== null).join(' / ');
  return `run ${run} has no snapshot at step ${step}; nearest: ${near}`;
}
