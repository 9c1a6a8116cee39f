// What a view that paints one head's map says instead when a storage budget stored no map of the
// head at a step (answers/storage.js): why, and the head's statistics at that step. Never a map.
// And, in diff mode or B − A, why a summary and a map are not subtracted; a summary that failed to load.

import { el } from '../../paint/dom.js';
import { noMapText, headStatText } from '../../answers/storage.js';

/**
 * "L3 H5: no map stored at step 700 (storage budget: …)." and, under it, "its statistics at step
 * 700: previous-token · entropy (normalized) 0.42 · …" from `stats` (the ./stats answer, or null).
 * `kind`: the index's kind entry (its `storage`); `run` is named when given.
 */
export function noMapLine({ layer, head, step, kind, stats, run = null }) {
  const values = stats ? headStatText(stats, step, layer, head) : '';
  return el(
    'div',
    { class: 'tba-no-map-line', 'data-layer': layer, 'data-head': head, 'data-step': step },
    el('b', {}, `L${layer} H${head}`),
    `: ${noMapText(step, kind, run)}.`,
    values ? el('div', { class: 'tba-no-map-stats' }, `Its statistics at step ${step}: ${values}`) : null,
  );
}

/** noMapLine as one line of text (a filmstrip frame's tooltip). */
export function noMapTitle({ layer, head, step, kind, stats, run = null }) {
  const values = stats ? headStatText(stats, step, layer, head) : '';
  return `L${layer} H${head}: ${noMapText(step, kind, run)}${values ? `. Its statistics: ${values}` : ''}`;
}

/**
 * "L3 H5: no difference from step 400 to show: a storage budget kept a summary (block means and
 * each row's top keys) at one of the two steps and the full map at the other." (diff mode).
 */
export function summaryDiffLine({ layer, head, step, ref }) {
  return el(
    'div',
    { class: 'tba-no-map-line', 'data-layer': layer, 'data-head': head, 'data-step': step },
    el('b', {}, `L${layer} H${head}`),
    `: no difference of step ${step} from step ${ref} to show: a storage budget kept a summary (block means ` +
      "and each row's top keys) at one of the two steps and the full map at the other; differences of summaries " +
      'are shown only between two summaries.',
  );
}

/**
 * "B L3 H5 − A L3 H5: no difference to show: run b kept only a summary (block means and each row's
 * top keys) at step 700, run a the full map; differences are painted between two maps or two
 * summaries' block means." (B − A).
 */
export function summaryMapLine({ layer, head, step, what, summaryWhere, mapWhere }) {
  return el(
    'div',
    { class: 'tba-no-map-line', 'data-layer': layer, 'data-head': head, 'data-step': step },
    el('b', {}, what),
    `: no difference to show: ${summaryWhere} kept only a summary (block means and each row's top keys), ` +
      `${mapWhere} the full map; differences are painted between two maps or two summaries' block means.`,
  );
}

/** "L3 H5: its summary at step 700 could not be loaded: <reason>." */
export function summaryFailedLine({ layer, head, step }, error) {
  return el(
    'div',
    { class: 'tba-no-map-line', 'data-layer': layer, 'data-head': head, 'data-step': step },
    el('b', {}, `L${layer} H${head}`),
    `: its summary at step ${step} could not be loaded: ${String(error?.message || error)}.`,
  );
}
