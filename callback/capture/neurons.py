"""The neuron view's data: each captured head's query and key vectors, from the probe pass itself.

transformers 5 calls most models' attention through a function looked up by name. For a pass that
captures, the model is switched to a registered name whose function calls the model's *own* eager
attention function (so the weights are exactly those of an eager pass) and keeps what it was given:
query and key (after rotary embeddings, before grouped key/value heads are repeated), the scaling,
an additive position bias (T5) and the mask. Which call is which layer is known by identity: the
weights a call returned are the tensors the model's output lists.

A picture that explains a head must be the head's own arithmetic: the first pass recomputes
softmax(q.k * scale + bias) from what was captured and compares it with the weights the model
returned; a model whose attention is something else (soft-capping, sinks, a function that is not its
eager one) gets a clear error before training, never a wrong picture.
"""

import inspect
import logging
import threading

import numpy as np
import torch

from tb_attention_plugin.analysis.neuron_math import softmax_of

from . import registered_attention
from .registered_attention import own_eager
from .streaming import hand_over
from .value_norms import ProjectionWatch, layer_value_norms

CAPTURE_IMPLEMENTATION = "tb_attention_neurons"
# the recomputed softmax must match the model's weights well within the storage bound of 1/255
MATCH_TOLERANCE = 1 / 510
DEFAULT_MAX_HEADS = 256  # neurons=True on a larger model asks for named heads
# without an explicit "every", every k-th snapshot is captured so that the automatic schedule's ~200
# snapshots store at most this many bytes of neuron records (before compression)
NEURON_BUDGET = 256 << 20
SCHEDULE_SNAPSHOTS = 200

logger = logging.getLogger("tb_attention")
_active = threading.local()


class NeuronViewUnavailableError(ValueError):
    """The model's attention cannot be explained from its query and key (or cannot be captured)."""


class NeuronOptions:
    """What to capture: `heads` (None: every head) and every how many snapshots (None: automatic,
    `every_for`)."""

    def __init__(self, heads=None, every=None):
        self.heads, self.every = heads, every

    def every_for(self, snapshot_bytes):
        """The capture interval: as given, or the smallest that keeps SCHEDULE_SNAPSHOTS snapshots of
        `snapshot_bytes` each within NEURON_BUDGET."""
        if self.every is not None:
            return self.every
        return max(1, -(-snapshot_bytes * SCHEDULE_SNAPSHOTS // NEURON_BUDGET))

    def heads_for(self, layers, heads):
        """[(layer, head)] to capture in a model of this size; a clear error for heads it lacks."""
        if self.heads is None:
            if layers * heads > DEFAULT_MAX_HEADS:
                raise NeuronViewUnavailableError(
                    f"neurons=True would store query and key vectors of all {layers * heads} heads: name the "
                    f"heads to keep, e.g. neurons={{'heads': [(0, 1), (5, 3)], 'every': 10}}"
                )
            return [(layer, head) for layer in range(layers) for head in range(heads)]
        bad = [lh for lh in self.heads if not (lh[0] < layers and lh[1] < heads)]
        if bad:
            raise NeuronViewUnavailableError(
                f"neurons= names heads {bad} that a model of {layers} layers x {heads} heads does not have "
                f"(layers and heads count from 0)"
            )
        return sorted(set(self.heads))


def check_neurons(neurons):
    """The `neurons=` option -> NeuronOptions or None: True, or {"heads": [(layer, head), ...] or
    "all", "every": k}."""
    if neurons is None or neurons is False:
        return None
    if neurons is True:
        return NeuronOptions()
    if not isinstance(neurons, dict) or set(neurons) - {"heads", "every"}:
        raise ValueError(
            "neurons must be True or a dict {'heads': [(layer, head), ...] or 'all', 'every': k}, got " + repr(neurons)
        )
    every = neurons.get("every")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(f"neurons['every'] must be an integer >= 1 (every k-th snapshot), got {every!r}")
    heads = neurons.get("heads", "all")
    if heads == "all":
        return NeuronOptions(None, every)
    try:
        pairs = [(int(lh[0]), int(lh[1])) for lh in heads if len(lh) == 2 and all(_index(x) for x in lh)]
    except TypeError:
        pairs = None
    if not pairs or len(pairs) != len(heads):
        raise ValueError(
            f"neurons['heads'] must be 'all' or a non-empty list of (layer, head) pairs of integers >= 0, got {heads!r}"
        )
    return NeuronOptions(pairs, every)


def _index(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0


# ---------------------------------------------------------------- capture


def _own_eager(module):
    fn = own_eager(module)
    if fn is None:
        raise NeuronViewUnavailableError(
            f"{type(module).__name__} has no eager attention function to capture query and key from"
        )
    return fn


def _capture_attention(module, query, key, value, attention_mask, *args, **kwargs):
    own = _own_eager(module)
    out = own(module, query, key, value, attention_mask, *args, **kwargs)
    calls = getattr(_active, "calls", None)
    if calls is not None:
        _keep_call(calls, own, module, out, query, key, value, attention_mask, args, kwargs)
    hand_over(own, module, out, query, key, value, attention_mask, args, kwargs)  # a streamed pass's listener
    return out


def _keep_call(calls, own, module, out, query, key, value, attention_mask, args, kwargs):
    bound = inspect.signature(own).bind(module, query, key, value, attention_mask, *args, **kwargs).arguments
    scaling, softcap = bound.get("scaling"), bound.get("softcap")
    calls.append(
        Call(
            query=query,
            key=key,
            value=value,
            output=out[0],
            projection=None,
            projection_weight=None,
            mask=attention_mask,
            scaling=float(query.shape[-1] ** -0.5 if scaling is None else scaling),
            softcap=float(softcap or 0.0),
            bias=bound.get("position_bias"),
            sinks=bound.get("sinks"),
            weights=out[1],
        )
    )


def register():
    """Register the capturing attention under CAPTURE_IMPLEMENTATION, once."""
    registered_attention.register(CAPTURE_IMPLEMENTATION, _capture_attention)


class Call:
    """What one attention call was given and returned (tensors of the whole batch)."""

    __slots__ = (
        "projection_weight",
        "query",
        "key",
        "value",
        "output",
        "projection",
        "mask",
        "scaling",
        "softcap",
        "bias",
        "sinks",
        "weights",
    )

    def __init__(self, **fields):
        for name, value in fields.items():
            setattr(self, name, value)


class capturing:
    """Within it, every call of the capturing attention on this thread is kept in `calls`."""

    def __init__(self, enabled=True):
        self.enabled = enabled

    def __enter__(self):
        self.calls = []
        if self.enabled:
            _active.calls = self.calls
            self.watch = ProjectionWatch(self.calls).__enter__()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            _active.calls = None
            self.watch.__exit__(*exc)
        return False


def layer_calls(calls, outputs, model_name, field):
    """The call of each layer of one output list (matched by the identity of its weights)."""
    by_ptr = {}
    for call in calls:
        if call.weights is not None:
            by_ptr.setdefault(call.weights.data_ptr(), call)
    found = []
    for layer, weights in enumerate(outputs):
        call = by_ptr.get(weights.data_ptr())
        if call is None or call.weights.shape != weights.shape:
            raise NeuronViewUnavailableError(
                f"{model_name}'s {field}[{layer}] did not come from its attention function (the model computes "
                f"it some other way), so tb-attention cannot show its query and key: turn neurons= off"
            )
        found.append(call)
    return found


def head_vectors(calls, b, heads_of_layer, queries, keys):
    """One probe's neuron record of one kind: for each captured head its query [Q, D] and key [K, D]
    vectors, scaling, soft-cap (0: none), additive bias (or None), allowed keys and what each key
    passes on through the head (value_norms.py; None when a layer's projection is not known), as numpy."""
    return join_parts(
        [
            layer_part(call, b, layer, heads_of_layer[layer], queries, keys)
            for layer, call in enumerate(calls)
            if heads_of_layer.get(layer)
        ]
    )


def join_parts(parts):
    """One record of the layer_part of each layer with captured heads, in layer order."""
    heads = [h for part in parts for h in part["heads"]]
    if not heads:
        raise NeuronViewUnavailableError("no head to capture")
    joined = {
        name: np.concatenate([part[name] for part in parts]) for name in ("query", "key", "scale", "softcap", "allowed")
    }
    biases = [part["bias"] for part in parts]
    norms = [part["value_norm"] for part in parts]
    return dict(
        joined,
        heads=heads,
        bias=None
        if all(x is None for x in biases)
        else np.concatenate([_zero(x, part) for x, part in zip(biases, parts)]),
        value_norm=np.concatenate(norms) if all(x is not None for x in norms) else None,
    )


def layer_part(call, b, layer, chosen, queries, keys):
    """The captured heads of one layer (one attention call) of probe b, as for head_vectors: what
    join_parts puts together."""
    if call.sinks is not None:
        raise NeuronViewUnavailableError(
            f"layer {layer}'s attention has sink logits (weights summing to less than 1), which the "
            f"neuron view does not show: turn neurons= off"
        )
    n_heads, n_kv = call.query.shape[1], call.key.shape[1]
    if not n_kv or n_heads % n_kv:
        raise NeuronViewUnavailableError(f"layer {layer} has {n_heads} query heads for {n_kv} key heads")
    index = torch.tensor(chosen, device=call.query.device)
    mask = _mask_of(call.mask, b, queries, keys)
    bias = _bias_of(call.bias, b, index, queries, keys)
    if mask is not None and mask[1] is not None:
        bias = mask[1][None] + (0 if bias is None else bias)
    n = len(chosen)
    norms = layer_value_norms(call, b, list(chosen), keys)
    return {
        "heads": [(layer, h) for h in chosen],
        "query": call.query[b, index, :queries].float().cpu().numpy(),
        "key": call.key[b, index // (n_heads // n_kv), :keys].float().cpu().numpy(),
        "scale": np.full(n, call.scaling, np.float32),
        "softcap": np.full(n, call.softcap, np.float32),
        "allowed": np.broadcast_to(np.ones((queries, keys), bool) if mask is None else mask[0], (n, queries, keys)),
        "bias": None if bias is None else np.broadcast_to(bias, (n, queries, keys)).astype(np.float32),
        "value_norm": None if norms is None else np.stack([norms[h] for h in chosen]),
    }


def _zero(bias, part):
    return np.zeros(part["allowed"].shape, np.float32) if bias is None else bias


def _mask_of(mask, b, queries, keys):
    """(allowed bool [Q, K], finite additive part float32 [Q, K] or None) of an additive or boolean mask."""
    if mask is None:
        return None
    m = mask[b if mask.shape[0] > 1 else 0]
    m = m[0] if m.dim() == 3 else m
    m = m[:queries, :keys]
    if m.dtype == torch.bool:
        return m.cpu().numpy(), None
    m = m.float()
    allowed = m > torch.finfo(mask.dtype).min / 2
    extra = torch.where(allowed, m, torch.zeros_like(m))
    return allowed.cpu().numpy(), (extra.cpu().numpy() if bool((extra != 0).any()) else None)


def _bias_of(bias, b, index, queries, keys):
    """The additive bias (T5's position bias) of the chosen heads: float32 [n, Q, K] or None."""
    if bias is None:
        return None
    x = bias[b if bias.shape[0] > 1 else 0]
    x = x[index] if x.shape[0] > 1 else x[[0] * len(index)]
    return x[:, :queries, :keys].float().cpu().numpy()


# ---------------------------------------------------------------- the arithmetic, and its check


def verify(record, attention, model_name, probe, kind):
    """The neuron record explains the weights the model returned (float32 [L, H, Q, K] or per-layer
    arrays), or NeuronViewUnavailableError."""
    for i, (layer, head) in enumerate(record["heads"]):
        diff = float(np.abs(softmax_of(record, i) - np.asarray(attention[layer][head], np.float64)).max())
        if not diff <= MATCH_TOLERANCE:
            raise NeuronViewUnavailableError(
                f"{model_name}'s {kind} attention of layer {layer} head {head} on probe {probe!r} is not "
                f"softmax(q.k * scale + bias) of the query and key its attention function receives (they "
                f"differ by up to {diff:.3g}; e.g. soft-capping or attention sinks): the neuron view cannot "
                f"show why it attends; turn neurons= off (the attention snapshots are not affected)"
            )


def record_bytes(record):
    """Stored size of a neuron record before compression (float32 q, k and bias)."""
    size = record["query"].nbytes + record["key"].nbytes + record["allowed"].size // 8
    return size + sum(record[k].nbytes for k in ("bias", "value_norm") if record[k] is not None)


def log_size(per_snapshot, every, automatic, snapshots=SCHEDULE_SNAPSHOTS):
    """The size estimate users see when the neuron view is on (the automatic schedule takes at most
    ~200 snapshots)."""
    total = per_snapshot * -(-snapshots // every)
    logger.warning(
        "tb-attention: the neuron view stores up to %s per captured snapshot (query and key vectors as "
        "float32, before compression; about half where float16 keeps them within the bound), every %d "
        "snapshot(s)%s: up to ~%s over %d snapshots; "
        "neurons={'heads': [...], 'every': k} chooses",
        _size(per_snapshot),
        every,
        f" (chosen to stay within {NEURON_BUDGET >> 20} MB)" if automatic else "",
        _size(total),
        snapshots,
    )


def _size(n):
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"
