// The controller: owns the state, loads the index/stats/scalars, keeps the selection valid,
// drives play/pause and the keyboard, and hands state changes to the views.

import { createStore } from './store.js';
import { DataSource } from './dataSource.js';
import { el, clear, setOptions } from './dom.js';
import { sequentialLUT, divergingLUT } from './colorScale.js';
import { nearestStep, offsetStep, prefetchSteps } from './stepNav.js';
import { findRun, findProbe, findKind, resolveSelection, comparableRuns } from './model.js';
import { Pickers } from './views/pickers.js';
import { Timeline, defaultTags } from './views/timeline.js';
import { ModelView } from './views/modelView.js';
import { HeadView } from './views/headView.js';
import { Evolution } from './views/evolution.js';
import { emptyState, message } from './views/emptyState.js';

const INITIAL = {
  index: null,
  run: null,
  probe: null,
  kind: null,
  compareRun: null,
  step: null,
  playing: false,
  layer: 0,
  head: 0,
  heads: [0],
  badgeStat: 'entropy',
  colorByDrift: false,
  contrast: 'sqrt',
  diffMode: false,
  diffRef: null,
  hideSpecial: false,
  extraTags: [],
  stats: null,
  compareStats: null,
  scalars: null,
};

export class App {
  constructor(root, { data = new DataSource(), pollMs = 30000, playFrameMs = 280 } = {}) {
    this.root = root;
    this.data = data;
    this.pollMs = pollMs;
    this.playFrameMs = playFrameMs;
    this.store = createStore(INITIAL);
    this.dom = { setOptions };
    this.paints = [];
    this.marks = [];
    this._luts = {};
    this.pickers = new Pickers(this);
    this.content = el('div', { class: 'tba-content' });
    root.append(this.pickers.el, this.content);
    this.views = null;
    this.store.subscribe((s, changed) => this.onChange(s, changed));
    window.addEventListener('keydown', (e) => this.onKey(e));
  }

  get state() {
    return this.store.get();
  }

  // ---- derived data -------------------------------------------------------------------

  runInfo(run = this.state.run) {
    return findRun(this.state.index, run);
  }

  probeInfo(run = this.state.run) {
    return findProbe(this.runInfo(run), this.state.probe);
  }

  kindInfo(run = this.state.run) {
    return findKind(this.probeInfo(run), this.state.kind);
  }

  /** Logged snapshot steps of the current probe/kind in `run`. */
  steps(run = this.state.run) {
    return this.kindInfo(run)?.steps || [];
  }

  sel(run = this.state.run) {
    return { run, probe: this.state.probe, kind: this.state.kind };
  }

  /** The x range shared by the loss timeline and the evolution chart. */
  xRange() {
    const s = this.state;
    const key = [s.index, s.scalars, s.run, s.probe, s.kind, s.compareRun, s.extraTags];
    if (this._xKey && key.every((v, i) => v === this._xKey[i])) return this._xRangeValue;
    let lo = Infinity;
    let hi = -Infinity;
    const take = (arr) => {
      if (arr && arr.length) {
        lo = Math.min(lo, arr[0]);
        hi = Math.max(hi, arr[arr.length - 1]);
      }
    };
    take(this.steps());
    if (s.compareRun) take(this.steps(s.compareRun));
    const tags = s.scalars?.tags || {};
    for (const t of [...defaultTags(tags), ...(s.extraTags || [])]) take(tags[t]?.steps);
    if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
    if (hi <= lo) hi = lo + 1;
    const pad = (hi - lo) * 0.01;
    this._xKey = key;
    this._xRangeValue = [lo - pad, hi + pad];
    return this._xRangeValue;
  }

  luts() {
    const c = this.state.contrast;
    if (!this._luts[c]) this._luts[c] = { lut: sequentialLUT(c), divLut: divergingLUT(c) };
    return this._luts[c];
  }

  diffRefStep(run = this.state.run) {
    const steps = this.steps(run);
    if (!steps.length) return null;
    const ref = this.state.diffRef;
    return ref === null || ref === undefined ? steps[0] : nearestStep(steps, ref);
  }

  // ---- actions ------------------------------------------------------------------------

  /** Set state, keeping run/probe/kind, heads and step consistent with the index. */
  set(patch) {
    const s = this.state;
    const next = { ...s, ...patch };
    const structural = ['index', 'run', 'probe', 'kind'].some((k) => k in patch);
    if (structural) {
      const sel = resolveSelection(next.index, next);
      Object.assign(next, sel);
      const prevSteps = s.index ? findKind(findProbe(findRun(s.index, s.run), s.probe), s.kind)?.steps || [] : [];
      const kind = findKind(findProbe(findRun(next.index, next.run), next.probe), next.kind);
      const steps = kind?.steps || [];
      if (kind) {
        next.layer = Math.min(next.layer, kind.layers - 1);
        next.head = Math.min(next.head, kind.heads - 1);
        next.heads = (next.heads || []).filter((h) => h < kind.heads);
        if (!next.heads.length) next.heads = [next.head];
      }
      const wasAtEnd = s.step !== null && prevSteps.length && s.step === prevSteps[prevSteps.length - 1];
      if (!steps.length) next.step = null;
      else if (next.step === null || next.step === undefined) next.step = steps[steps.length - 1];
      else if (wasAtEnd && !next.playing && 'index' in patch && !('step' in patch))
        next.step = steps[steps.length - 1]; // follow a live run
      else next.step = nearestStep(steps, next.step);
      if (next.compareRun && !comparableRuns(next.index, next.run, next.probe, next.kind).includes(next.compareRun))
        next.compareRun = null;
      if (next.run !== s.run || next.probe !== s.probe || next.kind !== s.kind) {
        next.stats = null;
        next.diffRef = null;
      }
      if (next.run !== s.run) next.scalars = null;
      if (next.compareRun !== s.compareRun || next.probe !== s.probe || next.kind !== s.kind) next.compareStats = null;
    }
    if ('compareRun' in patch && patch.compareRun !== s.compareRun) next.compareStats = null;
    this.store.set(next);
  }

  selectRun(run) {
    this.set({ run, compareRun: this.state.compareRun === run ? null : this.state.compareRun });
  }

  setStep(value, { snap = true } = {}) {
    const steps = this.steps();
    if (!steps.length) return;
    const step = snap ? nearestStep(steps, value) : value;
    this.set({ step });
  }

  stepBy(delta) {
    const steps = this.steps();
    if (!steps.length) return;
    this.set({ step: offsetStep(steps, this.state.step ?? steps[0], delta) });
  }

  selectHead(layer, head, { add = false } = {}) {
    const s = this.state;
    if (add && layer === s.layer) {
      const heads = s.heads.includes(head)
        ? s.heads.filter((h) => h !== head)
        : [...s.heads, head].sort((a, b) => a - b);
      this.set({ heads: heads.length ? heads : [head], head: heads.includes(head) ? head : (heads[0] ?? head) });
    } else {
      this.set({ layer, head, heads: [head] });
    }
  }

  toggleHead(head) {
    const s = this.state;
    let heads = s.heads.includes(head) ? s.heads.filter((h) => h !== head) : [...s.heads, head].sort((a, b) => a - b);
    if (!heads.length) heads = [head];
    this.set({ heads, head: heads.includes(s.head) ? s.head : heads[0] });
  }

  togglePlay() {
    const playing = !this.state.playing;
    this.set({ playing });
    clearTimeout(this.playTimer);
    if (playing) this.advance();
  }

  advance() {
    if (!this.state.playing) return;
    const steps = this.steps();
    if (steps.length < 2) {
      this.set({ playing: false });
      return;
    }
    const next = offsetStep(steps, this.state.step, 1, true);
    this.data.prefetch(this.sel(), prefetchSteps(steps, next, 3));
    this.awaitingPaint = true;
    this.set({ step: next });
  }

  onKey(e) {
    const t = e.target;
    // keys belong to widgets that use them (selects, text fields); checkboxes and buttons don't
    const typing =
      t &&
      (t.tagName === 'SELECT' ||
        t.tagName === 'TEXTAREA' ||
        t.isContentEditable ||
        (t.tagName === 'INPUT' && !['checkbox', 'radio', 'button'].includes(t.type)));
    if (typing || e.altKey || e.ctrlKey || e.metaKey) return;
    if (!this.views) return;
    if (e.key === 'ArrowRight') this.stepBy(1);
    else if (e.key === 'ArrowLeft') this.stepBy(-1);
    else if (e.key === 'Home') this.setStep(-Infinity);
    else if (e.key === 'End') this.setStep(Infinity);
    else if (e.key === ' ' && t?.tagName !== 'BUTTON' && t?.tagName !== 'INPUT') this.togglePlay();
    else return;
    e.preventDefault();
  }

  // ---- hooks for benchmarks and tests -------------------------------------------------

  mark(name, detail) {
    try {
      performance.mark(`tba:${name}`, { detail });
    } catch {
      /* old browsers: mark without detail */
    }
  }

  gridFailed(detail) {
    this.mark('grid-failed', detail);
    window.dispatchEvent(new CustomEvent('tb-attention:grid-failed', { detail }));
    if (this.state.playing) this.set({ playing: false });
  }

  gridPainted(detail) {
    this.mark('grid-painted', detail);
    this.paints.push({ ...detail, t: performance.now() });
    if (this.paints.length > 500) this.paints.splice(0, 250);
    window.dispatchEvent(new CustomEvent('tb-attention:grid-painted', { detail }));
    // idle: fetch the arrow-key neighbours so stepping by one snapshot is instant
    clearTimeout(this.neighbourTimer);
    if (!this.state.playing) {
      this.neighbourTimer = setTimeout(() => {
        const steps = this.steps();
        const cur = this.state.step;
        if (cur === null || !steps.length) return;
        const around = [offsetStep(steps, cur, 1), offsetStep(steps, cur, -1)].filter((x) => x !== cur);
        this.data.prefetch(this.sel(), around);
      }, 150);
    }
    if (this.state.playing && this.awaitingPaint) {
      this.awaitingPaint = false;
      clearTimeout(this.playTimer);
      this.playTimer = setTimeout(() => this.advance(), this.playFrameMs);
    }
  }

  // ---- loading ------------------------------------------------------------------------

  async start() {
    await this.refreshIndex();
    this.pollTimer = setInterval(() => this.refreshIndex(), this.pollMs);
  }

  async refreshIndex() {
    let index;
    try {
      index = await this.data.api.index();
    } catch (e) {
      this.pickers.setStatus(
        `could not load the index: ${e.message} (retrying every ${Math.round(this.pollMs / 1000)} s)`,
        true,
      );
      if (!this.state.index) {
        clear(this.content).appendChild(message(`Could not reach the attention plugin: ${e.message}`, true));
      }
      return;
    }
    const text = JSON.stringify(index);
    this.pickers.setStatus(`updated ${new Date().toLocaleTimeString()}`);
    if (text !== this._indexText) {
      this._indexText = text;
      this.set({ index });
    }
    // live runs: scalars change even when no snapshot was added
    if (this.state.run) this.loadScalars(true);
  }

  loadStats() {
    const s = this.state;
    if (!s.run || !s.probe || !s.kind) return;
    const want = JSON.stringify([s.run, s.probe, s.kind]);
    this.data.statsFor(this.sel(), this.steps()).then(
      (stats) => {
        const t = this.state;
        if (JSON.stringify([t.run, t.probe, t.kind]) === want && t.stats !== stats) this.set({ stats });
      },
      (e) => this.pickers.setStatus(`could not load statistics: ${e.message}`, true),
    );
    if (s.compareRun) {
      const cwant = JSON.stringify([s.compareRun, s.probe, s.kind]);
      this.data.statsFor(this.sel(s.compareRun), this.steps(s.compareRun)).then(
        (stats) => {
          const t = this.state;
          if (JSON.stringify([t.compareRun, t.probe, t.kind]) === cwant && t.compareStats !== stats)
            this.set({ compareStats: stats });
        },
        () => {},
      );
    }
  }

  loadScalars(refresh = false) {
    const run = this.state.run;
    if (!run) return;
    this.data.scalars(run, refresh ? 25000 : Infinity).then(
      (scalars) => {
        if (this.state.run !== run) return;
        const text = JSON.stringify(scalars);
        if (text === this._scalarsText && this.state.scalars) return;
        this._scalarsText = text;
        this.set({ scalars });
      },
      (e) => {
        if (this.state.run === run) {
          this.set({ scalars: { run, tags: {} } });
          this.pickers.setStatus(`could not load scalars: ${e.message}`, true);
        }
      },
    );
  }

  // ---- rendering ----------------------------------------------------------------------

  buildViews() {
    const timeline = new Timeline(this);
    const model = new ModelView(this);
    const head = new HeadView(this);
    const evolution = new Evolution(this);
    this.main = el('div', { class: 'tba-main' }, model.el, head.el);
    clear(this.content).append(timeline.el, this.main, evolution.el);
    this.views = { timeline, model, head, evolution };
  }

  onChange(s, changed) {
    this.pickers.update(s, changed);
    const hasRuns = !!(s.index && s.index.runs && s.index.runs.length);
    if (!hasRuns) {
      if (s.index && (this.views || !this.content.querySelector('[data-testid="empty-state"]'))) {
        this.views = null;
        clear(this.content).appendChild(emptyState());
      }
      return;
    }
    let all = changed;
    if (!this.views) {
      this.buildViews();
      all = new Set(Object.keys(s)); // first render: everything is new
    }
    if (!this.kindInfo() || !this.steps().length) {
      // a kind with no snapshot yet: keep the views, say so
      this.pickers.setStatus('this probe has no snapshot yet; waiting for the first one');
    }
    if (['run', 'probe', 'kind', 'compareRun', 'index'].some((k) => all.has(k))) this.loadStats();
    if (all.has('run') || (all.has('index') && !s.scalars)) this.loadScalars();
    this.main.classList.toggle('compare', !!s.compareRun);
    // The pickers, timeline and grid update now; the head view and the evolution (lines,
    // filmstrip) on the next frame, so a step change shows the grid first.
    this.views.timeline.update(s, all);
    this.views.model.update(s, all);
    this.deferred = this.deferred ? new Set([...this.deferred, ...all]) : new Set(all);
    if (!this.deferredFrame) {
      // after the frame that shows the grid (rAF, then a task)
      this.deferredFrame = requestAnimationFrame(() =>
        setTimeout(() => {
          this.deferredFrame = 0;
          const keys = this.deferred;
          this.deferred = null;
          if (!this.views) return;
          this.views.head.update(this.state, keys);
          this.views.evolution.update(this.state, keys);
        }, 0),
      );
    }
  }
}
