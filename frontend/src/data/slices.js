// Parts of a snapshot answer as the route answers them (docs/http-api.md), cut from a larger
// answer without a copy (typed-array views): a layer of a full snapshot (`layer=L`), a head of a
// full or layer snapshot (`layer=L&head=H`). An exported report answers those requests this way,
// and the data source serves a head from an exact snapshot it already holds.

import { ApiError } from './api.js';

/** One layer of a full snapshot answer, as the route answers `layer=L` (`stored`, `summarized` of that layer). */
export function layerOf(full, layer) {
  const h = full.header;
  const li = h.layers.indexOf(layer);
  if (li < 0) throw new ApiError(404, `layer ${layer} does not exist: the model has ${h.layers.length} layers`);
  const size = h.heads * h.query_len * h.key_len;
  const header = { ...h, layers: [layer], shape: [1, h.heads, h.query_len, h.key_len] };
  if (h.stored) header.stored = [h.stored[li]]; // the heads of this layer with a map (a storage budget's)
  if (h.summarized) header.summarized = [h.summarized[li]]; // and those with a summary instead
  return { header, data: full.data.subarray(li * size, (li + 1) * size) };
}

/**
 * Head `head` of layer `layer` of an exact snapshot answer holding it (full, `layer=L` or that head),
 * as the route answers `layer=L&head=H`: data [1, 1, Q, K], `head` in the header.
 */
export function headOf(snap, layer, head) {
  if (snap.header.head === head && snap.header.layers[0] === layer) return snap; // a head answer already
  const one = snap.header.layers.length === 1 && snap.header.layers[0] === layer ? snap : layerOf(snap, layer);
  const h = one.header;
  if (!(head >= 0 && head < h.heads))
    throw new ApiError(404, `head ${head} does not exist: the model has ${h.heads} heads (0..${h.heads - 1})`);
  const size = h.query_len * h.key_len;
  return {
    header: { ...h, head, shape: [1, 1, h.query_len, h.key_len] },
    data: one.data.subarray(head * size, (head + 1) * size),
  };
}
