// A window of a map in pixels (paint/mapRegion.js): the values each pixel covers, max pooling when
// shrinking, the nearest value when enlarging, block means addressed in tokens, and differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { regionSpans, fillRegion, fillRegionDiff } from '../src/paint/mapRegion.js';

const LUT = Uint32Array.from({ length: 256 }, (_, i) => i); // a pixel reads back its level
const DIV = Int32Array.from({ length: 511 }, (_, i) => i - 255);

test('spans: tokens per pixel, in values `scale` tokens wide, clamped to the data', () => {
  assert.deepEqual([...regionSpans(0, 8, 1, 4, 8)], [0, 2, 2, 4, 4, 6, 6, 8]);
  assert.deepEqual([...regionSpans(2, 4, 1, 4, 8)], [2, 3, 2, 3, 3, 4, 3, 4], 'enlarged: each value twice');
  assert.deepEqual([...regionSpans(0, 10, 4, 2, 3)], [0, 1, 1, 2], 'blocks of 4 tokens: pixel 1 is tokens 5..9');
  assert.deepEqual([...regionSpans(8, 10, 4, 2, 3)], [2, 3, 2, 3], 'the last, partial block');
});

test('a window of exact bytes: max-pooled when shrunk, nearest when enlarged', () => {
  // 4 x 4 map, row r col c = 10 r + c
  const src = Uint8Array.from({ length: 16 }, (_, i) => 10 * Math.floor(i / 4) + (i % 4));
  const whole = fillRegion(new Uint32Array(4), 2, 2, src, 0, 4, 4, { q0: 0, q1: 4, k0: 0, k1: 4 }, 1, LUT);
  assert.deepEqual([...whole], [11, 13, 31, 33], 'each pixel the max of its 2 x 2 tokens');
  const zoomed = fillRegion(new Uint32Array(16), 4, 4, src, 0, 4, 4, { q0: 1, q1: 3, k0: 2, k1: 4 }, 1, LUT);
  assert.deepEqual([...zoomed], [12, 12, 13, 13, 12, 12, 13, 13, 22, 22, 23, 23, 22, 22, 23, 23]);
  const offset = new Uint8Array(20);
  offset.set(src, 4);
  const again = fillRegion(new Uint32Array(4), 2, 2, offset, 4, 4, 4, { q0: 0, q1: 4, k0: 0, k1: 4 }, 1, LUT);
  assert.deepEqual([...again], [...whole], 'the map at an offset');
});

test('a window of block means is addressed in tokens', () => {
  // 3 x 3 blocks of 4 tokens (a 10-token map, pool 4): block (i, j) = 10 i + j
  const blocks = Uint8Array.from({ length: 9 }, (_, i) => 10 * Math.floor(i / 3) + (i % 3));
  const px = fillRegion(new Uint32Array(4), 2, 2, blocks, 0, 3, 3, { q0: 4, q1: 8, k0: 8, k1: 10 }, 4, LUT);
  assert.deepEqual([...px], [12, 12, 12, 12], 'tokens 4..7 x 8..9: block (1, 2)');
});

test('differences keep the value of largest magnitude, with its sign', () => {
  const a = Uint8Array.from([10, 0, 0, 200]);
  const b = Uint8Array.from([0, 30, 0, 0]);
  const one = fillRegionDiff(new Int32Array(1), 1, 1, a, 0, b, 0, 2, 2, { q0: 0, q1: 2, k0: 0, k1: 2 }, 1, DIV);
  assert.deepEqual([...one], [200]);
  const each = fillRegionDiff(new Int32Array(2), 2, 1, a, 0, b, 0, 2, 2, { q0: 0, q1: 1, k0: 0, k1: 2 }, 1, DIV);
  assert.deepEqual([...each], [10, -30]);
});
