// The large map of a head that a storage budget kept a summary of instead of its map
// (answers/summaries.js): its block means as the overview (colours as a pooled overview's), and,
// zoomed in until a token covers 1.5 pixels (mapWindow.needsExact at the tokens' scale: a summary's
// blocks, at most 32 a side, always cover more), each query row's top-k weights painted exactly at
// their keys, the other cells hatched as "not stored" (never painted as 0). In
// diff mode the block means of both steps are subtracted (both are summaries: pairShows). The hover
// readout says which of the two it reads.

import { tokenLabel } from '../../paint/dom.js';
import { needsExact, isWhole } from '../../paint/mapWindow.js';
import { fillTopRegion, putPixels } from '../../paint/mapRegion.js';
import { lutsFor, packRGBA } from '../../paint/colorScale.js';
import { topByteAt, blockMeanAt } from '../../answers/summaries.js';
import { paintWindow } from './bigMap.js';
import { meansPair } from './headPairs.js';

/** A cell the summary does not hold: light grey crossed by a darker line, apart from white (0). */
const NOT_STORED = { blank: packRGBA(241, 243, 244), line: packRGBA(200, 204, 208) };

const tok = (list, i) => `${tokenLabel(list.tokens[i])} #${i}`;

/** Whether window `win` of `sum`'s head on `px` device pixels shows the top keys: zoomed in, a token 1.5 px. */
export function showsTopKeys(win, px, sum) {
  return !isWhole(win, sum.queryLen, sum.keyLen) && needsExact(win, px, 1);
}

/**
 * Paint `pair` (pairShows 'summary': {sum, refSum, ref}, the summaries of a head and, in a
 * difference, of the head it is compared with, perhaps another one) on `big` for geometry `g` ({dev,
 * win}) with the colours of `contrast`; -> what the hover reads ({...pair, zoomed}: whether the top
 * keys are painted).
 */
export function paintSummary(big, pair, g, contrast) {
  const { sum, refSum } = pair;
  const zoomed = !pair.ref && showsTopKeys(g.win, g.dev, sum);
  if (zoomed) {
    const { lut } = lutsFor(contrast);
    const fill = (out32) =>
      fillTopRegion(out32, g.dev, g.dev, sum.data, sum.topK, sum.queryLen, sum.keyLen, g.win, lut, NOT_STORED);
    putPixels(big.canvas, g.dev, fill);
  } else {
    const refHead = refSum ? [refSum.layer, refSum.head] : undefined;
    paintWindow(big.canvas, meansPair(pair), g.dev, contrast, g.win, sum.layer, sum.head, refHead);
  }
  return { ...pair, zoomed };
}

/** The caption's part that says what a summary's map shows (`ref`: the diff's reference step, or null). */
export function summaryCaption(sum, zoomed, ref) {
  const k = sum.topK;
  if (zoomed) return `summary: each row's top ${k} keys, exact; the other cells are not stored (hatched)`;
  const means = `summary: block means of ${sum.block}\u00d7${sum.block} tokens`;
  return ref === null ? `${means}; top ${k} keys per row exact when zoomed in` : `${means} (difference of the means)`;
}

/**
 * The hover text of token pair (qi, ki) of what paintSummary painted (`shown`), `query` and `key`
 * the token lists: the weight when ki is among row qi's top k, or the block's mean.
 */
export function summaryReadout({ sum, refSum, zoomed }, qi, ki, query, key) {
  const pairText = `${tok(query, qi)} \u2192 ${tok(key, ki)}`;
  const k = sum.topK;
  const m = blockMeanAt(sum, qi, ki);
  if (zoomed) {
    const b = topByteAt(sum, qi, ki);
    if (b >= 0) return `${pairText}: ${(b / 255).toFixed(3)} (among the row's top ${k})`;
    return `${pairText}: not among the row's top ${k}; block mean ${m.mean.toFixed(4)}`;
  }
  const block = `rows ${m.rows[0]}\u2013${m.rows[1]} \u00d7 columns ${m.columns[0]}\u2013${m.columns[1]}`;
  let text = `summary: block mean over ${block}: ${m.mean.toFixed(4)} (at ${pairText})`;
  if (refSum) {
    const d = m.mean - blockMeanAt(refSum, qi, ki).mean;
    text += ` (\u0394 ${d >= 0 ? '+' : ''}${d.toFixed(4)})`;
  }
  return text;
}
