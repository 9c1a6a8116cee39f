// The model overview's alerts at the cursor step (overviewNumbers.js has the rules): heads whose
// entropy collapsed and attention sinks, each named with the step it started; a click on a head
// selects it.

import { el, clear } from '../../paint/dom.js';
import { formatStat, statsStepIndex } from '../../answers/model.js';
import {
  collapseAlerts,
  sinkAlerts,
  COLLAPSE_ENTROPY,
  COLLAPSE_RATIO,
  SINK_MASS,
} from '../../answers/overviewNumbers.js';

const LIST_MAX = 24;

const RULES = {
  collapse: {
    title: 'Entropy collapse',
    rule: `normalized entropy below ${COLLAPSE_ENTROPY} and below ${COLLAPSE_RATIO}\u00d7 its first-snapshot value`,
    find: collapseAlerts,
  },
  sink: {
    title: 'Attention sinks',
    rule: `\u2265 ${SINK_MASS} of the attention on the first token ([CLS]/BOS), mean over query rows`,
    find: sinkAlerts,
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
    let any = false;
    for (const [kind, r] of Object.entries(RULES)) {
      const found = r.find(stats, stepIdx);
      if (!found.length) continue;
      any = true;
      found.sort((a, b) => a.since - b.since || a.layer - b.layer || a.head - b.head);
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
      this.el.append(
        el(
          'div',
          { class: 'tba-alert', role: 'alert', 'data-testid': `alert-${kind}`, 'data-count': found.length },
          el('b', {}, `\u26a0 ${r.title}: ${found.length} head${found.length > 1 ? 's' : ''}`),
          el('span', { class: 'tba-sub' }, ` (${r.rule}) `),
          heads,
          more,
        ),
      );
    }
    if (!any)
      this.el.append(
        el(
          'div',
          { class: 'tba-sub', 'data-testid': 'alerts-none' },
          'no entropy collapse and no attention sink at this step',
        ),
      );
  }
}
