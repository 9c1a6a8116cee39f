import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MASS,
  ACCURACY,
  relationList,
  relationIndex,
  relationValue,
  relationStepIndex,
  relationStep,
  rankHeads,
  relationCurve,
  classifierCurve,
  instancesText,
  headScores,
} from '../src/answers/relationData.js';

// 2 relations, steps [0, 10, 20], 1 layer x 3 heads; relation "object" was not logged at step 0.
// data [relations, 4, steps, layers, heads] (mass, accuracy, the accuracy's interval low and high)
const steps = [0, 10, 20];
const values = {
  coreference: {
    mass: [
      [0.1, 0.2, 0.3],
      [0.5, 0.2, 0.4],
      [0.6, 0.9, 0.6],
    ],
    accuracy: [
      [0, 0, 1],
      [0.5, 0, 1],
      [0.5, 1, 1],
    ],
  },
  object: {
    mass: [
      [NaN, NaN, NaN],
      [0.3, 0.1, 0.2],
      [0.3, 0.1, 0.2],
    ],
    accuracy: [
      [NaN, NaN, NaN],
      [1, 0, 1],
      [1, 0, 0],
    ],
  },
};
function answer() {
  const data = new Float32Array(2 * 4 * 3 * 1 * 3);
  ['coreference', 'object'].forEach((name, r) =>
    ['mass', 'accuracy', 'low', 'high'].forEach((m, mi) =>
      (values[name][m] || values[name].accuracy.map((row) => row.map((v) => (mi === 2 ? v / 2 : 1)))).forEach(
        (row, s) => row.forEach((v, h) => (data[((r * 4 + mi) * 3 + s) * 3 + h] = v)),
      ),
    ),
  );
  const relations = [
    {
      relation: 'coreference',
      instances: [
        { probe: 'cat sad', kind: 'self', source: 'it', target: 'cat' },
        { probe: 'cat food', kind: 'self', source: 'it', target: 'food' },
      ],
      steps: [0, 10, 20],
      formed_step: 10,
      classifier: { steps: [0, 20], heldout_accuracy: [0.5, null], top_heads: [{ layer: 0, head: 2, weight: 1.5 }] },
    },
    {
      relation: 'object',
      instances: [],
      steps: [10, 20],
      formed_step: null,
      classifier: { steps: [], heldout_accuracy: [] },
    },
  ];
  return { header: { steps, layers: 1, heads: 3, relations }, data };
}

test('values, lists and step lookups', () => {
  const rel = answer();
  assert.deepEqual(
    relationList(rel).map((r) => r.relation),
    ['coreference', 'object'],
  );
  assert.deepEqual(relationList(null), []);
  assert.equal(relationIndex(rel, 'object'), 1);
  assert.equal(relationIndex(rel, 'nope'), -1);
  assert.ok(Math.abs(relationValue(rel, 0, MASS, 1, 0, 2) - 0.4) < 1e-6);
  assert.equal(relationValue(rel, 1, ACCURACY, 2, 0, 0), 1);
  assert.ok(Number.isNaN(relationValue(rel, 0, MASS, 3, 0, 0)));
  // the last step of the relation at or before the cursor; its first before them
  assert.equal(relationStepIndex(rel, 0, 15), 1);
  assert.equal(relationStepIndex(rel, 1, 0), 1); // "object" starts at step 10
  assert.equal(relationStep(rel, 1, 25), 20);
  assert.equal(relationStepIndex(rel, 0, null), -1);
});

test('heads ranked by mass or accuracy at the cursor step, ties by the other measure', () => {
  const rel = answer();
  const byMass = rankHeads(rel, 0, 20).map((r) => [r.head, +r.mass.toFixed(2), r.accuracy, r.interval]);
  assert.deepEqual(byMass, [
    [1, 0.9, 1, [0.5, 1]],
    [2, 0.6, 1, [0.5, 1]], // 0.6 = 0.6: head 2 has the higher accuracy
    [0, 0.6, 0.5, [0.25, 1]],
  ]);
  const byAcc = rankHeads(rel, 0, 10, 'accuracy').map((r) => r.head);
  assert.deepEqual(byAcc, [2, 0, 1]);
  assert.deepEqual(
    rankHeads(rel, 1, 0).map((r) => r.head),
    [0, 2, 1],
  ); // step 0 -> its first step (10)
  assert.deepEqual(rankHeads({ ...rel, header: { ...rel.header, relations: [] } }, 0, 10), []);
});

test('curves over steps and the classifier on the header steps', () => {
  const rel = answer();
  assert.deepEqual(
    relationCurve(rel, 1, MASS, 0, 0).map((v) => (v === null ? null : +v.toFixed(2))),
    [null, 0.3, 0.3],
  );
  assert.deepEqual(classifierCurve(rel, 0), [0.5, null, null]);
  assert.deepEqual(classifierCurve(rel, 1), [null, null, null]);
  assert.equal(instancesText(relationList(rel)[0]), 'it \u2192 cat (cat sad), it \u2192 food (cat food)');
});

test('one head across the relations', () => {
  const s = headScores(answer(), 0, 2, 20);
  assert.deepEqual(
    s.map((x) => [x.relation, +x.mass.toFixed(2), x.accuracy]),
    [
      ['coreference', 0.6, 1],
      ['object', 0.2, 0],
    ],
  );
});
