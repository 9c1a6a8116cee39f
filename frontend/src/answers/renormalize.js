// Hiding special tokens ([CLS], [SEP], BOS...) in the head view: drop their rows and
// columns (each remaining row is renormalized to sum to 1 again: headMatrix.js).

/** Indices of the tokens to keep. */
export function keptIndices(n, special, hideSpecial) {
  const out = [];
  for (let i = 0; i < n; i++) {
    if (!(hideSpecial && special && special[i])) out.push(i);
  }
  return out;
}
