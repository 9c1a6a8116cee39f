// The compare run B's data at the cursor step, shared by B's head view and B's large map: B's full
// snapshot (a matched head may sit in any layer) with A's at the same step to match against (the
// two the grid panels load), as one want {run: B, ref: step, vs: A} (shown.js), with the block means
// of the heads each keeps a summary of (what matching a summary needs); and the summaries of the
// heads such a view then shows.

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

/**
 * {snap, ref, means, refMeans} of `w` (wantB) from the cache, or null: B's snapshot and A's, and the
 * block means of the heads each keeps a summary of (null where it lists none: dataSource.summaryMeans).
 */
export function cachedB(data, w) {
  const sel = { run: w.run, probe: w.probe, kind: w.kind };
  const refSel = { ...sel, run: w.vs };
  const snap = data.cachedSnapshot(sel, w.step);
  const ref = data.cachedSnapshot(refSel, w.ref);
  if (!snap || !ref) return null;
  const [means, refMeans] = [data.cachedSummaryMeans(sel, snap), data.cachedSummaryMeans(refSel, ref)];
  return means === undefined || refMeans === undefined ? null : { snap, ref, means, refMeans };
}

/** Promise of {snap, ref, means, refMeans} of `w` (wantB). */
export async function loadB(data, w) {
  const sel = { run: w.run, probe: w.probe, kind: w.kind };
  const refSel = { ...sel, run: w.vs };
  const [snap, ref] = await Promise.all([data.snapshot(sel, w.step), data.snapshot(refSel, w.ref)]);
  const [means, refMeans] = await Promise.all([data.summaryMeans(sel, snap), data.summaryMeans(refSel, ref)]);
  return { snap, ref, means, refMeans };
}

/**
 * The summaries (./snapshot?layer&head&part=summary, one request a head) that a compare view needs
 * once it knows which heads it shows (B's heads matched to A's are known only from the loaded
 * snapshots): `of(heads)` -> {sums} when all are cached, {loading: true} while they load (`onLoaded()`
 * once they have), {error} when their load failed (kept while the same heads are asked for: not retried
 * in a loop).
 */
export class SummaryLoads {
  constructor(data, onLoaded) {
    Object.assign(this, { data, onLoaded });
    this.loading = null; // the key of the heads in flight
    this.failed = null; // {key, error} of the last heads that failed
  }

  /** `heads`: [{sel, step, layer, head}]. */
  of(heads) {
    const sums = heads.map((x) => this.data.cachedHeadSummary(x.sel, x.step, x.layer, x.head));
    if (sums.every(Boolean)) return { sums };
    const key = JSON.stringify(heads);
    if (this.failed && this.failed.key !== key) this.failed = null; // asked again later: tried again
    if (this.failed) return { error: this.failed.error };
    if (this.loading !== key) {
      this.loading = key;
      const done = () => {
        if (this.loading === key) this.loading = null;
        this.onLoaded();
      };
      Promise.all(heads.map((x) => this.data.headSummary(x.sel, x.step, x.layer, x.head))).then(done, (error) => {
        this.failed = { key, error };
        done();
      });
    }
    return { loading: true };
  }
}
