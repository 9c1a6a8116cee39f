// Geometry of the model grid and of the head view's token columns.

/**
 * Size of one cell of the layers x heads grid so that `heads` cells fit in `width`.
 * @returns {{cell:number, gap:number, labelW:number, width:number, height:number}}
 */
export function gridLayout({ layers, heads, width, labelW = 30, gap = 4, minCell = 28, maxCell = 160 }) {
  const avail = Math.max(0, width - labelW - gap * Math.max(0, heads - 1));
  let cell = heads > 0 ? Math.floor(avail / heads) : minCell;
  cell = Math.max(minCell, Math.min(maxCell, cell));
  return {
    cell,
    gap,
    labelW,
    width: labelW + heads * cell + Math.max(0, heads - 1) * gap,
    height: layers * cell + Math.max(0, layers - 1) * gap,
  };
}

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
