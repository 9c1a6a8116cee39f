// The head view as a figure (figure.js) for its save buttons, pure: the two token columns as text
// and every drawn line as a vector path, one path per head and strength level, styled as the
// canvas draws them (levelStyle is shared with headLines.js).

import { headColor, rgbCss } from '../../paint/colorScale.js';
import { attentionLines } from '../../paint/layout.js';

// Line strengths drawn as this many strokes per head (one path each, not one stroke per line).
export const LEVELS = 8;

/** Level of a weight, and the opacity and width its lines are drawn with. */
export const levelOf = (v) => Math.min(LEVELS - 1, Math.floor(v * LEVELS));
export function levelStyle(i) {
  const v = (i + 0.5) / LEVELS;
  return { opacity: Math.min(1, 0.08 + v * 0.92), width: 1 + 2 * v };
}

const TOP = 40;

/** A column's tokens as text (second-segment tokens shaded over the column's `x0`..`x0 + w`). */
function tokenItems(list, x, anchor, { rowH, font }, [x0, w]) {
  const items = [];
  list.forEach((tok, i) => {
    const y = TOP + i * rowH;
    if (tok.seg1) items.push({ t: 'rect', x: x0, y, w, h: rowH, fill: '#fff4e0' });
    const fill = tok.special ? '#80868b' : '#202124';
    items.push({ t: 'text', x, y: y + rowH / 2, text: tok.text, size: font, fill, anchor });
  });
  return items;
}

/**
 * {width, height, items} of a head view: `left`/`right` the token columns ([{text, special, seg1}]),
 * `weights` ([{head, m}], headLines.headWeights), `density` (layout.tokenRows), column
 * width `colW` and line area width `lineW` (px), `title` and the columns' `heads` ([left, right]).
 */
export function headFigure({ title, heads, left, right, weights, density, colW, lineW }) {
  const { rowH, perRow } = density;
  const items = [{ t: 'text', x: 0, y: 10, text: title, size: 12, weight: 600 }];
  (weights || []).forEach(({ head }, i) =>
    items.push({ t: 'text', x: i * 36, y: 26, text: `H${head}`, size: 11, weight: 600, fill: rgbCss(headColor(head)) }),
  );
  items.push({ t: 'text', x: colW - 6, y: 26, text: heads[0], size: 10, fill: '#5f6368', anchor: 'end' });
  items.push({ t: 'text', x: colW + lineW + 6, y: 26, text: heads[1], size: 10, fill: '#5f6368' });
  for (const { head, m } of weights || []) {
    const segs = Array.from({ length: LEVELS }, () => []);
    for (const [r, c, v] of attentionLines(m, { minWeight: 0.02, perRow })) {
      const y = (i) => TOP + i * rowH + rowH / 2;
      segs[levelOf(v)].push([colW + 2, y(r), colW + lineW - 2, y(c)]);
    }
    const stroke = rgbCss(headColor(head));
    segs.forEach((s, i) => s.length && items.push({ t: 'path', segs: s, stroke, ...levelStyle(i) }));
  }
  items.push(...tokenItems(left, colW - 6, 'end', density, [2, colW - 4]));
  items.push(...tokenItems(right, colW + lineW + 6, 'start', density, [colW + lineW + 2, colW - 4]));
  const rows = Math.max(left.length, right.length);
  return { width: 2 * colW + lineW, height: TOP + rows * rowH + 4, items };
}
