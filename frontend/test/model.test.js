import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  resolveSelection,
  kindTokens,
  comparableRuns,
  mapOffset,
  statAt,
  statSeries,
  statsStepIndex,
  statMaxAt,
  headTypes,
  formatStat,
} from '../src/answers/model.js';
import { parseContainer, encodeContainer } from '../src/data/container.js';

const index = {
  runs: [
    {
      run: 'a',
      probes: [
        {
          name: 'p',
          tokens: ['x', 'y'],
          special: [true, false],
          segments: [0, 1],
          decoder_tokens: ['d0'],
          decoder_special: [true],
          kinds: [
            { kind: 'encoder', query: 'tokens', key: 'tokens', steps: [0, 10] },
            { kind: 'cross', query: 'decoder_tokens', key: 'tokens', steps: [0, 10] },
          ],
        },
      ],
    },
    {
      run: 'b',
      probes: [
        { name: 'p', tokens: ['x'], kinds: [{ kind: 'cross', steps: [5] }] },
        { name: 'q', tokens: ['z'], kinds: [{ kind: 'self', steps: [1] }] },
      ],
    },
  ],
};

test('selection keeps what exists and falls back to the first', () => {
  assert.deepEqual(resolveSelection(index, { run: 'b', probe: 'q', kind: 'self' }), {
    run: 'b',
    probe: 'q',
    kind: 'self',
  });
  assert.deepEqual(resolveSelection(index, { run: 'zz', probe: 'p', kind: 'cross' }), {
    run: 'a',
    probe: 'p',
    kind: 'cross',
  });
  assert.deepEqual(resolveSelection(index, { run: 'b', probe: 'nope', kind: 'encoder' }), {
    run: 'b',
    probe: 'p',
    kind: 'cross',
  });
  assert.deepEqual(resolveSelection({ runs: [] }, {}), { run: null, probe: null, kind: null });
});

test('cross attention: decoder tokens are the queries, encoder tokens the keys', () => {
  const p = index.runs[0].probes[0];
  const t = kindTokens(p, p.kinds[1]);
  assert.deepEqual(t.query.tokens, ['d0']);
  assert.deepEqual(t.query.special, [true]);
  assert.deepEqual(t.key.tokens, ['x', 'y']);
  assert.deepEqual(t.key.segments, [0, 1]);
});

test('comparable runs share the probe and kind', () => {
  assert.deepEqual(comparableRuns(index, 'a', 'p', 'cross'), ['b']);
  assert.deepEqual(comparableRuns(index, 'a', 'p', 'encoder'), []);
});

test('snapshot offsets follow header.layers (one-layer snapshots too)', () => {
  const snap = parseContainer(
    encodeContainer(
      { layers: [3], heads: 2, query_len: 2, key_len: 3, shape: [1, 2, 2, 3], dtype: 'uint8' },
      new Uint8Array(12),
    ),
  );
  assert.equal(mapOffset(snap, 3, 1), 6);
  assert.equal(mapOffset(snap, 2, 0), -1);
  assert.equal(mapOffset(snap, 3, 2), -1);
  const one = { header: { layers: [3], heads: 4, head: 2, shape: [1, 1, 2, 3] }, data: new Uint8Array(6) };
  assert.equal(mapOffset(one, 3, 2), 0, 'a one-head answer holds its head at 0');
  assert.equal(mapOffset(one, 3, 1), -1, 'and no other head of the layer');
  assert.equal(mapOffset({ header: { ...one.header, head: 0 } }, 3, 0), 0);
});

test('stats are indexed [stat, step, layer, head]; NaN stays NaN', () => {
  const stats_names = ['entropy', 'drift'];
  const steps = [0, 10, 20];
  const data = new Float32Array(2 * 3 * 1 * 2);
  // drift of (layer 0, head 1) over steps: 0, 0.5, 0.9 ; entropy undefined at step 10 head 0
  data[(1 * 3 + 0) * 2 + 1] = 0;
  data[(1 * 3 + 1) * 2 + 1] = 0.5;
  data[(1 * 3 + 2) * 2 + 1] = 0.9;
  data[(0 * 3 + 1) * 2 + 0] = NaN;
  const stats = parseContainer(
    encodeContainer(
      {
        steps,
        stats: stats_names,
        layers: 1,
        heads: 2,
        shape: [2, 3, 1, 2],
        dtype: 'float32',
        head_types: [{ layer: 0, head: 1, type: 'induction', score: 0.8, formed_step: 10 }],
      },
      data,
    ),
  );
  assert.ok(Math.abs(statAt(stats, 'drift', 2, 0, 1) - 0.9) < 1e-6);
  assert.deepEqual(
    statSeries(stats, 'drift', 0, 1).map((v) => Math.round(v * 10)),
    [0, 5, 9],
  );
  assert.equal(statSeries(stats, 'entropy', 0, 0)[1], null);
  assert.ok(Number.isNaN(statAt(stats, 'nope', 0, 0, 0)));
  assert.equal(statsStepIndex(stats, 15), 1);
  assert.ok(Math.abs(statMaxAt(stats, 'drift', 2) - 0.9) < 1e-6);
  assert.deepEqual(
    headTypes(stats, 0, 1).map((t) => t.formed_step),
    [10],
  );
  assert.deepEqual(headTypes(stats, 0, 0), []);
  assert.equal(formatStat(NaN), '–');
  assert.equal(formatStat(0.1234), '0.12');
});

test('statistics: names from the stats header, labels and curves from one table', async () => {
  const { STATS, statLabel, statNames, curveStats } = await import('../src/answers/model.js');
  const stats = { header: { stats: ['entropy', 'max', 'self', 'prev', 'novel', 'duplicate'] } };
  assert.deepEqual(statNames(stats), ['entropy', 'max', 'self', 'prev', 'novel', 'duplicate']);
  assert.deepEqual(statNames(null), []);
  assert.equal(statLabel('prev'), 'previous token');
  assert.equal(statLabel('novel'), 'novel', 'a statistic the table lacks shows under its name');
  assert.equal(statLabel('constructor'), 'constructor');
  // curves: those with a colour, in the table's order (max and duplicate are badges only)
  assert.deepEqual(curveStats(statNames(stats)), ['entropy', 'prev', 'self']);
  for (const [name, s] of Object.entries(STATS)) assert.ok(s.label, name);
});
