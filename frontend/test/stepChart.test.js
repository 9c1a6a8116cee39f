import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xRange, defaultTags, formatStep } from '../src/views/charts/stepChart.js';

const index = {
  runs: [
    { run: 'a', probes: [{ name: 'p', kinds: [{ kind: 'self', steps: [100, 200] }] }] },
    { run: 'b', probes: [{ name: 'p', kinds: [{ kind: 'self', steps: [0, 150] }] }] },
  ],
};
const base = { index, run: 'a', probe: 'p', kind: 'self', compareRun: null, scalars: null, extraTags: [] };

test('the x range covers the snapshots, the compare run and the shown scalars, padded 1%', () => {
  assert.deepEqual(xRange(base), [99, 201]);
  assert.deepEqual(xRange({ ...base, compareRun: 'b' }), [-2, 202]);
  const scalars = { tags: { 'train/loss': { steps: [10, 300] }, lr: { steps: [0, 1000] } } };
  assert.deepEqual(xRange({ ...base, scalars }), [10 - 2.9, 300 + 2.9]);
  assert.deepEqual(xRange({ ...base, scalars, extraTags: ['lr'] }), [-10, 1010]);
  assert.deepEqual(xRange({ ...base, index: null }), [-0.01, 1.01]);
});

test('the same inputs give the same array (uPlot keeps its scale)', () => {
  assert.equal(xRange(base), xRange({ ...base }));
});

test('default tags: the losses, else the loss-like tags, else the first', () => {
  assert.deepEqual(defaultTags({ 'eval/loss': 1, 'train/loss': 1, lr: 1 }), ['train/loss', 'eval/loss']);
  assert.deepEqual(defaultTags({ my_loss: 1, lr: 1 }), ['my_loss']);
  assert.deepEqual(defaultTags({ lr: 1, acc: 1 }), ['lr']);
  assert.deepEqual(defaultTags(null), []);
});

test('step labels', () => {
  assert.equal(formatStep(1500), '1500');
  assert.equal(formatStep(15000), '15.0k');
  assert.equal(formatStep(2500000), '2.5M');
  assert.equal(formatStep(NaN), '');
});
