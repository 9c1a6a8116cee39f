// View 2: the model view. A layers x heads grid of attention heatmaps at the chosen step (one
// canvas of the viewport per run, gridCanvas.js), each head with a badge of a chosen statistic,
// head-type labels with the step each formed, optionally coloured by drift; zoom, a minimap
// (gridMinimap.js) and "go to head" for large models (gridNav.js). With a comparison run, two
// grids side by side at the same step and scrolled together (gridPanel.js: one panel).

import { el, clear, select, setOptions } from '../../paint/dom.js';
import { typeLabel, formatStat, statLabel, statNames, kindTokens } from '../../answers/model.js';
import { kindInfo, probeInfo, stepsOf, diffRefStep } from '../../state/selection.js';
import { want } from '../../state/shown.js';
import { missingStepText } from '../../state/compare.js';
import { mark } from '../common/perf.js';
import { onWidth, formatStep } from '../charts/stepChart.js';
import { legendCanvas } from '../common/legend.js';
import { buildPanel, panelCell, layoutPanel, renderPanel, decoratePanel } from './gridPanel.js';
import { GridNav } from './gridNav.js';
import { cachedGridPair, loadGridPair } from './gridPairs.js';
import { saveButtons } from '../common/saveButtons.js';
import { besideEachOther } from '../../paint/figure.js';

/**
 * Inputs: `data` (DataSource), the actions `set`, `selectHead`, and `onPainted(detail)` /
 * `onFailed(detail)` (the grid showed a step / a panel failed); update(state, changed).
 */
export class ModelView {
  constructor({ data, set, selectHead, onPainted, onFailed }) {
    Object.assign(this, { data, selectHead, onPainted, onFailed });
    this.nav = new GridNav({ set });
    this.state = null;
    this.painting = Promise.resolve();
    this.panels = [];
    this.paintToken = 0;
    this.width = 700;
    this.shapeSig = '';
    this.panelsEl = el('div', { class: 'tba-panels' });
    this.typesEl = el('div', { class: 'tba-types', 'data-testid': 'head-types' });
    const head = this.buildHead(set);
    head.appendChild(
      saveButtons(
        'grid-save',
        () => this.figure(),
        () => this.fileParts(),
      ),
    );
    this.el = el(
      'section',
      { class: 'tba-card tba-model', 'data-testid': 'model-view' },
      head,
      this.panelsEl,
      this.typesEl,
    );
    onWidth(this.panelsEl, (w) => {
      this.width = w;
      this.relayout();
    });
  }

  /** The card's header: title, badge statistic, colour by drift, B \u2212 A, contrast, legend. */
  buildHead(set) {
    this.badgeSel = select([], null, (v) => set({ badgeStat: v }), {
      title: "Statistic shown in each cell's badge",
      'data-testid': 'badge-stat',
    });
    this.driftBox = el('input', { type: 'checkbox', 'data-testid': 'color-by-drift' });
    this.driftBox.addEventListener('change', () => set({ colorByDrift: this.driftBox.checked }));
    this.contrastSel = select(
      [
        ['sqrt', 'contrast: sqrt'],
        ['linear', 'contrast: linear'],
        ['log', 'contrast: log'],
      ],
      null,
      (v) => set({ contrast: v }),
      { title: 'Colour scale of the heatmaps' },
    );
    this.legend = el('span', { class: 'tba-legend' });
    this.compareDiffBtn = el(
      'button',
      {
        'aria-pressed': 'false',
        'data-testid': 'compare-diff',
        title: 'Show the compare run minus the selected run (same step, head by head)',
        hidden: true,
        onclick: () => set((s) => ({ compareDiff: !s.compareDiff })),
      },
      'B \u2212 A',
    );
    return el(
      'div',
      { class: 'tba-card-head' },
      el('span', { class: 'tba-card-title' }, 'Model view'),
      el('span', { class: 'tba-sub' }, 'layers \u00d7 heads \u00b7 click a head'),
      this.nav.el,
      el('span', { class: 'tba-spacer' }),
      el('label', { class: 'tba-field' }, 'badge', this.badgeSel),
      el(
        'label',
        { class: 'tba-check', title: 'Colour each head by how much it changed since the first snapshot' },
        this.driftBox,
        'colour by drift',
      ),
      this.compareDiffBtn,
      this.contrastSel,
      this.legend,
    );
  }

  /** The grid panels as shown (each: its run, probe, kind and step above it), side by side. */
  figure() {
    const s = this.state;
    const figs = this.panels.map((p) => {
      const step = this.panelStep(p);
      return p.grid.figure(`${p.spec.run} \u00b7 ${s.probe} (${s.kind}) \u00b7 step ${step ?? '\u2013'}`);
    });
    return figs.length && figs.every(Boolean) ? besideEachOther(figs) : null;
  }

  fileParts() {
    const s = this.state;
    return ['attention-grid', s.run, s.probe, s.kind, `step${s.step}`];
  }

  /** What each panel shows: the selected run and, when comparing, the other run. */
  panelSpecs() {
    const s = this.state;
    const specs = [];
    if (s.run && s.probe && s.kind) specs.push({ run: s.run, statsKey: 'stats' });
    if (s.compareRun) specs.push({ run: s.compareRun, statsKey: 'compareStats' });
    return specs;
  }

  update(state, changed) {
    this.state = state;
    const any = (keys) => keys.some((k) => changed.has(k));
    const shapeKeys = ['run', 'compareRun', 'probe', 'kind', 'index'];
    if (any(shapeKeys)) this.rebuildIfShapeChanged();
    if (changed.has('gridZoom')) this.relayout();
    if (any(['layer', 'head', 'gridZoom'])) for (const p of this.panels) p.grid.reveal(state.layer, state.head);
    if (any(['step', 'diffMode', 'diffRef', 'contrast', 'compareDiff', ...shapeKeys])) this.paint();
    if (any(['stats', 'compareStats', 'badgeStat', 'colorByDrift', 'step', 'layer', 'head', 'heads', ...shapeKeys]))
      this.decorate();
    if (changed.has('colorByDrift')) this.driftBox.checked = !!state.colorByDrift;
    if (changed.has('badgeStat') || changed.has('stats')) this.updateBadgeOptions();
    if (changed.has('contrast')) this.contrastSel.value = state.contrast;
    if (any(['contrast', 'diffMode', 'compareDiff', 'compareRun'])) this.updateLegend();
  }

  /** The badge picker offers the statistics the server sent (kept while they load). */
  updateBadgeOptions() {
    const s = this.state;
    let names = statNames(s.stats);
    if (!names.length) names = this.badgeNames || [];
    if (!names.includes(s.badgeStat)) names = [...names, s.badgeStat];
    this.badgeNames = names;
    setOptions(
      this.badgeSel,
      names.map((n) => [n, statLabel(n)]),
      s.badgeStat,
    );
  }

  updateLegend() {
    const s = this.state;
    this.compareDiffBtn.hidden = !s.compareRun;
    this.compareDiffBtn.setAttribute('aria-pressed', String(!!(s.compareRun && s.compareDiff)));
    clear(this.legend).append(
      s.diffMode ? '\u2212' : '0',
      legendCanvas(s.diffMode ? 'diverging' : 'sequential', s.contrast),
      s.diffMode ? `+  (vs step ${diffRefStep(s) ?? '–'})` : '1',
    );
    if (s.compareRun && s.compareDiff)
      this.legend.append(
        el('span', { class: 'tba-sub' }, ' \u00b7 B \u2212 A: \u2212'),
        legendCanvas('diverging', s.contrast),
        '+',
      );
  }

  rebuildIfShapeChanged() {
    const s = this.state;
    const k = kindInfo(s);
    const specs = this.panelSpecs();
    const sig = JSON.stringify([specs.map((p) => p.run), k?.layers, k?.heads, s.probe, s.kind]);
    if (sig === this.shapeSig) return;
    this.shapeSig = sig;
    clear(this.panelsEl);
    this.panels = [];
    if (!k) return;
    for (const spec of specs) {
      const panel = buildPanel(spec, k.layers, k.heads, {
        selectHead: this.selectHead,
        onScroll: (from) => this.syncScroll(from),
      });
      this.panels.push(panel);
      this.panelsEl.appendChild(panel.el);
    }
    this.relayout();
    this.updateLegend();
  }

  /** Cells sized to the zoom ('fit': every head in a panel's width), then repainted. */
  relayout() {
    if (!this.panels.length) return;
    const n = this.panels.length;
    const w = Math.max(200, (this.width - 16 * (n - 1)) / n);
    const cell = panelCell(this.panels[0], this.state.gridZoom, w);
    for (const p of this.panels) layoutPanel(p, cell);
    this.nav.update(this.state, cell);
    this.paint();
    this.decorate();
  }

  /** Compared panels show the same heads: a scrolled panel moves the others. */
  syncScroll(from) {
    for (const p of this.panels)
      if (p !== from) p.grid.scrollTo(from.grid.scroll.scrollLeft, from.grid.scroll.scrollTop);
  }

  /** The step a panel shows: the cursor step, or null when the compare run lacks it (said in place). */
  panelStep(panel) {
    const s = this.state;
    if (s.step === null || s.step === undefined) return null;
    if (panel.spec.run === s.run) return s.step;
    return missingStepText(panel.spec.run, stepsOf(s, panel.spec.run), s.step) ? null : s.step;
  }

  /**
   * The block the cells' maps are fetched at (./snapshot?pool=B: each pixel one block's mean), from
   * the longer token side and a cell's pixels; null (the stored weights) when a pixel is a token.
   */
  pool() {
    const s = this.state;
    const probe = s && probeInfo(s);
    if (!probe || !this.panels.length) return null;
    const { query, key } = kindTokens(probe, kindInfo(s));
    return this.panels[0].grid.pool(Math.max(query.tokens.length, key.tokens.length));
  }

  /**
   * The snapshot a panel shows: its run, the probe and kind, its step, the diff reference (a step
   * of the same run, or for the compare panel in B \u2212 A mode the selected run at this step) and
   * the block its thumbnails are fetched at.
   */
  panelWant(panel) {
    const s = this.state;
    const step = this.panelStep(panel);
    const pool = this.pool();
    if (step !== null && panel.spec.run !== s.run && s.compareDiff)
      return want({ run: panel.spec.run, probe: s.probe, kind: s.kind, step, ref: step, vs: s.run, pool });
    const ref = s.diffMode && step !== null ? diffRefStep(s, panel.spec.run) : null;
    return want({ run: panel.spec.run, probe: s.probe, kind: s.kind, step, ref, pool });
  }

  /** Resolves once the latest paint has shown its step (or failed, or there was nothing to paint). */
  async settled() {
    let p;
    while (p !== this.painting) await (p = this.painting);
  }

  paint() {
    this.painting = this.paintNow();
    return this.painting;
  }

  /** Fetch (or take from cache) the snapshot of each panel and show it, or its error, per panel. */
  async paintNow() {
    if (!this.panels.length || !this.panels[0].grid.geom) return;
    const token = ++this.paintToken;
    const s = this.state;
    const t0 = performance.now();
    const panels = this.panels;
    const wants = panels.map((p) => this.panelWant(p));
    mark('snapshot-requested', { step: s.step });
    // Every snapshot cached (arrow keys over prefetched neighbours, play): paint right now,
    // without waiting for a microtask, so nothing else runs before the grid.
    const jobs = panels.map((p, i) => {
      const w = wants[i];
      p.missing = p.spec.run === s.run ? null : missingStepText(p.spec.run, stepsOf(s, p.spec.run), s.step);
      if (!w) {
        p.slot.reset();
        return null;
      }
      const cached = cachedGridPair(this.data, w);
      if (cached) {
        p.slot.settle(w, cached);
        return null;
      }
      return p.slot.request(w, () => loadGridPair(this.data, w));
    });
    if (jobs.some(Boolean)) {
      panels.forEach((p, i) => renderPanel(p, wants[i], s)); // loading / stale meanwhile
      await Promise.all(jobs);
      if (token !== this.paintToken) return; // a newer step was chosen meanwhile
    }
    mark('snapshot-received', { step: s.step });
    let painted = 0;
    const failed = [];
    panels.forEach((p, i) => {
      painted += renderPanel(p, wants[i], s);
      if (p.el.dataset.state === 'error') failed.push({ run: p.spec.run, step: p.step, error: p.slot.last.error });
    });
    const ms = performance.now() - t0;
    if (failed.length) {
      const f = failed[0];
      const error = String(f.error?.message || f.error);
      this.onFailed({ step: s.step, run: f.run, panelStep: f.step, error, failed: failed.length });
    } else {
      this.onPainted({ step: s.step, cells: painted, ms });
    }
  }

  /** Badges, drift colouring, head types and selection outlines (no repaint of pixels). */
  decorate() {
    for (const p of this.panels) decoratePanel(p, this.state, this.panelStep(p));
    this.renderTypes();
  }

  renderTypes() {
    const stats = this.state.stats;
    clear(this.typesEl);
    const types = stats?.header?.head_types || [];
    if (!types.length) return;
    const sorted = types.slice().sort((a, b) => (a.formed_step ?? 1e18) - (b.formed_step ?? 1e18));
    this.typesEl.appendChild(el('span', {}, 'Head types (formed at step): '));
    for (const t of sorted.slice(0, 60)) {
      this.typesEl.appendChild(
        el(
          'span',
          { class: 't', title: `score ${formatStat(t.score)}`, onclick: () => this.selectHead(t.layer, t.head) },
          `L${t.layer}H${t.head} ${typeLabel(t.type)} @${formatStep(t.formed_step)}`,
        ),
      );
    }
    if (sorted.length > 60) this.typesEl.appendChild(el('span', {}, `\u2026 and ${sorted.length - 60} more`));
  }
}
