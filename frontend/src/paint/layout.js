// Geometry of the head view's lines and of the filmstrip (the grid's: gridGeometry.js).

/**
 * The lines worth drawing from a (rows x cols) weight matrix: [row, col, weight] with
 * weight >= minWeight, at most `perRow` per row (its largest: a 512-token probe stays legible);
 * `onlyRow`/`onlyCol` isolate one token's lines (hover).
 */
export function attentionLines(
  weights,
  nRows,
  nCols,
  { minWeight = 0.01, onlyRow = -1, onlyCol = -1, perRow = Infinity } = {},
) {
  const out = [];
  for (let r = 0; r < nRows; r++) {
    if (onlyRow >= 0 && r !== onlyRow) continue;
    const row = [];
    for (let c = 0; c < nCols; c++) {
      if (onlyCol >= 0 && c !== onlyCol) continue;
      const w = weights[r * nCols + c];
      if (w >= minWeight) row.push([r, c, w]);
    }
    if (row.length > perRow) row.sort((a, b) => b[2] - a[2]).length = perRow;
    for (const line of row) out.push(line);
  }
  return out;
}

/**
 * Head view density for a probe of `n` tokens: row height (px), token font size (px) and how
 * many lines a query keeps (its strongest), so 512 tokens stay readable in a scrolled column.
 */
export function tokenRows(n) {
  if (n <= 96) return { rowH: 20, font: 13, perRow: Infinity };
  if (n <= 192) return { rowH: 16, font: 12, perRow: 6 };
  if (n <= 384) return { rowH: 13, font: 11, perRow: 4 };
  return { rowH: 11, font: 10, perRow: 3 };
}

/** Number of filmstrip frames that fit a width. */
export function filmstripCount(width, frame = 96, gap = 8, max = 10) {
  return Math.max(2, Math.min(max, Math.floor((width + gap) / (frame + gap))));
}
