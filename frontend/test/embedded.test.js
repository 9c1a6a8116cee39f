import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { encodeContainer } from '../src/data/container.js';
import { embeddedApi, base64Bytes, gunzip } from '../src/data/embedded.js';
import { layerOf, headOf } from '../src/data/slices.js';

const packed = (buffer) => gzipSync(Buffer.from(buffer)).toString('base64');

function payload() {
  const header = { run: 'r', probe: 'p</script>', kind: 'self', step: 10, layers: [0, 1], heads: 2 };
  Object.assign(header, { query_len: 2, key_len: 2, scale: 1 / 255, shape: [2, 2, 2, 2], dtype: 'uint8' });
  const snap = encodeContainer(
    header,
    Uint8Array.from({ length: 16 }, (_, i) => i),
  );
  const stats = encodeContainer({ steps: [0, 10], shape: [1, 2, 2, 2], dtype: 'float32' }, new Float32Array(8));
  return {
    run: 'r',
    index: { version: 1, runs: [{ run: 'r', probes: [] }] },
    scalars: { run: 'r', tags: {}, marks: [] },
    snapshots: [{ probe: 'p</script>', kind: 'self', step: 10, data: packed(snap) }],
    stats: [{ probe: 'p</script>', kind: 'self', data: packed(stats) }],
  };
}

test('base64 and gzip decode to the original bytes', async () => {
  const bytes = Uint8Array.from([0, 1, 254, 255, 128]);
  const back = new Uint8Array(await gunzip(base64Bytes(packed(bytes))));
  assert.deepEqual([...back], [...bytes]);
});

test('answers the routes from the embedded containers', async () => {
  const api = embeddedApi(payload());
  assert.equal((await api.index()).runs[0].run, 'r');
  assert.deepEqual((await api.scalars('r')).marks, []);
  const sel = { run: 'r', probe: 'p</script>', kind: 'self' };
  const snap = await api.snapshot({ ...sel, step: 10 });
  assert.deepEqual(snap.header.layers, [0, 1]);
  assert.equal(snap.data[15], 15);
  const stats = await api.stats(sel);
  assert.deepEqual(stats.header.steps, [0, 10]);
});

test('a layer request answers that layer as the route does', async () => {
  const api = embeddedApi(payload());
  const one = await api.snapshot({ run: 'r', probe: 'p</script>', kind: 'self', step: 10, layer: 1 });
  assert.deepEqual(one.header.layers, [1]);
  assert.deepEqual(one.header.shape, [1, 2, 2, 2]);
  assert.deepEqual([...one.data], [8, 9, 10, 11, 12, 13, 14, 15]);
  assert.throws(() => layerOf(one, 5), /layer 5/);
});

test('a head request answers that head as the route does (a pool is answered exact)', async () => {
  const api = embeddedApi(payload());
  const sel = { run: 'r', probe: 'p</script>', kind: 'self', step: 10 };
  const one = await api.snapshot({ ...sel, layer: 1, head: 1, pool: 4 });
  assert.deepEqual([one.header.layers, one.header.head, one.header.shape], [[1], 1, [1, 1, 2, 2]]);
  assert.equal(one.header.pool, undefined, 'the stored weights: the header says so');
  assert.deepEqual([...one.data], [12, 13, 14, 15]);
  assert.deepEqual([...headOf(one, 1, 1).data], [12, 13, 14, 15], 'a head answer is its own head');
  const layer = await api.snapshot({ ...sel, layer: 0 });
  assert.deepEqual([...headOf(layer, 0, 1).data], [4, 5, 6, 7]);
  await assert.rejects(
    api.snapshot({ ...sel, layer: 0, head: 2 }),
    (e) => e.status === 404 && /2 heads/.test(e.message),
  );
});

test('what the report lacks is a 404, like the plugin', async () => {
  const api = embeddedApi(payload());
  const sel = { run: 'r', probe: 'p</script>', kind: 'self' };
  await assert.rejects(api.snapshot({ ...sel, step: 20 }), (e) => e.status === 404 && /step 20/.test(e.message));
  await assert.rejects(api.stats({ ...sel, kind: 'cross' }), (e) => e.status === 404);
  await assert.rejects(api.scalars('other'), (e) => e.status === 404 && /unknown run/.test(e.message));
});

test('a summary request answers the embedded summary, and 404 for a head the report holds none of', async () => {
  const header = { run: 'r', probe: 'p</script>', kind: 'self', step: 10, layers: [1], head: 0, part: 'summary' };
  Object.assign(header, { query_len: 2, key_len: 2, top_k: 1, block: 1, means_shape: [2, 2], means: [1, 2, 3, 4] });
  const body = encodeContainer({ ...header, shape: [2, 2, 1], dtype: 'uint16' }, Uint16Array.from([1, 200, 0, 99]));
  const p = payload();
  p.summaries = [{ probe: 'p</script>', kind: 'self', step: 10, layer: 1, head: 0, data: packed(body) }];
  const api = embeddedApi(p);
  const sel = { run: 'r', probe: 'p</script>', kind: 'self', step: 10, part: 'summary' };
  const got = await api.snapshot({ ...sel, layer: 1, head: 0 });
  assert.deepEqual([got.header.part, got.header.means, [...got.data]], ['summary', [1, 2, 3, 4], [1, 200, 0, 99]]);
  await assert.rejects(
    api.snapshot({ ...sel, layer: 1, head: 1 }),
    (e) => e.status === 404 && /summary of L1H1/.test(e.message),
  );
});
