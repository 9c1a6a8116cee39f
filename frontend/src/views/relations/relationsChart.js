// The relations card's chart: the ranked heads' scores (mass or accuracy) over steps and the
// probing classifier's held-out accuracy (dashed), on the same step axis as the loss, with the
// step cursor and the relation's "formed at step N" as a marked step.

import uPlot from 'uplot';
import { el, clear } from '../../paint/dom.js';

import { relationCurve, classifierCurve, relationList, MASS, ACCURACY } from '../../answers/relationData.js';
import { attachStepDrag, onWidth, stepChartOptions, stepChartFigure } from '../charts/stepChart.js';

const COLORS = ['#1a73e8', '#d93025', '#188038', '#9334e6', '#e37400', '#12b5cb', '#5f6368'];
export const CLASSIFIER_COLOR = '#202124';

/** Inputs: the action `setStep`; `render(state, rel, r, heads, by)` draws, `redraw()` moves the cursor. */
export class RelationsChart {
  constructor({ setStep }) {
    this.setStep = setStep;
    this.u = null;
    this.state = null;
    this.sig = '';
    this.width = 600;
    this.el = el('div', { class: 'tba-chart', 'data-testid': 'relation-chart' });
    onWidth(this.el, (w) => {
      this.width = w;
      if (this.u) this.u.setSize({ width: w, height: 200 });
    });
  }

  /** The chart as shown, titled, for the card's save buttons (null: none drawn). */
  figure(title) {
    return this.u ? stepChartFigure(this.lastChart, this.state, title, this.width) : null;
  }

  redraw(state) {
    this.state = state;
    if (this.u) this.u.redraw(false, false);
  }

  /** Curves of `heads` ([{layer, head}]) by measure `by`, plus the classifier; rebuilt when they change. */
  render(state, rel, r, heads, by) {
    this.state = state;
    const sig = JSON.stringify([rel?.data?.length, rel?.header?.steps, r, heads, by]);
    if (this.u && sig === this.sig) return this.u.redraw(false, false);
    this.sig = sig;
    if (this.u) this.u.destroy();
    this.u = null;
    clear(this.el);
    if (!rel || r < 0) return;
    const measure = by === 'accuracy' ? ACCURACY : MASS;
    const data = [rel.header.steps.slice()];
    const series = [{ label: 'step' }];
    heads.forEach((h, i) => {
      data.push(relationCurve(rel, r, measure, h.layer, h.head));
      series.push(curve(`L${h.layer}H${h.head} ${by}`, COLORS[i % COLORS.length], h.selected ? 2.5 : 1.5));
    });
    const classifier = classifierCurve(rel, r);
    if (classifier.some((v) => v !== null)) {
      data.push(classifier);
      series.push({ ...curve('classifier (held-out)', CLASSIFIER_COLOR, 2), dash: [6, 4] });
    }
    this.el.dataset.curves = String(series.length - 1);
    this.lastChart = { data, series };
    this.u = new uPlot(this.options(series, relationList(rel)[r]), data, this.el);
    attachStepDrag(this.u, (v) => this.setStep(v, { snap: true }));
  }

  options(series, entry) {
    const formed = entry && Number.isFinite(entry.formed_step);
    return stepChartOptions({
      width: this.width,
      height: 200,
      getState: () => this.state,
      cursor: { getMarks: () => (formed ? [{ step: entry.formed_step, label: `${entry.relation} formed` }] : []) },
      y: [0, 1],
      series,
    });
  }
}

function curve(label, stroke, width) {
  return {
    label,
    stroke,
    width,
    spanGaps: true,
    points: { show: false },
    value: (u, v) => (v == null ? '\u2013' : v.toFixed(3)),
  };
}
