// A head's summary (docs/http-api.md, `part=summary`), pure and unit-tested: what a storage budget
// keeps of some heads it leaves without a map. Which heads of a snapshot answer have one (the
// header's `summarized`), what a summary (data/summaryAnswer.js: block means of `block` x `block`
// tokens, in steps of 1/65535, and each query row's top-k keys, strongest first, with their
// weights in bytes) says of a token pair, its block means as a pooled head answer (so they paint
// as the pooled overview does), and what a view says of it.

/** Keys per query row the writer keeps (format/summaries.py TOP_K): said where no answer is at hand. */
export const SUMMARY_TOP_K = 8;

/** The heads of `layer` that `header` (a snapshot answer's) has a summary of (a sorted array). */
export function summarizedHeads(header, layer) {
  const li = header?.layers.indexOf(layer) ?? -1;
  return li < 0 || !header.summarized ? [] : header.summarized[li] || [];
}

/** Whether the snapshot answer `header` has a summary of head (layer, head) instead of its map. */
export function hasSummary(header, layer, head) {
  return summarizedHeads(header, layer).includes(head);
}

/**
 * Where head (layer, head)'s block means start in `means` (a summary_means answer, data/summaryAnswer.js,
 * or null): an offset into `means.data` (`means.rows` x `means.cols` values), -1 when it holds none.
 */
export function meansOffset(means, layer, head) {
  return means?.offsets.get(layer * means.heads + head) ?? -1;
}

/** The key of row `qi`'s `j`-th strongest entry and its weight byte (weight = byte / 255). */
export const topKey = (sum, qi, j) => sum.data[qi * 2 * sum.topK + j];
export const topByte = (sum, qi, j) => sum.data[qi * 2 * sum.topK + sum.topK + j];

/** The weight byte of qi -> ki when ki is among row qi's top k, else -1. */
export function topByteAt(sum, qi, ki) {
  for (let j = 0; j < sum.topK; j++) if (topKey(sum, qi, j) === ki) return topByte(sum, qi, j);
  return -1;
}

/** The block mean over the block holding token pair (qi, ki), and that block's rows and columns. */
export function blockMeanAt(sum, qi, ki) {
  const b = sum.block;
  const [bi, bj] = [Math.floor(qi / b), Math.floor(ki / b)];
  return {
    mean: sum.means[bi * sum.cols + bj] * sum.meansScale,
    rows: [bi * b, Math.min(sum.queryLen, (bi + 1) * b) - 1],
    columns: [bj * b, Math.min(sum.keyLen, (bj + 1) * b) - 1],
  };
}

/** Row qi's top k as [{key, weight}], strongest first. */
export function rowTop(sum, qi) {
  return Array.from({ length: sum.topK }, (_, j) => ({ key: topKey(sum, qi, j), weight: topByte(sum, qi, j) / 255 }));
}

/**
 * The block means as the route answers one pooled head (`layer=L&head=H&pool=block`): a view that
 * paints block means paints them unchanged (the colour levels, the window, a difference).
 */
export function meansSnapshot(sum) {
  const h = sum.header;
  const header = {
    run: h.run,
    probe: h.probe,
    kind: h.kind,
    step: h.step,
    layers: [sum.layer],
    head: sum.head,
    heads: sum.head + 1, // a summary answer does not say the layer's heads: enough for mapOffset
    query_len: sum.queryLen,
    key_len: sum.keyLen,
    causal: h.causal,
    pool: sum.block,
    scale: sum.meansScale,
    shape: [1, 1, sum.rows, sum.cols],
  };
  return { header, data: sum.means };
}

/** "summary stored: block means + each row's top 8 keys at step 700" (a grid cell's hover, a frame's tooltip). */
export function summaryText(step, topK = SUMMARY_TOP_K) {
  return `summary stored: block means + each row's top ${topK} keys at step ${step}`;
}

/**
 * The hover of a grid cell painted from a summary: "summary at step 700: block means of 15×15
 * tokens, not the full map (each row's top 8 keys: select the head)"; with `refWhere` (a difference:
 * B − A, or the diff mode), "difference of block means of 15×15 tokens: summaries at run B step 700
 * and step 700, not full maps". `where`: "step 700" or "run B step 700".
 */
export function summaryCellText(block, where, refWhere = null, topK = SUMMARY_TOP_K) {
  const means = `block means of ${block}\u00d7${block} tokens`;
  if (refWhere !== null) return `difference of ${means}: summaries at ${where} and ${refWhere}, not full maps`;
  return `summary at ${where}: ${means}, not the full map (each row's top ${topK} keys: select the head)`;
}

/** Why a difference shows nothing for a head kept as a summary on one side and as a map on the other. */
export function summaryMapDiffText(summaryWhere, mapWhere) {
  return `no difference painted: only a summary (block means) at ${summaryWhere}, the full map at ${mapWhere}`;
}
