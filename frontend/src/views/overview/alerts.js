// The model overview's alerts at the cursor step (the server's rules, analysis/alerts.py): entropy
// collapse (a warning), sharp heads and attention sinks (information), each head named with the step
// its run of snapshots started; a click on a head selects it.

import { el, clear } from '../../paint/dom.js';
import { formatStat, statsStepIndex } from '../../answers/model.js';
import { alertsAt } from '../../answers/overviewNumbers.js';

const LIST_MAX = 24;
const UNCHECKED =
  'Entropy collapse not checked: this log has no largest attention logit (written before Dec 2026, or a model ' +
  'whose logits tb-attention cannot measure), and sharp heads alone are no collapse.';

// The rules as the server states them (header.alert_rules, analysis/alerts.py). Entropy collapse is
// the one warning; sharp heads and sinks are what heads became, not faults.
const RULES = {
  collapse: {
    title: 'Entropy collapse',
    warning: true,
    rule: (r) =>
      `sharp, and its largest attention logit grew to \u2265 ${r.logit_growth}\u00d7 its first-snapshot value and \u2265 ${r.logit_floor} (Zhai et al. 2023; Wortsman et al. 2023)`,
  },
  sharp: {
    title: 'Sharp heads',
    rule: (r) =>
      `normalized entropy below ${r.entropy_below} and below ${r.ratio_to_first}\u00d7 its first-snapshot value: specialised, not a fault unless its logits keep growing`,
  },
  sink: {
    title: 'Attention sinks',
    rule: (r) => `\u2265 ${r.first_mass} of the attention on the first token ([CLS]/BOS), mean over query rows`,
  },
};

/** Inputs: the action `selectHead`; `render(state)`. */
export class Alerts {
  constructor({ selectHead }) {
    this.selectHead = selectHead;
    this.el = el('div', { class: 'tba-alerts', 'data-testid': 'overview-alerts' });
  }

  render(state) {
    clear(this.el);
    const stats = state.stats;
    if (!stats) return;
    const stepIdx = statsStepIndex(stats, state.step);
    const constants = stats.header.alert_rules || {};
    let any = false;
    for (const [kind, r] of Object.entries(RULES)) {
      const found = alertsAt(stats, kind, stepIdx);
      if (!found.length) continue;
      any = true;
      found.sort((a, b) => a.since - b.since || a.layer - b.layer || a.head - b.head);
      this.el.append(this._alert(kind, r, constants[kind] || {}, found));
    }
    const checked = Object.hasOwn(stats.header.alerts || {}, 'collapse');
    if (!any)
      this.el.append(
        el(
          'div',
          { class: 'tba-sub', 'data-testid': 'alerts-none' },
          `no ${checked ? 'entropy collapse, ' : ''}sharp head or attention sink at this step`,
        ),
      );
    if (!checked) this.el.append(el('div', { class: 'tba-sub', 'data-testid': 'collapse-unchecked' }, UNCHECKED));
  }

  _alert(kind, r, constants, found) {
    const heads = found.slice(0, LIST_MAX).map((a) =>
      el(
        'button',
        {
          class: 'tba-chip',
          'data-testid': 'alert-head',
          'data-layer': a.layer,
          'data-head': a.head,
          'data-since': a.since,
          title: `Select layer ${a.layer}, head ${a.head}`,
          onclick: () => this.selectHead(a.layer, a.head),
        },
        `L${a.layer}H${a.head} since step ${a.since} (${formatStat(a.value)})`,
      ),
    );
    const more = found.length > LIST_MAX ? ` and ${found.length - LIST_MAX} more` : '';
    const count = `${found.length} head${found.length > 1 ? 's' : ''}`;
    return el(
      'div',
      {
        class: r.warning ? 'tba-alert' : 'tba-alert tba-info',
        role: r.warning ? 'alert' : 'status',
        'data-testid': `alert-${kind}`,
        'data-count': found.length,
      },
      el('b', {}, `${r.warning ? '\u26a0' : '\u2139'} ${r.title}: ${count}`),
      el('span', { class: 'tba-sub' }, ` (${r.rule(constants)}) `),
      heads,
      more,
    );
  }
}
