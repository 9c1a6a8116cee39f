// Events of the loss timeline, pure: the steps where a head type formed (the `head_types` of
// ./stats, with their formed_step) and where a relation formed (./relations), grouped by step.

import { typeLabel } from './model.js';

/**
 * -> [{step, items: [{kind: 'type' | 'relation', text}]}], sorted by step; a head type as
 * "L1H2 induction", a relation as "coreference (relation)". Entries without a formed step are left
 * out, and so are those at `firstStep` (there from the first snapshot: nothing formed there).
 */
export function timelineEvents(stats, relations, firstStep = null) {
  const at = new Map();
  const add = (step, item) => {
    if (!Number.isFinite(step) || step === firstStep) return;
    if (!at.has(step)) at.set(step, []);
    at.get(step).push(item);
  };
  const types = (stats?.header?.head_types || [])
    .slice()
    .sort((a, b) => a.layer - b.layer || a.head - b.head || String(a.type).localeCompare(String(b.type)));
  for (const t of types) add(t.formed_step, { kind: 'type', text: `L${t.layer}H${t.head} ${typeLabel(t.type)}` });
  for (const r of relations?.header?.relations || [])
    add(r.formed_step, { kind: 'relation', text: `${r.relation} (relation)` });
  return [...at.entries()].sort((a, b) => a[0] - b[0]).map(([step, items]) => ({ step, items }));
}

/** One line of the events' legend: "step 2700: L1H1 induction, coreference (relation)". */
export function eventText(event) {
  return `step ${event.step}: ${event.items.map((i) => i.text).join(', ')}`;
}

/** The event nearest to `x` pixels among `events` placed at `toX(step)`, within `radius`; or null. */
export function eventNear(events, toX, x, radius = 6) {
  let best = null;
  let dist = radius;
  for (const e of events) {
    const d = Math.abs(toX(e.step) - x);
    if (d <= dist) {
      best = e;
      dist = d;
    }
  }
  return best;
}
