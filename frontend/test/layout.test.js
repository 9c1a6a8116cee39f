import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attentionLines, filmstripCount, tokenRows, visibleRows } from '../src/paint/layout.js';

/** A head's weights as attentionLines reads them (HeadMatrix's shape) over a dense row-major array. */
const matrix = (w, nr, nc) => ({
  nr,
  nc,
  row: (r, out = new Float32Array(nc)) => out.map((_, c) => w[r * nc + c]),
  col: (c, out = new Float32Array(nr)) => out.map((_, r) => w[r * nc + c]),
});

test('attention lines filter small weights and isolate a hovered token', () => {
  const w = new Float32Array([0.9, 0.1, 0.005, 0.6, 0.4, 0]);
  assert.deepEqual(
    attentionLines(matrix(w, 2, 3), { minWeight: 0.01 }).map(([r, c]) => [r, c]),
    [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ],
  );
  assert.deepEqual(
    attentionLines(matrix(w, 2, 3), { onlyRow: 1 }).map(([r, c]) => [r, c]),
    [
      [1, 0],
      [1, 1],
    ],
  );
  assert.deepEqual(
    attentionLines(matrix(w, 2, 3), { onlyCol: 0 }).map(([r, c, v]) => [r, c, v]),
    [
      [0, 0, w[0]],
      [1, 0, w[3]],
    ],
  );
});

test('filmstrip count', () => {
  assert.equal(filmstripCount(1000), 9);
  assert.equal(filmstripCount(50), 2);
  assert.equal(filmstripCount(10000), 10);
});

test('attention lines keep the strongest per row; long probes get denser rows and fewer lines', () => {
  const w = new Float32Array([0.1, 0.5, 0.2, 0.2, 0.3, 0.3, 0.4, 0.0]);
  assert.deepEqual(
    attentionLines(matrix(w, 2, 4), { perRow: 2 }).map(([r, c]) => [r, c]),
    [
      [0, 1],
      [0, 2],
      [1, 2],
      [1, 0],
    ],
  );
  assert.deepEqual(tokenRows(64), { rowH: 20, font: 13, perRow: Infinity });
  assert.ok(tokenRows(512).rowH < tokenRows(128).rowH && tokenRows(512).perRow <= 3);
});

test('a virtualised column keeps only the rows in view and an overscan in the DOM', () => {
  assert.deepEqual(visibleRows(0, 640, 11, 4096, 20), { first: 0, last: 79 });
  assert.deepEqual(visibleRows(11000, 11640, 11, 4096, 20), { first: 980, last: 1079 });
  assert.deepEqual(visibleRows(44000, 45000, 11, 4096, 20), { first: 3980, last: 4096 });
  assert.deepEqual(visibleRows(0, 640, 20, 24), { first: 0, last: 24 }, 'a short probe: every row');
  assert.deepEqual(visibleRows(900, 900, 20, 24), { first: 24, last: 24 }, 'scrolled past the rows');
});
