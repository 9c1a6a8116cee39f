import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  sequentialLUT,
  divergingLUT,
  unpackRGBA,
  packRGBA,
  interpolateStops,
  driftRGB,
  driftRGBA,
  headColor,
  contrastText,
} from '../src/paint/colorScale.js';

const lum = ([r, g, b]) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

test('packRGBA matches ImageData byte order (little-endian)', () => {
  const v = packRGBA(1, 2, 3, 4);
  const bytes = new Uint8Array(new Uint32Array([v]).buffer);
  assert.deepEqual([...bytes], [1, 2, 3, 4]);
  assert.deepEqual(unpackRGBA(v), [1, 2, 3, 4]);
});

for (const contrast of ['linear', 'sqrt', 'log']) {
  test(`sequential LUT (${contrast}) goes from white to dark, monotonically, opaque`, () => {
    const lut = sequentialLUT(contrast);
    assert.equal(lut.length, 256);
    assert.deepEqual(unpackRGBA(lut[0]), [255, 255, 255, 255]);
    let prev = Infinity;
    for (let i = 0; i < 256; i++) {
      const c = unpackRGBA(lut[i]);
      assert.equal(c[3], 255);
      const l = lum(c);
      assert.ok(l <= prev + 1e-9, `luminance rises at ${i}`);
      prev = l;
    }
    assert.ok(lum(unpackRGBA(lut[255])) < 60);
  });
}

test('sqrt contrast makes small weights visible (uniform over 128 tokens)', () => {
  const byte = Math.round(255 / 128);
  assert.ok(lum(unpackRGBA(sequentialLUT('sqrt')[byte])) < lum(unpackRGBA(sequentialLUT('linear')[byte])));
  assert.notEqual(sequentialLUT('sqrt')[byte], sequentialLUT('sqrt')[0]);
});

test('diverging LUT: white at zero, blue below, red above, symmetric darkness', () => {
  const lut = divergingLUT('linear');
  assert.equal(lut.length, 511);
  assert.deepEqual(unpackRGBA(lut[255]), [255, 255, 255, 255]);
  const neg = unpackRGBA(lut[0]);
  const pos = unpackRGBA(lut[510]);
  assert.ok(neg[2] > neg[0], 'negative is blue');
  assert.ok(pos[0] > pos[2], 'positive is red');
  assert.ok(lum(neg) < 80 && lum(pos) < 80);
});

test('interpolateStops clamps and handles NaN', () => {
  const stops = [
    [0, [0, 0, 0]],
    [1, [100, 200, 50]],
  ];
  assert.deepEqual(interpolateStops(stops, 0.5), [50, 100, 25]);
  assert.deepEqual(interpolateStops(stops, -1), [0, 0, 0]);
  assert.deepEqual(interpolateStops(stops, 2), [100, 200, 50]);
  assert.deepEqual(interpolateStops(stops, NaN), [0, 0, 0]);
});

test('drift colours: neutral for undefined values, darker for larger drift, packed for ImageData', () => {
  assert.deepEqual(driftRGB(NaN, 1), [247, 247, 247]);
  assert.deepEqual(driftRGB(0.5, 0), [247, 247, 247]);
  assert.ok(lum(driftRGB(1, 1)) < lum(driftRGB(0.2, 1)));
  assert.equal(driftRGBA(1, 1), packRGBA(...driftRGB(1, 1)));
});

test('head colours are distinct for 16 heads and wrap', () => {
  const set = new Set(Array.from({ length: 16 }, (_, i) => headColor(i).join(',')));
  assert.equal(set.size, 16);
  assert.deepEqual(headColor(16), headColor(0));
  assert.equal(contrastText([255, 255, 255]), '#1a1a1a');
  assert.equal(contrastText([8, 29, 88]), '#ffffff');
});
