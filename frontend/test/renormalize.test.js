// Hiding special tokens: the kept rows and columns (renormalize.js) and one head's weights over them,
// each row renormalized to 1, read from the bytes a row or a column at a time (headMatrix.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptIndices } from '../src/answers/renormalize.js';
import { HeadMatrix } from '../src/answers/headMatrix.js';

const close = (a, b, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

/** Every weight of `m`, row by row, read three ways: at(), row() and col() (they must agree). */
function dense(m) {
  const out = [];
  for (let r = 0; r < m.nr; r++) {
    const row = m.row(r);
    for (let c = 0; c < m.nc; c++) {
      close(row[c], m.at(r, c));
      close(m.col(c)[r], m.at(r, c));
      out.push(row[c]);
    }
  }
  return out;
}

test('keptIndices drops special tokens only when hiding', () => {
  const special = [true, false, false, true];
  assert.deepEqual(keptIndices(4, special, false), [0, 1, 2, 3]);
  assert.deepEqual(keptIndices(4, special, true), [1, 2]);
  assert.deepEqual(keptIndices(3, null, true), [0, 1, 2]);
});

test('hiding [CLS]/[SEP] renormalizes the remaining rows to 1', () => {
  // 4 tokens: [CLS] a b [SEP]; bytes per row sum to 255
  const bytes = new Uint8Array([255, 0, 0, 0, 153, 51, 51, 0, 51, 0, 102, 102, 0, 0, 0, 255]);
  const keep = keptIndices(4, [true, false, false, true], true);
  const out = dense(new HeadMatrix(bytes, 0, 4, keep, keep));
  assert.equal(out.length, 4);
  close(out[0] + out[1], 1);
  close(out[0], 0.5);
  close(out[2], 0);
  close(out[3], 1);
  const all = dense(new HeadMatrix(bytes, 0, 4, [0, 1, 2, 3], [0, 1, 2, 3]));
  close(all[4], 153 / 255, 1e-6);
});

test('a row whose kept mass is zero stays zero (no NaN)', () => {
  const bytes = new Uint8Array([255, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(dense(new HeadMatrix(bytes, 0, 3, [0], [1, 2])), [0, 0]);
});

test('cross attention: rows and columns index different token lists', () => {
  // 2 decoder rows x 3 encoder cols, offset into a bigger buffer
  const bytes = new Uint8Array([1, 1, 1, 0, 255, 0, 85, 85, 85]);
  const out = dense(new HeadMatrix(bytes, 3, 3, [0, 1], [0, 2]));
  assert.deepEqual(
    out.map((v) => Math.round(v * 1e6) / 1e6),
    [0, 0, 0.5, 0.5],
  );
});
