// The zoom window of a head's large map, pure (unit-tested): which query rows q0..q1-1 and key
// columns k0..k1-1 of a q x k map the canvas shows, zoomed about a point, panned, the token under
// a point, and whether the window needs the exact weights or the pooled overview paints it.
// A window is {q0, q1, k0, k1} in tokens (ends exclusive); null stands for the whole map.

import { poolFor } from './gridGeometry.js';

/** The fewest tokens a window spans on each side (fewer when the map has fewer). */
export const MIN_SPAN = 8;

/** CSS px of the large map's canvas (square): as before up to 256 tokens, larger for a long probe. */
export function mapPixels(tokens) {
  return tokens <= 256 ? 220 : 400;
}

export function wholeWindow(q, k) {
  return { q0: 0, q1: q, k0: 0, k1: k };
}

/** One axis [a, b) kept inside [0, n) and at least MIN_SPAN (or n) long, its length kept when it fits. */
function clampAxis(a, b, n) {
  const len = Math.min(n, Math.max(Math.min(MIN_SPAN, n), Math.round(b - a)));
  const start = Math.max(0, Math.min(n - len, Math.round(a)));
  return [start, start + len];
}

/** `win` made valid for a q x k map (null, or a window of another map's size: clamped). */
export function clampWindow(win, q, k) {
  if (!win) return wholeWindow(q, k);
  const [q0, q1] = clampAxis(win.q0, win.q1, q);
  const [k0, k1] = clampAxis(win.k0, win.k1, k);
  return { q0, q1, k0, k1 };
}

export function isWhole(win, q, k) {
  return !win || (win.q0 <= 0 && win.k0 <= 0 && win.q1 >= q && win.k1 >= k);
}

/**
 * `win` zoomed by `factor` (> 1 in, < 1 out) about the point at fractions (fx, fy) of the canvas
 * (0..1 from the left and top), which stays under the pointer; clamped to the q x k map.
 */
export function zoomWindow(win, q, k, factor, fx = 0.5, fy = 0.5) {
  const w = clampWindow(win, q, k);
  const axis = (a, b, f) => {
    const span = b - a;
    const len = span / factor;
    const at = a + f * span;
    return [at - f * len, at - f * len + len];
  };
  const [q0, q1] = axis(w.q0, w.q1, fy);
  const [k0, k1] = axis(w.k0, w.k1, fx);
  return clampWindow({ q0, q1, k0, k1 }, q, k);
}

/** `win` moved by fractions (dfx, dfy) of its own size (a drag across the whole canvas: 1). */
export function panWindow(win, q, k, dfx, dfy) {
  const w = clampWindow(win, q, k);
  const dq = Math.round(dfy * (w.q1 - w.q0));
  const dk = Math.round(dfx * (w.k1 - w.k0));
  return clampWindow({ q0: w.q0 + dq, q1: w.q1 + dq, k0: w.k0 + dk, k1: w.k1 + dk }, q, k);
}

/** The token (query row qi, key column ki) at fractions (fx, fy) of a canvas showing `win`. */
export function tokenAt(win, fx, fy) {
  const at = (a, b, f) => Math.min(b - 1, Math.max(a, Math.floor(a + f * (b - a))));
  return { qi: at(win.q0, win.q1, fy), ki: at(win.k0, win.k1, fx) };
}

/**
 * Whether `win` painted on `px` device pixels a side needs the exact weights: a block of the
 * overview (`pool` tokens a side; null: the overview is exact) would cover 1.5 pixels or more.
 */
export function needsExact(win, px, pool) {
  if (pool === null || pool === undefined) return false;
  const tokensPerPixel = Math.max(win.q1 - win.q0, win.k1 - win.k0) / Math.max(1, px);
  return pool >= 1.5 * tokensPerPixel;
}

/**
 * The block of the overview of a q x k map on `px` device pixels (./snapshot?pool=B, each pixel
 * about one block's mean), or null: the stored weights, when the map has fewer tokens than pixels
 * or so few more that its blocks would already be coarser than 1.5 pixels.
 */
export function overviewPool(q, k, px) {
  const pool = poolFor(Math.max(q, k), px);
  return pool !== null && needsExact(wholeWindow(q, k), px, pool) ? null : pool;
}

/** "rows 512–1023 × columns 0–511" (inclusive, as the readout counts tokens). */
export function windowText(win) {
  return `rows ${win.q0}\u2013${win.q1 - 1} \u00d7 columns ${win.k0}\u2013${win.k1 - 1}`;
}
