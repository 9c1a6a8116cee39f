// Turning attention matrices into the grid's pixels: pure functions over typed arrays (unit
// tested) that fill one map as a block of a larger buffer (the large maps: mapRegion.js).

// Source spans of each output pixel: [start, end) pairs over `n` source pixels for `outN`
// outputs (a block when shrinking, one source pixel when enlarging). Cached: a grid asks for
// the same few (n, outN) pairs thousands of times per paint.
const spanCache = new Map();

export function spans(n, outN) {
  const key = n * 65536 + outN;
  let s = spanCache.get(key);
  if (s) return s;
  s = new Int32Array(2 * outN);
  for (let i = 0; i < outN; i++) {
    const a = Math.floor((i * n) / outN);
    s[2 * i] = a;
    s[2 * i + 1] = Math.max(a + 1, Math.floor(((i + 1) * n) / outN));
  }
  if (spanCache.size > 256) spanCache.clear();
  spanCache.set(key, s);
  return s;
}

// Scratch rows of a pooled block (one type per function keeps the loops monomorphic); maxRow8
// is maxRow32's bytes.
let maxRow32 = new Uint32Array(64);
let maxRow8 = new Uint8Array(maxRow32.buffer);
let diffRow = new Int16Array(256);

const words = new WeakMap(); // ArrayBuffer -> its Uint32Array view

/** The 32-bit words of `src` from byte `offset`, when its rows of `k` bytes are word-aligned. */
function wordView(src, offset, k) {
  if (k % 4 || (src.byteOffset + offset) % 4) return null;
  let v = words.get(src.buffer);
  if (!v) words.set(src.buffer, (v = new Uint32Array(src.buffer, 0, src.buffer.byteLength >> 2)));
  return v;
}

const HI = 0x80808080 | 0;
const LO = 0x7f7f7f7f;

/**
 * maxRow8[0..k) = bytewise max of rows y0..y1-1 of the map at src32 word `w0` (k4 words a row),
 * four bytes per operation (SWAR): per byte, a >= b from the borrow-free (a|0x80) - (b&0x7f) and
 * the two high bits, widened to a byte mask. 2.4x faster than a byte loop on 128-token maps.
 */
function maxRowsWords(src32, w0, k4, y0, y1) {
  const row = maxRow32;
  row.set(src32.subarray(w0 + y0 * k4, w0 + y0 * k4 + k4));
  for (let y = y0 + 1; y < y1; y++) {
    const b = w0 + y * k4;
    for (let x = 0; x < k4; x++) {
      const a = row[x];
      const c = src32[b + x];
      const ah = a & HI;
      const ch = c & HI;
      const ge = ((ah & ~ch) | (~(ah ^ ch) & ((a | HI) - (c & LO)))) & HI;
      const m = Math.imul(ge >>> 7, 255);
      row[x] = (a & m) | (c & ~m);
    }
  }
}

/** maxRowsWords for maps whose rows are not word-aligned, a byte at a time. */
function maxRowsBytes(src, offset, k, y0, y1) {
  const row = maxRow8;
  for (let x = 0; x < k; x++) row[x] = src[offset + y0 * k + x];
  for (let y = y0 + 1; y < y1; y++) {
    const b = offset + y * k;
    for (let x = 0; x < k; x++) if (src[b + x] > row[x]) row[x] = src[b + x];
  }
}

/**
 * Paint the uint8 map at src[offset..] (q rows, k cols) as a w x h block of `out32` (packed
 * RGBA, `stride` pixels a row, starting at pixel `dst`), through `lut`: max-pooled when the
 * block is smaller than the map (thin diagonals survive), nearest pixel when it is larger.
 * One buffer for a whole grid, so a grid is one putImageData, not one per head.
 */
export function fillCell(out32, stride, dst, src, offset, q, k, lut, w, h) {
  const rs = spans(q, h);
  const cs = spans(k, w);
  if (maxRow8.length < k) maxRow8 = new Uint8Array((maxRow32 = new Uint32Array(Math.ceil(k / 4))).buffer);
  const src32 = wordView(src, offset, k);
  const w0 = src32 ? (src.byteOffset + offset) >> 2 : 0;
  for (let oy = 0; oy < h; oy++) {
    const o = dst + oy * stride;
    const y0 = rs[2 * oy];
    const y1 = rs[2 * oy + 1];
    if (oy > 0 && y0 === rs[2 * oy - 2] && y1 === rs[2 * oy - 1]) {
      out32.copyWithin(o, o - stride, o - stride + w); // enlarged: the same source row again
      continue;
    }
    let line = src;
    let base = offset + y0 * k;
    if (y1 - y0 > 1) {
      if (src32) maxRowsWords(src32, w0, k >> 2, y0, y1);
      else maxRowsBytes(src, offset, k, y0, y1);
      line = maxRow8;
      base = 0;
    }
    for (let ox = 0; ox < w; ox++) {
      const x1 = cs[2 * ox + 1];
      let m = line[base + cs[2 * ox]];
      for (let x = cs[2 * ox] + 1; x < x1; x++) if (line[base + x] > m) m = line[base + x];
      out32[o + ox] = lut[m];
    }
  }
  return out32;
}

const mag = (v) => (v < 0 ? -v : v);

/**
 * fillCell for the difference a - b of two uint8 maps (same q x k) with a 511-entry diverging
 * LUT (index diff + 255); a pooled block keeps its value of largest magnitude, with its sign.
 */
export function fillDiffCell(out32, stride, dst, a, aOff, b, bOff, q, k, divLut, w, h) {
  const rs = spans(q, h);
  const cs = spans(k, w);
  if (diffRow.length < k) diffRow = new Int16Array(k);
  const row = diffRow;
  for (let oy = 0; oy < h; oy++) {
    const o = dst + oy * stride;
    row.fill(0);
    for (let y = rs[2 * oy]; y < rs[2 * oy + 1]; y++) {
      const ia = aOff + y * k;
      const ib = bOff + y * k;
      for (let x = 0; x < k; x++) {
        const v = a[ia + x] - b[ib + x];
        if (mag(v) > mag(row[x])) row[x] = v;
      }
    }
    for (let ox = 0; ox < w; ox++) {
      let m = 0;
      for (let x = cs[2 * ox]; x < cs[2 * ox + 1]; x++) if (mag(row[x]) > mag(m)) m = row[x];
      out32[o + ox] = divLut[m + 255];
    }
  }
  return out32;
}

const levelCache = new WeakMap(); // uint16 data -> its colour levels

/**
 * A map's colour levels (LUT indices 0..255): uint8 weights as they are; uint16 block means (a
 * pooled snapshot, steps of 1/65535) rounded to steps of 1/255, once per array. Colours only: a
 * number shown to the user is read from the data itself.
 */
export function byteLevels(data) {
  if (data instanceof Uint8Array) return data;
  let levels = levelCache.get(data);
  if (!levels) {
    levels = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) levels[i] = (2 * data[i] + 257) / 514; // round(v / 257)
    levelCache.set(data, levels);
  }
  return levels;
}

/**
 * A cell with no map (a storage budget left it out): `w` x `h` pixels of `bg` crossed by diagonal
 * stripes of `line`, 2 px wide every `period` px, so it never reads as a (blank) map; `crossed`: both
 * diagonals (a head with a summary instead of its map).
 */
export function fillHatch(out32, stride, dst, w, h, bg, line, period = 6, crossed = false) {
  for (let y = 0; y < h; y++) {
    const row = dst + y * stride;
    for (let x = 0; x < w; x++) {
      const on = (x + y) % period < 2 || (crossed && (x - y + h * period) % period < 2);
      out32[row + x] = on ? line : bg;
    }
  }
  return out32;
}

/**
 * The mark of a cell painted from a summary's block means, not from a map: its top-right corner, a
 * right triangle of `size` px a side, crossed by the summary's hatch (`line` over `bg`, both
 * diagonals every `period` px; all `line` when smaller than `period`).
 */
export function fillCorner(out32, stride, dst, w, size, bg, line, period = 6) {
  for (let y = 0; y < size; y++) {
    const row = dst + y * stride;
    for (let x = w - size + y; x < w; x++) {
      const on = size < period || (x + y) % period < 2 || (x - y) % period < 2;
      out32[row + x] = on ? line : bg;
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
