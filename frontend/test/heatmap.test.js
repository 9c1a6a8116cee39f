import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillCell, fillDiffCell, spans, nonBlankFraction } from '../src/paint/heatmap.js';

/** fillCell into a buffer of exactly `outW` x `outH` (default: the map's own size). */
const fillPixels = (out32, src, offset, q, k, lut, outW = k, outH = q) =>
  fillCell(out32, outW, 0, src, offset, q, k, lut, outW, outH);

const identityLut = Uint32Array.from({ length: 256 }, (_, i) => i);
const divIdLut = Uint32Array.from({ length: 511 }, (_, i) => i); // stores diff + 255

test('fills at native resolution through the LUT, honouring the offset', () => {
  const src = new Uint8Array([9, 9, 1, 2, 3, 4]);
  const out = new Uint32Array(4);
  fillPixels(out, src, 2, 2, 2, identityLut);
  assert.deepEqual([...out], [1, 2, 3, 4]);
});

test('max-pools when shrinking so a thin diagonal survives', () => {
  const n = 8;
  const src = new Uint8Array(n * n);
  for (let i = 1; i < n; i++) src[i * n + i - 1] = 255; // previous-token diagonal
  const out = new Uint32Array(16);
  fillPixels(out, src, 0, n, n, identityLut, 4, 4);
  // each 2x2 block on the diagonal holds a 255
  for (let i = 0; i < 4; i++) assert.equal(out[i * 4 + i], 255, `block ${i}`);
  assert.equal(out[0 * 4 + 3], 0);
});

test('handles non-divisible pooling (q=5 -> 3)', () => {
  const src = new Uint8Array(25).map((_, i) => i);
  const out = new Uint32Array(9);
  fillPixels(out, src, 0, 5, 5, identityLut, 3, 3);
  assert.equal(out[8], 24); // bottom-right block holds the max
  // block bounds are [0,1), [1,3), [3,5)
  assert.equal(out[0], 0);
  assert.equal(out[4], 2 * 5 + 2);
  assert.equal(out[5], 2 * 5 + 4);
});

test('diverging fill of a - b, pooled by largest magnitude', () => {
  const a = new Uint8Array([255, 0, 10, 20]);
  const b = new Uint8Array([0, 255, 10, 0]);
  const out = new Uint32Array(4);
  fillDiffCell(out, 2, 0, a, 0, b, 0, 2, 2, divIdLut, 2, 2);
  assert.deepEqual([...out], [510, 0, 255, 275]);
  const small = new Uint32Array(1);
  const a2 = new Uint8Array([3, 0, 100, 0]);
  const b2 = new Uint8Array([0, 200, 0, 0]);
  fillDiffCell(small, 1, 0, a2, 0, b2, 0, 2, 2, divIdLut, 1, 1);
  assert.equal(small[0], -200 + 255, 'keeps the value of largest magnitude, with its sign');
});

test('fillCell writes a block of a larger buffer at its stride, enlarging by nearest pixel', () => {
  const src = new Uint8Array([1, 2, 3, 4]); // 2 x 2
  const out = new Uint32Array(5 * 5).fill(9);
  fillCell(out, 5, 5 + 1, src, 0, 2, 2, identityLut, 4, 4); // at (1, 1), 4 x 4
  const row = (y) => [...out.subarray(y * 5, y * 5 + 5)];
  assert.deepEqual(row(0), [9, 9, 9, 9, 9]);
  assert.deepEqual(row(1), [9, 1, 1, 2, 2]);
  assert.deepEqual(row(2), [9, 1, 1, 2, 2]);
  assert.deepEqual(row(3), [9, 3, 3, 4, 4]);
  assert.deepEqual(row(4), [9, 3, 3, 4, 4]);
});

test('spans cover the source: blocks when shrinking, single pixels when enlarging', () => {
  assert.deepEqual([...spans(5, 3)], [0, 1, 1, 3, 3, 5]);
  assert.deepEqual([...spans(2, 4)], [0, 1, 0, 1, 1, 2, 1, 2]);
  assert.deepEqual([...spans(3, 3)], [0, 1, 1, 2, 2, 3]);
});

test('nonBlankFraction', () => {
  assert.equal(nonBlankFraction(new Uint32Array([5, 5, 1, 2]), 5), 0.5);
  assert.equal(nonBlankFraction(new Uint32Array(0), 5), 0);
});

test('word-at-a-time pooling equals the byte loop (aligned and unaligned maps, every byte value)', () => {
  const q = 24;
  const k = 16;
  const buf = new ArrayBuffer(4 + q * k + 4);
  const aligned = new Uint8Array(buf, 4, q * k);
  for (let i = 0; i < aligned.length; i++) aligned[i] = (i * 73 + (i >> 3) * 151) & 255;
  const unaligned = new Uint8Array(buf.slice(0), 1, q * k); // same bytes shifted: byte path
  unaligned.set(aligned);
  for (const [w, h] of [
    [5, 7],
    [16, 3],
    [8, 8],
  ]) {
    const a = fillCell(new Uint32Array(w * h), w, 0, aligned, 0, q, k, identityLut, w, h);
    const b = fillCell(new Uint32Array(w * h), w, 0, unaligned, 0, q, k, identityLut, w, h);
    assert.deepEqual([...a], [...b], `${w}x${h}`);
    const rs = spans(q, h);
    const cs = spans(k, w);
    let m = 0;
    for (let y = rs[0]; y < rs[1]; y++) for (let x = cs[0]; x < cs[1]; x++) m = Math.max(m, aligned[y * k + x]);
    assert.equal(a[0], m, 'the block max');
  }
});
