// The head view's heads that a storage budget kept a summary of instead of a map (answers/
// summaries.js): loaded with the heads' answers (one summary request per head and step, in the data
// source's LRU), drawn from each row's top k keys (answers/summaryMatrix.js), and the note saying
// that only those are stored.

import { el } from '../../paint/dom.js';
import { hasMap } from '../../answers/storage.js';
import { hasSummary } from '../../answers/summaries.js';

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
