// The head view's heads that a storage budget kept a summary of instead of a map (answers/
// summaries.js): loaded with the heads' answers (one summary request per head and step, in the data
// source's LRU), drawn from each row's top k keys (answers/summaryMatrix.js), and the note saying
// that only those are stored. B's, once its heads are matched to A's (compareRun.SummaryLoads).

import { el } from '../../paint/dom.js';
import { hasMap } from '../../answers/storage.js';
import { hasSummary } from '../../answers/summaries.js';
import { mapOffset } from '../../answers/model.js';

/** The heads of `snaps` (one head answer each, of `layer`) kept as a summary: [snap]. */
const summarizedOf = (snaps, layer) =>
  snaps.filter((x) => !hasMap(x, layer, x.header.head) && hasSummary(x.header, layer, x.header.head));

/** The summaries of the summarized heads of `snaps` when all are cached ([] when none is needed), else null. */
export function cachedSummaries(data, sel, step, layer, snaps) {
  const sums = summarizedOf(snaps, layer).map((x) => data.cachedHeadSummary(sel, step, layer, x.header.head));
  return sums.every(Boolean) ? sums : null;
}

/** Promise of the summaries of the summarized heads of `snaps`. */
export function loadSummaries(data, sel, step, layer, snaps) {
  return Promise.all(summarizedOf(snaps, layer).map((x) => data.headSummary(sel, step, layer, x.header.head)));
}

/** The summary of head {layer, head} among `sums`, or undefined. */
export const summaryFor = (sums, { layer, head }) => sums.find((u) => u.layer === layer && u.head === head);

/** The note on the shown heads drawn from a summary: [sum] (empty: no note). */
export function summaryNote(sums) {
  return sums.map((u) =>
    el(
      'div',
      { class: 'tba-summary-note', 'data-layer': u.layer, 'data-head': u.head, 'data-step': u.step },
      el('b', {}, `L${u.layer} H${u.head}`),
      `: summary at step ${u.step}: lines from each row's top ${u.topK} keys only, with their weights as ` +
        'logged (the rest of the map is not stored, so rows are not renormalized).',
    ),
  );
}

/** The snapshot answer of `snaps` that holds head {layer, head}, or null. */
const snapOf = (snaps, x) => snaps.find((snap) => mapOffset(snap, x.layer, x.head) >= 0) ?? null;

/** Whether head {layer, head} of `snaps` has no map but a summary. */
function kept(snaps, x) {
  const snap = snapOf(snaps, x);
  return !!snap && !hasMap(snap, x.layer, x.head) && hasSummary(snap.header, x.layer, x.head);
}

/**
 * How the shown `heads` ([{layer, head, ...}]) of `snaps` are drawn with the loaded summaries `sums`:
 * {drawn: from a map or a summary, noMap: with neither (said with their statistics), summaries: those
 * drawn from}; a head whose summary is not loaded is in none of them.
 */
export function drawnHeads(snaps, heads, sums) {
  const stored = (x) => hasMap(snapOf(snaps, x), x.layer, x.head);
  const drawn = heads.filter((x) => stored(x) || !!summaryFor(sums, x));
  return {
    drawn,
    noMap: heads.filter((x) => !drawn.includes(x) && !kept(snaps, x)),
    summaries: drawn.filter((x) => !stored(x)).map((x) => summaryFor(sums, x)),
  };
}

/**
 * The compare run's summaries of those of its shown `heads` that `snap` (its snapshot answer) keeps
 * as one, through `loads` (compareRun.SummaryLoads): {sums ([] until they are loaded), status (what
 * to add to the status line)}.
 */
export function summariesOfB(loads, state, snap, heads) {
  const sel = { run: state.compareRun, probe: state.probe, kind: state.kind };
  const step = snap.header.step;
  const got = loads.of(heads.filter((x) => kept([snap], x)).map((x) => ({ sel, step, layer: x.layer, head: x.head })));
  const error = got.error && ` \u00b7 could not load summaries: ${got.error.message || got.error}`;
  return { sums: got.sums ?? [], status: got.loading ? ' \u00b7 loading summaries\u2026' : error || '' };
}
