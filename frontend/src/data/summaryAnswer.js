// A head's summary as the route answers it (./snapshot?layer&head&part=summary, docs/http-api.md):
// the header holds the block means (a flat list), the data each query row's top-k keys and their
// weight bytes (uint16 [Q, 2, k]). Read once, when it arrives, into typed arrays. And the block means
// of every summarized head of a step in one answer (./snapshot?part=summary_means: the grid's).

import { ContainerError } from './container.js';

/**
 * A `part=summary` answer ({header, data: uint16 [Q, 2, k]}) as {header, step, layer, head, block,
 * topK, queryLen, keyLen, rows, cols, means (Uint16Array, row-major), meansScale, data, byteLength}.
 */
export function summaryOf({ header: h, data }) {
  const [rows, cols] = h.means_shape;
  const means = Uint16Array.from(h.means);
  if (means.length !== rows * cols || data.length !== h.query_len * 2 * h.top_k)
    throw new ContainerError(`summary of L${h.layers[0]} H${h.head} at step ${h.step}: its parts do not fit its shape`);
  return {
    header: h,
    step: h.step,
    layer: h.layers[0],
    head: h.head,
    block: h.block,
    topK: h.top_k,
    queryLen: h.query_len,
    keyLen: h.key_len,
    rows,
    cols,
    means,
    meansScale: h.means_scale,
    data,
    byteLength: data.byteLength + means.byteLength,
  };
}

/** Whether snapshot answer `snap` lists heads kept as a summary (its header's `summarized`). */
export const listsSummaries = (snap) => !!snap?.header.summarized?.some((heads) => heads.length);

/**
 * A `part=summary_means` answer ({header, data: uint16 [n, R, C]}, the block means of every
 * summarized head of a step) as {header, step, block, rows, cols, scale, heads, data, offsets,
 * byteLength}: `offsets` maps layer * heads + head to where that head's R x C means start in `data`.
 */
export function summaryMeansOf({ header: h, data }) {
  const [n, rows, cols] = h.shape;
  const offsets = new Map();
  h.layers.forEach((layer, li) =>
    (h.summarized[li] || []).forEach((head) => offsets.set(layer * h.heads + head, offsets.size * rows * cols)),
  );
  if (offsets.size !== n || data.length !== n * rows * cols)
    throw new ContainerError(`the summaries' block means at step ${h.step} do not fit the heads they list`);
  return {
    header: h,
    step: h.step,
    block: h.block,
    rows,
    cols,
    scale: h.scale,
    heads: h.heads,
    data,
    offsets,
    byteLength: data.byteLength,
  };
}
