// The Predictions card: what the model predicted on the probe over training, on the loss
// timeline's step axis. For a language model, at one position (a token clicked in the head view,
// or the position picker; default: where the true token's probability rose most): a strip of the
// top-1 token at each step (predictionStrip.js) over a chart of the chosen token's probability (the
// true next token / masked word by default, or any token that was in the top-k at some step) and
// the top-1's. For a sequence classifier: the top label per step and each label's probability.
// Without predictions it says why and how to turn them on; a failed request shows its error.

import uPlot from 'uplot';
import { el, clear, select, setOptions, tokenLabel } from '../../paint/dom.js';
import { want, failureText, SnapshotSlot } from '../../state/shown.js';
import { loadPredictionsInto } from '../../data/predictionSlot.js';
import { kindInfo, probeInfo, stepsOf } from '../../state/selection.js';
import * as P from '../../answers/predictions.js';
import { attachStepDrag, onWidth, stepChartFigure } from '../charts/stepChart.js';
import { saveButtons } from '../common/saveButtons.js';
import { tokenChart, labelChart, chartOptions, CHART_HEIGHT } from './predictionChart.js';
import { PredictionStrip } from './predictionStrip.js';
import { LabelRows } from './labelRows.js';

const HOW_TO =
  'They are stored when the callback is made with predictions=True (top 10) or a top-k: ' +
  'AttentionCallback(..., predictions=True), the same for AttentionRecorder and Lightning, or ' +
  '`tb-attention replay --predictions 10`. Only a model with a language-modelling head (causal, ' +
  'masked or encoder-decoder LM) or a sequence classifier predicts; a bare encoder or a token ' +
  'classifier has no prediction head.';

/** The token list the positions of a predictions kind index: the probe's, or its decoder's. */
function predTokens(probe, pk) {
  return (pk === 'decoder' ? probe?.decoder_tokens : probe?.tokens) || [];
}

/** Inputs: `data` (DataSource), the actions `set`, `setStep`; update(state, changed). */
export class PredictionsView {
  constructor({ data, set, setStep }) {
    Object.assign(this, { data, set, setStep });
    this.state = null;
    this.u = null;
    this.width = 800;
    this.slot = new SnapshotSlot();
    this.strip = new PredictionStrip({ setStep });
    this.rows = new LabelRows({ data, setStep, selectProbe: (probe) => set({ probe }) });
    this.sub = el('span', { class: 'tba-sub' });
    this.messageEl = el('div', { class: 'tba-message', 'data-testid': 'pred-none', hidden: true });
    this.errorEl = el('div', { class: 'tba-view-error', 'data-testid': 'pred-error', role: 'alert', hidden: true });
    this.readout = el('div', { class: 'tba-pred-readout', 'data-testid': 'pred-readout' });
    this.chartEl = el('div', { class: 'tba-chart', 'data-testid': 'pred-chart' });
    this.body = el('div', { class: 'tba-pred-body' }, this.readout, this.strip.el, this.chartEl, this.rows.el);
    this.el = el(
      'section',
      { class: 'tba-card tba-predictions', 'data-testid': 'predictions', 'data-state': 'none' },
      this.buildHead(),
      this.messageEl,
      this.errorEl,
      this.body,
    );
    onWidth(this.chartEl, (w) => {
      this.width = w;
      if (this.u) this.u.setSize({ width: w, height: CHART_HEIGHT });
    });
  }

  buildHead() {
    this.positionSel = select([], '', (v) => this.pick({ position: Number(v), token: null }), {
      title: 'The position whose predictions are shown (or click a token in the head view)',
      'data-testid': 'pred-position',
    });
    this.tokenSel = select([], '', (v) => this.pick({ token: v === '' ? null : v }), {
      title: 'The token whose probability is drawn: the target, or any token in the top-k at some step',
      'data-testid': 'pred-token',
    });
    this.positionField = el('label', { class: 'tba-field' }, 'position', this.positionSel);
    this.tokenField = el('label', { class: 'tba-field' }, 'token', this.tokenSel);
    const title = el('span', { class: 'tba-card-title' }, 'Predictions');
    return el(
      'div',
      { class: 'tba-card-head' },
      title,
      this.sub,
      el('span', { class: 'tba-spacer' }),
      this.positionField,
      this.tokenField,
      saveButtons(
        'pred-save',
        () => this.figure(),
        () => ['attention-predictions', this.state.run, this.state.probe],
      ),
    );
  }

  /** The chart as shown, for the save buttons (null: none drawn). */
  figure() {
    const s = this.state;
    const title = `${s.run} \u00b7 ${s.probe} \u00b7 Predictions \u00b7 ${this.sub.textContent}`;
    return this.u ? stepChartFigure(this.lastChart, s, title, this.width) : null;
  }

  /** The user's choice of position/token, kept per probe in the state (`predictionPick`). */
  pick(patch) {
    const cur = this.shownPick || {};
    this.set({ predictionPick: { probe: this.state.probe, position: cur.position, token: cur.token, ...patch } });
  }

  update(state, changed) {
    this.state = state;
    if (['index', 'run', 'probe', 'kind'].some((k) => changed.has(k))) this.load();
    else if (changed.has('predictionPick')) this.render();
    else if (changed.has('step')) this.onStep();
  }

  /** {sel, w, steps} of the selection's predictions (one answer holds every step); null: none. */
  target() {
    const s = this.state;
    const pk = P.predictionKind(kindInfo(s));
    if (!pk) return null;
    const sel = { run: s.run, probe: s.probe, kind: pk };
    return { sel, w: want({ ...sel, step: 'all' }), steps: stepsOf(s) };
  }

  load() {
    // an index poll that changed nothing here leaves the card as drawn
    const drawn = (cached) => this.slot.last?.data === cached && !this.slot.pending && this.rendered === cached;
    return loadPredictionsInto(this.slot, this.data, this.target(), () => this.render(), drawn);
  }

  /** The card from exactly what the selection resolves to (shown.js): data, message or error. */
  render() {
    const t = this.target();
    const view = this.slot.shown(t && t.w, { keepStale: false });
    const data = view.state === 'data' ? view.data : null;
    const state = data ? (data.missing ? 'missing' : 'data') : t ? view.state : 'none';
    this.el.dataset.state = state;
    Object.assign(this.el.dataset, { run: this.state.run ?? '', probe: this.state.probe ?? '' }); // test hooks
    this.rendered = data;
    this.messageEl.hidden = !['missing', 'none'].includes(state);
    this.errorEl.hidden = state !== 'error';
    this.body.hidden = state !== 'data' && state !== 'loading';
    this.positionField.hidden = this.tokenField.hidden = true;
    this.destroyChart();
    clear(this.readout);
    if (state === 'none') this.messageEl.textContent = this.noneText();
    else if (state === 'missing')
      this.messageEl.textContent = `No predictions for probe \u201c${this.state.probe}\u201d (${data.missing}). ${HOW_TO}`;
    else if (state === 'error') this.renderError(t.w, view.error);
    else if (state === 'loading') this.readout.textContent = 'loading predictions\u2026';
    else this.renderData(data);
    if (state !== 'data') this.sub.textContent = '';
  }

  noneText() {
    const k = kindInfo(this.state);
    if (k && !P.predictionKind(k))
      return 'Predictions are made on the decoder tokens: choose the kind decoder or cross to see them.';
    return 'No probe selected.';
  }

  renderError(w, error) {
    const f = failureText(w, error);
    const title = `Could not load the predictions of probe \u201c${w.probe}\u201d (${w.kind}) in run ${w.run}`;
    clear(this.errorEl).append(el('b', {}, title), el('div', {}, f.reason), el('div', { class: 'tba-hint' }, f.hint));
  }

  /** The strip, chart and readout of a loaded answer. */
  renderData(answer) {
    if (answer.mode === 'label') {
      this.shownPick = null;
      this.chosen = null;
      this.sub.textContent = `sequence classifier \u00b7 predicted label distribution over steps`;
      this.stripSeries = { ...P.top1Series(answer, null), target: null };
      this.drawChart(labelChart(answer));
      this.rows.load(this.state);
    } else {
      const probe = probeInfo(this.state);
      const tokens = predTokens(probe, answer.kind);
      const pick = P.resolvePick(answer, this.state.probe, this.state.predictionPick);
      const target = P.targetOf(answer, pick.position);
      const cands = P.candidates(answer, pick.position);
      const token = pick.token ?? target ?? cands[0]?.token ?? null;
      this.shownPick = pick;
      this.renderPickers(answer, tokens, pick, target, cands);
      const tok = tokenLabel(tokens[pick.position]);
      const word = answer.mode === 'masked' ? 'masked position' : 'next token after';
      this.sub.textContent = `${answer.mode} \u00b7 ${word} #${pick.position} \u201c${tok}\u201d`;
      this.stripSeries = { ...P.top1Series(answer, pick.position), target };
      this.chosen = { position: pick.position, token, target };
      Object.assign(this.el.dataset, { position: pick.position, token: token ?? '' }); // test hooks
      const name = token === null ? 'none' : `\u201c${tokenLabel(token)}\u201d${token === target ? ' (target)' : ''}`;
      this.drawChart(tokenChart(answer, pick.position, token, name));
    }
    this.answer = answer;
    this.renderStrip();
    this.renderReadout();
  }

  renderPickers(answer, tokens, pick, target, cands) {
    this.positionField.hidden = this.tokenField.hidden = false;
    const positions = P.positionsOf(answer).map((p) => {
      const t = P.targetOf(answer, p);
      return [String(p), `#${p} ${tokenLabel(tokens[p])}${t === null ? '' : ` \u2192 ${tokenLabel(t)}`}`];
    });
    setOptions(this.positionSel, positions, String(pick.position));
    const first = target === null ? 'top-1 (no target here)' : `${P.targetName(answer.mode)}: ${tokenLabel(target)}`;
    const options = [
      ['', first],
      ...cands
        .filter((c) => c.token !== target)
        .map((c) => [c.token, `${tokenLabel(c.token)} (up to ${P.formatProb(c.max)})`]),
    ];
    setOptions(this.tokenSel, options, pick.token ?? '');
  }

  destroyChart() {
    if (this.u) this.u.destroy();
    this.u = null;
    this.lastChart = null;
    this.answer = null;
    this.stripSeries = null;
    clear(this.chartEl);
    this.strip.render(null);
    this.rows.load({}); // none
  }

  drawChart({ data, series }) {
    this.lastChart = { data, series }; // a test hook, as the evolution chart's
    this.stripAt = null;
    const onDraw = () => this.renderStrip();
    this.u = new uPlot(
      chartOptions(series, this.width, () => this.state, onDraw),
      data,
      this.chartEl,
    );
    attachStepDrag(this.u, (v) => this.setStep(v, { snap: true }));
  }

  /** The strip over the chart's plot area, placed from the drawn x scale (again when it changed). */
  renderStrip() {
    const u = this.u;
    if (!u || !this.stripSeries || !u.bbox.width) return;
    const over = u.over.getBoundingClientRect();
    const left = over.left - this.strip.el.getBoundingClientRect().left;
    const at = [left, over.width, u.scales.x.min, u.scales.x.max].join();
    if (at === this.stripAt) return;
    this.stripAt = at;
    const place = (step) => left + Math.max(0, Math.min(over.width, u.valToPos(step, 'x'))); // within the plot
    this.strip.render(this.stripSeries, place, this.state.step);
    this.rows.place(place, this.state.step);
  }

  onStep() {
    if (!this.u) return;
    this.u.redraw(false, false);
    this.strip.mark(this.state.step);
    this.rows.mark(this.state.step);
    this.renderReadout();
  }

  /** The cursor step's top-1 and the chosen token's probability (or the labels), as text. */
  renderReadout() {
    const step = this.state.step;
    const entry = P.stepEntry(this.answer, step);
    const c = this.chosen;
    const row = entry && P.rowAt(entry, this.answer.mode === 'label' ? null : c.position);
    clear(this.readout);
    this.readout.dataset.step = step;
    if (!row) {
      this.readout.textContent = `step ${step}: no predictions logged here`;
      return;
    }
    const [top, topP] = row.top[0];
    Object.assign(this.readout.dataset, { top1: top, top1Prob: topP });
    const parts = [`step ${step}`, `top-1 \u201c${tokenLabel(top)}\u201d ${P.formatProb(topP)}`];
    if (this.answer.mode === 'label')
      parts.push(row.top.map(([l, p]) => `${tokenLabel(l)} ${P.formatProb(p)}`).join(', '));
    else if (c.token !== null) {
      const p = P.tokenProbs({ steps: [step], predictions: [entry] }, c.position, c.token)[0];
      this.readout.dataset.prob = p ?? '';
      const rank = row.top.findIndex(([t]) => t === c.token) + 1;
      parts.push(
        `\u201c${tokenLabel(c.token)}\u201d${c.token === c.target ? ` (${P.targetName(this.answer.mode)})` : ''} ${p === null ? `below the top ${row.top.length}` : P.formatProb(p)}${rank ? `, rank ${rank}` : ''}`,
      );
    }
    this.readout.textContent = parts.join(' \u00b7 ');
  }
}
