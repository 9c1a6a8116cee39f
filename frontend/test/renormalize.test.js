import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptIndices, subMatrix } from '../src/answers/renormalize.js';

const close = (a, b, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test('keptIndices drops special tokens only when hiding', () => {
  const special = [true, false, false, true];
  assert.deepEqual(keptIndices(4, special, false), [0, 1, 2, 3]);
  assert.deepEqual(keptIndices(4, special, true), [1, 2]);
  assert.deepEqual(keptIndices(3, null, true), [0, 1, 2]);
});

test('hiding [CLS]/[SEP] renormalizes the remaining rows to 1', () => {
  // 4 tokens: [CLS] a b [SEP]; bytes per row sum to 255
  const m = new Uint8Array([255, 0, 0, 0, 153, 51, 51, 0, 51, 0, 102, 102, 0, 0, 0, 255]);
  const keep = keptIndices(4, [true, false, false, true], true);
  const out = subMatrix(m, 0, 4, keep, keep);
  assert.equal(out.length, 4);
  close(out[0] + out[1], 1);
  close(out[0], 0.5);
  close(out[2], 0);
  close(out[3], 1);
});

test('without renormalization the raw weights come back', () => {
  const m = new Uint8Array([255, 0, 51, 204]);
  const out = subMatrix(m, 0, 2, [0, 1], [1], 1 / 255, false);
  close(out[0], 0);
  close(out[1], 0.8);
});

test('a row whose kept mass is zero stays zero (no NaN)', () => {
  const m = new Uint8Array([255, 0, 0, 0, 0, 0, 0, 0, 0]);
  const out = subMatrix(m, 0, 3, [0], [1, 2]);
  assert.deepEqual([...out], [0, 0]);
});

test('cross attention: rows and columns index different token lists', () => {
  // 2 decoder rows x 3 encoder cols, offset into a bigger buffer
  const m = new Uint8Array([1, 1, 1, 0, 255, 0, 85, 85, 85]);
  const out = subMatrix(m, 3, 3, [0, 1], [0, 2]);
  close(out[0], 0);
  close(out[1], 0);
  close(out[2], 0.5);
  close(out[3], 0.5);
});
