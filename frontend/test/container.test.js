import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseContainer, encodeContainer, ContainerError } from '../src/data/container.js';

test('round-trips a uint8 snapshot and pads the header to 4 bytes', () => {
  const data = new Uint8Array([0, 255, 128, 127, 1, 2, 3, 4]);
  const header = { shape: [1, 2, 2, 2], dtype: 'uint8', layers: [0], heads: 2, query_len: 2, key_len: 2 };
  const buf = encodeContainer(header, data);
  const n = new DataView(buf).getUint32(4, true);
  assert.equal((8 + n) % 4, 0);
  const out = parseContainer(buf);
  assert.deepEqual(out.header, header);
  assert.ok(out.data instanceof Uint8Array);
  assert.deepEqual([...out.data], [...data]);
});

test('parses float32 data with NaN', () => {
  const data = new Float32Array([1.5, NaN, -2, 0.25]);
  const out = parseContainer(encodeContainer({ shape: [2, 2], dtype: 'float32', steps: [0, 5] }, data));
  assert.ok(out.data instanceof Float32Array);
  assert.equal(out.data[0], 1.5);
  assert.ok(Number.isNaN(out.data[1]));
  assert.equal(out.data[3], 0.25);
});

test('parses a container built by hand with a non-ASCII header', () => {
  const json = JSON.stringify({ shape: [3], dtype: 'uint8', probe: 'café ✓' });
  let hb = new TextEncoder().encode(json);
  const pad = (4 - ((8 + hb.length) % 4)) % 4;
  hb = new TextEncoder().encode(json + ' '.repeat(pad));
  const buf = new Uint8Array(8 + hb.length + 3);
  buf.set([84, 66, 65, 84]);
  new DataView(buf.buffer).setUint32(4, hb.length, true);
  buf.set(hb, 8);
  buf.set([7, 8, 9], 8 + hb.length);
  const out = parseContainer(buf.buffer);
  assert.equal(out.header.probe, 'café ✓');
  assert.deepEqual([...out.data], [7, 8, 9]);
});

test('accepts a typed-array view and misaligned float data', () => {
  const json = '{"shape":[1],"dtype":"float32"}'; // 31 bytes: 8+31 is not 4-aligned
  const hb = new TextEncoder().encode(json);
  const buf = new Uint8Array(8 + hb.length + 4);
  buf.set([84, 66, 65, 84]);
  new DataView(buf.buffer).setUint32(4, hb.length, true);
  buf.set(hb, 8);
  new DataView(buf.buffer).setFloat32(8 + hb.length, 3.5, true);
  assert.equal(parseContainer(buf).data[0], 3.5);
});

test('rejects bad magic, truncation, bad JSON and unknown dtypes', () => {
  const good = new Uint8Array(encodeContainer({ shape: [4], dtype: 'uint8' }, new Uint8Array(4)));
  const bad = good.slice();
  bad[0] = 0x58;
  assert.throws(() => parseContainer(bad.buffer), ContainerError);
  assert.throws(() => parseContainer(good.slice(0, good.length - 1).buffer), /truncated/);
  assert.throws(() => parseContainer(new Uint8Array([84, 66, 65, 84]).buffer), /too short/);
  assert.throws(() => parseContainer(encodeContainer({ shape: [1], dtype: 'int64' }, new Uint8Array(8))), /dtype/);
  const garbage = good.slice();
  garbage[8] = 0x7b + 1; // break the JSON
  assert.throws(() => parseContainer(garbage.buffer), /JSON/);
});
