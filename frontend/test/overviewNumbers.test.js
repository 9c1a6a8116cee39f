import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layerValues, headDeltas, sortRows, alertsAt, DELTA_COLUMNS } from '../src/answers/overviewNumbers.js';

// stats [stats, steps, layers, heads]: 2 layers x 2 heads, steps [0, 100, 200]
const NAMES = ['entropy', 'first', 'sep', 'prev', 'next', 'drift'];
const V = {
  // [step][layer][head]
  entropy: [
    [
      [0.8, 0.6],
      [0.9, 0.5],
    ],
    [
      [0.05, 0.6],
      [0.9, 0.04],
    ],
    [
      [0.02, 0.6],
      [0.9, 0.2],
    ],
  ],
  first: [
    [
      [0.1, 0.6],
      [0.2, 0.3],
    ],
    [
      [0.1, 0.4],
      [0.55, 0.3],
    ],
    [
      [0.1, 0.7],
      [0.6, NaN],
    ],
  ],
  sep: [
    [
      [0, 0],
      [0, 0],
    ],
    [
      [0, 0],
      [0, 0],
    ],
    [
      [0.1, 0.2],
      [0.3, 0.4],
    ],
  ],
  prev: [
    [
      [0.1, 0.1],
      [0.1, 0.1],
    ],
    [
      [0.1, 0.1],
      [0.1, 0.1],
    ],
    [
      [0.5, 0.1],
      [0.1, 0.1],
    ],
  ],
  next: [
    [
      [0, 0],
      [0, 0],
    ],
    [
      [0, 0],
      [0, 0],
    ],
    [
      [0, 0],
      [0, -0.2],
    ],
  ],
  drift: [
    [
      [0, 0],
      [0, 0],
    ],
    [
      [0.3, 0.1],
      [0.2, 0.4],
    ],
    [
      [0.5, 0.1],
      [0.2, 0.6],
    ],
  ],
};
function stats() {
  const data = new Float32Array(NAMES.length * 3 * 2 * 2);
  NAMES.forEach((n, si) =>
    V[n].forEach((step, s) =>
      step.forEach((row, l) => row.forEach((v, h) => (data[((si * 3 + s) * 2 + l) * 2 + h] = v))),
    ),
  );
  return { header: { steps: [0, 100, 200], stats: NAMES, layers: 2, heads: 2 }, data };
}
const round = (v) => (v === null ? null : Math.round(v * 1000) / 1000);

test('layer means over heads at every step, undefined heads skipped', () => {
  assert.deepEqual(
    layerValues(stats(), 'drift').map((r) => r.map(round)),
    [
      [0, 0.2, 0.3],
      [0, 0.3, 0.4],
    ],
  );
  assert.deepEqual(
    layerValues(stats(), 'first').map((r) => r.map(round)),
    [
      [0.35, 0.25, 0.4],
      [0.25, 0.425, 0.6], // step 200: head 1 is NaN, the mean of head 0 alone
    ],
  );
  assert.deepEqual(layerValues(stats(), 'induction'), []);
  assert.deepEqual(layerValues(null, 'drift'), []);
  assert.deepEqual(
    layerValues(stats(), 'first', 'max').map((r) => r.map(round)),
    [
      [0.6, 0.4, 0.7],
      [0.3, 0.55, 0.6],
    ],
  );
});

test('deltas of each head between the reference and the cursor step', () => {
  const rows = headDeltas(stats(), 2, 0);
  assert.equal(rows.length, 4);
  const r = rows.find((x) => x.layer === 0 && x.head === 0);
  assert.deepEqual(
    DELTA_COLUMNS.map((c) => round(r[c.key])),
    [0.5, -0.78, 0, 0.1, 0.4, 0], // drift is the value at the step, the rest step minus reference
  );
  const vsMid = headDeltas(stats(), 2, 1).find((x) => x.layer === 1 && x.head === 1);
  assert.equal(round(vsMid.entropy), 0.16);
  assert.ok(Number.isNaN(vsMid.first));
  assert.deepEqual(headDeltas(stats(), -1, 0), []);
});

test('sorting: descending or ascending, by absolute value, NaN last, ties by layer/head', () => {
  const rows = headDeltas(stats(), 2, 0);
  const ids = (rs) => rs.map((x) => `${x.layer}.${x.head}`);
  assert.deepEqual(ids(sortRows(rows, 'drift')), ['1.1', '0.0', '1.0', '0.1']);
  assert.deepEqual(ids(sortRows(rows, 'drift', 'asc')), ['0.1', '1.0', '0.0', '1.1']);
  assert.deepEqual(ids(sortRows(rows, 'entropy', 'desc', true)), ['0.0', '1.1', '0.1', '1.0']);
  assert.deepEqual(ids(sortRows(rows, 'first')), ['1.0', '0.1', '0.0', '1.1']); // 1.1 is NaN: last
  assert.deepEqual(ids(sortRows(rows, 'first', 'asc')), ['0.0', '0.1', '1.0', '1.1']);
});

test("the alerts at the cursor step: the server's runs of snapshots, the first step of the run that holds it", () => {
  const s = stats();
  // as analysis/alerts.py sends them: L0H0 sharp since 100; L1H1 sharp at 100 only (recovered at 200)
  s.header.alerts = {
    sharp: [
      { layer: 0, head: 0, intervals: [[100, 200]] },
      { layer: 1, head: 1, intervals: [[100, 100]] },
    ],
    sink: [
      {
        layer: 0,
        head: 1,
        intervals: [
          [0, 0],
          [200, 200],
        ],
      },
      { layer: 1, head: 0, intervals: [[100, 200]] },
    ],
  };
  assert.deepEqual(
    alertsAt(s, 'sharp', 1).map((a) => [a.layer, a.head, a.since]),
    [
      [0, 0, 100],
      [1, 1, 100],
    ],
  );
  assert.deepEqual(
    alertsAt(s, 'sharp', 2).map((a) => [a.layer, a.head, a.since, round(a.value)]),
    [[0, 0, 100, 0.02]], // the value: its entropy at the cursor step
  );
  assert.deepEqual(alertsAt(s, 'sharp', 0), []);
  assert.deepEqual(
    alertsAt(s, 'sink', 2).map((a) => [a.layer, a.head, a.since, round(a.value)]),
    [
      [0, 1, 200, 0.7],
      [1, 0, 100, 0.6],
    ],
  );
  assert.deepEqual(
    alertsAt(s, 'sink', 0).map((a) => [a.layer, a.head, a.since]),
    [[0, 1, 0]],
  );
  assert.deepEqual(alertsAt(s, 'collapse', 2), [], 'a rule the answer lacks (a log without max_logit)');
  assert.deepEqual(alertsAt(s, 'sink', 3), [], 'beyond the steps');
});
