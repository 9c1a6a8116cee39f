// The neuron view's chart over training: the selected head's first-token and [SEP] mass by attention
// weight (solid) and by contribution (dashed: weight x ||W_O v||, Kobayashi et al. 2020), on the loss
// timeline's step axis, from ./contributions. Where the two part, the head looks at a token that
// passes on little (the [SEP] finding).

import uPlot from 'uplot';
import { el } from '../../paint/dom.js';
import { kindInfo, seriesOf } from '../../state/selection.js';
import { contributionSeries, largestGap } from '../../answers/contributions.js';
import { onWidth, stepChartOptions } from '../charts/stepChart.js';

const HEIGHT = 150;
const KEYS = ['index', 'run', 'probe', 'kind', 'layer', 'head', 'step'];
const value = (u, v) => (v == null ? '\u2013' : v.toFixed(3));

function chartSeries(s) {
  const line = (label, stroke, dash) => ({ label, stroke, width: 2, dash, spanGaps: false, value });
  return {
    data: [s.steps, s.firstWeight, s.firstContribution, s.sepWeight, s.sepContribution],
    series: [
      { label: 'step' },
      line('first token, weight', '#1a73e8'),
      line('first token, contribution', '#1a73e8', [5, 4]),
      line('[SEP], weight', '#e37400'),
      line('[SEP], contribution', '#e37400', [5, 4]),
    ],
  };
}

/** Inputs: `data` (DataSource); update(state, changed). */
export class ContributionChart {
  constructor({ data }) {
    this.data = data;
    this.state = null;
    this.u = null;
    this.width = 700;
    this.token = 0;
    this.note = el('div', { class: 'tba-sub', 'data-testid': 'nv-contrib-note' });
    this.plot = el('div', { class: 'tba-chart tba-nv-contrib-plot' });
    this.el = el('div', { class: 'tba-nv-contrib', 'data-testid': 'nv-contrib', hidden: true }, this.note, this.plot);
    onWidth(this.plot, (w) => {
      this.width = w;
      if (this.u) this.u.setSize({ width: w, height: HEIGHT });
    });
  }

  update(state, changed) {
    this.state = state;
    if (KEYS.some((k) => changed.has(k))) this.load();
  }

  async load() {
    const s = this.state;
    const k = kindInfo(s);
    const token = ++this.token;
    if (!k?.neuron_steps?.length) return this.show(null);
    try {
      const answer = await this.data.contributions(seriesOf(s), k.neuron_steps);
      if (token === this.token) this.show(contributionSeries(answer, s.layer, s.head));
    } catch (e) {
      if (token === this.token) this.show(null, `weight against contribution: ${e.message}`);
    }
  }

  show(series, error) {
    this.el.hidden = !series && !error;
    this.el.dataset.state = error ? 'error' : series ? 'data' : 'none';
    if (!series) {
      this.note.textContent = error || '';
      return this.destroy();
    }
    this.note.textContent = noteText(series);
    this.draw(series);
  }

  draw(series) {
    const { data, series: lines } = chartSeries(series);
    this.lastChart = { data };
    if (this.u) {
      this.u.setData(data);
      return;
    }
    const getState = () => this.state;
    const options = stepChartOptions({ width: this.width, height: HEIGHT, getState, y: () => [0, 1], series: lines });
    this.u = new uPlot(options, data, this.plot);
  }

  destroy() {
    if (this.u) this.u.destroy();
    this.u = null;
    this.lastChart = null;
  }
}

function noteText(series) {
  if (!series.hasContribution)
    return 'first-token and [SEP] mass of this head over training, by attention weight (no value norms were logged: its output projection was not a plain linear map)';
  const gap = largestGap(series);
  const where = gap
    ? `; they part most at step ${gap.step}: ${gap.what} ${gap.weight.toFixed(2)} by weight, ${gap.contribution.toFixed(2)} by contribution`
    : '';
  return `first-token and [SEP] mass of this head over training: by attention weight (solid) and by contribution, weight \u00d7 \u2016W_O v\u2016 (dashed)${where}`;
}
