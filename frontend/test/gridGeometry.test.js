import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fitCell,
  zoomCell,
  stepZoom,
  gridGeometry,
  cellAt,
  visibleRange,
  scrollToCell,
  labelEvery,
  gapFor,
} from '../src/paint/gridGeometry.js';

test('fit: the largest cell whose row of heads (with its gaps) fits the width', () => {
  for (const [width, heads] of [
    [930, 12],
    [930, 64],
    [930, 32],
    [460, 64],
    [5000, 2],
    [100, 128],
    [40 * 12 + 3 * 11, 12],
  ]) {
    const c = fitCell(width, heads);
    const g = gridGeometry(1, heads, c);
    assert.ok(g.width <= width || c === 4, `${width}/${heads}: ${c} -> ${g.width}`);
    if (c < 150) assert.ok(gridGeometry(1, heads, c + 1).width > width, `${width}/${heads}: ${c} is the largest`);
  }
  assert.equal(fitCell(5000, 2), 150);
  assert.equal(fitCell(100, 128), 4);
  assert.equal(zoomCell('fit', 930, 64), fitCell(930, 64));
  assert.equal(zoomCell(48, 930, 64), 48);
});

test('zoom steps', () => {
  assert.equal(stepZoom(13, 1), 16);
  assert.equal(stepZoom(16, 1), 24);
  assert.equal(stepZoom(13, -1), 12);
  assert.equal(stepZoom(8, -1), 8);
  assert.equal(stepZoom(128, 1), 128);
});

test('geometry, hit testing (gaps belong to the cell before) and the visible cells', () => {
  const g = gridGeometry(80, 64, 13);
  assert.equal(g.gap, gapFor(13));
  assert.equal(g.pitch, 14);
  assert.equal(g.width, 64 * 14 - 1);
  assert.equal(g.height, 80 * 14 - 1);
  assert.deepEqual(cellAt(g, 0, 0), { layer: 0, head: 0 });
  assert.deepEqual(cellAt(g, 13.5, 14), { layer: 1, head: 0 });
  assert.deepEqual(cellAt(g, 14 * 5 + 3, 14 * 79 + 12), { layer: 79, head: 5 });
  assert.equal(cellAt(g, 64 * 14, 0), null);
  assert.equal(cellAt(g, -1, 0), null);
  assert.deepEqual(visibleRange(g, 0, 0, 900, 700), { l0: 0, l1: 50, h0: 0, h1: 64 });
  assert.deepEqual(visibleRange(g, 14 * 10 + 5, 14 * 70, 140, 5000), { l0: 70, l1: 80, h0: 10, h1: 21 });
});

test('scrolling to a cell: unchanged when in view, else centred and clamped', () => {
  const g = gridGeometry(80, 64, 48); // pitch 51
  const view = { left: 0, top: 0, w: 500, h: 400 };
  assert.deepEqual(scrollToCell(g, 2, 3, view), { left: 0, top: 0 });
  const s = scrollToCell(g, 40, 30, view);
  assert.equal(s.left, Math.round(30 * 51 + 24 - 250));
  assert.equal(s.top, Math.round(40 * 51 + 24 - 200));
  assert.deepEqual(scrollToCell(g, 79, 63, view), { left: g.width - 500, top: g.height - 400 });
});

test('labels: every n-th row so that a label fits', () => {
  assert.equal(labelEvery(20, 18), 1);
  assert.equal(labelEvery(14, 22), 2);
  assert.equal(labelEvery(5, 22), 5);
});
