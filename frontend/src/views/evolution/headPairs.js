// What the evolution card's maps of one head load: for a want (run, probe, kind, step, layer, head,
// diff reference `ref`, block `pool`), that head at the step and, in diff mode, at the reference
// step, each one head (./snapshot?layer&head[&pool]: never a whole layer of a long probe), and the
// summary of each that a storage budget kept instead of the map (`sum`, `refSum`); and what to say
// for a snapshot of such a pair that has neither (a storage budget's).

import { hasMap } from '../../answers/storage.js';
import { hasSummary, meansSnapshot } from '../../answers/summaries.js';
import { kindInfo } from '../../state/selection.js';

const seriesOf = (w) => ({ run: w.run, probe: w.probe, kind: w.kind });

/** Whether `snap` keeps a summary of head (layer, head) of want `w` instead of its map. */
const summarizedIn = (snap, w) => !!snap && !hasMap(snap, w.layer, w.head) && hasSummary(snap.header, w.layer, w.head);

/** {snap, ref, sum, refSum} of want `w` when all are cached (ref, sums null where none), else null. */
export function cachedPair(data, w) {
  const at = (step) => data.cachedHeadSnapshot(seriesOf(w), step, w.layer, w.head, w.pool);
  const sumOf = (snap) =>
    summarizedIn(snap, w) ? data.cachedHeadSummary(seriesOf(w), snap.header.step, w.layer, w.head) : null;
  const snap = at(w.step);
  const ref = w.ref === null ? null : at(w.ref);
  if (!snap || (w.ref !== null && !ref)) return null;
  const [sum, refSum] = [sumOf(snap), ref && sumOf(ref)];
  if ((summarizedIn(snap, w) && !sum) || (summarizedIn(ref, w) && !refSum)) return null;
  return { snap, ref, sum, refSum: refSum ?? null };
}

/** Promise of {snap, ref, sum, refSum} of want `w`. */
export async function loadPair(data, w) {
  const load = (step) => data.headSnapshot(seriesOf(w), step, w.layer, w.head, w.pool);
  const [snap, ref] = await Promise.all([load(w.step), w.ref === null ? null : load(w.ref)]);
  const sumOf = (x) => (summarizedIn(x, w) ? data.headSummary(seriesOf(w), x.header.step, w.layer, w.head) : null);
  const [sum, refSum] = await Promise.all([sumOf(snap), sumOf(ref)]);
  return { snap, ref, sum, refSum };
}

/** Settle `slot` from the cache or start its request; -> Promise of whether it is still current. */
export function requestPair(data, slot, w) {
  if (slot.reuse(w)) return Promise.resolve(true);
  const cached = cachedPair(data, w);
  if (cached) {
    slot.settle(w, cached);
    return Promise.resolve(true);
  }
  return slot.request(w, () => loadPair(data, w));
}

/** The block means of a pair whose pairShows is 'summary', as a pair of pooled head answers. */
export const meansPair = ({ sum, refSum }) => ({
  snap: meansSnapshot(sum),
  ref: refSum ? meansSnapshot(refSum) : null,
});

/**
 * For each snapshot of `pair` with neither a map nor a summary of the selected head at its step:
 * {layer, head, step, kind, stats} for noMapNote.js; [] when each holds one.
 */
export function noMapOf(state, pair) {
  const s = state;
  const at = { layer: s.layer, head: s.head, kind: kindInfo(s), stats: s.stats };
  const bare = (x) => x && !hasMap(x, s.layer, s.head) && !hasSummary(x.header, s.layer, s.head);
  return [pair.snap, pair.ref].filter(bare).map((x) => ({ ...at, step: x.header.step }));
}
