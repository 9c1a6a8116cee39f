// View 4: head evolution. The selected head's statistics as curves over steps, on the same
// step axis as the loss timeline, plus a filmstrip of its heatmap at several steps, a large
// map of the current step with a readout, and a diff mode (step minus a reference step,
// diverging colours).

import uPlot from 'uplot';
import { el, clear, select, setOptions, tokenLabel } from '../dom.js';
import { paintHeatmap } from '../heatmap.js';
import { evenlySpaced } from '../stepNav.js';
import { filmstripCount } from '../layout.js';
import { mapOffset, statSeries, headTypes, typeLabel, kindTokens, STAT_LABELS } from '../model.js';
import {
  AXIS_LEFT,
  AXIS_RIGHT,
  stepCursorPlugin,
  attachStepDrag,
  onWidth,
  STEP_AXIS,
  formatStep,
} from './stepChart.js';
import { legendCanvas } from './legend.js';
import { want, failureText, SnapshotSlot } from '../shown.js';

const CURVES = [
  ['entropy', '#5f6368', 'y'],
  ['first', '#1a73e8', 'y'],
  ['sep', '#12b5cb', 'y'],
  ['prev', '#d93025', 'y'],
  ['next', '#9334e6', 'y'],
  ['self', '#d01884', 'y'],
  ['drift', '#e8710a', 'y'],
  ['induction', '#188038', 'y'],
];

export class Evolution {
  constructor(app) {
    this.app = app;
    this.u = null;
    this.width = 800;
    this.bigSlot = new SnapshotSlot();
    this.bigWant = null;
    this.frameEls = [];
    this.title = el('span', { class: 'tba-card-title' }, 'Head evolution');
    this.typesEl = el('span', { class: 'tba-sub' });
    this.diffBtn = el(
      'button',
      {
        'aria-pressed': 'false',
        'data-testid': 'diff-toggle',
        title: 'Show attention(step) \u2212 attention(reference step)',
        onclick: () => app.set({ diffMode: !app.state.diffMode }),
      },
      'diff',
    );
    this.refSel = select([], '', (v) => app.set({ diffRef: v === '' ? null : Number(v) }), {
      title: 'Reference step of the diff',
      'data-testid': 'diff-ref',
    });
    this.legend = el('span', { class: 'tba-legend' });
    this.chartEl = el('div', { class: 'tba-chart', 'data-testid': 'evolution-chart' });
    this.bigCanvas = el('canvas', { width: 1, height: 1, 'data-testid': 'bigmap' });
    this.readout = el('div', { class: 'tba-readout' });
    this.bigCaption = el('div', { class: 'tba-caption' });
    this.film = el('div', { class: 'tba-film', 'data-testid': 'filmstrip' });
    this.bigError = el('div', { class: 'tba-view-error', 'data-testid': 'bigmap-error', role: 'alert', hidden: true });
    this.filmError = el('div', { class: 'tba-message error', 'data-testid': 'filmstrip-error', hidden: true });
    this.bigEl = el('div', { class: 'tba-bigmap' }, this.bigCaption, this.bigCanvas, this.readout, this.bigError);
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
      el(
        'div',
        { class: 'tba-evo-body' },
        this.chartEl,
        el(
          'div',
          { class: 'tba-evo-row' },
          this.bigEl,
          el(
            'div',
            { class: 'tba-film-wrap' },
            el('div', { class: 'tba-sub' }, 'filmstrip \u00b7 click a frame to go to its step'),
            this.film,
            this.filmError,
          ),
        ),
      ),
    );
    this.bigCanvas.addEventListener('pointermove', (e) => this.onBigHover(e));
    this.bigCanvas.addEventListener('pointerleave', () => {
      this.readout.textContent = '';
    });
    onWidth(this.chartEl, (w) => {
      this.width = w;
      if (this.u) this.u.setSize({ width: w, height: 200 });
      this.renderFilm();
    });
  }

  update(state, changed) {
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
      const steps = this.app.steps();
      setOptions(
        this.refSel,
        [['', `first (${steps[0] ?? '–'})`], ...steps.map((s) => [String(s), `step ${s}`])],
        state.diffRef === null ? '' : String(state.diffRef),
      );
    }
    if (headChanged || ['step', 'diffMode', 'diffRef', 'contrast'].some((k) => changed.has(k))) {
      this.renderFilm();
    }
  }

  renderChart() {
    const s = this.app.state;
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
    const xs = stats.header.steps.slice();
    const data = [xs];
    const series = [{ label: 'step' }];
    for (const [name, color, scale] of CURVES) {
      if (!stats.header.stats.includes(name)) continue;
      const ys = statSeries(stats, name, s.layer, s.head);
      if (ys.every((v) => v === null)) continue; // undefined for this probe (e.g. induction)
      data.push(ys);
      series.push({
        label: STAT_LABELS[name] || name,
        stroke: color,
        width: name === 'drift' || name === 'induction' ? 2 : 1.5,
        scale,
        spanGaps: true,
        points: { show: xs.length < 30, size: 4 },
        value: (u, v) => (v == null ? '–' : v.toFixed(3)),
      });
    }
    this.u = new uPlot(
      {
        width: this.width,
        height: 200,
        plugins: [stepCursorPlugin({ getStep: () => this.app.state.step, getSnapshotSteps: () => this.app.steps() })],
        scales: {
          x: { time: false, range: () => this.app.xRange() },
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
    attachStepDrag(this.u, (v) => this.app.setStep(v, { snap: true }));
  }

  /** The layer snapshot (and diff reference) that the large map or a frame at `step` shows. */
  want(step) {
    const s = this.app.state;
    const ref = s.diffMode ? this.app.diffRefStep() : null;
    return want({ run: s.run, probe: s.probe, kind: s.kind, step, layer: s.layer, ref });
  }

  cachedPair(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    const snap = this.app.data.cachedLayerSnapshot(sel, w.step, w.layer);
    const ref = w.ref === null ? null : this.app.data.cachedLayerSnapshot(sel, w.ref, w.layer);
    return snap && (w.ref === null || ref) ? { snap, ref } : null;
  }

  loadPair(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    const load = (step) => this.app.data.layerSnapshot(sel, step, w.layer);
    return Promise.all([load(w.step), w.ref === null ? null : load(w.ref)]).then(([snap, ref]) => ({ snap, ref }));
  }

  /** Settle a slot from the cache or start its request; -> Promise of whether it is still current. */
  requestSlot(slot, w) {
    if (slot.reuse(w)) return Promise.resolve(true);
    const cached = this.cachedPair(w);
    if (cached) {
      slot.settle(w, cached);
      return Promise.resolve(true);
    }
    return slot.request(w, () => this.loadPair(w));
  }

  paintMap(canvas, { snap, ref }, px) {
    const s = this.app.state;
    const off = mapOffset(snap, s.layer, s.head);
    if (off < 0) {
      canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    const h = snap.header;
    const refOpt = ref ? { data: ref.data, offset: mapOffset(ref, s.layer, s.head) } : null;
    const dpr = window.devicePixelRatio || 1;
    paintHeatmap(canvas, snap.data, off, h.query_len, h.key_len, {
      ...this.app.luts(),
      targetPx: px * dpr,
      ref: refOpt,
    });
  }

  /** The large map of the current step: its data, the previous step's marked stale, or the error. */
  renderBig() {
    const w = this.bigWant;
    const view = this.bigSlot.shown(w);
    this.bigEl.dataset.state = view.state;
    this.bigEl.classList.toggle('stale', view.state === 'stale');
    this.bigError.hidden = view.state !== 'error';
    this.bigCanvas.hidden = view.state === 'error'; // the error takes the map's place
    this.bigSnap = null;
    this.bigRef = null;
    this.readout.textContent = '';
    if (view.state === 'data' || view.state === 'stale') {
      this.paintMap(this.bigCanvas, view.data, 220);
      this.bigSnap = view.data.snap; // the hover readout reads exactly what is painted
      this.bigRef = view.data.ref;
      const shownStep = view.state === 'stale' ? view.step : w.step;
      this.bigCaption.textContent =
        (w.ref === null ? `step ${shownStep} \u00b7 hover to read weights` : `step ${shownStep} \u2212 step ${w.ref}`) +
        (view.state === 'stale' ? ` \u00b7 loading step ${w.step}\u2026` : '');
      return;
    }
    this.bigCanvas.getContext('2d').clearRect(0, 0, this.bigCanvas.width, this.bigCanvas.height);
    if (view.state === 'error') {
      const t = failureText(w, view.error);
      this.bigCaption.textContent = `step ${w.step}: could not load`;
      clear(this.bigError).append(
        el('b', {}, t.title),
        el('div', {}, t.reason),
        el('div', { class: 'tba-hint' }, t.hint),
      );
    } else {
      this.bigCaption.textContent = view.state === 'loading' ? `step ${w.step} \u00b7 loading\u2026` : '';
    }
  }

  /** One filmstrip frame: its step's map, or blank and marked failed (the reason in its tooltip). */
  renderFrame(fr) {
    const view = fr.slot.shown(fr.want, { keepStale: false });
    fr.f.dataset.state = view.state;
    fr.f.classList.toggle('failed', view.state === 'error');
    if (view.state === 'data') {
      this.paintMap(fr.canvas, view.data, 96);
      fr.f.title = `step ${fr.step}`;
    } else {
      fr.canvas.getContext('2d').clearRect(0, 0, fr.canvas.width, fr.canvas.height);
      if (view.state === 'error') {
        const t = failureText(fr.want, view.error);
        fr.f.title = `${t.title}: ${t.reason}`;
      }
    }
    fr.label.textContent =
      view.state === 'error' ? `step ${formatStep(fr.step)} \u2715` : `step ${formatStep(fr.step)}`;
    const failed = this.frameEls.filter((x) => x.f.dataset.state === 'error');
    if (failed.length) {
      const t = failureText(failed[0].want, failed[0].slot.last.error);
      this.filmError.textContent = `${failed.length} of ${this.frameEls.length} frames could not be loaded (\u2715): ${t.reason}`;
    }
    this.filmError.hidden = !failed.length;
  }

  /** Filmstrip frames and the large map; each frame loads only the selected layer. */
  renderFilm() {
    const s = this.app.state;
    const steps = this.app.steps();
    const k = this.app.kindInfo();
    if (!k || !steps.length || s.step === null) {
      clear(this.film);
      this.frameEls = [];
      this.filmSig = null;
      this.filmError.hidden = true;
      this.bigWant = null;
      this.bigSlot.reset();
      this.renderBig();
      return;
    }
    const frames = evenlySpaced(steps, filmstripCount(Math.max(200, this.width - 250)));
    const sel = { run: s.run, probe: s.probe, kind: s.kind };
    // rebuild frame DOM only when the set of frames changes
    const sig = JSON.stringify([frames, sel]);
    if (this.filmSig !== sig) {
      this.filmSig = sig;
      clear(this.film);
      this.frameEls = frames.map((step) => {
        const canvas = el('canvas', { width: 1, height: 1 });
        const label = el('span', {}, `step ${formatStep(step)}`);
        const f = el(
          'div',
          { class: 'tba-frame', 'data-step': step, title: `step ${step}`, onclick: () => this.app.setStep(step) },
          canvas,
          label,
        );
        this.film.appendChild(f);
        return { step, f, canvas, label, slot: new SnapshotSlot(), want: null };
      });
    }
    for (const fr of this.frameEls) fr.f.classList.toggle('current', fr.step === s.step);
    this.bigWant = this.want(s.step);
    const big = this.requestSlot(this.bigSlot, this.bigWant);
    this.renderBig();
    big.then((current) => current && this.renderBig());
    for (const fr of this.frameEls) {
      fr.want = this.want(fr.step);
      const done = this.requestSlot(fr.slot, fr.want);
      this.renderFrame(fr);
      done.then((current) => current && this.renderFrame(fr));
    }
  }

  onBigHover(e) {
    const snap = this.bigSnap;
    if (!snap) return;
    const s = this.app.state;
    const h = snap.header;
    const r = this.bigCanvas.getBoundingClientRect();
    const qi = Math.floor(((e.clientY - r.top) / r.height) * h.query_len);
    const ki = Math.floor(((e.clientX - r.left) / r.width) * h.key_len);
    if (qi < 0 || ki < 0 || qi >= h.query_len || ki >= h.key_len) return;
    const off = mapOffset(snap, s.layer, s.head);
    const v = snap.data[off + qi * h.key_len + ki] * (h.scale ?? 1 / 255);
    const { query, key } = kindTokens(this.app.probeInfo(), this.app.kindInfo());
    let text = `${tokenLabel(query.tokens[qi])} \u2192 ${tokenLabel(key.tokens[ki])}: ${v.toFixed(3)}`;
    if (this.bigRef) {
      const ro = mapOffset(this.bigRef, s.layer, s.head);
      const d = v - this.bigRef.data[ro + qi * h.key_len + ki] * (h.scale ?? 1 / 255);
      text += ` (\u0394 ${d >= 0 ? '+' : ''}${d.toFixed(3)})`;
    }
    this.readout.textContent = text; // textContent: tokens are never parsed as HTML
  }
}
