// The compare run B's data at the cursor step, shared by B's head view and B's large map: B's full
// snapshot (a matched head may sit in any layer) with A's at the same step to match against (the
// two the grid panels load), as one want {run: B, ref: step, vs: A} (shown.js).

import { want } from '../../state/shown.js';
import { stepsOf } from '../../state/selection.js';
import { missingStepText } from '../../state/compare.js';

/** Why B shows nothing at the cursor step (null: it has a snapshot there, or there is no B). */
export function missingB(s) {
  return s.compareRun ? missingStepText(s.compareRun, stepsOf(s, s.compareRun), s.step) : null;
}

/** B's snapshot and A's at the cursor step (null when there is no compare run or B lacks the step). */
export function wantB(s) {
  if (!s.compareRun || missingB(s)) return null;
  return want({ run: s.compareRun, probe: s.probe, kind: s.kind, step: s.step, ref: s.step, vs: s.run });
}

/** {snap, ref} of `w` (wantB) from the cache, or null. */
export function cachedB(data, w) {
  const sel = { run: w.run, probe: w.probe, kind: w.kind };
  const snap = data.cachedSnapshot(sel, w.step);
  const ref = data.cachedSnapshot({ ...sel, run: w.vs }, w.ref);
  return snap && ref ? { snap, ref } : null;
}

/** Promise of {snap, ref} of `w` (wantB). */
export function loadB(data, w) {
  const sel = { run: w.run, probe: w.probe, kind: w.kind };
  return Promise.all([data.snapshot(sel, w.step), data.snapshot({ ...sel, run: w.vs }, w.ref)]).then(([snap, ref]) => ({
    snap,
    ref,
  }));
}
