"""The `snapshot` route's answers of head summaries (docs/http-api.md): what a storage budget kept of
the heads it left without a map (format/summaries.py), shared by both sources (server/files.py,
server/provider/data.py) through answers.snapshot_answer:

- `part=summary`: one head's summary, its block means and each query row's top-k keys;
- `part=summary_means`: the block means of every summarized head of the requested layers in one
  answer, what the grid paints (a 70B layout keeps hundreds of summaries a step: one request, not
  one per head, and none of the top keys, which are 24 bytes a query row each).
"""

import numpy as np

from ..format.summaries import summary_block
from .errors import Unavailable
from .pooling import LEVELS


def _header(series, step, layer_ids, layer, meta):
    queries, keys_len = layer.shape[1:]
    return {
        **series._asdict(),  # "run", "probe", "kind"
        "step": step,
        "layers": layer_ids,
        "query_len": queries,
        "key_len": keys_len,
        "causal": meta.causal,
    }


def summary_answer(series, step, layer_id, layer, head, meta):
    """(header, uint16 [query, 2, k]) of one head's summary (format/summaries.py): per query row its k
    strongest keys ([:, 0]) and their weights in steps of 1/255 ([:, 1]); the block means in the
    header (`means`, row-major, `means_shape`, steps of 1/65535). Unavailable for a head with no
    summary at that step (its map is stored, or the budget kept neither)."""
    summary = layer.summary(head) if hasattr(layer, "summary") else None
    if summary is None:
        has_map = getattr(layer, "stored", None) is None or head in layer.stored
        what = "its map is stored: ask without part=summary" if has_map else "the storage budget kept no summary of it"
        raise Unavailable(f"head {head} of layer {layer_id} has no summary at step {step}: {what}")
    array = np.stack([summary.keys, summary.weights.astype(np.uint16)], axis=1)
    header = {
        **_header(series, step, [layer_id], layer, meta),
        "head": head,
        "part": "summary",
        "top_k": int(summary.keys.shape[1]),
        "scale": 1.0 / 255,
        "block": summary.block,
        "means_shape": list(summary.means.shape),
        "means": summary.means.ravel().tolist(),
        "means_scale": 1.0 / LEVELS,
    }
    return header, array


def summary_means_answer(series, step, layer_ids, layers, meta):
    """(header, uint16 [n, R, C]) of `part=summary_means`: the block means (steps of 1/65535) of the
    n summarized heads of `layers`, in the order of the header's `summarized` (per layer, its heads
    with a summary); n = 0 when the layers keep none. `block` and R x C are those of every summary
    of the probe (format/summaries.summary_block)."""
    heads, queries, keys_len = layers[0].shape
    block = summary_block(queries, keys_len)
    shape = (-(-queries // block), -(-keys_len // block))
    summarized = [list(getattr(layer, "summarized", ())) for layer in layers]
    means = [layer.summary_means(h) for layer, ids in zip(layers, summarized) for h in ids]  # top keys left packed
    array = np.stack(means) if means else np.zeros((0,) + shape, np.uint16)
    header = {
        **_header(series, step, layer_ids, layers[0], meta),
        "heads": heads,
        "part": "summary_means",
        "block": block,
        "summarized": summarized,
        "scale": 1.0 / LEVELS,
    }
    return header, array
