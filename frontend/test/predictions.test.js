import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  predictionKind,
  sideHasPredictions,
  stepEntry,
  rowAt,
  targetRank,
  formatProb,
  positionsOf,
  targetOf,
  top1Series,
  tokenProbs,
  candidates,
  segments,
  segmentBounds,
  labelSeries,
  defaultPosition,
  resolvePick,
} from '../src/answers/predictions.js';

// A causal LM on "a b c" at steps 0, 10, 20: position 0 predicts b, position 1 predicts c, 2 nothing.
const entry = (top0, top1, pb, pc) => ({
  mode: 'next-token',
  positions: [0, 1, 2],
  top: [top0, top1, [['x', 0.5]]],
  targets: ['b', 'c', null],
  target_probs: [pb, pc, null],
});
const NEXT = {
  mode: 'next-token',
  steps: [0, 10, 20],
  predictions: [
    entry(
      [
        ['x', 0.4],
        ['y', 0.3],
      ],
      [
        ['x', 0.5],
        ['c', 0.2],
      ],
      0.01,
      0.2,
    ),
    entry(
      [
        ['x', 0.35],
        ['b', 0.3],
      ],
      [
        ['c', 0.6],
        ['x', 0.1],
      ],
      0.3,
      0.6,
    ),
    entry(
      [
        ['b', 0.7],
        ['x', 0.1],
      ],
      [
        ['c', 0.8],
        ['y', 0.05],
      ],
      0.7,
      0.8,
    ),
  ],
};
const LABELS = {
  mode: 'label',
  steps: [0, 5],
  predictions: [
    {
      mode: 'label',
      positions: [],
      top: [
        [
          ['NEG', 0.6],
          ['POS', 0.4],
        ],
      ],
      targets: [null],
      target_probs: [null],
    },
    {
      mode: 'label',
      positions: [],
      top: [
        [
          ['POS', 0.9],
          ['NEG', 0.1],
        ],
      ],
      targets: [null],
      target_probs: [null],
    },
  ],
};
const MASKED = {
  mode: 'masked',
  steps: [0, 1],
  predictions: [
    {
      mode: 'masked',
      positions: [4, 7],
      top: [[['eat', 0.2]], [['cat', 0.3]]],
      targets: ['food', null],
      target_probs: [0.05, null],
    },
    {
      mode: 'masked',
      positions: [4, 7],
      top: [[['food', 0.6]], [['cat', 0.4]]],
      targets: ['food', null],
      target_probs: [0.6, null],
    },
  ],
};

test('which kind holds the predictions of a selected kind, and which side of the head view shows them', () => {
  const self = { kind: 'self', query: 'tokens', key: 'tokens' };
  const cross = { kind: 'cross', query: 'decoder_tokens', key: 'tokens' };
  const decoder = { kind: 'decoder', query: 'decoder_tokens', key: 'decoder_tokens' };
  const encoder = { kind: 'encoder', query: 'tokens', key: 'tokens' };
  assert.deepEqual([self, cross, decoder, encoder, null].map(predictionKind), [
    'self',
    'decoder',
    'decoder',
    null,
    null,
  ]);
  assert.deepEqual(
    [sideHasPredictions(self, 'k'), sideHasPredictions(cross, 'q'), sideHasPredictions(cross, 'k')],
    [true, true, false],
  );
  assert.equal(sideHasPredictions(encoder, 'q'), false);
});

test("a position's row at a step: its top-k, its target, the target's rank", () => {
  assert.equal(stepEntry(NEXT, 15), null);
  const row = rowAt(stepEntry(NEXT, 10), 0);
  assert.deepEqual(row, {
    position: 0,
    top: [
      ['x', 0.35],
      ['b', 0.3],
    ],
    target: 'b',
    targetProb: 0.3,
  });
  assert.equal(targetRank(row), 2);
  assert.equal(targetRank(rowAt(stepEntry(NEXT, 0), 0)), null, 'b is below the top-2 at step 0');
  assert.equal(targetRank(rowAt(stepEntry(NEXT, 0), 2)), null, 'the last position has no target');
  assert.equal(rowAt(stepEntry(NEXT, 0), 3), null);
  assert.equal(rowAt(stepEntry(MASKED, 0), 5), null, 'not a masked position');
  assert.deepEqual(
    rowAt(stepEntry(LABELS, 5), 3).top,
    [
      ['POS', 0.9],
      ['NEG', 0.1],
    ],
    'a label row for any token',
  );
  assert.deepEqual(
    [formatProb(0.61234), formatProb(0.00042), formatProb(0), formatProb(null)],
    ['0.612', '4.2e-4', '0.000', '\u2013'],
  );
});

test('positions, targets, the top-1 per step and a token over steps', () => {
  assert.deepEqual(positionsOf(NEXT), [0, 1, 2]);
  assert.deepEqual(positionsOf(MASKED), [4, 7]);
  assert.deepEqual(positionsOf(LABELS), []);
  assert.equal(targetOf(NEXT, 1), 'c');
  assert.equal(targetOf(MASKED, 7), null);
  assert.deepEqual(top1Series(NEXT, 0), { steps: [0, 10, 20], tokens: ['x', 'x', 'b'], probs: [0.4, 0.35, 0.7] });
  assert.deepEqual(tokenProbs(NEXT, 0), [0.01, 0.3, 0.7], 'the target: its own probability even below the top-k');
  assert.deepEqual(tokenProbs(NEXT, 0, 'y'), [0.3, null, null], 'another token: known only in the top-k');
  assert.deepEqual(tokenProbs(NEXT, 2), [null, null, null]);
  assert.deepEqual(candidates(NEXT, 0), [
    { token: 'b', max: 0.7 },
    { token: 'x', max: 0.4 },
    { token: 'y', max: 0.3 },
  ]);
});

test('top-1 segments: runs of the same token, and the part of the axis each covers', () => {
  const steps = [0, 10, 20, 40, 50];
  const segs = segments(steps, ['x', 'x', 'b', null, 'b']);
  assert.deepEqual(segs, [
    { token: 'x', from: 0, to: 1, first: 0, last: 10 },
    { token: 'b', from: 2, to: 2, first: 20, last: 20 },
    { token: 'b', from: 4, to: 4, first: 50, last: 50 },
  ]);
  assert.deepEqual(segmentBounds(steps, segs[0]), [-5, 15]);
  assert.deepEqual(segmentBounds(steps, segs[1]), [15, 30]);
  assert.deepEqual(segmentBounds(steps, segs[2]), [45, 55]);
  assert.deepEqual(segmentBounds([7], { from: 0, to: 0, first: 7, last: 7 }), [6.5, 7.5]);
});

test("a classifier's label distribution over steps, labels by their last probability", () => {
  assert.deepEqual(labelSeries(LABELS), {
    labels: ['POS', 'NEG'],
    probs: [
      [0.4, 0.9],
      [0.6, 0.1],
    ],
  });
});

test('the default position and the resolved pick', () => {
  assert.equal(defaultPosition(NEXT), 0, 'b rose 0.7 - 0.01 = 0.69, c 0.8 - 0.2 = 0.6');
  assert.equal(defaultPosition(MASKED), 4);
  assert.equal(defaultPosition(LABELS), null);
  assert.deepEqual(resolvePick(NEXT, 'p', null), { position: 0, token: null });
  assert.deepEqual(resolvePick(NEXT, 'p', { probe: 'p', position: 1, token: 'x' }), { position: 1, token: 'x' });
  assert.deepEqual(resolvePick(NEXT, 'p', { probe: 'p', position: 1, token: 'zzz' }), { position: 1, token: null });
  assert.deepEqual(resolvePick(NEXT, 'p', { probe: 'q', position: 1, token: 'x' }), { position: 0, token: null });
  assert.deepEqual(resolvePick(NEXT, 'p', { probe: 'p', position: 9, token: null }), { position: 0, token: null });
});
