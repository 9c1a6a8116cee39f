// View 4: head evolution. The selected head's statistics as curves over steps, on the same
// step axis as the loss timeline, plus (headMaps.js) a filmstrip of its heatmap at several
// steps, a large map of the current step with a readout, and a diff mode (step minus a
// reference step, diverging colours).

import uPlot from 'uplot';
import { el, clear, select, setOptions } from '../dom.js';
import { statSeries, headTypes, typeLabel, statLabel, statNames, curveStats, STATS } from '../model.js';
import { stepsOf } from '../selection.js';
import { AXIS_LEFT, AXIS_RIGHT, stepCursorPlugin, attachStepDrag, onWidth, STEP_AXIS, xRange } from './stepChart.js';
import { legendCanvas } from './legend.js';
import { HeadMaps } from './headMaps.js';

/** Inputs: `data` (DataSource), the actions `set`, `setStep`; update(state, changed). */
export class Evolution {
  constructor({ data, set, setStep }) {
    this.setStep = setStep;
    this.state = null;
    this.u = null;
    this.width = 800;
    this.maps = new HeadMaps({ data, setStep });
    this.title = el('span', { class: 'tba-card-title' }, 'Head evolution');
    this.typesEl = el('span', { class: 'tba-sub' });
    this.diffBtn = el(
      'button',
      {
        'aria-pressed': 'false',
        'data-testid': 'diff-toggle',
        title: 'Show attention(step) \u2212 attention(reference step)',
        onclick: () => set((s) => ({ diffMode: !s.diffMode })),
      },
      'diff',
    );
    this.refSel = select([], '', (v) => set({ diffRef: v === '' ? null : Number(v) }), {
      title: 'Reference step of the diff',
      'data-testid': 'diff-ref',
    });
    this.legend = el('span', { class: 'tba-legend' });
    this.chartEl = el('div', { class: 'tba-chart', 'data-testid': 'evolution-chart' });
    this.el = el(
      'section',
      { class: 'tba-card tba-evolution', 'data-testid': 'evolution' },
      el(
        'div',
        { class: 'tba-card-head' },
        this.title,
        this.typesEl,
        el('span', { class: 'tba-spacer' }),
        this.diffBtn,
        el('label', { class: 'tba-field' }, 'vs', this.refSel),
        this.legend,
      ),
      el('div', { class: 'tba-evo-body' }, this.chartEl, this.maps.el),
    );
    onWidth(this.chartEl, (w) => {
      this.width = w;
      this.maps.width = w;
      if (this.u) this.u.setSize({ width: w, height: 200 });
      if (this.state) this.maps.render(this.state);
    });
  }

  update(state, changed) {
    this.state = state;
    const headChanged = ['layer', 'head', 'run', 'probe', 'kind', 'index'].some((k) => changed.has(k));
    if (headChanged || changed.has('stats')) this.renderChart();
    else if (changed.has('step') && this.u) this.u.redraw(false, false);
    if (changed.has('diffMode') || changed.has('contrast') || changed.has('diffRef') || headChanged) {
      this.diffBtn.setAttribute('aria-pressed', String(!!state.diffMode));
      clear(this.legend).append(
        state.diffMode ? '\u2212' : '0',
        legendCanvas(state.diffMode ? 'diverging' : 'sequential', state.contrast),
        state.diffMode ? '+' : '1',
      );
    }
    if (headChanged || changed.has('diffRef')) {
      const steps = stepsOf(state);
      setOptions(
        this.refSel,
        [['', `first (${steps[0] ?? '–'})`], ...steps.map((s) => [String(s), `step ${s}`])],
        state.diffRef === null ? '' : String(state.diffRef),
      );
    }
    if (headChanged || ['step', 'diffMode', 'diffRef', 'contrast'].some((k) => changed.has(k))) {
      this.maps.render(state);
    }
  }

  /** The curves of the head's statistics that the server sent (skipping those undefined here). */
  chartSeries(stats, layer, head) {
    const xs = stats.header.steps.slice();
    const data = [xs];
    const series = [{ label: 'step' }];
    for (const name of curveStats(statNames(stats))) {
      const ys = statSeries(stats, name, layer, head);
      if (ys.every((v) => v === null)) continue; // undefined for this probe (e.g. induction)
      data.push(ys);
      series.push({
        label: statLabel(name),
        stroke: STATS[name].color,
        width: STATS[name].width ?? 1.5,
        scale: 'y',
        spanGaps: true,
        points: { show: xs.length < 30, size: 4 },
        value: (u, v) => (v == null ? '–' : v.toFixed(3)),
      });
    }
    return { data, series };
  }

  renderChart() {
    const s = this.state;
    const stats = s.stats;
    const types = stats ? headTypes(stats, s.layer, s.head) : [];
    this.title.textContent = `Head evolution \u00b7 layer ${s.layer}, head ${s.head}`;
    this.typesEl.textContent = types.length
      ? types.map((t) => `${typeLabel(t.type)} since step ${t.formed_step ?? '?'}`).join(' \u00b7 ')
      : 'no head type detected';
    if (this.u) {
      this.u.destroy();
      this.u = null;
    }
    clear(this.chartEl);
    if (!stats) {
      this.chartEl.appendChild(el('div', { class: 'tba-message' }, 'loading statistics\u2026'));
      return;
    }
    const { data, series } = this.chartSeries(stats, s.layer, s.head);
    this.u = new uPlot(
      {
        width: this.width,
        height: 200,
        plugins: [stepCursorPlugin({ getStep: () => this.state.step, getSnapshotSteps: () => stepsOf(this.state) })],
        scales: {
          x: { time: false, range: () => xRange(this.state) },
          y: { range: (u, min, max) => [0, Math.max(1, Number.isFinite(max) ? max : 1)] },
        },
        axes: [
          STEP_AXIS,
          { scale: 'y', size: AXIS_LEFT },
          { scale: 'y', side: 1, size: AXIS_RIGHT, grid: { show: false } },
        ],
        cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 5 } },
        legend: { live: true },
        series,
      },
      data,
      this.chartEl,
    );
    attachStepDrag(this.u, (v) => this.setStep(v, { snap: true }));
  }
}
