"""Attention functions of our own, registered with transformers' AttentionInterface: the neuron view's
(neurons.py) and the streamed pass's (streaming.py). Both call the model's own eager function, so the
weights are exactly those of an eager pass."""

import sys

_registered = set()


def own_eager(module):
    """The eager attention function of the module's own modeling file (None when it has none)."""
    return getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)


def register(name, function):
    """Register `function` (and eager's mask) under `name`, once."""
    if name not in _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, eager_mask

        AttentionInterface.register(name, function)
        AttentionMaskInterface.register(name, eager_mask)
        _registered.add(name)
