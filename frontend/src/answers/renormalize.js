// Hiding special tokens ([CLS], [SEP], BOS...) in the head view: drop their rows and
// columns and renormalize each remaining row so it sums to 1 again.

/** Indices of the tokens to keep. */
export function keptIndices(n, special, hideSpecial) {
  const out = [];
  for (let i = 0; i < n; i++) {
    if (!(hideSpecial && special && special[i])) out.push(i);
  }
  return out;
}

/**
 * Sub-matrix of a q x k attention map (uint8 bytes at src[offset..], weight = byte*scale),
 * restricted to rows `rows` and columns `cols`. With `renormalize`, each row is rescaled to
 * sum to 1 over the kept columns (a row whose kept mass is 0 stays 0).
 * @returns {Float32Array} rows.length x cols.length
 */
export function subMatrix(src, offset, k, rows, cols, scale = 1 / 255, renormalize = true) {
  const out = new Float32Array(rows.length * cols.length);
  for (let r = 0; r < rows.length; r++) {
    const base = offset + rows[r] * k;
    let sum = 0;
    for (let c = 0; c < cols.length; c++) {
      const v = src[base + cols[c]] * scale;
      out[r * cols.length + c] = v;
      sum += v;
    }
    if (renormalize && sum > 0) {
      for (let c = 0; c < cols.length; c++) out[r * cols.length + c] /= sum;
    }
  }
  return out;
}
