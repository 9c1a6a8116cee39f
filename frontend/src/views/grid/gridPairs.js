// What a grid panel loads for its want (shown.js: run, probe, kind, step, block `pool`, and the
// reference `ref` of run `vs` to subtract): the two snapshots (pooled at the cells' size) and, for
// each that lists heads kept as a summary, the block means of all of them in one answer
// (./snapshot?part=summary_means), never one request per head.

const seriesOf = (w, run) => ({ run, probe: w.probe, kind: w.kind });

/**
 * {snap, ref, means, refMeans} of want `w` when all are cached (ref null without a reference; means
 * null where a snapshot lists no summary), else null.
 */
export function cachedGridPair(data, w) {
  const [sel, refSel] = [seriesOf(w, w.run), seriesOf(w, w.vs ?? w.run)];
  const snap = data.cachedSnapshot(sel, w.step, w.pool);
  const ref = w.ref === null ? null : data.cachedSnapshot(refSel, w.ref, w.pool);
  if (!snap || (w.ref !== null && !ref)) return null;
  const means = data.cachedSummaryMeans(sel, snap);
  const refMeans = ref && data.cachedSummaryMeans(refSel, ref);
  return means === undefined || refMeans === undefined ? null : { snap, ref, means, refMeans };
}

/** Promise of {snap, ref, means, refMeans} of want `w`. */
export async function loadGridPair(data, w) {
  const [sel, refSel] = [seriesOf(w, w.run), seriesOf(w, w.vs ?? w.run)];
  const [snap, ref] = await Promise.all([
    data.snapshot(sel, w.step, w.pool),
    w.ref === null ? null : data.snapshot(refSel, w.ref, w.pool),
  ]);
  const [means, refMeans] = await Promise.all([data.summaryMeans(sel, snap), ref && data.summaryMeans(refSel, ref)]);
  return { snap, ref, means, refMeans };
}
