// View 1: the timeline. Loss curves (train/loss, eval/loss and any scalar the user adds)
// over steps, smoothed as TensorBoard's Scalars tab smooths them (the raw curve faint behind),
// snapshot steps as ticks, the shared step cursor, play/pause and stepping, and the events
// (eventMarks.js): where head types and relations formed, so a loss cliff and the heads that
// formed there line up.

import uPlot from 'uplot';
import { el, select, setOptions, clear } from '../../paint/dom.js';
import { timelineMarks } from '../../answers/marks.js';
import { stepsOf } from '../../state/selection.js';
import { timelineEvents } from '../../answers/events.js';
import { smoothed, smoothingWeight, SMOOTHING_MAX } from '../../answers/smoothing.js';
import { eventsPlugin, renderEventLegend } from './eventMarks.js';
import {
  AXIS_LEFT,
  AXIS_RIGHT,
  stepCursorPlugin,
  attachStepDrag,
  onWidth,
  STEP_AXIS,
  defaultTags,
  xRange,
  COMPARE_TICK_COLOR,
} from '../charts/stepChart.js';

const COLORS = ['#1a73e8', '#d93025', '#188038', '#9334e6', '#e37400', '#12b5cb', '#5f6368'];

/** Inputs: the actions `togglePlay`, `stepBy`, `setStep`, `set`; update(state, changed). */
export class Timeline {
  constructor({ togglePlay, stepBy, setStep, set }) {
    this.setStep = setStep;
    this.set = set;
    this.state = null;
    this.u = null;
    this.sig = '';
    this.width = 800;
    this.playBtn = el(
      'button',
      { title: 'Play / pause (space)', 'aria-pressed': 'false', onclick: () => togglePlay() },
      '\u25b6 Play',
    );
    this.prevBtn = el('button', { title: 'Previous snapshot (\u2190)', onclick: () => stepBy(-1) }, '\u2190');
    this.nextBtn = el('button', { title: 'Next snapshot (\u2192)', onclick: () => stepBy(1) }, '\u2192');
    this.stepLabel = el('span', { class: 'tba-step-label' });
    const addTag = (v) => v && set((s) => ({ extraTags: [...s.extraTags, v] }));
    this.addTag = select([], '', addTag, { title: 'Add a scalar of this run to the chart' });
    this.chips = el('span', { class: 'tba-timeline-controls' });
    this.note = el('span', { class: 'tba-sub' });
    this.ticksKey = el('span', { class: 'tba-sub', 'data-testid': 'ticks-key', hidden: true });
    this.chartEl = el('div', { class: 'tba-chart', 'data-testid': 'timeline-chart' });
    this.el = el(
      'section',
      { class: 'tba-card tba-timeline', 'data-testid': 'timeline' },
      el(
        'div',
        { class: 'tba-card-head tba-timeline-controls' },
        this.playBtn,
        this.prevBtn,
        this.nextBtn,
        this.stepLabel,
        el('span', { class: 'tba-spacer' }),
        this.smoothingControl(set),
        this.chips,
        this.addTag,
        this.note,
        this.ticksKey,
      ),
      ...this.eventParts(),
    );
    onWidth(this.chartEl, (w) => {
      this.width = w;
      if (this.u) this.u.setSize({ width: w, height: this.height() });
    });
  }

  /** TensorBoard's smoothing slider (0 to 0.999) and its value. */
  smoothingControl(set) {
    this.smoothingInput = el('input', {
      type: 'range',
      min: '0',
      max: String(SMOOTHING_MAX),
      step: '0.001',
      title: "Smoothing of the curves, as in TensorBoard's Scalars tab (exponential moving average)",
      'aria-label': 'Smoothing',
      'data-testid': 'smoothing',
      oninput: (e) => set({ smoothing: smoothingWeight(e.target.value) }),
    });
    this.smoothingValue = el('span', { class: 'tba-sub', 'data-testid': 'smoothing-value' });
    return el('label', { class: 'tba-sub' }, 'smoothing ', this.smoothingInput, ' ', this.smoothingValue);
  }

  /** The chart with the events' tooltip over it, and the events' legend under it. */
  eventParts() {
    this.events = [];
    this.eventTip = el('div', { class: 'tba-event-tip', 'data-testid': 'event-tip', hidden: true });
    this.eventsEl = el('div', { class: 'tba-events', 'data-testid': 'timeline-events', hidden: true });
    return [el('div', { class: 'tba-chart-wrap' }, this.chartEl, this.eventTip), this.eventsEl];
  }

  height() {
    return this.width < 600 ? 150 : 180;
  }

  /** Series shown: the default loss tags plus what the user added. */
  shownTags() {
    const tags = this.state.scalars?.tags || {};
    const base = defaultTags(tags);
    const extra = (this.state.extraTags || []).filter((t) => tags[t] && !base.includes(t));
    return { base, extra, all: Object.keys(tags).sort() };
  }

  update(state, changed) {
    this.state = state;
    if (changed.has('playing')) {
      this.playBtn.textContent = state.playing ? '\u23f8 Pause' : '\u25b6 Play';
      this.playBtn.setAttribute('aria-pressed', String(!!state.playing));
    }
    if (
      changed.has('step') ||
      changed.has('kind') ||
      changed.has('index') ||
      changed.has('run') ||
      changed.has('probe')
    ) {
      const steps = stepsOf(state);
      const i = steps.indexOf(state.step);
      clear(this.stepLabel).append(
        'step ',
        el('b', { 'data-testid': 'step-value' }, state.step ?? '–'),
        el('span', { class: 'tba-sub' }, steps.length ? `  snapshot ${i + 1}/${steps.length}` : '  no snapshots'),
      );
    }
    const eventsChanged = ['stats', 'relations', 'run', 'probe', 'kind'].some((k) => changed.has(k));
    if (eventsChanged) this.renderEvents();
    if (changed.has('smoothing')) {
      this.smoothingInput.value = String(state.smoothing);
      this.smoothingValue.textContent = state.smoothing.toFixed(3).replace(/\.?0+$/, '') || '0';
    }
    if (['scalars', 'extraTags', 'index', 'run', 'probe', 'kind', 'smoothing'].some((k) => changed.has(k)))
      this.rebuild();
    else if (eventsChanged && this.u) this.u.redraw(false, false);
    else if (changed.has('compareRun') && this.u) this.u.redraw(false, false);
    if (['compareRun', 'run', 'index'].some((k) => changed.has(k))) {
      // which snapshot ticks are whose: A's filled orange diamonds, B's hollow teal ones above
      this.ticksKey.hidden = !state.compareRun;
      clear(this.ticksKey).append(
        el('span', { style: { color: '#e8710a' } }, '\u25c6'),
        ` ${state.run} snapshots  `,
        el('span', { style: { color: COMPARE_TICK_COLOR } }, '\u25c7'),
        ` ${state.compareRun} snapshots`,
      );
    } else if (changed.has('step') && this.u) this.u.redraw(false, false);
  }

  /** The formation events of the shown probe's head types and of the run's relations. */
  renderEvents() {
    const s = this.state;
    const stats = s.stats;
    const first = stats?.header?.steps?.[0] ?? null;
    const relations = s.relations?.header ? s.relations : null;
    this.events = timelineEvents(stats, relations, first);
    const types = (stats?.header?.head_types || []).filter((t) => t.formed_step === first).length;
    const rels = (relations?.header?.relations || []).filter((r) => r.formed_step === first).length;
    const parts = [
      types && `${types} head type${types > 1 ? 's' : ''}`,
      rels && `${rels} relation${rels > 1 ? 's' : ''}`,
    ];
    const held = stats?.header?.formed_snapshots;
    const rule = held && this.events.length ? ` (formed: held at every snapshot from there on, ${held} at least)` : '';
    const note = (types || rels ? `${parts.filter(Boolean).join(' and ')} held from the first snapshot on` : '') + rule;
    renderEventLegend(this.eventsEl, this.events, note);
  }

  rebuild() {
    const { base, extra, all } = this.shownTags();
    const s = this.state;
    const tags = s.scalars?.tags || {};
    this.renderTagPickers(base, extra, all);
    const shown = [...base, ...extra];
    this.note.textContent = s.scalars && shown.length === 0 ? 'no scalars logged for this run' : '';
    // each curve twice: as logged (drawn faint) and smoothed over its own points
    const tables = shown.flatMap((t) => [
      [tags[t].steps, tags[t].values],
      [tags[t].steps, smoothed(tags[t].values, s.smoothing)],
    ]);
    const snap = stepsOf(s);
    const data = tables.length ? uPlot.join(tables) : [snap.length ? snap.slice() : [0, 1]];
    const sig = JSON.stringify(shown);
    if (this.u && this.sig === sig) {
      this.u.setData(data);
      return;
    }
    if (this.u) this.u.destroy();
    clear(this.chartEl);
    this.sig = sig;
    this.u = new uPlot(this.chartOptions(tags, base, extra), data, this.chartEl);
    attachStepDrag(this.u, (v) => this.setStep(v, { snap: true }));
  }

  /** The "+ scalar" picker (scalars not shown yet) and a removable chip per added scalar. */
  renderTagPickers(base, extra, all) {
    setOptions(
      this.addTag,
      [['', '+ scalar\u2026'], ...all.filter((t) => !base.includes(t) && !extra.includes(t)).map((t) => [t, t])],
      '',
    );
    this.addTag.style.display = all.length > base.length + extra.length ? '' : 'none';
    clear(this.chips);
    for (const t of extra) {
      const remove = () => this.set((st) => ({ extraTags: st.extraTags.filter((x) => x !== t) }));
      const button = el('button', { title: `Remove ${t}`, 'aria-label': `Remove ${t}`, onclick: remove }, '\u00d7');
      this.chips.appendChild(el('span', { class: 'tba-chip' }, t, button));
    }
  }

  /** uPlot options: the default tags on the left axis, the added ones on the right; each tag as
   * logged (faint, "raw" in the legend) and smoothed. */
  chartOptions(tags, base, extra) {
    const series = curveSeries(tags, base, extra);
    const right = { scale: 'y2', side: 1, size: AXIS_RIGHT, grid: { show: false } };
    return {
      width: this.width,
      height: this.height(),
      plugins: [
        stepCursorPlugin({
          getStep: () => this.state.step,
          getSnapshotSteps: () => stepsOf(this.state),
          getCompareSteps: () => (this.state.compareRun ? stepsOf(this.state, this.state.compareRun) : []),
          getMarks: () => timelineMarks(this.state.scalars),
        }),
        eventsPlugin(() => this.events, this.eventTip),
      ],
      scales: {
        x: { time: false, range: () => xRange(this.state) },
        y: { auto: true },
        y2: extra.length ? { auto: true } : { range: [0, 1] },
      },
      axes: [
        STEP_AXIS,
        { scale: 'y', size: AXIS_LEFT, label: base.length ? undefined : '' },
        extra.length ? right : { ...right, ticks: { show: false }, values: () => [] },
      ],
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      legend: { live: true },
      series,
    };
  }
}

/** uPlot series: the step, then each tag as logged (faint, "raw" in the legend) and smoothed. */
function curveSeries(tags, base, extra) {
  const series = [{ label: 'step', value: (u, v) => (v == null ? '–' : String(v)) }];
  const value = (u, v) => (v == null ? '–' : Number(v).toPrecision(4));
  [...base, ...extra].forEach((t, i) => {
    const color = COLORS[i % COLORS.length];
    const scale = extra.includes(t) ? 'y2' : 'y';
    const points = { show: tags[t].steps.length < 40, size: 5 };
    series.push({
      label: `${t} raw`,
      scale,
      stroke: `${color}55`,
      width: 1,
      points: { show: false },
      spanGaps: true,
      value,
    });
    series.push({
      label: t,
      scale,
      stroke: color,
      width: t.startsWith('eval') ? 2 : 1.5,
      points,
      spanGaps: true,
      value,
    });
  });
  return series;
}
