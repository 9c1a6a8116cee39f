"""Per-head statistics of one probe's attention, computed when a snapshot is written.

Definitions (docs/format.md): every statistic is a mean over the probe's real query rows; for causal
attention the first row (which can only see itself) is left out. NaN marks a statistic that does not
apply (no separator tokens, no repeated tokens, `self`/`prev`/`next` of cross attention).

Most statistics are "attention mass on a set of keys, averaged over a set of rows", so a probe's
templates (the (row, key) pairs each one sums, and their row weights) are built once and read from a
layer by indexing: a few weights per row, not a pass over the layer per statistic.

A layer on an accelerator (a torch tensor on a GPU: arrays.py) is measured there, in larger blocks;
only the per-head numbers come to the host.
"""

import numpy as np

from ..format.metadata import STAT_NAMES
from ..format import arrays
from .parallel import map_spread

# weights measured at a time (whole layers, or a few heads of a large one), in chunks of rows
# (_block_statistics): 1M weights make few enough Python-level steps that threads over blocks run in
# parallel (2 cores, a layer of 32 heads x 512 tokens with drift: 21-26 ms, as with 4M; 26-44 ms with
# 512K), and each thread holds little besides: a block's float16 drift reference is read whole, and
# what a pool thread frees stays in its C heap (a long probe's pass peaked 0.2-0.3x one layer higher
# with 4M)
BLOCK = 1 << 20
DEVICE_BLOCK = 1 << 25  # on an accelerator: few kernels per layer, temporaries of a few hundred MB
_MASS_STATS = ("first", "sep", "self", "prev", "next", "induction", "duplicate", "self_repeated")


def _earlier_pairs(query_tokens, key_tokens, shift):
    """(rows, keys) of every pair: key j + shift for each earlier key j holding the query's token
    (j + shift < i, within the keys)."""
    positions = {}
    for j, t in enumerate(key_tokens):
        positions.setdefault(t, []).append(j)
    positions = {t: np.array(js) for t, js in positions.items()}
    rows, keys = [], []
    for i, t in enumerate(query_tokens):
        js = positions.get(t)
        if js is not None:
            js = js[: np.searchsorted(js, min(i - shift, len(key_tokens) - shift))]
            rows.append(np.full(len(js), i))
            keys.append(js + shift)
    if not rows:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(rows), np.concatenate(keys)


def _key_pairs(q, k, separators, self_attention, query_tokens, key_tokens):
    """{statistic: (rows, keys)}: the keys each mass statistic sums, as index pairs (a few per row:
    a layer is read at those places only)."""
    every_row = np.arange(q)
    sep = np.flatnonzero(separators)
    pairs = {"first": (every_row, np.zeros(q, int)), "sep": (np.repeat(every_row, len(sep)), np.tile(sep, q))}
    if self_attention:
        for name, offset in (("self", 0), ("prev", -1), ("next", 1)):
            i = every_row[(every_row + offset >= 0) & (every_row + offset < k)]
            pairs[name] = (i, i + offset)
        pairs["induction"] = _earlier_pairs(query_tokens, key_tokens, 1)
        pairs["duplicate"] = _earlier_pairs(query_tokens, key_tokens, 0)
        repeated = np.unique(pairs["duplicate"][0])  # rows whose token came before: where matching applies
        pairs["self_repeated"] = (repeated, repeated)
    return pairs


class ProbeTemplates:
    """Everything about a (probe, kind) that does not change between snapshots."""

    def __init__(self, *, causal, self_attention, query_tokens, key_tokens, key_special):
        q, k = len(query_tokens), len(key_tokens)
        self.shape = (q, k)
        self.causal = bool(causal)
        rows = np.ones(q, dtype=bool)
        if causal and q > 1:
            rows[0] = False
        self.rows = rows
        self.visible = (np.minimum(np.arange(q) + 1, k) if causal else np.full(q, k)).astype(np.float64)
        separators = np.asarray(key_special, dtype=bool).copy()
        separators[0] = False
        pairs = _key_pairs(q, k, separators, self_attention, query_tokens, key_tokens)
        self.masses = []  # (name, rows, keys, weight of each pair) or (name, None, None, None): NaN
        for name in (n for n in _MASS_STATS if n in pairs):
            i, j = pairs[name]
            selected = np.zeros(q, bool)
            selected[i] = True
            selected &= rows
            if not selected.any():
                self.masses.append((name, None, None, None))
                continue
            keep = selected[i]
            self.masses.append((name, i[keep], j[keep], (1.0 / selected.sum()) * np.ones(keep.sum())))
        entropy_rows = rows & (self.visible >= 2)
        self.entropy_weights = entropy_rows / max(entropy_rows.sum(), 1) if entropy_rows.any() else None
        self.log_visible = np.log(np.maximum(self.visible, 2))
        self.row_mean = rows / rows.sum()
        self._on = {}  # device -> the masses' index pairs there

    def masses_like(self, a):
        """`masses` with their index pairs and weights on the device of `a` (kept per device)."""
        if arrays.is_host(a):
            return self.masses
        key = str(arrays.device(a))
        if key not in self._on:
            self._on[key] = [
                (name, *(None if v is None else arrays.like(a, v) for v in (i, j, w))) for name, i, j, w in self.masses
            ]
        return self._on[key]


_TINY = np.float32(np.finfo(np.float32).tiny)
# every float16 as float32, by its bits: exact for each of the 65536 values, and 8x faster than
# numpy's cast on the short strided rows drift reads of its float16 reference (a table lookup)
_HALF_TO_SINGLE = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)


def as_float32(x):
    """float32 of an array, float16 widened by table (`_HALF_TO_SINGLE`) on the host."""
    if arrays.is_foreign(x):
        return arrays.float32(x)
    x = np.asarray(x)
    if x.dtype == np.float16:
        return np.take(_HALF_TO_SINGLE, x.view(np.uint16))
    return np.asarray(x, dtype=np.float32)


def _row_plogp(x):
    """sum of x ln x over the last axis of weights >= 0 (0 ln 0 = 0), float64. Zero's log is taken of
    the smallest normal float32 instead (x + tiny: a finite -87, times 0), which leaves every weight
    above 1e-30 as it is: one pass fewer than choosing where x > 0, and faster than a maximum."""
    if arrays.is_foreign(x):
        xp = arrays.namespace(x)
        return xp.sum(xp.log(x + float(_TINY)) * x, axis=-1, dtype=xp.float64)
    logs = np.add(x, _TINY, dtype=np.float32)
    np.log(logs, out=logs)
    logs *= x
    return logs.sum(axis=-1, dtype=np.float64)


def js_distance(p, q, p_plogp=None, q_plogp=None):
    """Jensen-Shannon distance (base 2, in [0, 1]) between the rows of p and q (0 log 0 = 0):
    sqrt((sum p log p + sum q log q) / 2 - sum m log m), m = (p + q) / 2. `p_plogp`, `q_plogp`: the
    rows' sum x ln x when already known (the entropy needs p's; a reference's is the same every time)."""
    p = as_float32(p)
    p_plogp = _row_plogp(p) if p_plogp is None else p_plogp
    q = as_float32(q)  # a float16 reference is widened by table (the row chunks' strides slow a cast)
    q_plogp = _row_plogp(q) if q_plogp is None else q_plogp
    m = p + q
    m *= 0.5
    js = (0.5 * (p_plogp + q_plogp) - _row_plogp(m)) / np.log(2)
    xp = np if arrays.is_host(js) else arrays.namespace(js)
    return xp.sqrt(xp.clip(js, 0.0, 1.0))


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
        plogp = _row_plogp(a[layer])  # [heads, queries]: each head's own term, once
        for head in range(heads):
            js = js_distance(a[layer, head][None], a[layer], plogp[head][None], plogp)
            out[layer, head] = js @ row_mean
        np.fill_diagonal(out[layer], 0.0)
    return out


def head_statistics(
    attention,
    *,
    causal,
    self_attention,
    query_tokens,
    key_tokens,
    key_special,
    reference=None,
    reference_plogp=None,
    reference_causal=False,
    templates=None,
):
    """attention float [L, H, Q, K] -> float32 [len(STAT_NAMES), L, H].

    `reference` is the same heads' attention at the first snapshot (for `drift`; an array [L, H, Q,
    K], float16 included, read a chunk at a time); None means this is it. `reference_plogp`: its
    `row_plogp` when kept from an earlier snapshot (it never changes), else computed here;
    `reference_causal`: it is known to be zero above the diagonal (`zero_above_diagonal`), so causal
    attention's rows are read only up to the diagonal without looking at the reference's upper part.
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
    foreign = arrays.is_foreign(attention)  # measured on its device, in its own dtype a block at a time
    a = attention if foreign else np.asarray(attention, dtype=np.float32)
    layers, heads = a.shape[:2]
    out = np.full((len(STAT_NAMES), layers, heads), np.nan, dtype=np.float64)

    def measure(block):  # blocks write to their own part of `out`: spread over the cores
        part = None
        if reference is not None:
            moved = reference[block] if not foreign else arrays.like(a, reference[block])
            known = _part(reference_plogp, block)
            part = (moved, known if not foreign or known is None else arrays.like(a, known), reference_causal)
        _block_statistics(a[block], out[(slice(None),) + block], templates, part)

    _spread(measure, _blocks(layers, heads, a.shape[2] * a.shape[3], DEVICE_BLOCK if foreign else BLOCK), foreign)
    return out.astype(np.float32)


def _spread(fn, items, foreign):
    """map_spread on the host; one block after another on an accelerator (it runs each in parallel)."""
    return [fn(x) for x in items] if foreign else map_spread(fn, items)


def _blocks(layers, heads, head_size, block=BLOCK):
    """(layer slice, head slice) blocks of about `block` weights: whole layers while they are small, a
    few heads of one layer at a time when a layer is large (long probes)."""
    if heads * head_size <= block:
        step = max(1, block // (heads * head_size))
        return [(slice(s, s + step), slice(None)) for s in range(0, layers, step)]
    step = max(1, block // head_size)
    return [(slice(layer, layer + 1), slice(h, h + step)) for layer in range(layers) for h in range(0, heads, step)]


def _part(array, block):
    return None if array is None else array[block]


def row_plogp(reference, like=None):
    """float [L, H, Q, K] -> float64 [L, H, Q]: each row's sum x ln x (drift's term of the first
    snapshot), a few rows at a time, the heads spread over the cores; with `like` (an array on an
    accelerator) each head is moved there and measured there."""
    out = np.empty(reference.shape[:-1])  # any array [L, H, Q, K] read by index (writer/scratch_file.SpilledHeads)
    foreign = like is not None and arrays.is_foreign(like)
    rows = max(1, (DEVICE_BLOCK if foreign else BLOCK) // max(1, reference.shape[-1]))

    def measure(layer_head):
        layer, head = layer_head
        weights = reference[layer, head]  # one read of the head (a spilled one is decompressed whole)
        if foreign:
            weights = arrays.like(like, weights)
        for r0 in range(0, reference.shape[2], rows):
            plogp = _row_plogp(as_float32(weights[r0 : r0 + rows]))
            out[layer, head, r0 : r0 + rows] = arrays.to_host(plogp)

    _spread(measure, np.ndindex(*reference.shape[:2]), foreign)
    return out


def zero_above_diagonal(reference):
    """Whether every head of `reference` ([L, H, Q, K], read a head at a time) is zero above its
    diagonal: drift's reference of causal attention, checked once rather than at every snapshot."""

    def head_is_causal(layer_head):
        weights = np.asarray(reference[layer_head])
        return not np.triu(weights, 1).any()

    return all(map_spread(head_is_causal, np.ndindex(*reference.shape[:2])))


def _block_statistics(a, out, templates, reference):
    """head_statistics of a few layers and heads, written into `out` [stats, layers, heads];
    `reference`: None, or (drift's reference, its row_plogp or None, whether it is zero above the
    diagonal), on the device of `a`.

    The masses read only the keys they sum. Entropy, max and drift go through the rows a chunk at a
    time, and for causal attention over the keys the chunk's rows can see: the keys after them hold
    zeros (checked; else the whole row is read), which add nothing to any of them."""
    with np.errstate(invalid="ignore"):
        for name, i, j, weights in templates.masses_like(a):
            if i is None:
                out[STAT_NAMES.index(name)] = np.nan
            else:
                out[STAT_NAMES.index(name)] = arrays.to_host(_as_float64(a[..., i, j]) @ weights)
    queries, keys = templates.shape
    rows = a.shape[:-1]
    entropy, largest = np.zeros(rows), np.zeros(rows)
    reference, reference_plogp, reference_causal = (None, None, False) if reference is None else reference
    drift = None if reference is None else np.zeros(rows)
    block = BLOCK if arrays.is_host(a) else DEVICE_BLOCK
    chunk = max(1, block // max(1, a.shape[0] * a.shape[1] * keys) // 8)  # rows: the causal triangle's steps
    for r0 in range(0, queries, chunk):
        r1 = min(queries, r0 + chunk)
        seen = _keys_seen(a, None if reference_causal else reference, templates.causal, r0, r1, keys)
        part = as_float32(a[..., r0:r1, :seen])
        plogp = _row_plogp(part)
        entropy[..., r0:r1] = -arrays.to_host(plogp)
        largest[..., r0:r1] = arrays.to_host(_row_max(part))
        if drift is not None:
            known = None if reference_plogp is None else reference_plogp[..., r0:r1]
            drift[..., r0:r1] = arrays.to_host(js_distance(part, reference[..., r0:r1, :seen], plogp, known))
    if templates.entropy_weights is not None:
        out[STAT_NAMES.index("entropy")] = (entropy / templates.log_visible) @ templates.entropy_weights
    out[STAT_NAMES.index("max")] = largest @ templates.row_mean
    out[STAT_NAMES.index("drift")] = 0.0 if drift is None else drift @ templates.row_mean


def _as_float64(x):
    if arrays.is_host(x):
        return x.astype(np.float64)
    xp = arrays.namespace(x)
    return xp.astype(x, xp.float64)


def _row_max(x):
    return x.max(axis=-1) if arrays.is_host(x) else arrays.namespace(x).max(x, axis=-1)


def _any(x):
    return bool(x.any()) if arrays.is_host(x) else bool(arrays.namespace(x).any(x))


def _keys_seen(a, reference, causal, r0, r1, keys):
    """How many keys rows r0..r1 need: those up to the last row when causal and every later key is
    zero in both the attention and the reference; else all."""
    if not causal or r1 >= keys:
        return keys
    if _any(a[..., r0:r1, r1:]) or (reference is not None and _any(reference[..., r0:r1, r1:])):
        return keys
    return r1
