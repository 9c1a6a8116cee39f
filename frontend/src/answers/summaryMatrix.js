// One summarized head (summaries.js) over the tokens the head view shows, read as headMatrix.js's
// HeadMatrix is (`nr` x `nc`, a row or a column at a time), so the same lines and hover list are
// drawn from it: each shown row's top-k weights at their shown keys, 0 elsewhere (not stored: the
// head view draws only lines above a threshold, so only the top k are drawn). The weights are the
// model's, not renormalized over the kept columns (the rest of the row is not stored).

import { topKey, topByte } from './summaries.js';

export class SummaryMatrix {
  /** Summary `sum`, the shown rows and columns (renormalize.js's kept indices). */
  constructor(sum, rows, cols) {
    Object.assign(this, { sum, rows, cols });
    this.nr = rows.length;
    this.nc = cols.length;
    this.colPos = new Int32Array(sum.keyLen).fill(-1); // key index -> its shown column, -1: hidden
    cols.forEach((c, i) => (this.colPos[c] = i));
  }

  /** Row r's weights over the shown columns (into `out`, nc long): its top k, 0 elsewhere. */
  row(r, out = new Float32Array(this.nc)) {
    out.fill(0);
    const q = this.rows[r];
    for (let j = 0; j < this.sum.topK; j++) {
      const c = this.colPos[topKey(this.sum, q, j)];
      if (c >= 0) out[c] = topByte(this.sum, q, j) / 255;
    }
    return out;
  }

  /** Column c's weights over the shown rows (into `out`, nr long): the rows whose top k hold it. */
  col(c, out = new Float32Array(this.nr)) {
    out.fill(0);
    const key = this.cols[c];
    for (let r = 0; r < this.nr; r++)
      for (let j = 0; j < this.sum.topK; j++)
        if (topKey(this.sum, this.rows[r], j) === key) out[r] = topByte(this.sum, this.rows[r], j) / 255;
    return out;
  }
}
