// The Predictions card of a sequence classifier: under the selected probe's chart, one row per
// probe of the run with its top label at each step (a PredictionStrip each, on the same x axis),
// so the steps at which each probe's predicted label changed line up. Each row is loaded on its own
// (DataSource.predictions) and shows its own data, "no predictions" or its error.

import { el, clear } from '../../paint/dom.js';
import { runInfo } from '../../state/selection.js';
import { top1Series } from '../../answers/predictions.js';
import { PredictionStrip } from './predictionStrip.js';

/** Inputs: `data` (DataSource), `setStep`, `selectProbe(name)`; load(state), place(place, step). */
export class LabelRows {
  constructor({ data, setStep, selectProbe }) {
    Object.assign(this, { data, setStep, selectProbe });
    this.rows = [];
    this.token = 0;
    this.placeAt = null;
    this.el = el('div', { class: 'tba-pred-rows', 'data-testid': 'pred-probes' });
  }

  /** One row per probe of the selected run that has self attention (a classifier's kind). */
  load(state) {
    const token = ++this.token;
    clear(this.el);
    this.rows = [];
    const probes = (runInfo(state)?.probes || []).filter((p) => p.kinds.some((k) => k.kind === 'self'));
    if (probes.length < 2) return; // the chart above is the only probe
    this.el.appendChild(
      el('div', { class: 'tba-sub' }, 'top label of each probe over steps (click a name to show it)'),
    );
    for (const p of probes) {
      const row = {
        name: p.name,
        strip: new PredictionStrip({ setStep: this.setStep, tid: 'pred-row-strip' }),
        series: null,
      };
      row.status = el('span', { class: 'tba-sub' }, 'loading\u2026');
      const name = el(
        'button',
        { class: 'tba-pred-row-name', title: p.name, onclick: () => this.selectProbe(p.name) },
        p.name,
      );
      // the strip as wide as the card's (same x as the chart); the name in the axis margin on its left
      row.el = el('div', { class: 'tba-pred-row', 'data-probe': p.name }, row.strip.el, name, row.status);
      if (p.name === state.probe) row.el.classList.add('selected');
      this.el.appendChild(row.el);
      this.rows.push(row);
      const steps = p.kinds.find((k) => k.kind === 'self').steps;
      this.data.predictions({ run: state.run, probe: p.name, kind: 'self' }, steps).then(
        (answer) => token === this.token && this.settle(row, answer),
        (error) => token === this.token && this.settle(row, null, error),
      );
    }
  }

  settle(row, answer, error) {
    const labels = answer && !answer.missing && answer.mode === 'label';
    row.series = labels ? { ...top1Series(answer, null), target: null } : null;
    row.status.textContent = error ? `could not load: ${error.message || error}` : labels ? '' : 'no label predictions';
    row.el.dataset.state = error ? 'error' : labels ? 'data' : 'missing';
    this.draw(row);
  }

  /** Place every row's strip with the chart's `place(step)` (strip-relative pixels); `step`: the cursor. */
  place(place, step) {
    this.placeAt = place;
    this.step = step;
    for (const row of this.rows) this.draw(row);
  }

  mark(step) {
    this.step = step;
    for (const row of this.rows) row.strip.mark(step);
  }

  draw(row) {
    if (!this.placeAt) return;
    row.strip.render(row.series, this.placeAt, this.step);
  }
}
