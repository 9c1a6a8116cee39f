// A head's block means at a summary's blocks (answers/summaries.js), from whichever its snapshot
// holds: its summary's own (a summary_means answer) or its map's bytes pooled to the same blocks, so a
// head kept as a summary can be compared with any other head (state/compare.js) at the one
// resolution both have.

import { mapOffset } from './model.js';
import { hasMap } from './storage.js';
import { meansOffset } from './summaries.js';

const pooledMemo = new WeakMap(); // snapshot -> Map("block,layer,head" -> Float64Array)

/** Float64Array [ceil(q / b) * ceil(k / b)]: the means of the uint8 map at data[off..] (weight = byte / 255). */
function poolMap(data, off, q, k, b) {
  const cols = Math.ceil(k / b);
  const sums = new Float64Array(Math.ceil(q / b) * cols);
  for (let i = 0; i < q; i++) {
    const row = Math.floor(i / b) * cols;
    for (let j = 0; j < k; j++) sums[row + Math.floor(j / b)] += data[off + i * k + j];
  }
  for (let r = 0; r < sums.length; r++) {
    const [bi, bj] = [Math.floor(r / cols), r % cols];
    const cells = (Math.min(q, (bi + 1) * b) - bi * b) * (Math.min(k, (bj + 1) * b) - bj * b);
    sums[r] /= 255 * cells;
  }
  return sums;
}

/**
 * The weights' means over `block` x `block` tiles (the last tile of an axis over its real cells) of
 * head (layer, head), row-major: from its map in exact snapshot `snap` when it has one (within 1/255
 * of the model's), else from its summary in `means` (the summary_means answer of that snapshot,
 * within 1/131070); null when it holds neither, or its summary's blocks are other ones.
 */
export function headBlockMeans(snap, means, layer, head, block) {
  const off = mapOffset(snap, layer, head);
  if (off < 0) return null;
  let memo = pooledMemo.get(snap);
  if (!memo) pooledMemo.set(snap, (memo = new Map()));
  const key = `${block},${layer},${head}`;
  if (memo.has(key)) return memo.get(key);
  const h = snap.header;
  let out = null;
  if (hasMap(snap, layer, head)) out = poolMap(snap.data, off, h.query_len, h.key_len, block);
  else if (means && means.block === block && meansOffset(means, layer, head) >= 0) {
    const at = meansOffset(means, layer, head);
    out = Float64Array.from(means.data.subarray(at, at + means.rows * means.cols), (v) => v * means.scale);
  }
  if (out) memo.set(key, out); // none: perhaps its summary's means are not at hand yet
  return out;
}
