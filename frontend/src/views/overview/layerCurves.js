// The model overview's per-layer curves: the mean over a layer's heads of drift, entropy or
// first-token ([CLS]/BOS) mass, or the largest attention logit of its heads, at every logged step,
// one curve per layer, on the loss's step axis.

import uPlot from 'uplot';
import { el, clear, select } from '../../paint/dom.js';

import { statIndex } from '../../answers/model.js';
import { layerValues } from '../../answers/overviewNumbers.js';
import { attachStepDrag, onWidth, stepChartOptions, stepChartFigure } from '../charts/stepChart.js';

export const LAYER_STATS = [
  ['drift', 'mean drift since the first snapshot'],
  ['entropy', 'mean entropy (normalized)'],
  ['first', 'mean first-token ([CLS]) mass'],
  ['max_logit', 'largest attention logit of its heads'],
];
const REDUCE = { max_logit: 'max' }; // over a layer's heads: the mean, or the largest

/** Layer l of n: from teal (bottom layers) to purple (top), so the order reads at a glance. */
export function layerColor(l, n) {
  const t = n > 1 ? l / (n - 1) : 0;
  return `hsl(${Math.round(175 + 110 * t)}, 65%, ${Math.round(42 - 8 * t)}%)`;
}

/** Inputs: the actions `set`, `setStep`; `render(state)` draws, `redraw(state)` moves the cursor. */
export class LayerCurves {
  constructor({ set, setStep }) {
    this.setStep = setStep;
    this.u = null;
    this.sig = '';
    this.width = 600;
    this.picker = select(LAYER_STATS, 'drift', (v) => set({ overviewStat: v }), {
      'data-testid': 'overview-stat',
      title: 'The statistic averaged over each layer',
    });
    this.chartEl = el('div', { class: 'tba-chart', 'data-testid': 'layer-chart' });
    this.el = el('div', { class: 'tba-layer-curves' }, this.chartEl);
    onWidth(this.chartEl, (w) => {
      this.width = w;
      if (this.u) this.u.setSize({ width: w, height: 180 });
    });
  }

  /** The chart as shown, titled, for the card's save buttons (null: none drawn). */
  figure(title) {
    return this.u ? stepChartFigure(this.lastChart, this.state, title, this.width, 0) : null;
  }

  redraw(state) {
    this.state = state;
    if (this.u) this.u.redraw(false, false);
  }

  render(state) {
    this.state = state;
    const stats = state.stats;
    const name = state.overviewStat || 'drift';
    this.picker.value = name;
    const sig = JSON.stringify([stats?.header?.steps, stats?.data?.length, name, state.run, state.probe, state.kind]);
    if (this.u && sig === this.sig && stats) return this.u.redraw(false, false);
    this.sig = sig;
    if (this.u) this.u.destroy();
    this.u = null;
    clear(this.chartEl);
    if (!stats) return this.chartEl.appendChild(el('div', { class: 'tba-message' }, 'loading statistics\u2026'));
    if (statIndex(stats, name) < 0)
      return this.chartEl.appendChild(el('div', { class: 'tba-message' }, `this probe has no ${name} statistic`));
    const means = layerValues(stats, name, REDUCE[name]);
    const series = [{ label: 'step' }];
    means.forEach((_, l) =>
      series.push({
        label: `layer ${l}`,
        stroke: layerColor(l, means.length),
        width: 1.75,
        spanGaps: true,
        points: { show: stats.header.steps.length < 30, size: 4 },
        value: (u, v) => (v == null ? '\u2013' : v.toFixed(3)),
      }),
    );
    this.chartEl.dataset.layers = String(means.length);
    this.chartEl.dataset.last = means.map((row) => row[row.length - 1]).join(','); // each layer's value at the last step
    this.lastChart = { data: [stats.header.steps.slice(), ...means], series };
    this.u = new uPlot(this.options(series), [stats.header.steps.slice(), ...means], this.chartEl);
    attachStepDrag(this.u, (v) => this.setStep(v, { snap: true }));
  }

  options(series) {
    return stepChartOptions({
      width: this.width,
      height: 180,
      getState: () => this.state,
      y: (u, min, max) => [0, Math.max(0.05, Number.isFinite(max) ? max * 1.05 : 1)],
      series,
    });
  }
}
