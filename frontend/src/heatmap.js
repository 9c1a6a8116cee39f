// Turning attention matrices into pixels. Pure functions over typed arrays (unit tested)
// plus a small painter that puts them on a canvas with putImageData.

/**
 * Pooled size: the map is painted at its own resolution, or shrunk (max pooling, so thin
 * diagonals such as previous-token heads stay visible) when it is larger than the target.
 */
export function pooledSize(n, targetPx) {
  const t = Math.max(1, Math.floor(targetPx));
  return n <= t ? n : t;
}

function blockBounds(n, outN) {
  const b = new Int32Array(outN + 1);
  for (let i = 0; i <= outN; i++) b[i] = Math.floor((i * n) / outN);
  return b;
}

/**
 * Fill `out32` (outH x outW packed RGBA) from the uint8 matrix at src[offset..] (q rows, k cols).
 */
export function fillPixels(out32, src, offset, q, k, lut, outW = k, outH = q) {
  if (outW === k && outH === q) {
    const n = q * k;
    for (let i = 0; i < n; i++) out32[i] = lut[src[offset + i]];
    return out32;
  }
  const rb = blockBounds(q, outH);
  const cb = blockBounds(k, outW);
  const rowMax = new Uint8Array(k);
  for (let oy = 0; oy < outH; oy++) {
    rowMax.fill(0);
    for (let y = rb[oy]; y < rb[oy + 1]; y++) {
      const base = offset + y * k;
      for (let x = 0; x < k; x++) {
        const v = src[base + x];
        if (v > rowMax[x]) rowMax[x] = v;
      }
    }
    const obase = oy * outW;
    for (let ox = 0; ox < outW; ox++) {
      let m = 0;
      for (let x = cb[ox]; x < cb[ox + 1]; x++) if (rowMax[x] > m) m = rowMax[x];
      out32[obase + ox] = lut[m];
    }
  }
  return out32;
}

/**
 * Signed difference a - b of two uint8 matrices (same q x k), as Int16Array.
 */
export function diffMatrix(a, aOffset, b, bOffset, q, k) {
  const n = q * k;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = a[aOffset + i] - b[bOffset + i];
  return out;
}

/**
 * Fill pixels from a signed diff (Int16Array, values in [-255, 255]) with a 511-entry
 * diverging LUT. When shrinking, each block keeps its value of largest magnitude.
 */
export function fillDiffPixels(out32, diff, q, k, lut, outW = k, outH = q) {
  if (outW === k && outH === q) {
    const n = q * k;
    for (let i = 0; i < n; i++) out32[i] = lut[diff[i] + 255];
    return out32;
  }
  const rb = blockBounds(q, outH);
  const cb = blockBounds(k, outW);
  const rowExt = new Int16Array(k);
  for (let oy = 0; oy < outH; oy++) {
    rowExt.fill(0);
    for (let y = rb[oy]; y < rb[oy + 1]; y++) {
      const base = y * k;
      for (let x = 0; x < k; x++) {
        const v = diff[base + x];
        if (Math.abs(v) > Math.abs(rowExt[x])) rowExt[x] = v;
      }
    }
    const obase = oy * outW;
    for (let ox = 0; ox < outW; ox++) {
      let m = 0;
      for (let x = cb[ox]; x < cb[ox + 1]; x++) if (Math.abs(rowExt[x]) > Math.abs(m)) m = rowExt[x];
      out32[obase + ox] = lut[m + 255];
    }
  }
  return out32;
}

/** Fraction of pixels that differ from the LUT's zero colour (used by tests and the bench). */
export function nonBlankFraction(out32, blank) {
  let n = 0;
  for (let i = 0; i < out32.length; i++) if (out32[i] !== blank) n++;
  return out32.length ? n / out32.length : 0;
}

// ---- canvas painter -------------------------------------------------------------------

const imageCache = new WeakMap();

function imageFor(canvas, ctx, w, h) {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  let img = imageCache.get(canvas);
  if (!img || img.width !== w || img.height !== h) {
    img = ctx.createImageData(w, h);
    imageCache.set(canvas, img);
  }
  return img;
}

/**
 * Paint one attention map (uint8 at src[offset..], q x k) on `canvas`, at most `targetPx`
 * pixels a side (the canvas is then scaled by CSS with crisp pixels).
 * If `ref` is given ({data, offset}), paints src - ref with the diverging LUT instead.
 */
export function paintHeatmap(canvas, src, offset, q, k, { lut, divLut, targetPx = 128, ref = null }) {
  const w = pooledSize(k, targetPx);
  const h = pooledSize(q, targetPx);
  const ctx = canvas.getContext('2d');
  const img = imageFor(canvas, ctx, w, h);
  const out32 = new Uint32Array(img.data.buffer);
  if (ref) {
    fillDiffPixels(out32, diffMatrix(src, offset, ref.data, ref.offset, q, k), q, k, divLut, w, h);
  } else {
    fillPixels(out32, src, offset, q, k, lut, w, h);
  }
  ctx.putImageData(img, 0, 0);
}
