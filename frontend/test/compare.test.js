import test from 'node:test';
import assert from 'node:assert/strict';

import { neighbourSteps } from '../src/answers/stepNav.js';
import {
  cosine,
  bestMatch,
  matchAll,
  matchedHead,
  matchLabel,
  headSimilarity,
  missingStepText,
} from '../src/state/compare.js';

const N = 4; // tokens

/** A snapshot [layers, heads, N, N] whose head maps are given by `kinds` ('self' | 'prev' | 'first'). */
function snapshot(kinds, { layers = [0, 1] } = {}) {
  const heads = kinds[0].length;
  const data = new Uint8Array(layers.length * heads * N * N);
  kinds.forEach((row, li) =>
    row.forEach((kind, h) => {
      const off = (li * heads + h) * N * N;
      for (let q = 0; q < N; q++) {
        const k = kind === 'self' ? q : kind === 'prev' ? Math.max(0, q - 1) : 0;
        data[off + q * N + k] = 255;
      }
    }),
  );
  return { header: { layers, heads, query_len: N, key_len: N, shape: [layers.length, heads, N, N] }, data };
}

test('cosine of uint8 maps: 1 for the same map, 0 for disjoint ones', () => {
  const a = new Uint8Array([255, 0, 0, 255]);
  assert.ok(Math.abs(cosine(a, 0, a, 0, 4) - 1) < 1e-12);
  assert.equal(cosine(a, 0, new Uint8Array([0, 255, 255, 0]), 0, 4), 0);
  assert.equal(cosine(a, 0, new Uint8Array(4), 0, 4), 0);
  assert.ok(Math.abs(cosine(a, 0, new Uint8Array([255, 0, 0, 0]), 0, 4) - Math.SQRT1_2) < 1e-12);
});

test('a head formed at another index in B is found by pattern', () => {
  const A = snapshot([
    ['self', 'prev'],
    ['first', 'first'],
  ]);
  const B = snapshot([
    ['first', 'first'],
    ['prev', 'self'],
  ]);
  assert.deepEqual(bestMatch(A, 0, 0, B), { layer: 1, head: 1, score: 1 });
  assert.deepEqual(bestMatch(A, 0, 1, B), { layer: 1, head: 0, score: 1 });
  // two first-token heads of B tie: the earliest wins (B's L1H1 is not one)
  assert.deepEqual(bestMatch(A, 1, 1, B), { layer: 0, head: 0, score: 1 });
  assert.deepEqual(bestMatch(A, 1, 0, B), { layer: 0, head: 0, score: 1 });
  assert.equal(bestMatch(A, 2, 0, B), null, 'a head A lacks');
  const all = matchAll(A, B);
  assert.equal(all.length, 4);
  assert.deepEqual(
    all.map((m) => [m.layer, m.head, m.match.layer, m.match.head]),
    [
      [0, 0, 1, 1],
      [0, 1, 1, 0],
      [1, 0, 0, 0],
      [1, 1, 0, 0],
    ],
  );
});

test('identical runs match every head to itself; ties keep the same index', () => {
  const A = snapshot([
    ['first', 'first'],
    ['first', 'self'],
  ]);
  for (const m of matchAll(A, A)) assert.deepEqual([m.match.layer, m.match.head], [m.layer, m.head]);
});

test('a one-layer snapshot of A is matched against every layer of B', () => {
  const full = snapshot([
    ['self', 'prev'],
    ['first', 'self'],
  ]);
  const layer1 = snapshot([['first', 'self']], { layers: [1] });
  assert.deepEqual(bestMatch(layer1, 1, 0, full), { layer: 1, head: 0, score: 1 });
  assert.equal(bestMatch(layer1, 0, 0, full), null);
});

test('maps of another probe length are not compared', () => {
  const A = snapshot([['self']], { layers: [0] });
  const B = {
    header: { layers: [0], heads: 1, query_len: 3, key_len: 3, shape: [1, 1, 3, 3] },
    data: new Uint8Array(9),
  };
  assert.equal(bestMatch(A, 0, 0, B), null);
  assert.ok(Number.isNaN(headSimilarity(A, 0, 0, B, 0, 0)));
});

test('matchedHead: the same index (with its similarity) or the best pattern match', () => {
  const A = snapshot([
    ['self', 'prev'],
    ['first', 'first'],
  ]);
  const B = snapshot([
    ['prev', 'self'],
    ['first', 'first'],
  ]);
  const byIndex = matchedHead('index', 0, 0, A, B);
  assert.deepEqual([byIndex.layer, byIndex.head], [0, 0]);
  assert.ok(byIndex.score < 0.5);
  assert.ok(Number.isNaN(matchedHead('index', 0, 0).score), 'no snapshots: the index, no score');
  assert.deepEqual(matchedHead('pattern', 0, 0, A, B), { layer: 0, head: 1, score: 1 });
  assert.equal(matchedHead('pattern', 0, 0, A, null), null, 'unknown until both are loaded');
});

test('matchLabel names both heads and the similarity', () => {
  assert.equal(
    matchLabel('pattern', { layer: 2, head: 1 }, { layer: 3, head: 5, score: 0.934 }),
    'B L3H5 \u2248 A L2H1 (0.93)',
  );
  assert.equal(matchLabel('index', { layer: 2, head: 1 }, { layer: 2, head: 1, score: NaN }), 'B L2H1 = A L2H1');
  assert.match(matchLabel('pattern', { layer: 0, head: 1 }, null), /matching A L0H1/);
  assert.match(matchLabel('pattern', { layer: 0, head: 1 }, null, { loaded: true }), /no head comparable/);
});

test('a step B lacks: its neighbours, and the text its panels show', () => {
  const steps = [0, 150, 300, 450];
  assert.deepEqual(neighbourSteps(steps, 200), { before: 150, after: 300 });
  assert.deepEqual(neighbourSteps(steps, 500), { before: 450, after: null });
  assert.deepEqual(neighbourSteps(steps, -1), { before: null, after: 0 });
  assert.equal(missingStepText('b', steps, 300), null);
  assert.equal(missingStepText('b', steps, 200), 'run b has no snapshot at step 200; nearest: 150 / 300');
  assert.equal(missingStepText('b', steps, 500), 'run b has no snapshot at step 500; nearest: 450');
  assert.equal(missingStepText('b', steps, null), null);
  assert.match(missingStepText('b', [], 5), /no snapshot/);
});
