// The large map's zoom window (paint/mapWindow.js): clamping, zoom about a point, pan, the token
// under a point, and when the window needs the exact weights instead of the pooled overview.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MIN_SPAN,
  mapPixels,
  wholeWindow,
  clampWindow,
  isWhole,
  zoomWindow,
  panWindow,
  tokenAt,
  needsExact,
  windowText,
  overviewPool,
} from '../src/paint/mapWindow.js';
import { poolFor } from '../src/paint/gridGeometry.js';

test('a window is clamped to the map: inside it, at least MIN_SPAN tokens, null is the whole map', () => {
  assert.deepEqual(clampWindow(null, 4096, 4096), wholeWindow(4096, 4096));
  assert.deepEqual(clampWindow({ q0: -10, q1: 100, k0: 4000, k1: 4200 }, 4096, 4096), {
    q0: 0,
    q1: 110,
    k0: 3896,
    k1: 4096,
  });
  assert.deepEqual(clampWindow({ q0: 50, q1: 51, k0: 0, k1: 1 }, 4096, 4096), {
    q0: 50,
    q1: 50 + MIN_SPAN,
    k0: 0,
    k1: 8,
  });
  assert.deepEqual(clampWindow({ q0: 0, q1: 9000, k0: 2, k1: 3 }, 5, 3), { q0: 0, q1: 5, k0: 0, k1: 3 }, 'a small map');
  assert.ok(isWhole(null, 10, 10) && isWhole(wholeWindow(10, 12), 10, 12));
  assert.ok(!isWhole({ q0: 0, q1: 9, k0: 0, k1: 10 }, 10, 10));
});

test('zooming keeps the token under the pointer where it is; zooming out returns to the whole map', () => {
  const w = zoomWindow(null, 4096, 4096, 4, 0.25, 0.75);
  assert.deepEqual(w, { q0: 2304, q1: 3328, k0: 768, k1: 1792 });
  const before = tokenAt(wholeWindow(4096, 4096), 0.25, 0.75);
  const after = tokenAt(w, 0.25, 0.75);
  assert.deepEqual(after, before);
  assert.deepEqual(zoomWindow(w, 4096, 4096, 1 / 8), wholeWindow(4096, 4096));
  const deep = zoomWindow(w, 4096, 4096, 1e6);
  assert.equal(deep.q1 - deep.q0, MIN_SPAN, 'never fewer than MIN_SPAN tokens');
  const cross = zoomWindow(null, 40, 4000, 2);
  assert.deepEqual(cross, { q0: 10, q1: 30, k0: 1000, k1: 3000 }, 'each side by the same factor');
});

test('panning moves by a fraction of the window and stops at the edges', () => {
  const w = { q0: 1000, q1: 2000, k0: 0, k1: 1000 };
  assert.deepEqual(panWindow(w, 4096, 4096, 0.5, -0.25), { q0: 750, q1: 1750, k0: 500, k1: 1500 });
  assert.deepEqual(panWindow(w, 4096, 4096, -3, 9), { q0: 3096, q1: 4096, k0: 0, k1: 1000 });
});

test('the token under a point of the canvas', () => {
  const w = { q0: 100, q1: 110, k0: 0, k1: 4096 };
  assert.deepEqual(tokenAt(w, 0, 0), { qi: 100, ki: 0 });
  assert.deepEqual(tokenAt(w, 0.999, 0.55), { qi: 105, ki: 4091 });
  assert.deepEqual(tokenAt(w, 1, 1), { qi: 109, ki: 4095 }, 'the far edge is the last token');
});

test('the overview is pooled to the canvas; a window finer than its blocks needs the exact weights', () => {
  assert.equal(mapPixels(128), 220);
  assert.equal(mapPixels(4096), 400);
  const pool = poolFor(4096, 400);
  assert.equal(pool, 11, 'a 4k map on 400 px: 11 x 11-token block means, 373 x 373 values');
  assert.equal(needsExact(wholeWindow(4096, 4096), 400, pool), false);
  assert.equal(needsExact({ q0: 0, q1: 3277, k0: 0, k1: 3277 }, 400, pool), false, 'zoomed 1.25x: blocks of 1.3 px');
  assert.equal(needsExact({ q0: 0, q1: 2621, k0: 0, k1: 2621 }, 400, pool), true, '1.56x: 1.7 px, exact');
  assert.equal(needsExact({ q0: 0, q1: 8, k0: 0, k1: 8 }, 400, null), false, 'the overview is exact');
  assert.equal(poolFor(128, mapPixels(128)), null, 'a short probe: the stored weights at once');
  assert.equal(overviewPool(4096, 4096, 400), 11);
  assert.equal(overviewPool(250, 250, 220), null, 'blocks of 2 tokens on 1.14 tokens a pixel: exact at once');
  assert.equal(overviewPool(300, 300, 220), 2);
  assert.equal(overviewPool(1000, 40, 400), 3, 'the longer side');
  assert.equal(windowText({ q0: 512, q1: 1024, k0: 0, k1: 512 }), 'rows 512\u20131023 \u00d7 columns 0\u2013511');
});
