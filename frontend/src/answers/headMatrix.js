// One head's weights over the tokens the head view shows (its rows and columns: renormalize.js's
// kept indices), each row renormalized to sum to 1 over the kept columns as renormalize.subMatrix
// does, read from the snapshot's bytes where they lie, a row or a column at a time: no dense copy
// (a 4k-token head is 16 MB of bytes, it would be 64 MB of floats; at 8k tokens, 256 MB).

export class HeadMatrix {
  /** The map of uint8 weights at src[offset..] (rows of `keyLen` bytes), shown rows and columns. */
  constructor(src, offset, keyLen, rows, cols) {
    Object.assign(this, { src, offset, keyLen, rows, cols });
    this.nr = rows.length;
    this.nc = cols.length;
    // every column kept, in order: a row is a contiguous run of bytes
    this.whole = this.nc === keyLen && (this.nc === 0 || cols[this.nc - 1] === keyLen - 1);
    this.inv = new Float64Array(this.nr); // 1 / the row's bytes over the kept columns (0: no mass)
    for (let r = 0; r < this.nr; r++) {
      const base = offset + rows[r] * keyLen;
      let sum = 0;
      if (this.whole) for (let c = 0; c < keyLen; c++) sum += src[base + c];
      else for (let c = 0; c < this.nc; c++) sum += src[base + cols[c]];
      this.inv[r] = sum > 0 ? 1 / sum : 0;
    }
  }

  /** The renormalized weight of shown row r, column c. */
  at(r, c) {
    return this.src[this.offset + this.rows[r] * this.keyLen + this.cols[c]] * this.inv[r];
  }

  /** Row r's weights over the shown columns (into `out`, nc long). */
  row(r, out = new Float32Array(this.nc)) {
    const base = this.offset + this.rows[r] * this.keyLen;
    const inv = this.inv[r];
    if (this.whole) for (let c = 0; c < this.nc; c++) out[c] = this.src[base + c] * inv;
    else for (let c = 0; c < this.nc; c++) out[c] = this.src[base + this.cols[c]] * inv;
    return out;
  }

  /** Column c's weights over the shown rows (into `out`, nr long). */
  col(c, out = new Float32Array(this.nr)) {
    const at = this.offset + this.cols[c];
    for (let r = 0; r < this.nr; r++) out[r] = this.src[at + this.rows[r] * this.keyLen] * this.inv[r];
    return out;
  }
}
