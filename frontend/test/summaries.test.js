// Head summaries (answers/summaries.js, data/summaryAnswer.js, answers/summaryMatrix.js, the top-k
// window of paint/mapRegion.js, storage.js's pairShows): a summary answer read as the route sends it,
// what it says of a token pair, its block means as a pooled head, the head view's lines from it, and
// its pixels, where a cell it does not hold is never painted as a weight of 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summaryOf } from '../src/data/summaryAnswer.js';
import {
  summarizedHeads,
  hasSummary,
  topByteAt,
  blockMeanAt,
  rowTop,
  meansSnapshot,
  summaryText,
} from '../src/answers/summaries.js';
import { SummaryMatrix } from '../src/answers/summaryMatrix.js';
import { pairShows } from '../src/answers/storage.js';
import { mapOffset } from '../src/answers/model.js';
import { attentionLines } from '../src/paint/layout.js';
import { fillTopRegion } from '../src/paint/mapRegion.js';
import { fillHatch } from '../src/paint/heatmap.js';

const Q = 5;
const K = 5;
const TOP = 2;
const BLOCK = 2; // means 3 x 3

/** Row q's top 2: key q (byte 200 - q) and key 0 (byte 10 + q), key 1 for row 0. */
function answer() {
  const data = new Uint16Array(Q * 2 * TOP);
  for (let q = 0; q < Q; q++) {
    data.set([q, q === 0 ? 1 : 0], q * 2 * TOP);
    data.set([200 - q, 10 + q], q * 2 * TOP + TOP);
  }
  const means = Array.from({ length: 9 }, (_, i) => 1000 * (i + 1));
  const header = {
    run: 'a',
    probe: 'p',
    kind: 'self',
    step: 700,
    layers: [1],
    head: 2,
    part: 'summary',
    query_len: Q,
    key_len: K,
    causal: true,
    top_k: TOP,
    scale: 1 / 255,
    block: BLOCK,
    means_shape: [3, 3],
    means,
    means_scale: 1 / 65535,
  };
  return { header, data };
}

test('a summary answer is read into typed arrays, and refused when its parts do not fit', () => {
  const sum = summaryOf(answer());
  assert.deepEqual([sum.layer, sum.head, sum.step, sum.block, sum.topK, sum.rows, sum.cols], [1, 2, 700, 2, 2, 3, 3]);
  assert.ok(sum.means instanceof Uint16Array && sum.means[8] === 9000);
  const bad = answer();
  bad.header.means = bad.header.means.slice(1);
  assert.throws(() => summaryOf(bad), /do not fit/);
});

test('which heads a snapshot header keeps a summary of', () => {
  const header = { layers: [0, 1], summarized: [[], [2, 3]] };
  assert.deepEqual(summarizedHeads(header, 1), [2, 3]);
  assert.equal(hasSummary(header, 1, 3), true);
  assert.equal(hasSummary(header, 0, 3), false);
  assert.equal(hasSummary({ layers: [0] }, 0, 0), false, 'a header without `summarized`');
  assert.equal(hasSummary(header, 5, 0), false, 'a layer the answer does not hold');
});

test('a token pair: its weight when among the row top k, else -1; the block mean over its real cells', () => {
  const sum = summaryOf(answer());
  assert.equal(topByteAt(sum, 3, 3), 197);
  assert.equal(topByteAt(sum, 3, 0), 13);
  assert.equal(topByteAt(sum, 3, 1), -1);
  assert.deepEqual(rowTop(sum, 0), [
    { key: 0, weight: 200 / 255 },
    { key: 1, weight: 10 / 255 },
  ]);
  const m = blockMeanAt(sum, 4, 3);
  assert.ok(Math.abs(m.mean - 8000 / 65535) < 1e-12);
  assert.deepEqual(
    [m.rows, m.columns],
    [
      [4, 4],
      [2, 3],
    ],
  ); // the last row of blocks holds one real row
  assert.equal(summaryText(700), "summary stored: block means + each row's top 8 keys at step 700");
});

test('the block means read as a pooled head answer', () => {
  const sum = summaryOf(answer());
  const snap = meansSnapshot(sum);
  assert.equal(mapOffset(snap, 1, 2), 0);
  assert.equal(mapOffset(snap, 1, 0), -1);
  assert.deepEqual(snap.header.shape, [1, 1, 3, 3]);
  assert.equal(snap.header.pool, BLOCK);
  assert.equal(snap.data, sum.means);
});

test('the head view reads a summarized head as a matrix of its top k (others 0, hidden columns left out)', () => {
  const sum = summaryOf(answer());
  const m = new SummaryMatrix(sum, [0, 1, 2, 3, 4], [1, 2, 3, 4]); // key 0 hidden
  assert.deepEqual(
    [...m.row(0)].map((v) => Math.round(v * 255)),
    [10, 0, 0, 0],
  );
  assert.deepEqual(
    [...m.row(3)].map((v) => Math.round(v * 255)),
    [0, 0, 197, 0],
  );
  assert.deepEqual(
    [...m.col(0)].map((v) => Math.round(v * 255)),
    [10, 199, 0, 0, 0],
  ); // key 1: row 0's second, row 1's first
  const lines = attentionLines(m, { minWeight: 0.02 });
  assert.deepEqual(
    lines.map(([r, c]) => [r, c]),
    [
      [0, 0],
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 3],
    ],
  );
});

test('the top-k window: each known weight through the LUT, every other cell hatched, never 0', () => {
  const sum = summaryOf(answer());
  const lut = Uint32Array.from({ length: 256 }, (_, i) => i);
  const hatch = { blank: 1000, line: 2000, period: 3 };
  const win = { q0: 0, q1: Q, k0: 0, k1: K };
  const out = fillTopRegion(new Uint32Array(Q * K), K, Q, sum.data, sum.topK, Q, K, win, lut, hatch);
  for (let q = 0; q < Q; q++)
    for (let k = 0; k < K; k++) {
      const b = topByteAt(sum, q, k);
      const expect = b >= 0 ? b : (q + k) % 3 < 1 ? 2000 : 1000;
      assert.equal(out[q * K + k], expect, `row ${q} key ${k}`);
    }
  const shrunk = fillTopRegion(new Uint32Array(1), 1, 1, sum.data, sum.topK, Q, K, win, lut, hatch);
  assert.equal(shrunk[0], 200, 'a pixel over many cells: the largest weight it covers');
});

test('a crossed hatch (a summary) differs from the plain one (statistics only)', () => {
  const plain = fillHatch(new Uint32Array(36), 6, 0, 6, 6, 0, 1);
  const crossed = fillHatch(new Uint32Array(36), 6, 0, 6, 6, 0, 1, 6, true);
  assert.ok(crossed.filter((v) => v === 1).length > plain.filter((v) => v === 1).length);
  for (let i = 0; i < 36; i++) if (plain[i] === 1) assert.equal(crossed[i], 1);
});

test('pairShows: a map, a summary (also minus a summary), mixed, or neither', () => {
  const snapOf = (stored, summarized, step = 100) => ({
    header: { step, layers: [1], heads: 3, head: 2, stored: [stored], summarized: [summarized], shape: [1, 1, 1, 1] },
  });
  const sum = summaryOf(answer());
  const map = snapOf([0, 1, 2], []);
  const kept = snapOf([0], [2]);
  const bare = snapOf([0], []);
  assert.equal(pairShows({ snap: map, ref: null, sum: null, refSum: null }, 1, 2), 'map');
  assert.equal(pairShows({ snap: kept, ref: null, sum, refSum: null }, 1, 2), 'summary');
  assert.equal(pairShows({ snap: kept, ref: kept, sum, refSum: sum }, 1, 2), 'summary');
  assert.equal(pairShows({ snap: kept, ref: map, sum, refSum: null }, 1, 2), 'mixed');
  assert.equal(pairShows({ snap: map, ref: kept, sum: null, refSum: sum }, 1, 2), 'mixed');
  assert.equal(pairShows({ snap: bare, ref: null, sum: null, refSum: null }, 1, 2), 'none');
  assert.equal(pairShows({ snap: kept, ref: bare, sum, refSum: null }, 1, 2), 'none');
});
