import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  storedHeads,
  hasMap,
  missingMaps,
  storageOf,
  storageLine,
  noMapText,
  headStatValues,
  cellStatText,
  statValuesText,
  headStatText,
  storageCounts,
  onlySummaries,
} from '../src/answers/storage.js';
import { layerOf } from '../src/data/slices.js';
import { fillHatch } from '../src/paint/heatmap.js';
import { bestMatch, matchedHead, matchLabel, headSimilarity } from '../src/state/compare.js';

const N = 2; // tokens

/** A snapshot of `layers` x 3 heads at `step` (run 'a'), every map a diagonal; `stored` as the route sends it. */
function snapshot({ step = 100, layers = [0, 1], stored, summarized, run = 'a' } = {}) {
  const heads = 3;
  const data = new Uint8Array(layers.length * heads * N * N);
  for (let m = 0; m < layers.length * heads; m++) for (let q = 0; q < N; q++) data[m * N * N + q * N + q] = 255;
  const header = { run, step, layers, heads, query_len: N, key_len: N, shape: [layers.length, heads, N, N] };
  if (summarized) header.summarized = summarized;
  if (stored) {
    header.stored = stored;
    layers.forEach((_, li) => {
      for (let h = 0; h < heads; h++)
        if (!stored[li].includes(h)) data.fill(0, (li * heads + h) * N * N, (li * heads + h + 1) * N * N);
    });
  }
  return { header, data };
}

const kind = { kind: 'self', layers: 2, heads: 3, storage: { maps: 2, choice: 'changed' } };

/** Statistics [entropy, max, first, prev, drift] x steps [0, 100] x 2 layers x 3 heads: value = step/1000 + layer/10 + head/100 + stat. */
function stats() {
  const names = ['entropy', 'max', 'first', 'prev', 'drift'];
  const steps = [0, 100];
  const data = new Float32Array(names.length * steps.length * 6);
  names.forEach((_, s) =>
    steps.forEach((step, i) => {
      for (let l = 0; l < 2; l++)
        for (let h = 0; h < 3; h++) data[((s * 2 + i) * 2 + l) * 3 + h] = s + step / 1000 + l / 10 + h / 100;
    }),
  );
  data[((3 * 2 + 1) * 2 + 1) * 3 + 2] = NaN; // prev undefined for L1 H2 at step 100
  const head_types = [{ layer: 1, head: 2, type: 'previous-token', score: 0.9, formed_step: 100 }];
  return { header: { stats: names, steps, layers: 2, heads: 3, head_types }, data };
}

test("which heads have a map: the header's stored heads, every head without `stored`", () => {
  const snap = snapshot({ stored: [[0, 2], []] });
  assert.deepEqual(storedHeads(snap, 0), [0, 2]);
  assert.deepEqual(storedHeads(snap, 1), []);
  assert.equal(storedHeads(snapshot(), 0), null);
  assert.deepEqual(
    [0, 1, 2].map((h) => hasMap(snap, 0, h)),
    [true, false, true],
  );
  assert.equal(hasMap(snap, 1, 0), false);
  assert.equal(hasMap(snapshot(), 1, 2), true); // an old run: every head
  // a layer answer (layer=1) lists that layer only
  const one = snapshot({ layers: [1], stored: [[1]] });
  assert.equal(hasMap(one, 1, 1), true);
  assert.equal(hasMap(one, 1, 0), false);
});

test('missingMaps names the snapshots of a pair that lack their head', () => {
  const snap = snapshot({ step: 100, stored: [[0], [0, 1, 2]] });
  const ref = snapshot({ step: 0, stored: [[1], [0, 1, 2]] });
  assert.deepEqual(missingMaps({ snap, ref: null }, 0, 0), []);
  assert.deepEqual(
    missingMaps({ snap, ref: null }, 0, 1).map((h) => h.step),
    [100],
  );
  assert.deepEqual(
    missingMaps({ snap, ref }, 0, 0).map((h) => h.step),
    [0],
  );
  assert.deepEqual(
    missingMaps({ snap, ref }, 0, 2).map((h) => h.step),
    [100, 0],
  );
  assert.deepEqual(
    missingMaps({ snap, ref }, 0, 1, [0, 1]).map((h) => h.step),
    [100],
  ); // the reference's own head
  assert.deepEqual(storageCounts({ snap, ref: null }, 2, 3), { maps: 4, summaries: 0, statistics: 2 });
  assert.deepEqual(storageCounts({ snap, ref }, 2, 3), { maps: 3, summaries: 0, statistics: 3 });
  assert.deepEqual(storageCounts({ snap: snapshot(), ref: null }, 2, 3), { maps: 6, summaries: 0, statistics: 0 });
});

test('a head whose missing maps all left a summary counts as summarized, else as statistics only', () => {
  const snap = snapshot({ step: 100, stored: [[0], [0, 1, 2]] });
  snap.header.summarized = [[1], []]; // L0H1 a summary, L0H2 statistics only
  const ref = snapshot({ step: 0, stored: [[0], [0, 1, 2]] });
  ref.header.summarized = [[2], []];
  assert.equal(onlySummaries(missingMaps({ snap, ref: null }, 0, 1), 0, 1), true);
  assert.equal(onlySummaries(missingMaps({ snap, ref: null }, 0, 2), 0, 2), false);
  assert.equal(onlySummaries(missingMaps({ snap, ref: null }, 0, 0), 0, 0), false); // has its map
  assert.deepEqual(storageCounts({ snap, ref: null }, 2, 3), { maps: 4, summaries: 1, statistics: 1 });
  // B − A: L0H1 has a summary at 100 but nothing at 0, L0H2 the other way round
  assert.deepEqual(storageCounts({ snap, ref }, 2, 3), { maps: 4, summaries: 0, statistics: 2 });
  ref.header.summarized = [[1, 2], []];
  assert.deepEqual(storageCounts({ snap, ref }, 2, 3), { maps: 4, summaries: 1, statistics: 1 });
});

test('the storage line and the no-map text say what the budget keeps', () => {
  assert.equal(storageOf({ kind: 'self' }), null);
  assert.equal(storageLine({ kind: 'self', layers: 2, heads: 3 }), null);
  assert.equal(
    storageLine(kind),
    'Storage budget: full maps of 2 of 2\u00d73 heads per snapshot (those that changed most since the previous snapshot); statistics of every head at every step.',
  );
  assert.equal(
    storageLine({ ...kind, storage: { maps: 2, choice: 'rotate', summaries: 3 } }),
    'Storage budget: full maps of 2 of 2\u00d73 heads per snapshot (a different set at each snapshot, in layer order, round robin); ' +
      "summaries (block means and each row's top 8 keys) of 3 more; statistics of every head at every step.",
  );
  assert.match(storageLine({ ...kind, storage: { maps: 4, choice: 'rotate' } }), /round robin/);
  assert.match(storageLine({ ...kind, storage: { maps: 4, choice: 'named' } }), /a fixed list of heads/);
  assert.match(storageLine({ ...kind, storage: { maps: 4, choice: 'new' } }), /chosen by "new"/);
  assert.equal(
    noMapText(700, kind),
    'no map stored at step 700 (storage budget: maps of 2 heads per snapshot, those that changed most since the previous snapshot)',
  );
  assert.equal(noMapText(700, { kind: 'self' }, 'b'), 'no map stored at run b step 700');
});

test('a head without a map shows its statistics: types formed by then and a few numbers', () => {
  const s = stats();
  assert.deepEqual(headStatValues(s, 1, 1, 2), [
    ['entropy', '0.22'],
    ['max', '1.22'],
    ['first', '2.22'],
  ]);
  assert.deepEqual(headStatValues(s, -1, 1, 2), []);
  assert.equal(cellStatText(s, 1, 0, 1), 'ent 0.11\nmax 1.11');
  assert.equal(cellStatText(s, 1, 0, 1, true), 'no map\nent 0.11\nmax 1.11\nfirst 2.11\nprev 3.11');
  assert.equal(
    statValuesText(s, 100, 0, 0),
    'entropy (normalized) 0.10 \u00b7 max weight 1.10 \u00b7 first-token mass 2.10 \u00b7 previous token 3.10',
  );
  assert.equal(
    headStatText(s, 100, 1, 2),
    'previous-token \u00b7 entropy (normalized) 0.22 \u00b7 max weight 1.22 \u00b7 first-token mass 2.22',
  );
  assert.ok(!headStatText(s, 50, 1, 2).includes('previous-token')); // not formed yet at step 50
});

test("an export's layer answer keeps that layer's stored and summarized heads", () => {
  const full = snapshot({ stored: [[0], [1, 2]], summarized: [[1], [0]] });
  assert.deepEqual(layerOf(full, 1).header.stored, [[1, 2]]);
  assert.deepEqual(layerOf(full, 1).header.summarized, [[0]]);
  assert.equal(layerOf(snapshot(), 1).header.stored, undefined);
  assert.equal(layerOf(snapshot(), 1).header.summarized, undefined);
});

test('a hatched cell: stripes over a background, never a map colour', () => {
  const out = new Uint32Array(4 * 3).fill(9);
  fillHatch(out, 4, 0, 3, 2, 1, 2, 3);
  assert.deepEqual([...out], [2, 2, 1, 9, 2, 1, 2, 9, 9, 9, 9, 9]);
});

test('heads without a map are never matched across runs', () => {
  const a = snapshot({
    stored: [
      [0, 1],
      [0, 1, 2],
    ],
  });
  const b = snapshot({
    stored: [
      [1, 2],
      [0, 1, 2],
    ],
  });
  assert.ok(Number.isNaN(headSimilarity(a, 0, 0, b, 0, 0))); // B's L0H0 has no map
  assert.ok(Number.isNaN(headSimilarity(a, 0, 2, b, 0, 2))); // A's L0H2 has none
  assert.ok(Math.abs(headSimilarity(a, 0, 1, b, 0, 1) - 1) < 1e-12);
  const m = bestMatch(a, 0, 0, b);
  assert.deepEqual([m.layer, m.head], [0, 1]); // B's L0H0 left out
  assert.equal(bestMatch(a, 0, 2, b), null);
  assert.ok(Number.isNaN(matchedHead('index', 0, 2, a, b).score));
  assert.equal(
    matchLabel('pattern', { layer: 0, head: 2 }, null, { loaded: true, noMapA: 100 }),
    'B: A L0H2 has no map stored at step 100, nothing to match',
  );
});
