// The neuron view card (issue #12): why the selected head attends as it does at the cursor step,
// BertViz-style, from the query and key vectors the model's attention received (./neurons): for
// one query token, q, each k_j, q * k_j, q.k_j, the logit and the softmax computed here
// (neuronMath.js), with value-norm contributions when the answer has them (neuronRows.js draws).
// It shows exactly the selection's answer or, in place, why there is none: the step has no neuron
// record (the nearest that have one), the head was not captured (those that were), the run has
// none (how to turn it on), or the request's failure (neuronSlot.js, shown.js's rules).

import { el, clear, select, setOptions, tokenLabel } from '../../paint/dom.js';
import { kindTokens } from '../../answers/model.js';
import { kindInfo, probeInfo, runInfo, seriesOf } from '../../state/selection.js';
import { neuronParts, neuronRow, defaultQuery, shortNumber } from '../../answers/neuronMath.js';
import { neuronAvailability, pickedQuery, notCaptured } from '../../answers/neuronStatus.js';
import { NeuronSlot, neuronWant, neuronFailureText } from '../../state/neuronSlot.js';
import { NeuronRows } from './neuronRows.js';
import { neuronMessage, headButtons } from './neuronMessages.js';
import { ContributionChart } from './contributionChart.js';

const KEYS = ['index', 'run', 'probe', 'kind', 'step', 'layer', 'head', 'neuronQuery'];

/** Inputs: `data` (DataSource), the actions `set`, `setStep`, `selectHead`; update(state, changed). */
export class NeuronView {
  constructor({ data, set, setStep, selectHead }) {
    Object.assign(this, { data, set, setStep, selectHead });
    this.state = null;
    this.slot = new NeuronSlot();
    this.rows = new NeuronRows({ onPick: (j) => this.pickQuery(j) });
    this.chart = new ContributionChart({ data });
    this.title = el('span', { class: 'tba-card-title' }, 'Neuron view');
    this.status = el('span', { class: 'tba-sub', 'data-testid': 'nv-status' });
    this.querySel = select([], null, (v) => this.pickQuery(Number(v)), {
      'data-testid': 'nv-query',
      title: 'The query token whose attention is explained',
    });
    this.queryField = el('label', { class: 'tba-field', hidden: true }, 'query token', this.querySel);
    this.legend = el(
      'div',
      { class: 'tba-sub tba-nv-legend', hidden: true },
      'vectors and products: red positive, blue negative, darker = larger |value| (each strip scaled to its largest); hatched: a masked key',
    );
    this.headsEl = el('span', { class: 'tba-nv-heads', 'data-testid': 'nv-heads' });
    this.formula = el('div', { class: 'tba-sub', 'data-testid': 'nv-formula' });
    this.messageEl = el('div', { class: 'tba-view-error tba-missing', 'data-testid': 'nv-message', hidden: true });
    this.errorEl = el('div', { class: 'tba-view-error', 'data-testid': 'nv-error', role: 'alert', hidden: true });
    this.el = this.buildCard();
  }

  buildCard() {
    return el(
      'section',
      { class: 'tba-card tba-neuronview', 'data-testid': 'neuron-view' },
      el(
        'div',
        { class: 'tba-card-head' },
        this.title,
        this.status,
        el('span', { class: 'tba-spacer' }),
        this.queryField,
      ),
      el('div', { class: 'tba-card-head' }, this.headsEl),
      this.formula,
      this.messageEl,
      this.errorEl,
      this.rows.el,
      this.rows.readout,
      this.legend,
      this.chart.el,
    );
  }

  update(state, changed) {
    this.state = state;
    if (KEYS.some((k) => changed.has(k))) this.load();
    this.chart.update(state, changed);
  }

  /** The query token list, the key token list and whether a key token can be picked as the query. */
  tokens() {
    const probe = probeInfo(this.state);
    const k = kindInfo(this.state);
    if (!probe || !k) return null;
    return { ...kindTokens(probe, k), pickable: k.query === k.key, causal: !!k.causal };
  }

  /** The query token shown: the user's pick for this probe/kind, else the default. */
  queryIndex(count) {
    const s = this.state;
    const t = this.tokens();
    const picked = pickedQuery(s.neuronQuery, s.probe, s.kind, count);
    return picked ?? defaultQuery(count, { causal: t?.causal, special: t?.query.special });
  }

  pickQuery(index) {
    const s = this.state;
    this.set({ neuronQuery: { probe: s.probe, kind: s.kind, index } });
  }

  want() {
    const s = this.state;
    return neuronWant(seriesOf(s), s.step, s.layer, s.head);
  }

  availability() {
    const s = this.state;
    return neuronAvailability(runInfo(s), kindInfo(s), s.step, s.layer, s.head);
  }

  async load() {
    const s = this.state;
    const w = this.want();
    if (!w || this.availability().state !== 'load') {
      this.slot.reset();
      return this.render();
    }
    const cached = this.data.cachedNeurons(seriesOf(s), w.step, w.layer, w.head);
    if (cached) this.slot.settle(w, cached);
    else if (!this.slot.reuse(w)) {
      const done = this.slot.request(w, () => this.data.neurons(seriesOf(s), w.step, w.layer, w.head));
      this.render();
      if (!(await done)) return;
    }
    this.render();
  }

  /** What the selection resolves to: a message, the error, loading, or the data drawn. */
  render() {
    const s = this.state;
    const w = this.want();
    const avail = w ? this.availability() : { state: 'none' };
    const view = avail.state === 'load' ? this.slot.shown(w) : avail;
    const captured = view.state === 'error' && notCaptured(view.error);
    this.el.dataset.state = captured ? 'not-captured' : view.state;
    Object.assign(this.el.dataset, { step: s.step, layer: s.layer, head: s.head });
    this.title.textContent = `Neuron view \u00b7 L${s.layer} H${s.head}`;
    this.status.textContent = view.state === 'loading' ? 'loading\u2026' : w ? `step ${w.step}` : '';
    const message = captured ? neuronMessage({ state: 'not-captured', error: view.error }, this.actions()) : null;
    this.showMessage(message || (avail.state !== 'load' ? neuronMessage(avail, this.actions()) : null));
    this.showError(view.state === 'error' && !captured ? neuronFailureText(w, view.error) : null);
    if (view.state !== 'data') return this.blank();
    try {
      this.draw(neuronParts(view.data), view.data);
    } catch (e) {
      this.el.dataset.state = 'error';
      this.showError(neuronFailureText(w, e));
      this.blank();
    }
  }

  actions() {
    const s = this.state;
    return {
      setStep: this.setStep,
      selectHead: (l, h) => this.selectHead(l, h),
      selectKind: (probe, kind) => this.set({ probe, kind }),
      layer: s.layer,
      head: s.head,
      step: s.step,
      probe: s.probe,
      kind: s.kind,
    };
  }

  showMessage(node) {
    this.messageEl.hidden = !node;
    clear(this.messageEl);
    if (node) this.messageEl.append(node);
  }

  showError(t) {
    this.errorEl.hidden = !t;
    clear(this.errorEl);
    if (t) this.errorEl.append(el('b', {}, t.title), el('div', {}, t.reason), el('div', { class: 'tba-hint' }, t.hint));
  }

  blank() {
    this.drawn = null;
    delete this.el.dataset.query;
    this.rows.clear();
    clear(this.headsEl);
    this.formula.textContent = '';
    setOptions(this.querySel, [], null);
    this.queryField.hidden = true;
    this.legend.hidden = true;
  }

  /** Draw query i of `n` (parsed from `data`), unless exactly that is drawn already (an index poll). */
  draw(n, data) {
    const t = this.tokens();
    const i = this.queryIndex(n.Q);
    if (this.drawn && this.drawn.data === data && this.drawn.i === i) return;
    this.drawn = { data, i };
    const row = neuronRow(n, i);
    const options = Array.from({ length: n.Q }, (_, q) => [
      String(q),
      `${q}: ${tokenLabel(t.query.tokens[q] ?? '#' + q)}`,
    ]);
    setOptions(this.querySel, options, String(i));
    this.queryField.hidden = false;
    this.legend.hidden = false;
    this.el.dataset.query = String(i);
    clear(this.headsEl).append(...headButtons(n.header.heads, this.actions(), 'captured heads:'));
    this.formula.textContent = formulaText(n, t);
    if (t.query.tokens.length !== n.Q || t.key.tokens.length !== n.K)
      this.status.textContent = `step ${n.header.step}: the record and the probe's tokens disagree in length`;
    this.rows.draw(n, row, t, t.pickable);
  }
}

/** The arithmetic shown, in words. */
function formulaText(n, t) {
  const [scale, cap] = [shortNumber(n.scale), shortNumber(n.softcap)];
  const logit = n.softcap > 0 ? `${cap}\u00b7tanh(q\u00b7k \u00d7 ${scale} / ${cap})` : `q\u00b7k \u00d7 ${scale}`;
  const parts = [`weight = softmax over the allowed keys of ${logit}${n.bias ? ' + position bias' : ''}`];
  parts.push(`${n.D} dimensions; computed here from the vectors logged with the step`);
  if (t.causal) parts.push('causal: later keys are masked');
  if (n.valueNorm) parts.push('contribution = weight \u00d7 \u2016W_O v\u2c7c\u2016, normalized');
  return parts.join(' \u00b7 ');
}
