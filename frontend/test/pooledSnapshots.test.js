// The grid's pooled snapshots (./snapshot?pool=B): the block it asks for at a cell's size, the cache
// that keeps pooled and exact answers apart (a head's too: exact, or its block means), the uint16
// data and its colour levels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataSource } from '../src/data/dataSource.js';
import { parseContainer, encodeContainer } from '../src/data/container.js';
import { cellPixels, gridGeometry, poolFor, fitCell, ZOOMS, MAX_FIT } from '../src/paint/gridGeometry.js';
import { byteLevels } from '../src/paint/heatmap.js';
import { mapOffset } from '../src/answers/model.js';

const SEL = { run: 'r', probe: 'p', kind: 'self' };

/** An api that records each snapshot request and answers its parameters. */
function recordingApi() {
  const asked = [];
  return {
    asked,
    snapshot: async (params) => {
      asked.push(params);
      return { header: { ...params, pool: params.pool ?? undefined }, data: new Uint8Array(4) };
    },
  };
}

test('the block is ceil(tokens / pixels of a map), only from 2 up', () => {
  assert.equal(poolFor(128, 22), 6);
  assert.equal(poolFor(128, 64), 2);
  assert.equal(poolFor(128, 65), 2);
  assert.equal(poolFor(128, 127), 2);
  assert.equal(poolFor(128, 128), null, 'a pixel per token: the stored weights');
  assert.equal(poolFor(128, 300), null);
  assert.equal(poolFor(13, 4), 4);
  assert.equal(poolFor(64, 0), 64, 'no pixel at all: one block');
});

test("a cell's map is its device pixels less the frame on both sides (the drift frame doubles it)", () => {
  const g = gridGeometry(32, 32, 26); // pad 2
  assert.deepEqual(cellPixels(g, 1), { size: 26, pad: 2, map: 22 });
  assert.deepEqual(cellPixels(g, 2), { size: 52, pad: 4, map: 44 });
  assert.deepEqual(cellPixels(g, 1, true), { size: 26, pad: 4, map: 18 });
  assert.equal(poolFor(128, cellPixels(g, 1).map), 6);
  assert.equal(poolFor(128, cellPixels(gridGeometry(2, 2, 150), 1).map), null, 'the largest cells: exact');
});

test("a long probe's grid always asks for block means: 32 x 32 heads at 2k tokens, at every zoom", () => {
  for (const dpr of [1, 2, 3])
    for (const cell of [fitCell(700, 32), fitCell(1800, 32), ...ZOOMS, MAX_FIT]) {
      const pool = poolFor(2048, cellPixels(gridGeometry(32, 32, cell), dpr).map);
      assert.ok(pool >= 2, `cell ${cell} px at dpr ${dpr}: pool ${pool}`);
    }
  const fit = poolFor(2048, cellPixels(gridGeometry(32, 32, fitCell(700, 32)), 1).map);
  assert.equal(fit, 121, 'fit in 700 px: 17 x 17 block means a head, 0.6 MB for the 1,024 heads');
});

test('pooled and exact snapshots are cached apart; an exact head is cut from the exact snapshot', async () => {
  const api = recordingApi();
  const data = new DataSource({ api });
  const pooled = await data.snapshot(SEL, 5, 6);
  assert.notEqual(DataSource.key(SEL, 5, null, 6), DataSource.key(SEL, 5));
  assert.equal(data.cachedSnapshot(SEL, 5, 6), pooled);
  assert.equal(data.cachedSnapshot(SEL, 5), undefined, 'block means are not the stored weights');
  await data.headSnapshot(SEL, 5, 1, 0);
  await data.headSnapshot(SEL, 5, 1, 0, 16);
  assert.deepEqual(
    api.asked.map((a) => [a.layer, a.head, a.pool]),
    [
      [undefined, undefined, 6],
      [1, 0, null],
      [1, 0, 16],
    ],
    'one head, exact, and its block means: two answers',
  );
  assert.ok(data.cachedHeadSnapshot(SEL, 5, 1, 0, 16) && data.cachedHeadSnapshot(SEL, 5, 1, 0));
  assert.equal(data.cachedHeadSnapshot(SEL, 5, 1, 1), undefined);
  assert.equal(data.cachedSnapshot(SEL, 5), undefined, 'a head is not the snapshot');
  const asked = api.asked.length;
  const exact = await data.snapshot(SEL, 5);
  assert.notEqual(exact, pooled);
  await data.snapshot(SEL, 5, 6);
  assert.equal(api.asked.length, asked + 1, 'the pooled answer came from the cache');
  data.prefetch(SEL, [7], 6);
  assert.deepEqual(api.asked.at(-1), { ...SEL, step: 7, pool: 6 });
});

test('an exact head comes from the exact full snapshot, cached or loading, without a request', async () => {
  let release;
  const full = {
    header: { layers: [0, 1], heads: 2, query_len: 2, key_len: 2, shape: [2, 2, 2, 2] },
    data: Uint8Array.from({ length: 16 }, (_, i) => i),
  };
  const asked = [];
  const api = {
    snapshot: (p) => {
      asked.push(p);
      return new Promise((r) => (release = () => r(full)));
    },
  };
  const data = new DataSource({ api });
  const loading = data.snapshot(SEL, 5);
  const head = data.headSnapshot(SEL, 5, 1, 1);
  release();
  assert.deepEqual([...(await head).data], [12, 13, 14, 15]);
  assert.deepEqual((await head).header.shape, [1, 1, 2, 2]);
  await loading;
  assert.deepEqual([...data.cachedHeadSnapshot(SEL, 5, 0, 1).data], [4, 5, 6, 7]);
  assert.equal(data.cachedHeadSnapshot(SEL, 5, 0, 1, 2), undefined, 'block means are never cut from the bytes');
  assert.equal(asked.length, 1);
});

test('uint16 block means round-trip the container, and map offsets follow their shape', () => {
  const header = { shape: [1, 2, 2, 3], dtype: 'uint16', layers: [4], heads: 2, query_len: 5, key_len: 7, pool: 3 };
  const values = Uint16Array.from({ length: 12 }, (_, i) => i * 5000);
  const snap = parseContainer(encodeContainer(header, values));
  assert.ok(snap.data instanceof Uint16Array);
  assert.deepEqual([...snap.data], [...values]);
  assert.equal(mapOffset(snap, 4, 1), 6);
});

test('colour levels: bytes as they are, steps of 1/65535 rounded to steps of 1/255', () => {
  const bytes = new Uint8Array([0, 7, 255]);
  assert.equal(byteLevels(bytes), bytes);
  const means = new Uint16Array([0, 128, 129, 257, 385, 386, 65535, 65407, 65406]); // 385 / 257 = 1.498
  const levels = byteLevels(means);
  assert.deepEqual([...levels], [0, 0, 1, 1, 1, 2, 255, 255, 254]);
  assert.equal(byteLevels(means), levels, 'computed once per array');
  for (let v = 0; v < 65536; v += 97) assert.equal(byteLevels(Uint16Array.of(v))[0], Math.round(v / 257));
});
