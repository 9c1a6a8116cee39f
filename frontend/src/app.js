// The controller: wiring only. It owns the state (store.js), applies the selection rules
// (selection.js) to every patch, hands each view its data and a few named actions, and
// passes state changes on; loading.js loads, playback.js plays, keys.js reads the keyboard.

import { createStore } from './state/store.js';
import { DataSource } from './data/dataSource.js';
import { el, clear } from './paint/dom.js';
import { mark } from './views/common/perf.js';
import { keyAction } from './state/keys.js';
import { Loader } from './state/loading.js';
import { Playback } from './state/playback.js';
import {
  nextSelection,
  kindInfo,
  stepsOf,
  seriesOf,
  runPatch,
  stepPatch,
  stepByPatch,
  headPatch,
  toggleHeadPatch,
} from './state/selection.js';
import { Pickers } from './views/common/pickers.js';
import { Timeline } from './views/timeline/timeline.js';
import { ModelView } from './views/grid/modelView.js';
import { HeadView } from './views/headView/headView.js';
import { Evolution } from './views/evolution/evolution.js';
import { PredictionsView } from './views/predictions/predictionsView.js';
import { RelationsCard } from './views/relations/relationsCard.js';
import { ModelOverviewCard } from './views/overview/modelOverviewCard.js';
import { NeuronView } from './views/neuron/neuronView.js';
import { emptyState, message } from './views/common/emptyState.js';
import { SMOOTHING_DEFAULT } from './answers/smoothing.js';

const INITIAL = {
  index: null,
  run: null,
  probe: null,
  kind: null,
  compareRun: null,
  compareDiff: false,
  matchMode: 'index',
  step: null,
  playing: false,
  layer: 0,
  head: 0,
  heads: [0],
  badgeStat: 'entropy',
  colorByDrift: false,
  gridZoom: 'fit',
  contrast: 'sqrt',
  diffMode: false,
  diffRef: null,
  hideSpecial: false,
  mapWindow: null, // the large map's zoom window {q0, q1, k0, k1} in tokens; null: the whole map
  extraTags: [],
  smoothing: SMOOTHING_DEFAULT, // the timeline's curves, as TensorBoard's Scalars tab smooths them
  stats: null,
  compareStats: null,
  scalars: null,
  predictionPick: null, // the Predictions card's {probe, position, token} (issue #12)
  // the relations card and the model overview (issue #11)
  relations: null, // ./relations of the run: {run, header, data} | {run, error}
  relation: null,
  relationRank: 'mass',
  overviewStat: 'drift',
  overviewRef: null,
  overviewSort: { key: 'drift', dir: 'desc' },
  similarityLayer: 'all',
  neuronQuery: null, // the neuron view's query token {probe, kind, index} (issue #12); null: the default
};

export class App {
  constructor(root, { data = new DataSource(), pollMs = 30000, playFrameMs = 280, initial = {} } = {}) {
    this.root = root;
    this.data = data;
    this.pollMs = pollMs;
    // `initial`: {probe, step} to open at (a notebook's show(...)); the selection rules apply once the
    // index has loaded (an unknown probe falls back to the first, a step to the nearest logged one)
    const opening = {};
    if (typeof initial.probe === 'string') opening.probe = initial.probe;
    if (Number.isFinite(initial.step)) opening.step = initial.step;
    this.store = createStore({ ...INITIAL, ...opening });
    this.paints = [];
    const getState = () => this.state;
    const set = (patch) => this.set(patch);
    this.playback = new Playback({
      getState,
      set,
      prefetch: (sel, steps) => {
        data.prefetch(sel, steps, this.views?.model.pool()); // what the grid paints
        this.views?.evolution.prefetch(steps); // and the large map
      },
      frameMs: playFrameMs,
    });
    // the actions the views are given (never the App)
    this.actions = {
      set,
      selectRun: (run) => this.set(runPatch(this.state, run)),
      setStep: (value, opts) => this.setStep(value, opts),
      stepBy: (delta) => this.stepBy(delta),
      selectHead: (layer, head, opts) => this.selectHead(layer, head, opts),
      toggleHead: (head) => this.set(toggleHeadPatch(this.state, head)),
      togglePlay: () => this.togglePlay(),
    };
    this.pickers = new Pickers(this.actions);
    this.content = el('div', { class: 'tba-content' });
    this.loader = new Loader({
      data,
      getState,
      set,
      pollMs,
      status: (text, isError) => this.pickers.setStatus(text, isError),
      unreachable: (text) => clear(this.content).appendChild(message(text, true)),
    });
    root.append(this.pickers.el, this.content);
    this.views = null;
    this.store.subscribe((s, changed) => this.onChange(s, changed));
    window.addEventListener('keydown', (e) => this.onKey(e));
  }

  get state() {
    return this.store.get();
  }

  /** Logged snapshot steps of the current probe/kind in `run` (also a test/bench hook). */
  steps(run = this.state.run) {
    return stepsOf(this.state, run);
  }

  sel(run = this.state.run) {
    return seriesOf(this.state, run);
  }

  // ---- actions ------------------------------------------------------------------------

  /** Apply a patch (or a function of the state giving one) under the selection rules. */
  set(patch) {
    const p = typeof patch === 'function' ? patch(this.state) : patch;
    if (p) this.store.set(nextSelection(this.state, p));
  }

  setStep(value, opts) {
    this.set(stepPatch(this.state, value, opts));
  }

  stepBy(delta) {
    this.set(stepByPatch(this.state, delta));
  }

  selectHead(layer, head, opts) {
    this.set(headPatch(this.state, layer, head, opts));
  }

  togglePlay() {
    this.playback.toggle();
  }

  onKey(e) {
    const action = this.views ? keyAction(e) : null;
    if (!action) return;
    if (action === 'next') this.stepBy(1);
    else if (action === 'prev') this.stepBy(-1);
    else if (action === 'first') this.setStep(-Infinity);
    else if (action === 'last') this.setStep(Infinity);
    else this.togglePlay();
    e.preventDefault();
  }

  // ---- what the grid reports (hooks for benchmarks and tests) -------------------------

  gridFailed(detail) {
    mark('grid-failed', detail);
    window.dispatchEvent(new CustomEvent('tb-attention:grid-failed', { detail }));
    this.playback.failed();
  }

  gridPainted(detail) {
    mark('grid-painted', detail);
    this.paints.push({ ...detail, t: performance.now() });
    if (this.paints.length > 500) this.paints.splice(0, 250);
    window.dispatchEvent(new CustomEvent('tb-attention:grid-painted', { detail }));
    this.playback.painted();
  }

  // ---- loading ------------------------------------------------------------------------

  async start() {
    await this.refreshIndex();
    this.pollTimer = setInterval(() => this.refreshIndex(), this.pollMs);
  }

  refreshIndex() {
    return this.loader.refreshIndex();
  }

  // ---- rendering ----------------------------------------------------------------------

  buildViews() {
    const { data, actions: a } = this;
    const timeline = new Timeline(a);
    const model = new ModelView({
      data,
      set: a.set,
      selectHead: a.selectHead,
      onPainted: (d) => this.gridPainted(d),
      onFailed: (d) => this.gridFailed(d),
    });
    const head = new HeadView({ data, set: a.set, toggleHead: a.toggleHead });
    const headB = new HeadView({ data, set: a.set, toggleHead: a.toggleHead, compare: true });
    const evolution = new Evolution({ data, set: a.set, setStep: a.setStep });
    const predictions = new PredictionsView({ data, set: a.set, setStep: a.setStep });
    const relations = new RelationsCard({ set: a.set, setStep: a.setStep, selectHead: a.selectHead });
    const overview = new ModelOverviewCard({ data, set: a.set, setStep: a.setStep, selectHead: a.selectHead });
    this.main = el('div', { class: 'tba-main' }, model.el, head.el, headB.el);
    clear(this.content).append(timeline.el, this.main, evolution.el, relations.el, overview.el);
    this.views = { timeline, model, head, headB, evolution, relations, overview };
    evolution.el.after(predictions.el); // the Predictions card under the evolution
    this.views.predictions = predictions;
    const neuron = new NeuronView({ data, set: a.set, setStep: a.setStep, selectHead: a.selectHead });
    this.main.after(neuron.el); // the neuron view under the grid and the head view
    this.views.neuron = neuron;
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
    if (!kindInfo(s) || !stepsOf(s).length) {
      // a kind with no snapshot yet: keep the views, say so
      this.pickers.setStatus('this probe has no snapshot yet; waiting for the first one');
    }
    if (['run', 'probe', 'kind', 'compareRun', 'index'].some((k) => all.has(k))) this.loader.loadStats();
    if (all.has('run') || (all.has('index') && !s.scalars)) this.loader.loadScalars();
    if (all.has('run') || all.has('index')) this.loader.loadRelations();
    this.main.classList.toggle('compare', !!s.compareRun);
    // The grid, pickers and timeline update now; the head view and the evolution (lines,
    // filmstrip) once the grid has shown the step, so their requests never compete with the grid's.
    this.views.model.update(s, all); // first: its request goes out before the others' work
    this.views.evolution.updateMap(s, all); // one head: a long probe's map does not wait for the grid
    this.views.timeline.update(s, all);
    this.deferred = this.deferred ? new Set([...this.deferred, ...all]) : new Set(all);
    if (!this.deferredWait) {
      this.deferredWait = this.views.model
        .settled()
        .catch(() => {})
        .then(() => this.afterGridFrame());
    }
  }

  /** After the frame that shows the grid (rAF, then a task): the head view and the evolution. */
  afterGridFrame() {
    requestAnimationFrame(() =>
      setTimeout(() => {
        this.deferredWait = null;
        const keys = this.deferred;
        this.deferred = null;
        if (!this.views || !keys) return;
        this.views.head.update(this.state, keys);
        this.views.headB.update(this.state, keys);
        this.views.evolution.update(this.state, keys);
        this.views.predictions.update(this.state, keys);
        this.views.neuron.update(this.state, keys);
        this.views.relations.update(this.state, keys);
        this.views.overview.update(this.state, keys);
      }, 0),
    );
  }
}
