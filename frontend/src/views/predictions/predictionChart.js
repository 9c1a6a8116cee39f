// The Predictions card's chart, pure: uPlot data and series for one position (the chosen token's
// probability and the top-1's over steps) or a classifier's labels, and the options that put it on
// the loss timeline's step axis (stepChart.js: x range, axes widths, cursor, snapshot ticks).

import { headColor, rgbCss } from '../../paint/colorScale.js';
import { tokenLabel } from '../../paint/dom.js';
import { labelSeries, tokenProbs, top1Series } from '../../answers/predictions.js';
import { stepChartOptions } from '../charts/stepChart.js';

export const CHART_HEIGHT = 170;

const value = (u, v) => (v == null ? '\u2013' : v.toFixed(3));

/** {data, series} of `token`'s probability at `position` (and the top-1's, grey) over the answer's steps. */
export function tokenChart(answer, position, token, name) {
  const xs = answer.steps.slice();
  const top1 = top1Series(answer, position).probs;
  const chosen = tokenProbs(answer, position, token);
  const pts = { show: xs.length < 40, size: 5 };
  return {
    data: [xs, chosen, top1],
    series: [
      { label: 'step' },
      { label: `p(${name})`, stroke: '#1a73e8', width: 2, spanGaps: false, points: pts, value },
      {
        label: 'p(top-1)',
        stroke: '#9aa0a6',
        width: 1.25,
        dash: [4, 3],
        spanGaps: false,
        points: { show: false },
        value,
      },
    ],
  };
}

/** {data, series} of each label's probability over steps (a sequence classifier). */
export function labelChart(answer) {
  const { labels, probs } = labelSeries(answer);
  const pts = { show: answer.steps.length < 40, size: 5 };
  return {
    data: [answer.steps.slice(), ...probs],
    series: [
      { label: 'step' },
      ...labels.map((label, i) => ({
        label: tokenLabel(label),
        stroke: rgbCss(headColor(i)),
        width: 2,
        spanGaps: false,
        points: pts,
        value,
      })),
    ],
  };
}

/**
 * uPlot's options: the shared step axis, cursor and snapshot ticks of `getState()`, y in [0, 1];
 * `onDraw(u)` after every draw (the strip is placed from the drawn scale).
 */
export function chartOptions(series, width, getState, onDraw) {
  const plugins = [{ hooks: { draw: (u) => onDraw(u) } }];
  return stepChartOptions({ width, height: CHART_HEIGHT, getState, y: () => [0, 1], series, plugins });
}
