// What the evolution card's maps of one head load: for a want (run, probe, kind, step, layer, head,
// diff reference `ref`, block `pool`), that head at the step and, in diff mode, at the reference
// step, each one head (./snapshot?layer&head[&pool]: never a whole layer of a long probe); and what
// to say for a snapshot of such a pair that has no map of the head (a storage budget's).

import { missingMaps } from '../../answers/storage.js';
import { kindInfo } from '../../state/selection.js';

const seriesOf = (w) => ({ run: w.run, probe: w.probe, kind: w.kind });

/** {snap, ref} of want `w` when both are cached (ref null without a reference), else null. */
export function cachedPair(data, w) {
  const at = (step) => data.cachedHeadSnapshot(seriesOf(w), step, w.layer, w.head, w.pool);
  const snap = at(w.step);
  const ref = w.ref === null ? null : at(w.ref);
  return snap && (w.ref === null || ref) ? { snap, ref } : null;
}

/** Promise of {snap, ref} of want `w`. */
export function loadPair(data, w) {
  const load = (step) => data.headSnapshot(seriesOf(w), step, w.layer, w.head, w.pool);
  return Promise.all([load(w.step), w.ref === null ? null : load(w.ref)]).then(([snap, ref]) => ({ snap, ref }));
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

/**
 * For each snapshot of `pair` without a map of the selected head at its step: {layer, head, step,
 * kind, stats} for noMapNote.js; [] when both hold it.
 */
export function noMapOf(state, pair) {
  const s = state;
  const at = { layer: s.layer, head: s.head, kind: kindInfo(s), stats: s.stats };
  return missingMaps(pair, s.layer, s.head).map((h) => ({ ...at, step: h.step }));
}
