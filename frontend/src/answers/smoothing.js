// The Scalars tab's smoothing, for the timeline's curves: TensorBoard's exponential moving average
// with its debiasing, its slider (0 to 0.999, default 0.6) and its exceptions (a constant series
// and non-finite values are shown as they are).

export const SMOOTHING_DEFAULT = 0.6;
export const SMOOTHING_MAX = 0.999;

/** The smoothing weight a control gives, clamped to TensorBoard's slider range ([0, 0.999]). */
export function smoothingWeight(value) {
  const w = Number(value);
  if (!Number.isFinite(w)) return SMOOTHING_DEFAULT;
  return Math.min(SMOOTHING_MAX, Math.max(0, w));
}

/**
 * `values` smoothed with weight `w`: s_n = m_n / (1 - w^k), m_n = w m_(n-1) + (1 - w) x_n over
 * the k finite values so far (m_0 = 0); a non-finite value is kept as it is and skipped, and a
 * constant series is returned unchanged.
 */
export function smoothed(values, w) {
  const constant = values.every((v) => v === values[0]);
  if (constant || w <= 0) return values.slice();
  const out = new Array(values.length);
  let moving = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x === null || x === undefined || !Number.isFinite(x)) {
      out[i] = x;
      continue;
    }
    moving = moving * w + (1 - w) * x;
    count += 1;
    out[i] = moving / (1 - Math.pow(w, count));
  }
  return out;
}
