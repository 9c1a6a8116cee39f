import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  nearestIndex,
  nearestStep,
  atOrBeforeIndex,
  offsetStep,
  evenlySpaced,
  prefetchSteps,
} from '../src/answers/stepNav.js';

const steps = [0, 50, 100, 200, 400];

test('nearest step snaps to the closest logged step, ties to the earlier', () => {
  assert.equal(nearestStep(steps, -10), 0);
  assert.equal(nearestStep(steps, 74), 50);
  assert.equal(nearestStep(steps, 75), 50);
  assert.equal(nearestStep(steps, 76), 100);
  assert.equal(nearestStep(steps, 10000), 400);
  assert.equal(nearestStep([], 3), null);
  assert.equal(nearestIndex([7], 3), 0);
});

test('atOrBefore', () => {
  assert.equal(atOrBeforeIndex(steps, 199), 2);
  assert.equal(atOrBeforeIndex(steps, 200), 3);
  assert.equal(atOrBeforeIndex(steps, -5), 0);
  assert.equal(atOrBeforeIndex(steps, 1e9), 4);
  assert.equal(atOrBeforeIndex([], 1), -1);
});

test('arrow keys step by one snapshot and clamp; play wraps', () => {
  assert.equal(offsetStep(steps, 100, 1), 200);
  assert.equal(offsetStep(steps, 100, -1), 50);
  assert.equal(offsetStep(steps, 0, -1), 0);
  assert.equal(offsetStep(steps, 400, 1), 400);
  assert.equal(offsetStep(steps, 400, 1, true), 0);
  assert.equal(offsetStep(steps, 120, 1), 200, 'from between steps, moves from the nearest');
  assert.equal(offsetStep([], 1, 1), null);
});

test('evenly spaced filmstrip steps include both ends', () => {
  assert.deepEqual(evenlySpaced(steps, 3), [0, 100, 400]);
  assert.deepEqual(evenlySpaced(steps, 10), steps);
  assert.deepEqual(evenlySpaced(steps, 1), [400]);
  const many = Array.from({ length: 200 }, (_, i) => i * 10);
  const e = evenlySpaced(many, 8);
  assert.equal(e.length, 8);
  assert.equal(e[0], 0);
  assert.equal(e[7], 1990);
  for (let i = 1; i < e.length; i++) assert.ok(e[i] > e[i - 1]);
});

test('prefetch looks ahead and wraps', () => {
  assert.deepEqual(prefetchSteps(steps, 200, 2), [400, 0]);
  assert.deepEqual(prefetchSteps([5], 5, 2), []);
});
