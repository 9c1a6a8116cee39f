// The run's labelled relations (the `relations` route, docs/http-api.md): helpers over the answer
// {header: {steps, layers, heads, relations: [{relation, instances, steps, formed_step, pairs,
// classifier}]}, data: float32 [relations, 4 (mass, accuracy, the accuracy's 95% interval low and
// high), steps, layers, heads]}, pure.

import { atOrBeforeIndex } from './stepNav.js';

export const MASS = 0;
export const ACCURACY = 1;
export const ACCURACY_LOW = 2; // the accuracy's 95% Wilson interval over the relation's pairs
export const ACCURACY_HIGH = 3;
const MEASURES = 4;

/** The relations of the answer ([] before it is loaded or when the run has none). */
export function relationList(rel) {
  return rel?.header?.relations || [];
}

export function relationIndex(rel, name) {
  return relationList(rel).findIndex((r) => r.relation === name);
}

/** One value: relation `r`, measure (MASS, ACCURACY, ACCURACY_LOW/HIGH), step index of the header's steps, head. */
export function relationValue(rel, r, measure, stepIdx, layer, head) {
  const h = rel.header;
  const n = h.steps.length;
  if (r < 0 || stepIdx < 0 || stepIdx >= n) return NaN;
  return rel.data[(((r * MEASURES + measure) * n + stepIdx) * h.layers + layer) * h.heads + head];
}

/**
 * The header's step index that applies to `step` for relation `r`: its last logged step at or
 * before `step` (its first when `step` precedes them), -1 when it has none.
 */
export function relationStepIndex(rel, r, step) {
  const own = relationList(rel)[r]?.steps || [];
  if (!own.length || step === null || step === undefined) return -1;
  return rel.header.steps.indexOf(own[atOrBeforeIndex(own, step)]);
}

/** The relation's step that applies to `step` (null when none). */
export function relationStep(rel, r, step) {
  const i = relationStepIndex(rel, r, step);
  return i < 0 ? null : rel.header.steps[i];
}

/**
 * Every head with its mass, accuracy and the accuracy's 95% interval at the step, ranked by `by` ('mass' or 'accuracy'),
 * highest first; ties go to the other measure, then to the lower layer and head.
 */
export function rankHeads(rel, r, step, by = 'mass') {
  const i = relationStepIndex(rel, r, step);
  if (i < 0) return [];
  const { layers, heads } = rel.header;
  const rows = [];
  for (let l = 0; l < layers; l++)
    for (let k = 0; k < heads; k++) {
      const mass = relationValue(rel, r, MASS, i, l, k);
      const accuracy = relationValue(rel, r, ACCURACY, i, l, k);
      const interval = [relationValue(rel, r, ACCURACY_LOW, i, l, k), relationValue(rel, r, ACCURACY_HIGH, i, l, k)];
      if (Number.isFinite(mass) || Number.isFinite(accuracy))
        rows.push({ layer: l, head: k, mass, accuracy, interval });
    }
  const other = by === 'mass' ? 'accuracy' : 'mass';
  const key = (v) => (Number.isFinite(v) ? v : -Infinity);
  return rows.sort(
    (a, b) => key(b[by]) - key(a[by]) || key(b[other]) - key(a[other]) || a.layer - b.layer || a.head - b.head,
  );
}

/** One head's measure over the header's steps (NaN -> null, for charts). */
export function relationCurve(rel, r, measure, layer, head) {
  const n = rel?.header?.steps?.length || 0;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = relationValue(rel, r, measure, i, layer, head);
    out[i] = Number.isFinite(v) ? v : null;
  }
  return out;
}

/** The probing classifier's held-out accuracy on the header's steps (null where it was not fitted). */
export function classifierCurve(rel, r) {
  const c = relationList(rel)[r]?.classifier;
  const at = new Map((c?.steps || []).map((s, i) => [s, c.heldout_accuracy[i]]));
  return (rel?.header?.steps || []).map((s) => {
    const v = at.get(s);
    return Number.isFinite(v) ? v : null;
  });
}

/** "it → cat (cat sad | food), it → food (cat did not eat)": the relation's labelled pairs. */
export function instancesText(entry) {
  return (entry?.instances || []).map((x) => `${x.source} \u2192 ${x.target} (${x.probe})`).join(', ');
}

/** The best score of each relation at `step` for one head: [{relation, mass, accuracy}]. */
export function headScores(rel, layer, head, step) {
  return relationList(rel).map((entry, r) => {
    const i = relationStepIndex(rel, r, step);
    return {
      relation: entry.relation,
      mass: relationValue(rel, r, MASS, i, layer, head),
      accuracy: relationValue(rel, r, ACCURACY, i, layer, head),
    };
  });
}
