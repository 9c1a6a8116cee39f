import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gridLayout, attentionLines, filmstripCount } from '../src/layout.js';

test('grid cells fill the width and clamp to the limits', () => {
  const l = gridLayout({ layers: 12, heads: 12, width: 30 + 12 * 60 + 11 * 4 });
  assert.equal(l.cell, 60);
  assert.equal(l.width, 30 + 12 * 60 + 11 * 4);
  assert.equal(l.height, 12 * 60 + 11 * 4);
  assert.equal(gridLayout({ layers: 1, heads: 2, width: 5000 }).cell, 160);
  assert.equal(gridLayout({ layers: 24, heads: 16, width: 200 }).cell, 28);
});

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
