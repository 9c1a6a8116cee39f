import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenChart, labelChart, chartOptions } from '../src/views/predictions/predictionChart.js';

const row = (top, target, p) => ({
  mode: 'next-token',
  positions: [0],
  top: [top],
  targets: [target],
  target_probs: [p],
});
const NEXT = {
  mode: 'next-token',
  steps: [0, 50],
  predictions: [
    row(
      [
        ['x', 0.5],
        ['y', 0.2],
      ],
      'b',
      0.1,
    ),
    row(
      [
        ['b', 0.8],
        ['x', 0.1],
      ],
      'b',
      0.8,
    ),
  ],
};

test("one position's chart: the chosen token's probability and the top-1's, per step", () => {
  const target = tokenChart(NEXT, 0, null, '“b” (target)');
  assert.deepEqual(target.data, [
    [0, 50],
    [0.1, 0.8],
    [0.5, 0.8],
  ]);
  assert.deepEqual(
    target.series.map((s) => s.label),
    ['step', 'p(“b” (target))', 'p(top-1)'],
  );
  assert.deepEqual(tokenChart(NEXT, 0, 'y', '“y”').data[1], [0.2, null], 'y: below the top-2 at step 50');
  assert.equal(target.series[1].value(null, 0.12345), '0.123');
});

test("a classifier's chart: one curve per label, in the colours of the head palette", () => {
  const label = (top) => ({ mode: 'label', positions: [], top: [top], targets: [null], target_probs: [null] });
  const answer = {
    mode: 'label',
    steps: [0, 9],
    predictions: [
      label([
        ['A', 0.7],
        ['B', 0.3],
      ]),
      label([
        ['B', 0.6],
        ['A', 0.4],
      ]),
    ],
  };
  const { data, series } = labelChart(answer);
  assert.deepEqual(data, [
    [0, 9],
    [0.3, 0.6],
    [0.7, 0.4],
  ]);
  assert.deepEqual(
    series.map((s) => [s.label, s.stroke]),
    [
      ['step', undefined],
      ['B', 'rgb(31,119,180)'],
      ['A', 'rgb(255,127,14)'],
    ],
  );
});

test('the chart is on the shared step axis with y in [0, 1]', () => {
  const state = {
    index: null,
    run: null,
    probe: null,
    kind: null,
    compareRun: null,
    scalars: null,
    extraTags: [],
    step: 3,
  };
  const opts = chartOptions(
    [],
    640,
    () => state,
    () => {},
  );
  assert.equal(opts.width, 640);
  assert.deepEqual(opts.scales.y.range(), [0, 1]);
  assert.deepEqual(opts.scales.x.range(), [-0.01, 1.01]);
  assert.equal(opts.plugins.length, 2);
});
