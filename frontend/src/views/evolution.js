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
import { AXIS_LEFT, AXIS_RIGHT, stepCursorPlugin, attachStepDrag, onWidth, STEP_AXIS, formatStep } from './stepChart.js';
import { legendCanvas } from './legend.js';

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
    this.filmToken = 0;
    this.title = el('span', { class: 'tba-card-title' }, 'Head evolution');
    this.typesEl = el('span', { class: 'tba-sub' });
    this.diffBtn = el('button', {
      'aria-pressed': 'false', 'data-testid': 'diff-toggle',
      title: 'Show attention(step) \u2212 attention(reference step)',
      onclick: () => app.set({ diffMode: !app.state.diffMode }),
    }, 'diff');
    this.refSel = select([], '', (v) => app.set({ diffRef: v === '' ? null : Number(v) }), { title: 'Reference step of the diff', 'data-testid': 'diff-ref' });
    this.legend = el('span', { class: 'tba-legend' });
    this.chartEl = el('div', { class: 'tba-chart', 'data-testid': 'evolution-chart' });
    this.bigCanvas = el('canvas', { width: 1, height: 1, 'data-testid': 'bigmap' });
    this.readout = el('div', { class: 'tba-readout' });
    this.bigCaption = el('div', { class: 'tba-caption' });
    this.film = el('div', { class: 'tba-film', 'data-testid': 'filmstrip' });
    this.el = el('section', { class: 'tba-card tba-evolution', 'data-testid': 'evolution' },
      el('div', { class: 'tba-card-head' }, this.title, this.typesEl, el('span', { class: 'tba-spacer' }),
        this.diffBtn, el('label', { class: 'tba-field' }, 'vs', this.refSel), this.legend),
      el('div', { class: 'tba-evo-body' },
        this.chartEl,
        el('div', { class: 'tba-evo-row' },
          el('div', { class: 'tba-bigmap' }, this.bigCaption, this.bigCanvas, this.readout),
          el('div', { class: 'tba-film-wrap' }, el('div', { class: 'tba-sub' }, 'filmstrip \u00b7 click a frame to go to its step'), this.film))));
    this.bigCanvas.addEventListener('pointermove', (e) => this.onBigHover(e));
    this.bigCanvas.addEventListener('pointerleave', () => { this.readout.textContent = ''; });
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
      clear(this.legend).append(state.diffMode ? '\u2212' : '0', legendCanvas(state.diffMode ? 'diverging' : 'sequential', state.contrast), state.diffMode ? '+' : '1');
    }
    if (headChanged || changed.has('diffRef')) {
      const steps = this.app.steps();
      setOptions(this.refSel, [['', `first (${steps[0] ?? '–'})`], ...steps.map((s) => [String(s), `step ${s}`])], state.diffRef === null ? '' : String(state.diffRef));
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
    this.u = new uPlot({
      width: this.width,
      height: 200,
      plugins: [stepCursorPlugin({ getStep: () => this.app.state.step, getSnapshotSteps: () => this.app.steps() })],
      scales: { x: { time: false, range: () => this.app.xRange() }, y: { range: (u, min, max) => [0, Math.max(1, Number.isFinite(max) ? max : 1)] } },
      axes: [
        STEP_AXIS,
        { scale: 'y', size: AXIS_LEFT },
        { scale: 'y', side: 1, size: AXIS_RIGHT, grid: { show: false } },
      ],
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 5 } },
      legend: { live: true },
      series,
    }, data, this.chartEl);
    attachStepDrag(this.u, (v) => this.app.setStep(v, { snap: true }));
  }

  /** Filmstrip frames and the large map; each frame loads only the selected layer. */
  async renderFilm() {
    const s = this.app.state;
    const steps = this.app.steps();
    const k = this.app.kindInfo();
    if (!k || !steps.length || s.step === null) {
      clear(this.film);
      return;
    }
    const token = ++this.filmToken;
    const frames = evenlySpaced(steps, filmstripCount(Math.max(200, this.width - 250)));
    const sel = { run: s.run, probe: s.probe, kind: s.kind };
    const ref = s.diffMode ? this.app.diffRefStep() : null;
    const luts = this.app.luts();
    const dpr = window.devicePixelRatio || 1;
    // rebuild frame DOM only when the set of frames changes
    const sig = JSON.stringify([frames, sel]);
    if (this.filmSig !== sig) {
      this.filmSig = sig;
      clear(this.film);
      this.frameEls = frames.map((step) => {
        const canvas = el('canvas', { width: 1, height: 1 });
        const label = el('span', {}, `step ${formatStep(step)}`);
        const f = el('div', { class: 'tba-frame', 'data-step': step, title: `step ${step}`, onclick: () => this.app.setStep(step) }, canvas, label);
        this.film.appendChild(f);
        return { step, f, canvas };
      });
    }
    for (const fr of this.frameEls) fr.f.classList.toggle('current', fr.step === s.step);
    const load = (step) => this.app.data.layerSnapshot(sel, step, s.layer);
    try {
      const refSnap = ref === null ? null : await load(ref);
      if (token !== this.filmToken) return;
      const paint = (canvas, snap, px) => {
        const off = mapOffset(snap, s.layer, s.head);
        if (off < 0) return;
        const h = snap.header;
        const refOpt = refSnap ? { data: refSnap.data, offset: mapOffset(refSnap, s.layer, s.head) } : null;
        paintHeatmap(canvas, snap.data, off, h.query_len, h.key_len, { ...luts, targetPx: px * dpr, ref: refOpt });
      };
      const cur = await load(s.step);
      if (token !== this.filmToken) return;
      paint(this.bigCanvas, cur, 220);
      this.bigCaption.textContent = ref === null ? `step ${s.step} \u00b7 hover to read weights` : `step ${s.step} \u2212 step ${ref}`;
      this.bigSnap = cur;
      this.bigRef = refSnap;
      await Promise.all(this.frameEls.map(async (fr) => {
        const snap = await load(fr.step);
        if (token === this.filmToken) paint(fr.canvas, snap, 96);
      }));
    } catch (e) {
      if (token === this.filmToken) this.readout.textContent = `could not load: ${e.message}`;
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
