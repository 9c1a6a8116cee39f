"""Per-head statistics of one probe's attention, computed when a snapshot is written.

Definitions (docs/format.md): every statistic is a mean over the probe's real query rows; for causal
attention the first row (which can only see itself) is left out. NaN marks a statistic that does not
apply (no separator tokens, no repeated tokens, `self`/`prev`/`next` of cross attention).
"""
import numpy as np

from .format import STAT_NAMES

_EPS = 1e-6


def _row_mean(values, rows):
    """Mean over the selected query rows of values [L, H, Q] -> [L, H] (NaN if no row)."""
    if not rows.any():
        return np.full(values.shape[:2], np.nan, dtype=np.float64)
    return values[:, :, rows].mean(axis=2)


def _earlier_matches(query_tokens, key_tokens, shift):
    """0/1 matrix [Q, K]: key j+shift for every earlier key j holding the query's token (j + shift < i)."""
    vocab = {t: n for n, t in enumerate(dict.fromkeys(list(query_tokens) + list(key_tokens)))}
    qi = np.array([vocab[t] for t in query_tokens])
    ki = np.array([vocab[t] for t in key_tokens])
    q, k = len(qi), len(ki)
    same = (qi[:, None] == ki[None, :]) & (np.arange(k)[None, :] < np.arange(q)[:, None])
    m = np.zeros((q, k), dtype=np.float64)
    m[:, shift:] = same[:, :k - shift]
    m *= np.arange(k)[None, :] < np.arange(q)[:, None]
    return m


def js_distance(p, q):
    """Jensen-Shannon distance (base 2, in [0, 1]) between rows of p and q, smoothed against log 0."""
    p = p + _EPS
    q = q + _EPS
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)
    js = 0.5 * (p * np.log2(p / m)).sum(axis=-1) + 0.5 * (q * np.log2(q / m)).sum(axis=-1)
    return np.sqrt(np.clip(js, 0.0, 1.0))


def head_statistics(attention, *, causal, self_attention, query_tokens, key_tokens, key_special,
                    reference=None):
    """attention float [L, H, Q, K] -> float32 [len(STAT_NAMES), L, H].

    `reference` is the same head's attention at the first snapshot (for `drift`); None means this is it.
    """
    a = np.asarray(attention, dtype=np.float64)
    layers, heads, q, k = a.shape
    rows = np.ones(q, dtype=bool)
    if causal and q > 1:
        rows[0] = False
    out = np.full((len(STAT_NAMES), layers, heads), np.nan, dtype=np.float64)
    put = lambda name, value: out.__setitem__(STAT_NAMES.index(name), value)

    visible = (np.arange(q)[:, None] >= np.arange(k)[None, :]).sum(axis=1) if causal else np.full(q, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
        entropy = -plogp.sum(axis=-1) / np.log(np.maximum(visible, 2))
    put("entropy", _row_mean(entropy, rows & (visible >= 2)))
    put("first", _row_mean(a[..., 0], rows))
    separators = np.asarray(key_special, dtype=bool).copy()
    separators[0] = False
    if separators.any():
        put("sep", _row_mean(a[..., separators].sum(axis=-1), rows))
    put("max", _row_mean(a.max(axis=-1), rows))
    if self_attention:
        idx = np.arange(min(q, k))
        diag = np.zeros((layers, heads, q))
        diag[..., idx] = a[..., idx, idx]
        put("self", _row_mean(diag, rows))
        prev = np.zeros((layers, heads, q))
        prev[..., 1:] = a[..., np.arange(1, q), np.arange(0, q - 1)]
        put("prev", _row_mean(prev, rows & (np.arange(q) >= 1)))
        nxt = np.zeros((layers, heads, q))
        nxt[..., :-1] = a[..., np.arange(0, q - 1), np.arange(1, q)]
        put("next", _row_mean(nxt, rows & (np.arange(q) <= q - 2)))
        for name, shift in (("induction", 1), ("duplicate", 0)):
            template = _earlier_matches(query_tokens, key_tokens, shift)
            has_match = template.any(axis=1)
            put(name, _row_mean((a * template).sum(axis=-1), rows & has_match))
    if reference is None:
        put("drift", np.zeros((layers, heads)))
    else:
        put("drift", _row_mean(js_distance(a, np.asarray(reference, dtype=np.float64)), rows))
    return out.astype(np.float32)
