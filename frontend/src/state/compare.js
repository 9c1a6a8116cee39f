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
//
// Heads a storage budget kept as a summary (block means + each row's top keys) have no map to take
// the exact cosine of. A head of A with a map is matched with B's heads with a map only, and the
// label says how many summarized heads of B were left out (their block means would blur the
// diagonals the exact cosine tells apart, and scores on block means run higher than exact ones, so
// mixing the two in one ranking would favour summaries). A head of A kept as a summary is matched on
// block means at its summary's blocks with every head of B that has a map (pooled to those blocks)
// or a summary (answers/blockMeans.js), and the label says "on block means".

import { mapOffset } from '../answers/model.js';
import { hasMap } from '../answers/storage.js';
import { headBlockMeans } from '../answers/blockMeans.js';
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

/** The cosine of two vectors of block means (0 when one is all zero). */
function meansCosine(a, b) {
  let [dot, na, nb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na > 0 && nb > 0 ? Math.min(1, dot / Math.sqrt(na * nb)) : 0;
}

/**
 * The similarity of head (la, ha) of A and head (lb, hb) of B on block means at the summaries' blocks
 * (`meansA`, `meansB`: the snapshots' summary_means answers, either may be null; a head with a map is
 * pooled to the same blocks): NaN when there are no summaries' blocks, or either head has neither a
 * map nor a summary at hand.
 */
export function meansSimilarity(snapA, meansA, la, ha, snapB, meansB, lb, hb) {
  const block = (meansA ?? meansB)?.block;
  if (!block || !comparable(snapA, snapB)) return NaN;
  const a = headBlockMeans(snapA, meansA, la, ha, block);
  const b = a && headBlockMeans(snapB, meansB, lb, hb, block);
  return b ? meansCosine(a, b) : NaN;
}

/** How many heads `snap` keeps a summary of instead of a map (its header's `summarized`). */
const summarizedCount = (snap) => (snap.header.summarized || []).reduce((n, heads) => n + heads.length, 0);

const matchMemo = new WeakMap(); // snapA -> WeakMap(snapB -> Map("l,h,means" -> match))

/**
 * The head of B most similar to head (layer, head) of A: {layer, head, score}, or null when the
 * head is not in A, has neither a map nor a summary at hand there, or the maps are not comparable.
 * A head with a map is matched with B's heads with a map (`skipped`: how many of B's heads were left
 * out as summaries); one kept as a summary on block means with every head of B (`on: 'means'`).
 * `meansA`, `meansB`: the snapshots' summary_means answers (null: none). Ties keep the same index
 * first, then the earliest head (so two identical runs match every head to itself).
 */
export function bestMatch(snapA, layer, head, snapB, meansA = null, meansB = null) {
  if (!comparable(snapA, snapB) || mapOffset(snapA, layer, head) < 0) return null;
  const exact = hasMap(snapA, layer, head);
  let byB = matchMemo.get(snapA);
  if (!byB) matchMemo.set(snapA, (byB = new WeakMap()));
  let memo = byB.get(snapB);
  if (!memo) byB.set(snapB, (memo = new Map()));
  const key = `${layer},${head},${!!meansA},${!!meansB}`;
  if (memo.has(key)) return memo.get(key);
  const hb = snapB.header;
  let best = null;
  const consider = (l, h) => {
    const score = exact
      ? headSimilarity(snapA, layer, head, snapB, l, h)
      : meansSimilarity(snapA, meansA, layer, head, snapB, meansB, l, h);
    if (Number.isFinite(score) && (best === null || score > best.score)) best = { layer: l, head: h, score };
  };
  if (hb.layers.includes(layer) && head < hb.heads) consider(layer, head);
  for (const l of hb.layers) for (let h = 0; h < hb.heads; h++) if (l !== layer || h !== head) consider(l, h);
  if (best && !exact) best.on = 'means';
  if (best && exact && summarizedCount(snapB)) best.skipped = summarizedCount(snapB);
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
 * both snapshots are given: exact between two maps, else on block means, `on: 'means'`), by
 * `pattern` the best match (null until both snapshots are known). `meansA`, `meansB`: the
 * snapshots' summary_means answers (null: none).
 */
export function matchedHead(mode, layer, head, snapA = null, snapB = null, meansA = null, meansB = null) {
  if (mode === 'pattern') return snapA && snapB ? bestMatch(snapA, layer, head, snapB, meansA, meansB) : null;
  if (!snapA || !snapB) return { layer, head, score: NaN };
  const score = headSimilarity(snapA, layer, head, snapB, layer, head);
  if (Number.isFinite(score)) return { layer, head, score };
  const onMeans = meansSimilarity(snapA, meansA, layer, head, snapB, meansB, layer, head);
  return Number.isFinite(onMeans) ? { layer, head, score: onMeans, on: 'means' } : { layer, head, score };
}

/**
 * "B L3H5 ≈ A L2H1 (0.93)" (by pattern) or "B L2H1 = A L2H1 (0.41)" (by index), "(0.93 on block
 * means)" for a match of summaries, and how many summarized heads of B were not compared; without a
 * match, "matching…" while the maps load, or (`loaded`) that A's head has no map at the step
 * (`noMapA`: its step) or that no head of B can be compared with A's.
 */
export function matchLabel(mode, a, b, { loaded = false, noMapA = null } = {}) {
  if (!b && loaded && noMapA !== null) return `B: ${unmatchedText(a, noMapA)}`;
  if (!b && loaded) return `B: no head comparable with A L${a.layer}H${a.head} (the probe's lengths differ)`;
  if (!b) return `B: matching A L${a.layer}H${a.head}\u2026`;
  const rel = mode === 'pattern' ? '\u2248' : '=';
  const on = b.on === 'means' ? ' on block means' : '';
  const score = Number.isFinite(b.score) ? ` (${b.score.toFixed(2)}${on})` : '';
  const skipped = b.skipped
    ? ` \u00b7 ${b.skipped} summarized head${b.skipped > 1 ? 's' : ''} of B not compared (only block means stored)`
    : '';
  return `B L${b.layer}H${b.head} ${rel} A L${a.layer}H${a.head}${score}${skipped}`;
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
