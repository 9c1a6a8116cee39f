// The head view's predictions box (`hv-predictions`, B's `hv-b-predictions`): what the model
// predicted at the cursor step for the hovered token (its top-k as text with probabilities, and the
// true next token's or masked word's probability), from the `predictions` route (predictions.js).
// A token without predictions, a probe without any, a step without any and a failed request each
// say so; another step's or probe's predictions are never shown.

import { el, clear, tokenLabel } from '../../paint/dom.js';
import { want, failureText, SnapshotSlot } from '../../state/shown.js';
import { loadPredictionsInto } from '../../data/predictionSlot.js';
import { kindInfo, probeInfo, stepsOf } from '../../state/selection.js';
import { kindTokens } from '../../answers/model.js';
import {
  predictionKind,
  sideHasPredictions,
  stepEntry,
  rowAt,
  targetRank,
  formatProb,
  targetName,
} from '../../answers/predictions.js';

const MODE_WORD = { 'next-token': 'next', masked: 'masked', label: 'label' };

/** Inputs: `data` (DataSource), `tid` (the test id prefix: hv, hv-b); update(state, run), hover(token). */
export class HoverPredictions {
  constructor({ data, tid }) {
    this.data = data;
    this.slot = new SnapshotSlot();
    this.token = null; // {side, index}: the hovered token (index in the probe's token list)
    this.el = el('div', { class: 'tba-hv-preds', 'data-testid': `${tid}-predictions`, 'data-state': 'none' });
  }

  /** The state and the run this head view shows (the compare run for B). */
  update(state, run) {
    this.state = state;
    this.run = run;
    this.load();
  }

  hover(token) {
    this.token = token;
    this.render();
  }

  /** {sel, w, steps}: the predictions series of the selection and the step wanted (null: none). */
  target() {
    const s = this.state;
    const k = s && this.run ? kindInfo(s, this.run) : null;
    const pk = predictionKind(k);
    if (!pk || s.step === null) return null;
    const sel = { run: this.run, probe: s.probe, kind: pk };
    return { sel, w: want({ ...sel, step: s.step }), steps: stepsOf(s, this.run) };
  }

  load() {
    return loadPredictionsInto(this.slot, this.data, this.target(), () => this.render());
  }

  render() {
    const t = this.target();
    const view = this.slot.shown(t && t.w, { keepStale: false });
    const { state, parts } = this.content(t, view);
    this.el.dataset.state = state;
    this.el.dataset.index = this.token ? this.token.index : ''; // the token it is about (a test hook)
    this.el.setAttribute('role', state === 'error' ? 'alert' : 'status');
    clear(this.el).append(...parts);
  }

  /** {state, parts}: what the box says for `view` of target `t` and the hovered token. */
  content(t, view) {
    const s = this.state;
    const muted = (text) => el('span', { class: 'tba-sub' }, text);
    if (!t) return { state: 'none', parts: [muted(this.noKindText())] };
    if (view.state === 'error') {
      const f = failureText(t.w, view.error);
      return { state: 'error', parts: [`could not load the predictions: ${f.reason}. ${f.hint}`] };
    }
    if (view.state !== 'data') return { state: 'loading', parts: [muted('loading predictions\u2026')] };
    if (view.data.missing)
      return { state: 'missing', parts: [muted('no predictions logged for this probe (see the Predictions card)')] };
    const entry = stepEntry(view.data, s.step);
    if (!entry) return { state: 'missing', parts: [muted(`no predictions logged at step ${s.step}`)] };
    if (!this.token) return { state: 'data', parts: [muted(`hover a token: its predictions at step ${s.step}`)] };
    return { state: 'data', parts: this.tokenParts(entry) };
  }

  noKindText() {
    const k = this.state && this.run ? kindInfo(this.state, this.run) : null;
    return k && !predictionKind(k) ? 'predictions are made on the decoder tokens: choose kind decoder or cross' : '';
  }

  /** The hovered token's top-k and its target's probability, as text elements. */
  tokenParts(entry) {
    const { side, index } = this.token;
    const k = kindInfo(this.state, this.run);
    const tokens = kindTokens(probeInfo(this.state, this.run), k)[side === 'q' ? 'query' : 'key'].tokens;
    const name = `#${index} \u201c${tokenLabel(tokens[index])}\u201d`;
    if (!sideHasPredictions(k, side))
      return [el('span', { class: 'tba-sub' }, `${name} (encoder): predictions are made on the decoder tokens (left)`)];
    const row = rowAt(entry, index);
    if (!row) {
      const where = entry.mode === 'masked' ? ` (masked: ${entry.positions.map((p) => '#' + p).join(', ')})` : '';
      return [el('span', { class: 'tba-sub' }, `${name}: no prediction at this token${where}`)];
    }
    const head = entry.mode === 'label' ? 'the probe\u2019s labels' : `${name} \u2192 ${MODE_WORD[entry.mode]}`;
    const items = row.top.map(([tok, p]) =>
      el(
        'span',
        { class: tok === row.target ? 'tba-pred-item target' : 'tba-pred-item', 'data-token': tok, 'data-prob': p },
        el('b', {}, tokenLabel(tok)),
        ` ${formatProb(p)}`,
      ),
    );
    const parts = [el('span', { class: 'tba-pred-head' }, `${head} at step ${this.state.step}:`), ...items];
    if (row.target !== null) {
      const rank = targetRank(row);
      const text = `${targetName(entry.mode)} \u201c${tokenLabel(row.target)}\u201d ${formatProb(row.targetProb)}${rank ? ` (rank ${rank})` : ` (not in the top ${row.top.length})`}`;
      parts.push(
        el('span', { class: 'tba-pred-target', 'data-testid': 'hv-pred-target', 'data-prob': row.targetProb }, text),
      );
    }
    return parts;
  }
}
