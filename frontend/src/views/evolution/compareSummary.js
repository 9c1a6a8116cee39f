// B's large map (compareMaps.js) where a snapshot it shows lacks the head's map: the summaries a
// storage budget kept instead, painted as A's are (summaryMap.js: block means, the top keys zoomed
// in), in B − A the difference of the two summaries' block means, labelled so; a summary against a
// map, or a head with statistics only, said plainly in the canvas's place, never zeros as data.

import { clampWindow } from '../../paint/mapWindow.js';
import { hasSummary } from '../../answers/summaries.js';
import { clearCanvas } from './bigMap.js';
import { paintSummary, summaryCaption } from './summaryMap.js';
import { noMapLine, summaryMapLine, summaryFailedLine } from '../common/noMapNote.js';

const where = (x) => `run ${x.run} at step ${x.step}`;

/**
 * Show on `big` what B's head `m` (minus A's selected head in B − A) is where `noMap` (compareMaps
 * noMapOf: each snapshot of `pair` lacking its head's map, with its `header`) is not empty, for
 * geometry `g` ({px, dev}) and `state`; `loads` (compareRun.SummaryLoads) gives the summaries.
 * -> the caption's part that says what is shown.
 */
export function paintBSummary(big, { pair, m, noMap, g, state, loads }) {
  clearCanvas(big.canvas);
  const bare = noMap.filter((x) => !hasSummary(x.header, x.layer, x.head));
  if (bare.length) {
    big.showNoMap(bare.map(noMapLine));
    return 'no map stored';
  }
  if (pair.ref && noMap.length === 1) {
    const [x] = noMap;
    const other = x.header === pair.snap.header ? pair.ref.header : pair.snap.header;
    const what = `B L${m.layer} H${m.head} \u2212 A L${state.layer} H${state.head}`;
    big.showNoMap([summaryMapLine({ ...x, what, summaryWhere: where(x), mapWhere: where(other) })]);
    return 'no difference to show';
  }
  const sel = (x) => ({ run: x.run, probe: state.probe, kind: state.kind });
  const got = loads.of(noMap.map((x) => ({ sel: sel(x), step: x.step, layer: x.layer, head: x.head })));
  if (got.error) big.showNoMap([summaryFailedLine(noMap[0], got.error)]);
  if (!got.sums) return got.error ? 'could not load its summary' : 'loading its summary\u2026';
  const [sum, refSum = null] = got.sums; // B's, then A's (missingMaps's order)
  const win = clampWindow(state.mapWindow, sum.queryLen, sum.keyLen);
  big.shown = paintSummary(big, { sum, refSum, ref: pair.ref }, { dev: g.dev, win }, state.contrast);
  big.setView(g.px, { win, q: sum.queryLen, k: sum.keyLen });
  big.el.classList.add('summary');
  big.el.dataset.source = big.shown.zoomed ? 'summary-top' : 'summary-means';
  const both = refSum ? ': summaries of B and A, not full maps' : '';
  return summaryCaption(sum, big.shown.zoomed, pair.ref ? state.step : null) + both;
}
