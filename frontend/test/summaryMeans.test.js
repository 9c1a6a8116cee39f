// The block means of a step's summarized heads in one answer (./snapshot?part=summary_means,
// data/summaryAnswer.js), where a grid cell is painted from them (storage.js summaryCell) with the
// corner that marks a summary (heatmap.js fillCorner), what its hover says, and how heads kept as
// summaries are matched across runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summaryMeansOf, listsSummaries } from '../src/data/summaryAnswer.js';
import { meansOffset, summaryCellText, summaryMapDiffText } from '../src/answers/summaries.js';
import { summaryCell } from '../src/answers/storage.js';
import { fillCorner } from '../src/paint/heatmap.js';
import { headBlockMeans } from '../src/answers/blockMeans.js';
import { bestMatch, matchedHead, matchLabel, meansSimilarity } from '../src/state/compare.js';
import { SummaryLoads } from '../src/views/common/compareRun.js';

/** A summary_means answer of layers [0, 1] x 3 heads, 2 x 2 means: L0H1 (1..4), L1H0 (5..8), L1H2 (9..12). */
export function meansAnswer({ step = 700, summarized = [[1], [0, 2]], rows = 2, cols = 2 } = {}) {
  const n = summarized.flat().length;
  const header = { step, layers: [0, 1], heads: 3, part: 'summary_means', block: 4, summarized, scale: 1 / 65535 };
  header.shape = [n, rows, cols];
  return { header, data: Uint16Array.from({ length: n * rows * cols }, (_, i) => i + 1) };
}

/** A snapshot answer's header of 2 layers x 3 heads: maps of `stored`, summaries of `summarized`. */
const snapOf = (stored, summarized, step = 700) => ({ header: { step, layers: [0, 1], heads: 3, stored, summarized } });

test('a summary_means answer: each listed head at its place in the data, refused when they do not fit', () => {
  const m = summaryMeansOf(meansAnswer());
  assert.deepEqual([m.step, m.block, m.rows, m.cols, m.heads], [700, 4, 2, 2, 3]);
  assert.deepEqual(
    [meansOffset(m, 0, 1), meansOffset(m, 1, 0), meansOffset(m, 1, 2), meansOffset(m, 1, 1)],
    [0, 4, 8, -1],
  );
  assert.equal(meansOffset(null, 0, 1), -1);
  const bad = meansAnswer();
  bad.header.summarized = [[1], [0]];
  assert.throws(() => summaryMeansOf(bad), /do not fit/);
  const none = summaryMeansOf(meansAnswer({ summarized: [[], []] }));
  assert.equal(none.data.length, 0);
  assert.equal(listsSummaries(snapOf([[0], [1]], [[1], [0, 2]])), true);
  assert.equal(listsSummaries(snapOf([[0], [1]], [[], []])), false);
  assert.equal(listsSummaries({ header: { layers: [0] } }), false, 'no budget: nothing to ask for');
});

test('a grid cell is painted from summaries only where every snapshot of its pair keeps one', () => {
  const means = summaryMeansOf(meansAnswer());
  const snap = snapOf(
    [
      [0, 2],
      [1, 2],
    ],
    [[1], [0]],
  );
  assert.deepEqual(summaryCell({ snap, ref: null, means, refMeans: null }, 0, 1), { off: 0, refOff: -1 });
  assert.equal(summaryCell({ snap, ref: null, means, refMeans: null }, 0, 0), null, 'a map');
  assert.equal(summaryCell({ snap, ref: null, means: null, refMeans: null }, 0, 1), null, 'means not at hand');
  const other = snapOf([[0], [1]], [[1, 2], [0]]);
  const otherMeans = summaryMeansOf(meansAnswer({ summarized: [[1, 2], [0]] }));
  assert.deepEqual(summaryCell({ snap, ref: other, means, refMeans: otherMeans }, 1, 0), { off: 4, refOff: 8 });
  const mapThere = snapOf([[0, 1, 2], [1]], [[], [0]]);
  assert.equal(summaryCell({ snap, ref: mapThere, means, refMeans: null }, 0, 1), null, 'a summary against a map');
  const finer = summaryMeansOf(meansAnswer({ summarized: [[1, 2], [0]], rows: 3, cols: 3 }));
  assert.equal(summaryCell({ snap, ref: other, means, refMeans: finer }, 1, 0), null, 'other blocks');
});

test("a summary's corner: a triangle in the top-right, crossed, all line when small", () => {
  const w = 8;
  const out = fillCorner(new Uint32Array(w * w).fill(9), w, 0, w, 6, 1, 2, 6);
  for (let y = 0; y < w; y++)
    for (let x = 0; x < w; x++) {
      const inside = y < 6 && x >= w - 6 + y;
      assert.equal(out[y * w + x] !== 9, inside, `(${x}, ${y})`);
    }
  assert.deepEqual(new Set(out.filter((v) => v !== 9)), new Set([1, 2]), 'hatched');
  const small = fillCorner(new Uint32Array(16).fill(9), 4, 0, 4, 4, 1, 2, 6);
  assert.deepEqual([...small.slice(0, 4)], [2, 2, 2, 2]);
});

test("a summary cell's hover says it shows block means, or why a difference is not painted", () => {
  assert.equal(
    summaryCellText(15, 'step 700'),
    "summary at step 700: block means of 15\u00d715 tokens, not the full map (each row's top 8 keys: select the head)",
  );
  assert.equal(
    summaryCellText(15, 'run b step 700', 'run a step 700'),
    'difference of block means of 15\u00d715 tokens: summaries at run b step 700 and run a step 700, not full maps',
  );
  assert.equal(
    summaryMapDiffText('step 700', 'step 400'),
    'no difference painted: only a summary (block means) at step 700, the full map at step 400',
  );
});

// Matching across runs with summaries (state/compare.js, answers/blockMeans.js): 1 layer x 2 heads of
// 4 tokens, blocks of 2. DIAG attends to itself, FIRST to token 0.
const DIAG = (q, k) => (q === k ? 255 : 0);
const FIRST = (q, k) => (k === 0 ? 255 : 0);

/** A snapshot whose head h has map `maps[h]` (null: none, kept as a summary when in `summarized`). */
function runSnap(maps, summarized = []) {
  const data = new Uint8Array(2 * 16);
  maps.forEach((f, h) => {
    if (f) for (let q = 0; q < 4; q++) for (let k = 0; k < 4; k++) data[h * 16 + q * 4 + k] = f(q, k);
  });
  const stored = [maps.map((f, h) => (f ? h : -1)).filter((h) => h >= 0)];
  const header = { step: 7, layers: [0], heads: 2, query_len: 4, key_len: 4, shape: [1, 2, 4, 4], stored };
  header.summarized = [summarized];
  return { header, data };
}

/** The summary_means answer of heads `summarized` whose maps would be `fs` (in 1/65535 steps). */
function runMeans(summarized, fs) {
  const sums = new Float64Array(4 * summarized.length);
  fs.forEach((f, i) => {
    for (let q = 0; q < 4; q++)
      for (let k = 0; k < 4; k++) sums[i * 4 + (q >> 1) * 2 + (k >> 1)] += (f(q, k) * 257) / 4;
  });
  const header = { step: 7, layers: [0], heads: 2, block: 2, summarized: [summarized], scale: 1 / 65535 };
  const data = Uint16Array.from(sums, Math.round);
  return summaryMeansOf({ header: { ...header, shape: [summarized.length, 2, 2] }, data });
}

test("a head's block means: its map pooled to the summaries' blocks, or its summary's own", () => {
  const a = runSnap([DIAG, FIRST]);
  assert.deepEqual([...headBlockMeans(a, null, 0, 0, 2)], [0.5, 0, 0, 0.5]);
  const b = runSnap([null, DIAG], [0]);
  const means = runMeans([0], [FIRST]);
  assert.deepEqual(
    [...headBlockMeans(b, means, 0, 0, 2)].map((v) => +v.toFixed(4)),
    [0.5, 0, 0.5, 0],
  );
  assert.equal(headBlockMeans(b, means, 0, 0, 3), null, "other blocks than its summary's");
  assert.equal(headBlockMeans(runSnap([null, DIAG]), null, 0, 0, 2), null, 'neither a map nor a summary');
});

test('a head with a map is matched with maps only (the summaries left out, said); a summary on block means', () => {
  const a = runSnap([DIAG, FIRST]);
  const b = runSnap([null, DIAG], [0]); // B's L0H0 does what A's L0H1 does, as a summary
  const bMeans = runMeans([0], [FIRST]);
  const m = bestMatch(a, 0, 1, b, null, bMeans);
  assert.deepEqual([m.layer, m.head, m.skipped, m.on], [0, 1, 1, undefined]);
  assert.ok(Math.abs(m.score - 0.25) < 1e-12, 'exact, against the map of the other pattern');
  assert.equal(
    matchLabel('pattern', { layer: 0, head: 1 }, m),
    'B L0H1 \u2248 A L0H1 (0.25) \u00b7 1 summarized head of B not compared (only block means stored)',
  );
  const aSum = runSnap([DIAG, null], [1]); // A's L0H1 kept as a summary: matched on block means
  const aMeans = runMeans([1], [FIRST]);
  const s = bestMatch(aSum, 0, 1, b, aMeans, bMeans);
  assert.deepEqual([s.layer, s.head, s.on], [0, 0, 'means']);
  assert.ok(s.score > 0.999);
  assert.equal(matchLabel('pattern', { layer: 0, head: 1 }, s), 'B L0H0 \u2248 A L0H1 (1.00 on block means)');
  const byIndex = matchedHead('index', 0, 0, a, b, null, bMeans); // A's map against B's summary
  assert.equal(byIndex.on, 'means');
  assert.ok(Math.abs(byIndex.score - meansSimilarity(a, null, 0, 0, b, bMeans, 0, 0)) < 1e-12);
  assert.ok(Number.isNaN(matchedHead('index', 0, 0, a, b).score), 'without the means: no score');
  assert.equal(bestMatch(aSum, 0, 1, b), null, 'a summary without its means matches nothing');
});

test('a compare view loads the summaries of the heads it shows once, and keeps a failure', async () => {
  const cache = new Map();
  const asked = [];
  let fail = false;
  const data = {
    cachedHeadSummary: (sel, step, layer, head) => cache.get(`${layer},${head}`),
    headSummary: async (sel, step, layer, head) => {
      asked.push(`${layer},${head}`);
      await new Promise((r) => setTimeout(r, 0)); // the answer comes later
      if (fail) throw new Error('offline');
      cache.set(`${layer},${head}`, { layer, head });
    },
  };
  let rendered = 0;
  const loads = new SummaryLoads(data, () => rendered++);
  const heads = [{ sel: { run: 'b' }, step: 7, layer: 1, head: 2 }];
  assert.deepEqual(loads.of(heads), { loading: true });
  assert.deepEqual(loads.of(heads), { loading: true }, 'asked again while in flight: no second request');
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(rendered, 1);
  assert.deepEqual(loads.of(heads), { sums: [{ layer: 1, head: 2 }] });
  assert.deepEqual(loads.of([]), { sums: [] });
  fail = true;
  const other = [{ ...heads[0], head: 0 }];
  loads.of(other);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(loads.of(other).error.message, 'offline', 'kept: the view says so, no loop of requests');
  assert.deepEqual(asked, ['1,2', '1,0']);
});
