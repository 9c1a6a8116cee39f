"""What an AttentionSummaryWriter accepts: input that cannot be stored as given is refused before
anything is written, with an error that names the probe, kind, layer, head and query row."""

import operator
import typing

import numpy as np

from ..format import arrays
from ..format.metadata import KIND_SIDES

# A query row may sum to at most 1 + this (one quantization level; a softmax row rounded to bfloat16
# stays within 2**-8 of 1, measured up to 0.0031). Then every weight is stored within 1/255; a larger
# sum is not a row of attention weights (a transposed [key, query] map, heads or layers summed up) and
# is refused.
ROW_SUM_TOLERANCE = 1.0 / 255

_INT64_MAX = (1 << 63) - 1


def check_step(step):
    """A Python or numpy integer (anything with __index__, bools excepted) in [0, 2**63 - 1]."""
    if isinstance(step, (bool, np.bool_)):
        raise TypeError(f"step must be an integer, got the bool {step!r}")
    try:
        value = operator.index(step)
    except TypeError:
        raise TypeError(
            f"step must be an integer (a Python or numpy int), got {type(step).__name__} {step!r}"
        ) from None
    if not 0 <= value <= _INT64_MAX:
        raise ValueError(f"step must be between 0 and 2**63 - 1, got {value}")
    return value


def as_mask(values, n, what):
    """One bool per token of a probe (all False when not given)."""
    if values is None:
        return [False] * n
    values = [bool(v) for v in values]
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries but the probe has {n} tokens")
    return values


class FirstSize(typing.NamedTuple):
    """The model size of a probe's first snapshot by a writer, and its step."""

    layers: int
    heads: int
    step: int


def check_model_size(first, probe, kind, step, layers, heads):
    """A probe keeps one model size per writer: `first` is the FirstSize of its first snapshot by
    this writer, or None."""
    if first is not None and (first.layers, first.heads) != (layers, heads):
        raise ValueError(
            f"probe {probe!r} kind {kind!r}: attention at step {step} has {layers} layers x "
            f"{heads} heads, but the probe's first snapshot (step {first.step}) had {first.layers} "
            f"x {first.heads}; a probe keeps one model size: log another model under other "
            f"probe names or to its own log_dir"
        )


def check_attention(attention, info, kind, copy=True):
    """The attention of the probe `info` checked: float32 [layers, heads, query, key], a copy of its
    own; with copy=False a list of float32 [heads, query, key] layers (the caller's arrays where they
    are float32 already), so the copy can be made later, off the caller's thread. An error says what
    is wrong, naming layer, head and query row."""
    what = f"probe {info['name']!r} kind {kind!r}: attention"
    if isinstance(attention, (list, tuple)):
        if not attention:
            raise ValueError(f"{what} has 0 layers (an empty list)")
        layers = [_as_array(x, f"{what} layer {i}") for i, x in enumerate(attention)]
        shapes = sorted({x.shape for x in layers})
        if len(shapes) > 1:
            raise ValueError(f"{what}: the per-layer arrays differ in shape: {shapes}")
        if layers[0].ndim == 4:  # transformers' outputs.attentions: [batch, heads, query, key] per layer
            _one_sequence(layers[0].shape[0], what, "[layer[i] for layer in attentions]")
            layers = [x[0] for x in layers]
        if layers[0].ndim != 3:
            raise ValueError(f"{what} layers must be [heads, query, key], got shape {layers[0].shape}")
        shape = (len(layers),) + layers[0].shape
    else:
        a = _as_array(attention, what)
        if a.ndim == 5:  # TransformerLens' stack_activation("pattern"): [layers, batch, heads, query, key]
            _one_sequence(a.shape[1], what, "a[:, i]")
            a = a[:, 0]
        if a.ndim != 4:
            raise ValueError(f"attention must be [layers, heads, query, key], got shape {a.shape}")
        layers, shape = list(a), a.shape
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(
            f"{what} has {shape[0]} layers and {shape[1]} heads (shape {shape}); it needs at least one of each"
        )
    query_side, key_side = KIND_SIDES[kind]
    if info[query_side] is None or info[key_side] is None:
        raise ValueError(f"kind {kind!r} needs decoder_tokens: pass them to add_probe({info['name']!r}, ...)")
    want = (len(info[query_side]), len(info[key_side]))
    if shape[2:] != want:
        raise ValueError(
            f"probe {info['name']!r} kind {kind!r}: attention is {shape[2]}x{shape[3]} "
            f"(query x key) but the probe has {want[0]}x{want[1]} tokens; pass real "
            f"tokens only (drop padding)"
        )
    for index, layer in enumerate(layers):
        _check_layer(layer, index, info, kind, what)
    return np.stack(layers) if copy else layers


def check_max_logits(values, heads, what):
    """Each head's largest attention logit: None, or float32 [heads] of finite numbers or NaN (not
    measured). Infinite logits come from a broken model: refused, with where."""
    if values is None:
        return None
    values = _as_array(values, f"max_logits of {what}")
    if values.shape != (heads,):
        raise ValueError(f"max_logits of {what} must have one value per head ({heads}), got shape {values.shape}")
    if np.isinf(values).any():
        raise ValueError(f"max_logits of {what} holds an infinite logit (head {int(np.isinf(values).argmax())})")
    return values


def inferred_causal(kind, layers):
    """add_attention's causal=None: decoder kinds, or self-attention with nothing above the diagonal."""
    q, k = layers[0].shape[1:]
    return kind == "decoder" or (kind == "self" and q == k and q > 1 and not any(np.triu(x, 1).any() for x in layers))


def check_snapshot_logits(values, layers, heads, what):
    """add_attention's max_logits: None or [layers, heads] -> one checked row (or None) per layer."""
    if values is None:
        return [None] * layers
    values = _as_array(values, f"max_logits of {what}")
    if values.shape != (layers, heads):
        raise ValueError(f"max_logits of {what} must be [layers, heads] = {(layers, heads)}, got {values.shape}")
    return [check_max_logits(row, heads, f"{what} layer {index}") for index, row in enumerate(values)]


def check_layer(weights, info, kind, index, shape, heads=None, on_device=False):
    """One layer handed over on its own (a snapshot written layer by layer): float32 [heads, query,
    key] of the probe's `shape` (query x key) and, after the first layer, of the first layer's heads;
    `on_device`: a GPU tensor the writer measures where it lives, checked there in its own dtype."""
    what = f"probe {info['name']!r} kind {kind!r}: attention"
    layer = _on_device(weights, what) if on_device else _as_array(weights, f"{what} layer {index}")
    if layer.ndim != 3 or layer.shape[0] == 0:
        raise ValueError(f"{what} layers must be [heads, query, key] with at least one head, got shape {layer.shape}")
    if heads is not None and layer.shape[0] != heads:
        raise ValueError(f"{what}: layer {index} has {layer.shape[0]} heads, layer 0 had {heads}")
    if tuple(layer.shape[1:]) != tuple(shape):
        raise ValueError(
            f"{what} layer {index} is {layer.shape[1]}x{layer.shape[2]} (query x key) but the probe has "
            f"{shape[0]}x{shape[1]} tokens; pass real tokens only (drop padding)"
        )
    _check_layer(layer, index, info, kind, what)
    return layer


def _check_layer(layer, index, info, kind, what):
    # float32 pairwise sums: ~1e-6 off for 16k keys, against a 1/255 tolerance; a layer on an
    # accelerator is summed there, and only its row sums come to the host
    xp = arrays.namespace(layer)
    sums = layer.sum(axis=-1) if arrays.is_host(layer) else arrays.to_host(xp.sum(layer, axis=-1, dtype=xp.float32))
    # NaN and inf reach the row sums; the full-size masks are only built to say where they are
    if not np.isfinite(sums).all() or float(xp.min(layer)) < 0:
        count, head, row = _first_bad(layer)
        at = _where(info, kind, index, head, row)
        raise ValueError(f"{what} has NaN, inf or negative weights ({count} of them; the first at {at})")
    over = sums > 1.0 + ROW_SUM_TOLERANCE
    if over.any():
        head, row = np.argwhere(over)[0]
        raise ValueError(
            f"{what}: the row of {_where(info, kind, index, head, row)} sums to "
            f"{sums[head, row]:.6g} ({int(over.sum())} rows of layer {index} sum to more than "
            f"1 + 1/255). Each query row holds one softmax over the keys: pass "
            f"[layers, heads, query, key] weights, not transposed, summed or "
            f"unnormalized ones"
        )


def _one_sequence(batch, what, one):
    """A batch axis is taken when it holds one sequence: the probe's."""
    if batch != 1:
        raise ValueError(
            f"{what} has a batch axis of {batch} sequences; a probe is one sequence: pass the probe's own "
            f"attention, e.g. {one} for the i-th sequence of the batch"
        )


def _as_array(x, what):
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError, RuntimeError) as e:  # e.g. a CUDA or bfloat16 torch tensor
        raise TypeError(
            f"{what} must be a float array (numpy, or a CPU tensor: .float().cpu().numpy()), "
            f"got {type(x).__name__}: {e}"
        ) from None
    if raw.dtype.kind == "b":
        raise TypeError(f"{what} is a boolean array (an attention mask?); attention weights are floats")
    if raw.dtype.kind not in "fiu":
        raise TypeError(f"{what} must hold real numbers, got dtype {raw.dtype} ({type(x).__name__})")
    return raw.astype(np.float32, copy=False)


def _first_bad(layer):
    """(how many weights are NaN, inf or negative, the first one's head, its query row), a head at a
    time: the masks of a diverged model's large layer never held whole (on its GPU either)."""
    xp, count, first = arrays.namespace(layer), 0, None
    for head in range(layer.shape[0]):
        bad = ~xp.isfinite(layer[head]) | (layer[head] < 0)
        rows = arrays.to_host(xp.any(bad, axis=-1))
        if rows.any():
            count += int(xp.sum(xp.astype(bad, xp.int64)))
            first = first or (head, int(np.flatnonzero(rows)[0]))
    return (count, *first)


def _on_device(x, what):
    """A layer of another library (a GPU tensor) kept where it is, in its own floating dtype."""
    xp = arrays.namespace(x)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{what} must hold floating-point weights, got dtype {x.dtype} ({type(x).__name__})")
    return x


def _where(info, kind, layer, head, row):
    side = info[KIND_SIDES[kind][0]]
    return f"layer {layer}, head {head}, query row {row} ({side[row]!r})"
