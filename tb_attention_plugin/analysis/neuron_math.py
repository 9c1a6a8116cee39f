"""The neuron view's arithmetic on a stored neuron record (format/records.py, parse_neurons), numpy
only: the attention recomputed from query and key (what the view shows, what the callback checks
against the model's own weights, and what decides whether the writer may store the vectors in float16:
vector_dtype), and Kobayashi et al. 2020's norm-based contributions next to the weights."""

import numpy as np

from ..format.quantize import SCALE, dequantize, quantize


def softmax_of(record, i):
    """The attention of captured head i recomputed from its record: softmax(q.k * scale + bias) over
    the allowed keys (with a soft-cap c, c * tanh(q.k * scale / c) before the bias, as Gemma 2),
    float64 [Q, K]."""
    q, k = record["query"][i].astype(np.float64), record["key"][i].astype(np.float64)
    logits = q @ k.T * float(record["scale"][i])
    cap = float(record["softcap"][i])
    if cap:
        logits = cap * np.tanh(logits / cap)
    if record["bias"] is not None:
        logits = logits + record["bias"][i]
    logits = np.where(record["allowed"][i], logits, -np.inf)
    top = logits.max(-1, keepdims=True)
    e = np.exp(logits - np.where(np.isfinite(top), top, 0))
    return e / np.maximum(e.sum(-1, keepdims=True), 1e-300)


def contributions_of(record, i, weights=None):
    """Each key's share of what head i passes on to each query: weight_ij * ||W_O^h v_j||, normalized
    per query row, float64 [Q, K]; None without value norms."""
    if record.get("value_norm") is None:
        return None
    weights = softmax_of(record, i) if weights is None else weights
    c = weights * record["value_norm"][i].astype(np.float64)[None, :]
    return c / np.maximum(c.sum(-1, keepdims=True), 1e-300)


def weight_and_contribution(record, key_special, causal):
    """Per captured head, the mass on the first key and on the other special keys ([SEP], EOS) by
    attention weight and by contribution, as the statistics define mass (docs/format.md: a mean over
    query rows, the first row left out when causal): {"first": [w, c] per head, "sep": ...};
    c is None without value norms."""
    queries, keys = record["allowed"].shape[1:]
    rows = np.ones(queries, bool)
    if causal and queries > 1:
        rows[0] = False
    special = np.asarray(key_special, bool).copy()
    special[0] = False
    out = {"first": [], "sep": []}
    for i in range(len(record["heads"])):
        w = softmax_of(record, i)[rows]
        c = contributions_of(record, i, softmax_of(record, i))
        c = c[rows] if c is not None else None
        for name, cols in (("first", slice(0, 1)), ("sep", special)):
            share = [float(w[:, cols].sum(-1).mean())]
            share.append(float(c[:, cols].sum(-1).mean()) if c is not None else None)
            out[name].append(share)
    return out


def vector_dtype(record, attention, tolerance=1 / 510):
    """Float16 ("<f2") when the attention recomputed from float16 query and key vectors stays, for
    every head, within `tolerance` of the model's own (float) `attention` ([layer][head] -> [Q, K])
    and within one step (1/255) of that attention as stored (its bytes, format/quantize.py), so the
    view never strays from the stored map by more than the map's own rounding; "<f4" otherwise. (The
    first bound alone allows 1/510 + 1/255 against the stored map.)"""
    if attention is None:
        return "<f4"
    half = {k: record[k].astype(np.float16) for k in ("query", "key")}
    if not all(np.isfinite(v).all() for v in half.values()):
        return "<f4"
    rounded = dict(record, **{k: v.astype(np.float32) for k, v in half.items()})
    for i, (layer, head) in enumerate(record["heads"]):
        weights = np.asarray(attention[layer][head], np.float32)
        view = softmax_of(rounded, i)
        stored = dequantize(quantize(weights)).astype(np.float64)
        if not (np.abs(view - weights).max() <= tolerance and np.abs(view - stored).max() <= SCALE):
            return "<f4"
    return "<f2"
