import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contributionSeries, largestGap } from '../src/answers/contributions.js';

const answer = {
  steps: [0, 10],
  heads: [
    [0, 1],
    [1, 3],
  ],
  first: [
    [
      [0.5, 0.1],
      [0.2, 0.2],
    ],
    [
      [0.7, 0.2],
      [0.1, 0.3],
    ],
  ],
  sep: [
    [
      [0.3, 0.3],
      [0.6, 0.1],
    ],
    [
      [0.1, 0.1],
      [0.8, 0.05],
    ],
  ],
};

test('one head of the contributions answer, weight against contribution', () => {
  const s = contributionSeries(answer, 1, 3);
  assert.deepEqual(s.steps, [0, 10]);
  assert.deepEqual(s.firstWeight, [0.2, 0.1]);
  assert.deepEqual(s.firstContribution, [0.2, 0.3]);
  assert.deepEqual(s.sepWeight, [0.6, 0.8]);
  assert.deepEqual(s.sepContribution, [0.1, 0.05]);
  assert.equal(s.hasContribution, true);
  assert.equal(contributionSeries(answer, 0, 0), null); // not captured
  const gap = largestGap(s); // [SEP] at step 10: 0.8 by weight, 0.05 by contribution
  assert.equal(gap.step, 10);
  assert.equal(gap.what, '[SEP]');
  assert.ok(Math.abs(gap.gap - 0.75) < 1e-12);
});

test('without value norms there is no contribution and no gap', () => {
  const none = {
    ...answer,
    first: [[[0.5, null]], [[0.7, null]]],
    sep: [[[0.3, null]], [[0.1, null]]],
    heads: [[0, 1]],
  };
  const s = contributionSeries(none, 0, 1);
  assert.equal(s.hasContribution, false);
  assert.equal(largestGap(s), null);
});
