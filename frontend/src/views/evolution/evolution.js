// View 4: head evolution. The selected head's statistics as curves over steps, on the same
// step axis as the loss timeline, plus (headMaps.js) a filmstrip of its heatmap at several
// steps, a large map of the current step (zoomable, a long probe's too) with a readout, and a
// diff mode (step minus a reference step, diverging colours). With a compare run, B's curves of
// the head matched to the selected one (same statistics, dashed) over A's, and B's large map
// beside A's. The large map updates with the grid (updateMap); the rest after the grid's frame.

import uPlot from 'uplot';
import { el, clear, select, setOptions } from '../../paint/dom.js';
import { statSeries, headTypes, typeLabel, statLabel, statNames, curveStats, STATS } from '../../answers/model.js';
import { stepsOf } from '../../state/selection.js';
import { matchLabel } from '../../state/compare.js';
import { attachStepDrag, onWidth, stepChartOptions, stepChartFigure } from '../charts/stepChart.js';
import { legendCanvas } from '../common/legend.js';
import { HeadMaps } from './headMaps.js';
import { saveButtons } from '../common/saveButtons.js';

// what A's large map shows (stats: its no-map note's numbers)
const MAP_KEYS = ['step', 'layer', 'head', 'run', 'probe', 'kind', 'index', 'diffMode', 'diffRef', 'contrast'];

/** Inputs: `data` (DataSource), the actions `set`, `setStep`; updateMap(state, changed), update(state, changed). */
export class Evolution {
  constructor({ data, set, setStep }) {
    this.setStep = setStep;
    this.state = null;
    this.u = null;
    this.width = 800;
    const setWindow = (win) => set({ mapWindow: win });
    this.maps = new HeadMaps({ data, setStep, setWindow, onMatch: () => this.onMatch() });
    this.chartB = ''; // B's head in the chart ("layer,head"), '' when none
    this.compareLegend = el('div', { class: 'tba-compare-legend', 'data-testid': 'evolution-legend', hidden: true });
    this.chartEl = el('div', { class: 'tba-chart', 'data-testid': 'evolution-chart' });
    this.el = el(
      'section',
      { class: 'tba-card tba-evolution', 'data-testid': 'evolution' },
      this.buildHead(set),
      el('div', { class: 'tba-evo-body' }, this.compareLegend, this.chartEl, this.maps.el),
    );
    onWidth(this.chartEl, (w) => {
      this.width = w;
      this.maps.width = w;
      if (this.u) this.u.setSize({ width: w, height: 200 });
      if (this.state) this.maps.render(this.state);
    });
  }

  /** The card's header: title, head types, diff toggle and its reference step, B \u2212 A, legend. */
  buildHead(set) {
    this.compareDiffBtn = el(
      'button',
      {
        'aria-pressed': 'false',
        'data-testid': 'evo-compare-diff',
        title: 'Show the compare run minus the selected run in the large map',
        hidden: true,
        onclick: () => set((s) => ({ compareDiff: !s.compareDiff })),
      },
      'B \u2212 A',
    );
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
    return el(
      'div',
      { class: 'tba-card-head' },
      this.title,
      this.typesEl,
      el('span', { class: 'tba-spacer' }),
      this.diffBtn,
      el('label', { class: 'tba-field' }, 'vs', this.refSel),
      this.compareDiffBtn,
      this.legend,
      saveButtons(
        'evo-save',
        () => this.figure(),
        () => this.fileParts(),
      ),
    );
  }

  /** The chart as shown: the head's curves (B's dashed), cursor and snapshot steps (null: none yet). */
  figure() {
    const s = this.state;
    if (!this.u) return null;
    const title = `${s.run} \u00b7 ${s.probe} (${s.kind}) \u00b7 ${this.title.textContent} \u00b7 ${this.typesEl.textContent}`;
    return stepChartFigure(this.lastChart, s, title, this.width);
  }

  fileParts() {
    const s = this.state;
    return ['attention-evolution', s.run, s.probe, s.kind, `L${s.layer}H${s.head}`];
  }

  /** Load A's large map at `steps` (the grid's read-ahead) without showing it. */
  prefetch(steps) {
    this.maps.main.prefetch(steps);
  }

  /** A's large map, at once (one head: its request goes out with the grid's). */
  updateMap(state, changed) {
    if ([...MAP_KEYS, 'mapWindow', 'stats'].some((k) => changed.has(k))) this.maps.renderMain(state);
  }

  update(state, changed) {
    this.state = state;
    const headChanged = ['layer', 'head', 'run', 'probe', 'kind', 'index', 'compareRun', 'matchMode'].some((k) =>
      changed.has(k),
    );
    if (headChanged || changed.has('stats') || changed.has('compareStats')) this.renderChart();
    else if (changed.has('step') && this.u) this.u.redraw(false, false);
    this.compareDiffBtn.hidden = !state.compareRun;
    this.compareDiffBtn.setAttribute('aria-pressed', String(!!(state.compareRun && state.compareDiff)));
    if (['diffMode', 'contrast', 'diffRef', 'compareDiff'].some((k) => changed.has(k)) || headChanged) {
      this.diffBtn.setAttribute('aria-pressed', String(!!state.diffMode));
      clear(this.legend).append(
        state.diffMode ? '\u2212' : '0',
        legendCanvas(state.diffMode ? 'diverging' : 'sequential', state.contrast),
        state.diffMode ? '+' : '1',
      );
      if (state.compareRun && state.compareDiff)
        this.legend.append(
          el('span', { class: 'tba-sub' }, ' \u00b7 B \u2212 A: \u2212'),
          legendCanvas('diverging', state.contrast),
          '+',
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
    const mapKeys = [...MAP_KEYS, 'compareDiff', 'stats', 'compareStats']; // stats: no-map notes
    if (headChanged || mapKeys.some((k) => changed.has(k))) this.maps.render(state);
    else if (changed.has('mapWindow')) this.maps.b.renderBig(); // B shows A's window
  }

  /**
   * The curves of the head's statistics that the server sent (skipping those undefined here).
   * With `b` ({stats, layer, head}), the same statistics of B's head, dashed, on the joined steps.
   */
  chartSeries(stats, layer, head, b = null) {
    const xs = stats.header.steps.slice();
    const data = [xs];
    const series = [{ label: 'step' }];
    const bTable = b ? [b.stats.header.steps.slice()] : null;
    const bSeries = [];
    for (const name of curveStats(statNames(stats))) {
      const ys = statSeries(stats, name, layer, head);
      if (ys.every((v) => v === null)) continue; // undefined for this probe (e.g. induction)
      data.push(ys);
      const style = {
        stroke: STATS[name].color,
        width: STATS[name].width ?? 1.5,
        scale: 'y',
        spanGaps: true,
        points: { show: xs.length < 30, size: 4 },
        value: (u, v) => (v == null ? '–' : v.toFixed(3)),
      };
      series.push({ label: statLabel(name), ...style });
      const ysB = b && statNames(b.stats).includes(name) ? statSeries(b.stats, name, b.layer, b.head) : null;
      if (ysB && ysB.some((v) => v !== null)) {
        bTable.push(ysB);
        bSeries.push({ ...style, label: `${statLabel(name)} (B)`, dash: [5, 4], alpha: 0.75, points: { show: false } });
      }
    }
    if (!bSeries.length) return { data, series, bCurves: 0 };
    return { data: uPlot.join([data, bTable]), series: [...series, ...bSeries], bCurves: bSeries.length };
  }

  /** B's head in the chart: the same index, or the head matched at the cursor step (null: none yet). */
  chartHeadB() {
    const s = this.state;
    if (!s.compareRun || !s.compareStats) return null;
    const m = this.maps.match;
    if ((s.matchMode || 'index') === 'pattern') return m;
    const same = m && m.layer === s.layer && m.head === s.head; // its similarity, once the maps are known
    return { layer: s.layer, head: s.head, score: same ? m.score : NaN };
  }

  /** The large map's match changed (another step, head or mode): redraw B's curves if they change. */
  onMatch() {
    const m = this.chartHeadB();
    if ((m ? `${m.layer},${m.head}` : '') !== this.chartB) this.renderChart();
    else this.renderCompareLegend(m);
  }

  /** "── A: run L0H1   ╌╌ B: run L1H2 ≈ A L0H1 (0.93)" above the chart. */
  renderCompareLegend(m) {
    const s = this.state;
    this.compareLegend.hidden = !s.compareRun;
    if (!s.compareRun) return;
    const mode = s.matchMode || 'index';
    const bText = !s.compareStats
      ? 'loading statistics\u2026'
      : m
        ? matchLabel(mode, { layer: s.layer, head: s.head }, m)
        : `no match for A L${s.layer}H${s.head} at step ${s.step}`;
    clear(this.compareLegend).append(
      el('span', {}, `\u2500\u2500 A: ${s.run} L${s.layer}H${s.head}`),
      '   ',
      el('span', { 'data-testid': 'evolution-legend-b' }, `\u254c\u254c B: ${s.compareRun} \u00b7 ${bText}`),
    );
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
    const m = this.chartHeadB();
    this.chartB = m ? `${m.layer},${m.head}` : '';
    this.renderCompareLegend(m);
    const b = m ? { stats: s.compareStats, layer: m.layer, head: m.head } : null;
    const { data, series, bCurves } = this.chartSeries(stats, s.layer, s.head, b);
    this.chartEl.dataset.compareCurves = String(bCurves);
    this.lastChart = { data, series };
    this.u = new uPlot(this.chartOptions(series), data, this.chartEl);
    attachStepDrag(this.u, (v) => this.setStep(v, { snap: true }));
  }

  /** uPlot's options of the chart: the step cursor and markers, the shared x range, `series`. */
  chartOptions(series) {
    return stepChartOptions({
      width: this.width,
      height: 200,
      getState: () => this.state,
      cursor: { getCompareSteps: () => (this.state.compareRun ? stepsOf(this.state, this.state.compareRun) : []) },
      y: (u, min, max) => [0, Math.max(1, Number.isFinite(max) ? max : 1)],
      series,
    });
  }
}
