// Geometry of the head view's lines and rows and of the filmstrip (the grid's: gridGeometry.js).

/**
 * The lines worth drawing from one head's weights `m` (answers/headMatrix.js: `nr` x `nc`, read a
 * row or a column at a time): [row, col, weight] with weight >= minWeight, at most `perRow` per row
 * (its largest: a long probe stays legible); `onlyRow`/`onlyCol` isolate one token's lines (hover).
 */
export function attentionLines(m, { minWeight = 0.01, onlyRow = -1, onlyCol = -1, perRow = Infinity } = {}) {
  const out = [];
  if (onlyCol >= 0) {
    const col = m.col(onlyCol);
    for (let r = 0; r < m.nr; r++)
      if ((onlyRow < 0 || r === onlyRow) && col[r] >= minWeight) out.push([r, onlyCol, col[r]]);
    return out;
  }
  const buf = new Float32Array(m.nc);
  const [r0, r1] = onlyRow >= 0 ? [onlyRow, Math.min(m.nr, onlyRow + 1)] : [0, m.nr];
  for (let r = r0; r < r1; r++) {
    const w = m.row(r, buf);
    const row = [];
    for (let c = 0; c < m.nc; c++) if (w[c] >= minWeight) row.push([r, c, w[c]]);
    if (row.length > perRow) row.sort((a, b) => b[2] - a[2]).length = perRow;
    for (const line of row) out.push(line);
  }
  return out;
}

/**
 * The rows of a virtualised column of `n` rows of `rowH` px whose part from `top` to `bottom` (px
 * from the column's top) is in view, with `overscan` rows more on each side: {first, last} (last
 * exclusive), so only those rows' tokens are in the DOM.
 */
export function visibleRows(top, bottom, rowH, n, overscan = 20) {
  const first = Math.max(0, Math.floor(top / rowH) - overscan);
  const last = Math.min(n, Math.ceil(bottom / rowH) + overscan);
  return { first: Math.min(first, last), last };
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
