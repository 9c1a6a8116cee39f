import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attentionLines, filmstripCount, tokenRows } from '../src/paint/layout.js';

test('attention lines filter small weights and isolate a hovered token', () => {
  const w = new Float32Array([0.9, 0.1, 0.005, 0.6, 0.4, 0]);
  assert.deepEqual(
    attentionLines(w, 2, 3, { minWeight: 0.01 }).map(([r, c]) => [r, c]),
    [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ],
  );
  assert.deepEqual(
    attentionLines(w, 2, 3, { onlyRow: 1 }).map(([r, c]) => [r, c]),
    [
      [1, 0],
      [1, 1],
    ],
  );
  assert.deepEqual(
    attentionLines(w, 2, 3, { onlyCol: 0 }).map(([r, c, v]) => [r, c, v]),
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
    attentionLines(w, 2, 4, { perRow: 2 }).map(([r, c]) => [r, c]),
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
