// Colour scales as lookup tables of packed RGBA (Uint32, little-endian byte order as
// ImageData uses on every browser platform), plus CSS colours for badges and lines.

const SEQ_STOPS = [
  // white -> pale blue -> blue -> deep navy: dark-on-light, high attention is dark
  [0.0, [255, 255, 255]],
  [0.15, [222, 235, 247]],
  [0.4, [107, 174, 214]],
  [0.7, [33, 113, 181]],
  [1.0, [8, 29, 88]],
];
const DIV_NEG = [
  [0.0, [255, 255, 255]],
  [0.5, [103, 169, 207]],
  [1.0, [5, 48, 97]],
];
const DIV_POS = [
  [0.0, [255, 255, 255]],
  [0.5, [239, 138, 98]],
  [1.0, [103, 0, 31]],
];
const DRIFT_STOPS = [
  [0.0, [247, 247, 247]],
  [0.35, [253, 208, 162]],
  [0.7, [241, 105, 19]],
  [1.0, [140, 45, 4]],
];

export function interpolateStops(stops, t) {
  if (!(t >= 0)) t = 0; // also catches NaN
  if (t > 1) t = 1;
  for (let i = 1; i < stops.length; i++) {
    const [t1, c1] = stops[i];
    if (t <= t1) {
      const [t0, c0] = stops[i - 1];
      const u = t1 === t0 ? 0 : (t - t0) / (t1 - t0);
      return [0, 1, 2].map((j) => Math.round(c0[j] + (c1[j] - c0[j]) * u));
    }
  }
  return stops[stops.length - 1][1].slice();
}

export function packRGBA(r, g, b, a = 255) {
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

export function unpackRGBA(v) {
  return [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
}

/** Contrast curves applied to a weight in [0,1] before colouring. */
export const CONTRAST = {
  linear: (t) => t,
  sqrt: (t) => Math.sqrt(t),
  log: (t) => Math.log1p(255 * t) / Math.log(256),
};

/** 256-entry LUT: index = attention byte (weight = byte / 255). */
export function sequentialLUT(contrast = 'sqrt') {
  const f = CONTRAST[contrast] || CONTRAST.sqrt;
  const lut = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const [r, g, b] = interpolateStops(SEQ_STOPS, f(i / 255));
    lut[i] = packRGBA(r, g, b);
  }
  return lut;
}

/** 511-entry LUT: index = diff + 255, diff = byteA - byteB in [-255, 255]. */
export function divergingLUT(contrast = 'sqrt') {
  const f = CONTRAST[contrast] || CONTRAST.sqrt;
  const lut = new Uint32Array(511);
  for (let d = -255; d <= 255; d++) {
    const t = f(Math.abs(d) / 255);
    const [r, g, b] = interpolateStops(d < 0 ? DIV_NEG : DIV_POS, t);
    lut[d + 255] = packRGBA(r, g, b);
  }
  return lut;
}

export function rgbCss([r, g, b], alpha) {
  return alpha === undefined ? `rgb(${r},${g},${b})` : `rgba(${r},${g},${b},${alpha})`;
}

/** Colour of a drift value, relative to the largest drift shown (0..max), as [r, g, b]. */
export function driftRGB(value, max) {
  if (!Number.isFinite(value) || !(max > 0)) return [247, 247, 247];
  return interpolateStops(DRIFT_STOPS, value / max);
}

/** driftRGB packed for ImageData (the grid paints cell frames in it). */
export function driftRGBA(value, max) {
  return packRGBA(...driftRGB(value, max));
}

/** Text colour that stays legible on a given background. */
export function contrastText([r, g, b]) {
  const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return lum > 150 ? '#1a1a1a' : '#ffffff';
}

// Categorical palette for heads in the head view (Tableau 10, then a few more).
const HEAD_PALETTE = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
  [57, 59, 121],
  [173, 73, 74],
  [99, 121, 57],
  [206, 109, 189],
  [140, 162, 82],
  [231, 186, 82],
];

export function headColor(head) {
  return HEAD_PALETTE[((head % HEAD_PALETTE.length) + HEAD_PALETTE.length) % HEAD_PALETTE.length];
}

const LUTS = {};

/** The sequential and diverging LUTs of a contrast (built once each). */
export function lutsFor(contrast) {
  if (!LUTS[contrast]) LUTS[contrast] = { lut: sequentialLUT(contrast), divLut: divergingLUT(contrast) };
  return LUTS[contrast];
}
