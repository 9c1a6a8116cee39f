"""Per-head statistics of one probe's attention, computed when a snapshot is written.

Definitions (docs/format.md): every statistic is a mean over the probe's real query rows; for causal
attention the first row (which can only see itself) is left out. NaN marks a statistic that does not
apply (no separator tokens, no repeated tokens, `self`/`prev`/`next` of cross attention).

Most statistics are "attention mass on a set of keys, averaged over a set of rows", so a probe's
templates (0/1 key sets per row, and row weights) are built once and applied with two einsums.
"""

import numpy as np

from ..format.metadata import STAT_NAMES

_EPS = 1e-6
BLOCK = 1 << 19  # weights computed at a time (whole layers): the temporaries stay in the CPU's cache
_MASS_STATS = ("first", "sep", "self", "prev", "next", "induction", "duplicate")


def _earlier_matches(query_tokens, key_tokens, shift):
    """0/1 matrix [Q, K]: key j+shift for every earlier key j holding the query's token (j + shift < i)."""
    vocab = {t: n for n, t in enumerate(dict.fromkeys(list(query_tokens) + list(key_tokens)))}
    qi = np.array([vocab[t] for t in query_tokens])
    ki = np.array([vocab[t] for t in key_tokens])
    q, k = len(qi), len(ki)
    same = (qi[:, None] == ki[None, :]) & (np.arange(k)[None, :] < np.arange(q)[:, None])
    m = np.zeros((q, k))
    m[:, shift:] = same[:, : k - shift]
    m *= np.arange(k)[None, :] < np.arange(q)[:, None]
    return m


class ProbeTemplates:
    """Everything about a (probe, kind) that does not change between snapshots."""

    def __init__(self, *, causal, self_attention, query_tokens, key_tokens, key_special):
        q, k = len(query_tokens), len(key_tokens)
        self.shape = (q, k)
        rows = np.ones(q, dtype=bool)
        if causal and q > 1:
            rows[0] = False
        self.rows = rows
        self.visible = (np.minimum(np.arange(q) + 1, k) if causal else np.full(q, k)).astype(np.float64)
        keys = {}
        keys["first"] = np.zeros((q, k))
        keys["first"][:, 0] = 1
        separators = np.asarray(key_special, dtype=bool).copy()
        separators[0] = False
        keys["sep"] = np.tile(separators.astype(np.float64), (q, 1))
        if self_attention:
            keys["self"] = np.eye(q, k)
            keys["prev"] = np.eye(q, k, -1)
            keys["next"] = np.eye(q, k, 1)
            keys["induction"] = _earlier_matches(query_tokens, key_tokens, 1)
            keys["duplicate"] = _earlier_matches(query_tokens, key_tokens, 0)
        present = [n for n in _MASS_STATS if n in keys]
        weights = []
        for name in present:
            selected = rows & keys[name].any(axis=1)
            weights.append(selected / max(selected.sum(), 1) if selected.any() else np.full(q, np.nan))
        self.mass_names = present
        self.keys = np.stack([keys[n] for n in present]).astype(np.float32)  # [T, Q, K]
        self.row_weights = np.stack(weights)  # [T, Q]
        entropy_rows = rows & (self.visible >= 2)
        self.entropy_weights = entropy_rows / max(entropy_rows.sum(), 1) if entropy_rows.any() else None
        self.log_visible = np.log(np.maximum(self.visible, 2))
        self.row_mean = rows / rows.sum()


def _smooth(p):
    p = p + _EPS
    return p / p.sum(axis=-1, keepdims=True)


def _neg_entropy2(p):
    """sum p log2 p over the last axis (p smoothed, so no log 0)."""
    return (p * np.log2(p)).sum(axis=-1, dtype=np.float64)


class DriftReference:
    """The first snapshot of a head, smoothed and with its own entropy term: computed once, not at
    every snapshot that measures its drift."""

    def __init__(self, attention, *, smoothed=None, neg_entropy=None):
        if smoothed is None:
            attention = np.asarray(attention)
            smoothed = _smooth(attention if attention.dtype.kind == "f" else attention.astype(np.float32))
            neg_entropy = _neg_entropy2(smoothed)
        self.smoothed, self.neg_entropy = smoothed, neg_entropy
        self.shape = self.smoothed.shape

    def part(self, index):
        """The reference of a slice of layers and heads (views, nothing recomputed)."""
        return DriftReference(None, smoothed=self.smoothed[index], neg_entropy=self.neg_entropy[index])


def js_distance(p, q):
    """Jensen-Shannon distance (base 2, in [0, 1]) between rows of p and q (an array or a
    DriftReference), smoothed against log 0. JS = (sum p log p + sum q log q) / 2 - sum m log m."""
    q = q if isinstance(q, DriftReference) else DriftReference(q)
    p = _smooth(p)
    js = 0.5 * (_neg_entropy2(p) + q.neg_entropy) - _neg_entropy2(0.5 * (p + q.smoothed))
    return np.sqrt(np.clip(js, 0.0, 1.0))


def head_distances(attention, causal):
    """float [L, H, Q, K] -> float32 [L, H, H]: the mean Jensen-Shannon distance between the rows of
    every two heads of a layer (0 on the diagonal), over the probe's rows (the first one left out when
    causal, as for the statistics). Heads of one layer that attend alike are near 0."""
    a = np.asarray(attention, dtype=np.float32)
    layers, heads, queries = a.shape[:3]
    rows = np.ones(queries, bool)
    if causal and queries > 1:
        rows[0] = False
    row_mean = rows / rows.sum()
    out = np.zeros((layers, heads, heads), np.float32)
    for layer in range(layers):
        reference = DriftReference(a[layer])  # every head of the layer, smoothed once
        for head in range(heads):
            out[layer, head] = js_distance(a[layer, head][None], reference) @ row_mean
        np.fill_diagonal(out[layer], 0.0)
    return out


def head_statistics(
    attention, *, causal, self_attention, query_tokens, key_tokens, key_special, reference=None, templates=None
):
    """attention float [L, H, Q, K] -> float32 [len(STAT_NAMES), L, H].

    `reference` is the same head's attention at the first snapshot (for `drift`; an array, float16
    included, prepared a block at a time, or a DriftReference prepared once); None means this is it.
    `templates` (ProbeTemplates of the same arguments) saves rebuilding them at every snapshot.
    """
    if templates is None:
        templates = ProbeTemplates(
            causal=causal,
            self_attention=self_attention,
            query_tokens=query_tokens,
            key_tokens=key_tokens,
            key_special=key_special,
        )
    a = np.asarray(attention, dtype=np.float32)
    layers, heads = a.shape[:2]
    out = np.full((len(STAT_NAMES), layers, heads), np.nan, dtype=np.float64)
    for block in _blocks(layers, heads, a[0, 0].size):
        _block_statistics(a[block], out[(slice(None),) + block], templates, _reference_part(reference, block))
    return out.astype(np.float32)


def _reference_part(reference, block):
    """Drift's reference of one block: a DriftReference prepared once, or an array prepared a block at
    a time (a whole layer's smoothed copy would be several times the layer)."""
    if reference is None or isinstance(reference, DriftReference):
        return None if reference is None else reference.part(block)
    return DriftReference(np.asarray(reference[block], dtype=np.float32))


def _blocks(layers, heads, head_size):
    """(layer slice, head slice) blocks of about BLOCK weights: whole layers while they are small, a
    few heads of one layer at a time when a layer is large (long probes), so the temporaries stay a
    small part of one layer."""
    if heads * head_size <= BLOCK:
        step = max(1, BLOCK // (heads * head_size))
        return [(slice(s, s + step), slice(None)) for s in range(0, layers, step)]
    step = max(1, BLOCK // head_size)
    return [(slice(layer, layer + 1), slice(h, h + step)) for layer in range(layers) for h in range(0, heads, step)]


def _block_statistics(a, out, templates, reference):
    """head_statistics of a few layers, written into `out` [stats, layers, heads]."""
    per_row = np.einsum("lhqk,tqk->lhtq", a, templates.keys)
    with np.errstate(invalid="ignore"):
        masses = np.einsum("lhtq,tq->tlh", per_row.astype(np.float64), np.nan_to_num(templates.row_weights))
    for t, name in enumerate(templates.mass_names):
        out[STAT_NAMES.index(name)] = masses[t] if not np.isnan(templates.row_weights[t]).any() else np.nan
    if templates.entropy_weights is not None:
        plogp = a * np.log(np.where(a > 0, a, np.float32(1.0)))
        entropy = -plogp.sum(axis=-1, dtype=np.float64) / templates.log_visible
        out[STAT_NAMES.index("entropy")] = entropy @ templates.entropy_weights
    out[STAT_NAMES.index("max")] = a.max(axis=-1).astype(np.float64) @ templates.row_mean
    if reference is None:
        out[STAT_NAMES.index("drift")] = 0.0
    else:
        out[STAT_NAMES.index("drift")] = js_distance(a, reference) @ templates.row_mean
