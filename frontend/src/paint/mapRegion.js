// A window of one map onto a canvas of w x h pixels, pure over typed arrays (unit-tested) plus
// its painter: the large map of a long probe shows the tokens of its zoom window (mapWindow.js),
// from the exact bytes or from block means (each value `scale` tokens a side), max-pooled where
// a pixel covers several values (thin diagonals survive), the nearest value where it covers less.

/**
 * The values each of `outN` pixels covers along one axis: pixel i shows tokens [t0 + i·d, t0 +
 * (i+1)·d) (d = (t1 - t0) / outN), i.e. values [a, b) of `n`, each value `scale` tokens wide:
 * a = floor(start / scale), b = max(a + 1, floor(end / scale)), clamped to n. Int32Array [a, b]·outN.
 */
export function regionSpans(t0, t1, scale, outN, n) {
  const out = new Int32Array(2 * outN);
  const d = (t1 - t0) / outN;
  for (let i = 0; i < outN; i++) {
    const a = Math.min(n - 1, Math.floor((t0 + i * d) / scale));
    out[2 * i] = a;
    out[2 * i + 1] = Math.min(n, Math.max(a + 1, Math.floor((t0 + (i + 1) * d) / scale)));
  }
  return out;
}

let rowMax = new Uint8Array(1024);
let rowDiff = new Int16Array(1024);

/**
 * Pixels (w x h, packed RGBA through `lut`) of window `win` ({q0, q1, k0, k1} in tokens) of the
 * map of byte levels at src[offset..] (`rows` x `cols` values, each `scale` tokens a side).
 */
export function fillRegion(out32, w, h, src, offset, rows, cols, win, scale, lut) {
  const rs = regionSpans(win.q0, win.q1, scale, h, rows);
  const cs = regionSpans(win.k0, win.k1, scale, w, cols);
  const c0 = cs[0];
  const c1 = cs[2 * w - 1];
  if (rowMax.length < c1 - c0) rowMax = new Uint8Array(c1 - c0);
  for (let oy = 0; oy < h; oy++) {
    const o = oy * w;
    const y0 = rs[2 * oy];
    const y1 = rs[2 * oy + 1];
    if (oy > 0 && y0 === rs[2 * oy - 2] && y1 === rs[2 * oy - 1]) {
      out32.copyWithin(o, o - w, o); // enlarged: the same values again
      continue;
    }
    const base = offset + y0 * cols;
    for (let x = c0; x < c1; x++) rowMax[x - c0] = src[base + x];
    for (let y = y0 + 1; y < y1; y++) {
      const b = offset + y * cols;
      for (let x = c0; x < c1; x++) if (src[b + x] > rowMax[x - c0]) rowMax[x - c0] = src[b + x];
    }
    for (let ox = 0; ox < w; ox++) {
      const x1 = cs[2 * ox + 1] - c0;
      let m = rowMax[cs[2 * ox] - c0];
      for (let x = cs[2 * ox] - c0 + 1; x < x1; x++) if (rowMax[x] > m) m = rowMax[x];
      out32[o + ox] = lut[m];
    }
  }
  return out32;
}

const mag = (v) => (v < 0 ? -v : v);

/**
 * fillRegion of a − b (two maps of byte levels of the same shape, at aOff and bOff) with a
 * 511-entry diverging LUT (index diff + 255); a pixel keeps the difference of largest magnitude.
 */
export function fillRegionDiff(out32, w, h, a, aOff, b, bOff, rows, cols, win, scale, divLut) {
  const rs = regionSpans(win.q0, win.q1, scale, h, rows);
  const cs = regionSpans(win.k0, win.k1, scale, w, cols);
  const c0 = cs[0];
  const c1 = cs[2 * w - 1];
  if (rowDiff.length < c1 - c0) rowDiff = new Int16Array(c1 - c0);
  for (let oy = 0; oy < h; oy++) {
    rowDiff.fill(0, 0, c1 - c0);
    for (let y = rs[2 * oy]; y < rs[2 * oy + 1]; y++) {
      const ia = aOff + y * cols;
      const ib = bOff + y * cols;
      for (let x = c0; x < c1; x++) {
        const v = a[ia + x] - b[ib + x];
        if (mag(v) > mag(rowDiff[x - c0])) rowDiff[x - c0] = v;
      }
    }
    for (let ox = 0; ox < w; ox++) {
      let m = 0;
      for (let x = cs[2 * ox] - c0; x < cs[2 * ox + 1] - c0; x++) if (mag(rowDiff[x]) > mag(m)) m = rowDiff[x];
      out32[oy * w + ox] = divLut[m + 255];
    }
  }
  return out32;
}

let rowTop = new Int16Array(1024);

/**
 * Pixels (w x h, packed RGBA) of window `win` of a head of which only each query row's top `k`
 * keys are known (`top`: uint16 [rows, 2, k], keys then weight bytes, as a summary answer holds
 * them): a pixel shows the largest known weight of the tokens it covers through `lut`, or, where it
 * covers none, the hatch of "not stored" (`blank` crossed by `line` every `period` px), never 0.
 */
export function fillTopRegion(out32, w, h, top, k, rows, keyLen, win, lut, { blank, line, period = 8 }) {
  const rs = regionSpans(win.q0, win.q1, 1, h, rows);
  const cs = regionSpans(win.k0, win.k1, 1, w, keyLen);
  const c0 = cs[0];
  const c1 = cs[2 * w - 1];
  if (rowTop.length < c1 - c0) rowTop = new Int16Array(c1 - c0);
  for (let oy = 0; oy < h; oy++) {
    rowTop.fill(-1, 0, c1 - c0);
    for (let y = rs[2 * oy]; y < rs[2 * oy + 1]; y++) {
      for (let j = 0; j < k; j++) {
        const x = top[y * 2 * k + j] - c0;
        const v = top[y * 2 * k + k + j];
        if (x >= 0 && x < c1 - c0 && v > rowTop[x]) rowTop[x] = v;
      }
    }
    for (let ox = 0; ox < w; ox++) {
      let m = -1;
      for (let x = cs[2 * ox] - c0; x < cs[2 * ox + 1] - c0; x++) if (rowTop[x] > m) m = rowTop[x];
      out32[oy * w + ox] = m >= 0 ? lut[m] : (ox + oy) % period < 1 ? line : blank;
    }
  }
  return out32;
}

const images = new WeakMap(); // canvas -> its ImageData

/**
 * Paint window `win` of `map` ({data: byte levels, offset, rows, cols, scale}) on `canvas`, `px`
 * device pixels a side; with `ref` (the same shape: {data, offset}) a − ref in the diverging LUT.
 */
export function paintRegion(canvas, px, map, ref, win, { lut, divLut }) {
  putPixels(canvas, px, (out32) => {
    const { data, offset, rows, cols, scale } = map;
    if (ref) fillRegionDiff(out32, px, px, data, offset, ref.data, ref.offset, rows, cols, win, scale, divLut);
    else fillRegion(out32, px, px, data, offset, rows, cols, win, scale, lut);
  });
}

/** `fill(out32)` the pixels of `canvas`, `px` device pixels a side, and put them. */
export function putPixels(canvas, px, fill) {
  if (canvas.width !== px) canvas.width = px;
  if (canvas.height !== px) canvas.height = px;
  const ctx = canvas.getContext('2d');
  let img = images.get(canvas);
  if (!img || img.width !== px || img.height !== px) images.set(canvas, (img = ctx.createImageData(px, px)));
  fill(new Uint32Array(img.data.buffer));
  ctx.putImageData(img, 0, 0);
}
