import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smoothed, smoothingWeight, SMOOTHING_DEFAULT } from '../src/answers/smoothing.js';

const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('the debiased moving average, written out by hand', () => {
  const w = 0.6;
  const out = smoothed([1, 3, 2], w);
  close(out[0], 1); // the first value debiased is itself
  const m1 = 0.4 * 1;
  const m2 = m1 * w + 0.4 * 3;
  const m3 = m2 * w + 0.4 * 2;
  close(out[1], m2 / (1 - w * w));
  close(out[2], m3 / (1 - w ** 3));
});

test('a weight of 0 and a constant series leave the values as they are', () => {
  assert.deepEqual(smoothed([3, 1, 2], 0), [3, 1, 2]);
  assert.deepEqual(smoothed([2, 2, 2], 0.9), [2, 2, 2]);
});

test('non-finite values are kept and do not count', () => {
  const out = smoothed([1, NaN, 3, Infinity, null], 0.5);
  assert.ok(Number.isNaN(out[1]));
  assert.equal(out[3], Infinity);
  assert.equal(out[4], null);
  // 3 is the second finite value: (0.5 * (0.5 * 1) + 0.5 * 3) / (1 - 0.25)
  close(out[2], (0.25 + 1.5) / 0.75);
});

test('the weight is clamped to the slider range', () => {
  assert.equal(smoothingWeight('0.95'), 0.95);
  assert.equal(smoothingWeight(1), 0.999);
  assert.equal(smoothingWeight(-1), 0);
  assert.equal(smoothingWeight('x'), SMOOTHING_DEFAULT);
});
