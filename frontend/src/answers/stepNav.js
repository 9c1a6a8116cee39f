// Step navigation over the sorted list of logged steps.

/** Index of the logged step closest to `value` (ties go to the earlier step); -1 if none. */
export function nearestIndex(steps, value) {
  if (!steps || steps.length === 0) return -1;
  let lo = 0;
  let hi = steps.length - 1;
  if (value <= steps[0]) return 0;
  if (value >= steps[hi]) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] <= value) lo = mid;
    else hi = mid;
  }
  return value - steps[lo] <= steps[hi] - value ? lo : hi;
}

export function nearestStep(steps, value) {
  const i = nearestIndex(steps, value);
  return i < 0 ? null : steps[i];
}

/** Index of the last logged step <= value, or 0 when value precedes every step. */
export function atOrBeforeIndex(steps, value) {
  if (!steps || steps.length === 0) return -1;
  let lo = 0;
  let hi = steps.length - 1;
  if (value < steps[0]) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (steps[mid] <= value) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The step `delta` snapshots away from `current` (clamped to the ends). With `wrap`, running
 * off the end goes back to the first step (used by play).
 */
export function offsetStep(steps, current, delta, wrap = false) {
  if (!steps || steps.length === 0) return null;
  let i = nearestIndex(steps, current) + delta;
  if (wrap) i = ((i % steps.length) + steps.length) % steps.length;
  else i = Math.max(0, Math.min(steps.length - 1, i));
  return steps[i];
}

/** `n` steps spread evenly over the logged steps, always including the first and last. */
export function evenlySpaced(steps, n) {
  if (!steps || steps.length === 0 || n <= 0) return [];
  if (steps.length <= n) return steps.slice();
  if (n === 1) return [steps[steps.length - 1]];
  const out = [];
  for (let j = 0; j < n; j++) {
    const i = Math.round((j * (steps.length - 1)) / (n - 1));
    if (out[out.length - 1] !== steps[i]) out.push(steps[i]);
  }
  return out;
}

/** Steps to prefetch around `current` while playing (the next few, wrapping). */
export function prefetchSteps(steps, current, ahead = 2) {
  const out = [];
  if (!steps || steps.length === 0) return out;
  const i = nearestIndex(steps, current);
  for (let d = 1; d <= ahead && d < steps.length; d++) out.push(steps[(i + d) % steps.length]);
  return out;
}

/** The sorted `steps` just before and after `step` (null at an end): what to offer instead of a missing step. */
export function neighbourSteps(steps, step) {
  let before = null;
  let after = null;
  for (const s of steps || []) {
    if (s < step) before = s;
    else if (s > step && after === null) after = s;
  }
  return { before, after };
}
