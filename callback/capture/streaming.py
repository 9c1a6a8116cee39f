"""Each layer's attention handed over as the model computes it: never the whole model's at once.

With `output_attentions=True` a model returns every layer's [batch, heads, T, T] together: 80 layers x
64 heads x 1024^2 tokens x 8 probes is 86 GB in bf16 next to the training state. Instead the model is
switched to a registered attention function (transformers' AttentionInterface) that calls the model's
*own* eager function, so the weights are exactly those of an eager pass, and gives each layer's
weights to a listener before the next layer runs; nothing asks the model to keep them.

Which call is which layer is learnt once, before training, from a pass over a few tokens with
`output_attentions=True`: the weights a call returned are the very tensors the outputs list
(`discover`). A model whose attention does not go through the interface, or whose outputs are not
what its calls returned, is not streamed (the probe pass then takes its outputs as before).
"""

import logging
import threading
import typing

import torch

from .attention_logits import explains, logit_inputs, row_max_logits
from .model_access import forward_target
from . import registered_attention, returned_weights
from .registered_attention import own_eager

STREAM_IMPLEMENTATION = "tb_attention_stream"
DISCOVERY_TOKENS = 8  # the pass that learns which call is which layer runs on this many tokens at most

logger = logging.getLogger("tb_attention")
_active = threading.local()


def _stream_attention(module, query, key, value, attention_mask, *args, **kwargs):
    """The model's own eager attention; its weights go to this thread's listener."""
    eager = own_eager(module)
    if eager is None:  # not streamed: the pass that learns the layers fails, and the outputs are taken
        raise RuntimeError(f"{type(module).__name__} has no eager attention function")
    out = eager(module, query, key, value, attention_mask, *args, **kwargs)
    hand_over(eager, module, out, query, key, value, attention_mask, args, kwargs)
    return out


def hand_over(eager, module, out, query, key, value, attention_mask, args, kwargs):
    """Give one attention call's weights (`out` of the model's `eager` function on these inputs) to
    this thread's listener, if any: the streamed pass's, and the neuron view's when it streams too."""
    listener = getattr(_active, "listener", None)
    if listener is not None:
        listener(module, out[1], logit_inputs(eager, module, query, key, value, attention_mask, args, kwargs))


def register():
    """Register the streaming attention under STREAM_IMPLEMENTATION, once."""
    registered_attention.register(STREAM_IMPLEMENTATION, _stream_attention)


class listening:
    """Within it, `listener(module, weights, logit_inputs)` gets every streaming attention call on this
    thread (attention_logits.LogitInputs: what the call was given)."""

    def __init__(self, listener):
        self.listener = listener

    def __enter__(self):
        _active.listener = self.listener
        return self

    def __exit__(self, *exc):
        _active.listener = None
        return False


class LayerMap(typing.NamedTuple):
    """Which attention module computes which (kind, layer), and how many layers each kind has."""

    where: dict  # module -> [(kind, layer)] of its calls in one forward, in order
    layers: dict  # kind -> number of layers
    heads: dict  # kind -> heads per layer
    # None: through the attention interface; else module -> the position of the weights it returns
    # (returned_weights.py: models whose attention does not go through the interface)
    returned_at: typing.Optional[dict] = None
    # whether each call's largest logits are measured (attention_logits.explains held on every call)
    logits: bool = False

    @property
    def implementation(self):
        """The attention implementation a streamed pass runs under."""
        return STREAM_IMPLEMENTATION if self.returned_at is None else "eager"


def discover_returned(model, run_short_pass, fields):
    """The LayerMap of a model whose attention is taken from the modules that return it
    (returned_weights.py), or None (also when the short pass fails, e.g. a model that cannot switch to
    eager: the first pass then says so); `run_short_pass()` runs under eager attention."""
    try:
        found = returned_weights.discover(model, run_short_pass, fields)
    except Exception as e:  # noqa: BLE001 - as for the interface: the passes that follow say what fails
        logger.debug("tb-attention: attention not streamed from returned weights (%s: %s)", type(e).__name__, e)
        return None
    return None if found is None else LayerMap(found.where, found.layers, found.heads, found.position_of)


def discover(run_short_pass, fields):
    """The LayerMap of a model, or None when its attention cannot be streamed.

    `run_short_pass()` runs the model on a few tokens with output_attentions=True (inside
    probing_mode(model, STREAM_IMPLEMENTATION)) and returns its outputs; `fields` maps each kind to
    the output field that lists its layers."""
    calls = []
    quiet = logging.getLogger("transformers")  # a model that cannot switch says so: not the user's concern
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with listening(lambda module, weights, inputs: calls.append((module, weights, inputs))):
            out = run_short_pass()
    except Exception as e:  # noqa: BLE001 - any failure here only means: take the outputs instead
        logger.debug("tb-attention: attention not streamed (%s: %s)", type(e).__name__, e)
        return None
    finally:
        quiet.setLevel(level)
    module_of = {w.data_ptr(): m for m, w, _ in calls if isinstance(w, torch.Tensor)}
    where, layers, heads = {}, {}, {}
    for kind, field in fields.items():
        value = getattr(out, field, None)
        if not value:
            return None
        for layer, weights in enumerate(value):
            module = module_of.get(weights.data_ptr()) if isinstance(weights, torch.Tensor) else None
            if module is None:
                return None
            where.setdefault(module, []).append((kind, layer))  # ALBERT runs one module in every layer
        layers[kind], heads[kind] = len(value), value[0].shape[1]
    calls_of = {}
    for module, _, _ in calls:
        calls_of[module] = calls_of.get(module, 0) + 1
    if any(calls_of.get(module, 0) != len(places) for module, places in where.items()):
        return None  # a module whose calls are not all listed layers: which call is which is unclear
    return LayerMap(where, layers, heads, logits=_logits_explained([c for c in calls if c[0] in where]))


def _logits_explained(calls):
    """Whether every call's weights are softmax(q.k x scaling) of what it was given (then its largest
    logits are measured); else says why once, at the info level."""
    for module, weights, inputs in calls:
        try:
            if inputs is not None and explains(inputs, weights):
                continue
            why = "its weights are not softmax(q.k x scaling) of the query and key it was given"
        except Exception as e:  # noqa: BLE001 - an unusual call: the logits are left out, nothing else
            why = f"{type(e).__name__}: {e}"
        logger.info(
            "tb-attention: the largest attention logits are not measured for %s: %s", type(module).__name__, why
        )
        return False
    return True


def short_probe(probe):
    """The probe cut to its first DISCOVERY_TOKENS tokens (both sides): enough to see every layer."""
    import copy

    short = copy.copy(probe)
    short.input_ids = probe.input_ids[:DISCOVERY_TOKENS]
    if probe.token_type_ids is not None:
        short.token_type_ids = probe.token_type_ids[:DISCOVERY_TOKENS]
    if getattr(probe, "decoder_input_ids", None) is not None:
        short.decoder_input_ids = probe.decoder_input_ids[:DISCOVERY_TOKENS]
    return short


def stream_forward(model, kwargs, layer_map, on_layer):
    """Run the model with `kwargs` (no output_attentions), calling `on_layer(kind, layer, weights,
    logits)` with each layer's [batch, heads, query, key] weights in order and its rows' largest
    logits [batch, heads, query] (None where they are not measured); returns the model's outputs.
    Raises when a layer comes out of order or one never comes (the model ran something else)."""
    done = {kind: 0 for kind in layer_map.layers}
    calls = {}

    def listener(module, weights, inputs=None):
        places = layer_map.where.get(module)
        if places is None:
            return  # an attention outside the probed kinds (e.g. a vision tower)
        n = calls[module] = calls.get(module, -1) + 1
        if n >= len(places):
            raise StreamOrderError(f"{type(module).__name__} ran {n + 1} times, {len(places)} expected")
        kind, layer = places[n]
        if layer != done[kind]:
            raise StreamOrderError(f"{kind} layer {layer} computed when layer {done[kind]} was expected")
        done[kind] += 1
        on_layer(kind, layer, weights, _largest(layer_map, module, inputs, weights))

    if layer_map.returned_at is None:
        with listening(listener):
            out = forward_target(model)(**kwargs)
    else:

        def run():
            return forward_target(model)(**kwargs, output_attentions=True)

        out = returned_weights.taking_returned(layer_map.returned_at, listener, run)
    if done != layer_map.layers:
        raise StreamOrderError(f"the forward computed {done} attention layers, {layer_map.layers} expected")
    return out


def _largest(layer_map, module, inputs, weights):
    """The rows' largest logits of one call, or None: not measured for this model, or (said once) a
    call the check before training did not foresee, which costs the logit, not the snapshot."""
    if not layer_map.logits or inputs is None:
        return None
    try:
        return row_max_logits(inputs, weights)
    except Exception as e:  # noqa: BLE001 - the snapshot goes on without this layer's logits
        if not getattr(_active, "told", False):
            _active.told = True
            logger.warning(
                "tb-attention: largest attention logits of %s not measured (%s: %s)",
                type(module).__name__,
                type(e).__name__,
                e,
            )
        return None


class StreamOrderError(RuntimeError):
    """The model's attention calls were not the layers learnt before training, in order."""
