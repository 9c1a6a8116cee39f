// Geometry of the head view's lines and of the filmstrip (the grid's: gridGeometry.js).

/**
 * The lines worth drawing from a (rows x cols) weight matrix: [row, col, weight] with
 * weight >= minWeight; `onlyRow`/`onlyCol` isolate one token's lines (hover).
 */
export function attentionLines(weights, nRows, nCols, { minWeight = 0.01, onlyRow = -1, onlyCol = -1 } = {}) {
  const out = [];
  for (let r = 0; r < nRows; r++) {
    if (onlyRow >= 0 && r !== onlyRow) continue;
    for (let c = 0; c < nCols; c++) {
      if (onlyCol >= 0 && c !== onlyCol) continue;
      const w = weights[r * nCols + c];
      if (w >= minWeight) out.push([r, c, w]);
    }
  }
  return out;
}

/** Number of filmstrip frames that fit a width. */
export function filmstripCount(width, frame = 96, gap = 8, max = 10) {
  return Math.max(2, Math.min(max, Math.floor((width + gap) / (frame + gap))));
}
