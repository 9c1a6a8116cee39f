// View 2: the model view. A layers x heads grid of attention heatmaps at the chosen step
// (one canvas per cell, painted with putImageData), each with a badge of a chosen statistic,
// head-type labels with the step each formed, and optionally coloured by drift. With a
// comparison run, two grids side by side at the same step.

import { el, clear, select } from '../dom.js';
import { gridLayout } from '../layout.js';
import { paintHeatmap } from '../heatmap.js';
import { driftColor } from '../colorScale.js';
import {
  mapOffset,
  statAt,
  statsStepIndex,
  statMaxAt,
  headTypes,
  typeLabel,
  formatStat,
  STAT_LABELS,
} from '../model.js';
import { nearestStep } from '../stepNav.js';
import { want, wantKey, failureText, SnapshotSlot } from '../shown.js';
import { onWidth, formatStep } from './stepChart.js';
import { legendCanvas } from './legend.js';

const BADGE_STATS = ['entropy', 'first', 'sep', 'self', 'prev', 'next', 'max', 'drift', 'induction', 'duplicate'];

export class ModelView {
  constructor(app) {
    this.app = app;
    this.panels = [];
    this.paintToken = 0;
    this.width = 700;
    this.shapeSig = '';
    this.badgeSel = select(
      BADGE_STATS.map((s) => [s, STAT_LABELS[s] || s]),
      app.state.badgeStat,
      (v) => app.set({ badgeStat: v }),
      { title: "Statistic shown in each cell's badge", 'data-testid': 'badge-stat' },
    );
    this.driftBox = el('input', { type: 'checkbox', 'data-testid': 'color-by-drift' });
    this.driftBox.addEventListener('change', () => app.set({ colorByDrift: this.driftBox.checked }));
    this.contrastSel = select(
      [
        ['sqrt', 'contrast: sqrt'],
        ['linear', 'contrast: linear'],
        ['log', 'contrast: log'],
      ],
      app.state.contrast,
      (v) => app.set({ contrast: v }),
      { title: 'Colour scale of the heatmaps' },
    );
    this.legend = el('span', { class: 'tba-legend' });
    this.panelsEl = el('div', { class: 'tba-panels' });
    this.typesEl = el('div', { class: 'tba-types', 'data-testid': 'head-types' });
    this.el = el(
      'section',
      { class: 'tba-card tba-model', 'data-testid': 'model-view' },
      el(
        'div',
        { class: 'tba-card-head' },
        el('span', { class: 'tba-card-title' }, 'Model view'),
        el('span', { class: 'tba-sub' }, 'layers \u00d7 heads \u00b7 click a head'),
        el('span', { class: 'tba-spacer' }),
        el('label', { class: 'tba-field' }, 'badge', this.badgeSel),
        el(
          'label',
          { class: 'tba-check', title: 'Colour each head by how much it changed since the first snapshot' },
          this.driftBox,
          'colour by drift',
        ),
        this.contrastSel,
        this.legend,
      ),
      this.panelsEl,
      this.typesEl,
    );
    onWidth(this.panelsEl, (w) => {
      this.width = w;
      this.relayout();
    });
  }

  /** What each panel shows: the selected run and, when comparing, the other run. */
  panelSpecs() {
    const s = this.app.state;
    const specs = [];
    if (s.run && s.probe && s.kind) specs.push({ run: s.run, stats: () => this.app.state.stats });
    if (s.compareRun) specs.push({ run: s.compareRun, stats: () => this.app.state.compareStats });
    return specs;
  }

  update(state, changed) {
    const shapeKeys = ['run', 'compareRun', 'probe', 'kind', 'index'];
    if (shapeKeys.some((k) => changed.has(k))) this.rebuildIfShapeChanged();
    if (
      ['step', 'diffMode', 'diffRef', 'contrast', 'run', 'compareRun', 'probe', 'kind', 'index'].some((k) =>
        changed.has(k),
      )
    ) {
      this.paint();
    }
    if (
      ['stats', 'compareStats', 'badgeStat', 'colorByDrift', 'step', 'layer', 'head', 'heads'].some((k) =>
        changed.has(k),
      ) ||
      shapeKeys.some((k) => changed.has(k))
    ) {
      this.decorate();
    }
    if (changed.has('colorByDrift')) this.driftBox.checked = !!state.colorByDrift;
    if (changed.has('badgeStat')) this.badgeSel.value = state.badgeStat;
    if (changed.has('contrast') || changed.has('diffMode')) this.updateLegend();
  }

  updateLegend() {
    const s = this.app.state;
    clear(this.legend).append(
      s.diffMode ? '\u2212' : '0',
      legendCanvas(s.diffMode ? 'diverging' : 'sequential', s.contrast),
      s.diffMode ? `+  (vs step ${this.app.diffRefStep() ?? '–'})` : '1',
    );
  }

  rebuildIfShapeChanged() {
    const k = this.app.kindInfo();
    const specs = this.panelSpecs();
    const sig = JSON.stringify([
      specs.map((p) => p.run),
      k?.layers,
      k?.heads,
      this.app.state.probe,
      this.app.state.kind,
    ]);
    if (sig === this.shapeSig) return;
    this.shapeSig = sig;
    clear(this.panelsEl);
    this.panels = [];
    if (!k) return;
    for (const spec of specs) {
      const panel = this.buildPanel(spec, k.layers, k.heads);
      this.panels.push(panel);
      this.panelsEl.appendChild(panel.el);
    }
    this.relayout();
    this.updateLegend();
  }

  buildPanel(spec, layers, heads) {
    const title = el('div', { class: 'tba-panel-title' });
    const grid = el('div', { class: 'tba-grid', 'data-testid': 'grid', 'data-run': spec.run });
    const cells = [];
    grid.appendChild(el('div'));
    for (let h = 0; h < heads; h++) grid.appendChild(el('div', { class: 'hlabel' }, `H${h}`));
    for (let l = 0; l < layers; l++) {
      grid.appendChild(el('div', { class: 'llabel' }, `L${l}`));
      for (let h = 0; h < heads; h++) {
        const canvas = el('canvas', { width: 1, height: 1, 'data-layer': l, 'data-head': h });
        const badge = el('span', { class: 'tba-badge' });
        const type = el('span', { class: 'tba-type' });
        const cell = el(
          'div',
          {
            class: 'tba-cell',
            'data-testid': 'cell',
            'data-layer': l,
            'data-head': h,
            role: 'button',
            tabindex: '-1',
            onclick: (e) => this.app.selectHead(l, h, { add: e.shiftKey || e.metaKey || e.ctrlKey }),
          },
          canvas,
          type,
          badge,
        );
        cells.push({ layer: l, head: h, cell, canvas, badge, type });
        grid.appendChild(cell);
      }
    }
    const errorEl = el('div', { class: 'tba-panel-error', 'data-testid': 'grid-error', role: 'alert', hidden: true });
    const body = el('div', { class: 'tba-panel-body' }, grid, errorEl);
    return {
      spec,
      el: el('div', { class: 'tba-panel', 'data-testid': 'panel', 'data-run': spec.run }, title, body),
      title,
      grid,
      errorEl,
      cells,
      layers,
      heads,
      step: null,
      slot: new SnapshotSlot(),
      paintSig: '',
    };
  }

  relayout() {
    if (!this.panels.length) return;
    const n = this.panels.length;
    const w = Math.max(200, (this.width - 16 * (n - 1)) / n);
    for (const p of this.panels) {
      const lay = gridLayout({
        layers: p.layers,
        heads: p.heads,
        width: w,
        minCell: 22,
        maxCell: 150,
        gap: p.heads > 12 ? 2 : 3,
      });
      p.layout = lay;
      p.grid.style.gridTemplateColumns = `${lay.labelW}px repeat(${p.heads}, ${lay.cell}px)`;
      p.grid.style.gridTemplateRows = `16px repeat(${p.layers}, ${lay.cell}px)`;
      p.grid.style.gap = `${lay.gap}px`;
      p.grid.classList.toggle('small', lay.cell < 64);
      p.grid.classList.toggle('tiny', lay.cell < 36);
    }
    // The pixel budget of a cell changed: repaint at the new resolution.
    this.paint();
  }

  panelStep(panel) {
    const s = this.app.state;
    if (s.step === null || s.step === undefined) return null;
    if (panel.spec.run === s.run) return s.step;
    const steps = this.app.steps(panel.spec.run);
    return nearestStep(steps, s.step);
  }

  /** The snapshot a panel shows: its run, the probe and kind, its step and the diff reference. */
  panelWant(panel) {
    const s = this.app.state;
    const step = this.panelStep(panel);
    const ref = s.diffMode && step !== null ? this.app.diffRefStep(panel.spec.run) : null;
    return want({ run: panel.spec.run, probe: s.probe, kind: s.kind, step, ref });
  }

  /** {snap, ref} of a want when both are cached, else null. */
  cachedPair(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    const snap = this.app.data.cachedSnapshot(sel, w.step);
    const ref = w.ref === null ? null : this.app.data.cachedSnapshot(sel, w.ref);
    return snap && (w.ref === null || ref) ? { snap, ref } : null;
  }

  loadPair(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    return Promise.all([
      this.app.data.snapshot(sel, w.step),
      w.ref === null ? null : this.app.data.snapshot(sel, w.ref),
    ]).then(([snap, ref]) => ({ snap, ref }));
  }

  setTitle(panel, view) {
    const s = this.app.state;
    const parts = [el('b', {}, panel.spec.run), `step ${panel.step ?? '\u2013'}`];
    if (panel.spec.run !== s.run && panel.step !== s.step && panel.step !== null)
      parts.push(el('span', {}, '(nearest logged)'));
    if (view.state === 'loading') parts.push(el('span', { class: 'tba-loading' }, 'loading\u2026'));
    if (view.state === 'stale')
      parts.push(el('span', { class: 'tba-loading' }, `loading\u2026 (showing step ${view.step})`));
    if (view.state === 'error') parts.push(el('span', { class: 'tba-message error' }, 'could not load'));
    clear(panel.title).append(...parts);
  }

  /**
   * Show what a panel's want resolves to (shown.js): the cells painted from its snapshot, the
   * previous step's pixels marked stale while loading, or blank cells under the error.
   * Returns the number of cells painted from data.
   */
  renderPanel(panel, w) {
    const view = panel.slot.shown(w);
    panel.step = w ? w.step : null;
    panel.el.dataset.state = view.state;
    this.setTitle(panel, view);
    panel.grid.classList.toggle('stale', view.state === 'stale');
    if (view.state === 'error') {
      const t = failureText(w, view.error);
      clear(panel.errorEl).append(
        el('b', {}, t.title),
        el('div', {}, t.reason),
        el('div', { class: 'tba-hint' }, t.hint),
      );
      panel.errorEl.hidden = false;
    } else {
      panel.errorEl.hidden = true;
    }
    if (view.state === 'data' || view.state === 'stale') return this.paintCells(panel, view.data);
    this.blankCells(panel);
    return 0;
  }

  blankCells(panel) {
    if (panel.paintSig === '') return;
    panel.paintSig = '';
    panel.painted = 0;
    for (const c of panel.cells) c.canvas.getContext('2d').clearRect(0, 0, c.canvas.width, c.canvas.height);
  }

  paintCells(panel, { snap, ref }) {
    const s = this.app.state;
    const dpr = window.devicePixelRatio || 1;
    const targetPx = Math.max(8, Math.round(panel.layout.cell * dpr));
    const sig = JSON.stringify([wantKey(panel.slot.last.want), s.contrast, targetPx]);
    if (sig === panel.paintSig) return panel.painted; // these very pixels are on screen
    const luts = this.app.luts();
    const h = snap.header;
    let painted = 0;
    for (const c of panel.cells) {
      const off = mapOffset(snap, c.layer, c.head);
      if (off < 0) {
        c.canvas.getContext('2d').clearRect(0, 0, c.canvas.width, c.canvas.height);
        continue;
      }
      const refOpt = ref ? { data: ref.data, offset: mapOffset(ref, c.layer, c.head) } : null;
      paintHeatmap(c.canvas, snap.data, off, h.query_len, h.key_len, { ...luts, targetPx, ref: refOpt });
      painted++;
    }
    panel.paintSig = sig;
    panel.painted = painted;
    return painted;
  }

  /** Fetch (or take from cache) the snapshot of each panel and show it, or its error, per panel. */
  async paint() {
    if (!this.panels.length || !this.panels[0].layout) return;
    const token = ++this.paintToken;
    const s = this.app.state;
    const t0 = performance.now();
    const panels = this.panels;
    const wants = panels.map((p) => this.panelWant(p));
    this.app.mark('snapshot-requested', { step: s.step });
    // Every snapshot cached (arrow keys over prefetched neighbours, play): paint right now,
    // without waiting for a microtask, so nothing else runs before the grid.
    const jobs = panels.map((p, i) => {
      const w = wants[i];
      if (!w) {
        p.slot.reset();
        return null;
      }
      const cached = this.cachedPair(w);
      if (cached) {
        p.slot.settle(w, cached);
        return null;
      }
      return p.slot.request(w, () => this.loadPair(w));
    });
    if (jobs.some(Boolean)) {
      panels.forEach((p, i) => this.renderPanel(p, wants[i])); // loading / stale meanwhile
      await Promise.all(jobs);
      if (token !== this.paintToken) return; // a newer step was chosen meanwhile
    }
    this.app.mark('snapshot-received', { step: s.step });
    let painted = 0;
    const failed = [];
    panels.forEach((p, i) => {
      painted += this.renderPanel(p, wants[i]);
      const v = p.el.dataset.state;
      if (v === 'error') failed.push({ run: p.spec.run, step: p.step, error: p.slot.last.error });
    });
    const ms = performance.now() - t0;
    if (failed.length) {
      const f = failed[0];
      this.app.gridFailed({
        step: s.step,
        run: f.run,
        panelStep: f.step,
        error: String(f.error?.message || f.error),
        failed: failed.length,
      });
    } else {
      this.app.gridPainted({ step: s.step, cells: painted, ms });
    }
  }

  /** Badges, drift colouring, head types and selection outlines (no repaint of pixels). */
  decorate() {
    const s = this.app.state;
    for (const p of this.panels) {
      const stats = p.spec.stats();
      const step = this.panelStep(p);
      const si = statsStepIndex(stats, step);
      const driftMax = s.colorByDrift && stats ? statMaxAt(stats, 'drift', stats.header.steps.length - 1) : NaN;
      for (const c of p.cells) {
        const v = stats ? statAt(stats, s.badgeStat, si, c.layer, c.head) : NaN;
        c.badge.textContent = formatStat(v);
        const types = stats ? headTypes(stats, c.layer, c.head) : [];
        const formed = types.filter(
          (t) => step === null || t.formed_step === undefined || t.formed_step === null || t.formed_step <= step,
        );
        c.type.textContent = formed.map((t) => typeLabel(t.type)).join(', ');
        let tip = `layer ${c.layer}, head ${c.head}\n${STAT_LABELS[s.badgeStat] || s.badgeStat}: ${formatStat(v)}`;
        for (const t of types)
          tip += `\n${typeLabel(t.type)} (score ${formatStat(t.score)}), formed at step ${t.formed_step ?? '?'}`;
        c.cell.title = tip;
        if (s.colorByDrift && stats) {
          const d = statAt(stats, 'drift', si, c.layer, c.head);
          c.cell.style.background = driftColor(d, driftMax);
          c.cell.style.padding = '4px';
        } else {
          c.cell.style.background = '';
          c.cell.style.padding = '';
        }
        const primary = p.spec.run === s.run;
        c.cell.classList.toggle('selected', primary && c.layer === s.layer && c.head === s.head);
        c.cell.classList.toggle('in-headview', primary && c.layer === s.layer && (s.heads || []).includes(c.head));
      }
    }
    this.renderTypes();
  }

  renderTypes() {
    const stats = this.app.state.stats;
    clear(this.typesEl);
    const types = stats?.header?.head_types || [];
    if (!types.length) return;
    const sorted = types.slice().sort((a, b) => (a.formed_step ?? 1e18) - (b.formed_step ?? 1e18));
    this.typesEl.appendChild(el('span', {}, 'Head types (formed at step): '));
    for (const t of sorted.slice(0, 60)) {
      this.typesEl.appendChild(
        el(
          'span',
          {
            class: 't',
            title: `score ${formatStat(t.score)}`,
            onclick: () => this.app.selectHead(t.layer, t.head),
          },
          `L${t.layer}H${t.head} ${typeLabel(t.type)} @${formatStep(t.formed_step)}`,
        ),
      );
    }
    if (sorted.length > 60) this.typesEl.appendChild(el('span', {}, `\u2026 and ${sorted.length - 60} more`));
  }
}
