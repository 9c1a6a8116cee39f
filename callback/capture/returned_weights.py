"""Each layer's attention taken from the module that returns it, for models whose attention does not go
through transformers' attention interface (DeBERTa-v2 computes its own disentangled attention).

Asked for `output_attentions`, such a model collects every layer's weights and returns them together,
which holds the whole pass. Instead a forward hook on the innermost module that returns a layer's
weights hands them over as the module returns them and puts an empty tensor in their place, so what
the model collects is empty and each layer's weights are freed once they are taken.

Which module returns which layer, and where in its output, is learnt before training from a pass over
a few tokens: the weights the outputs list are the very tensors modules returned (`discover`). The
route is taken only when the placeholders change nothing else the model computes (the same pass is run
again with them and must give the same outputs, bit for bit), and when every listed layer was returned
by a module called once per layer; else the model is not streamed.
"""

import typing

import torch

from .model_access import base_model


class Returned(typing.NamedTuple):
    """Which module returns which layers, and where in its output."""

    where: dict  # module -> [(kind, layer)] of its calls in one forward, in order
    position_of: dict  # module -> the position of the weights in its output tuple
    layers: dict  # kind -> number of layers
    heads: dict  # kind -> heads per layer


def discover(model, run_short_pass, fields):
    """The Returned of the modules that return the layers of `run_short_pass()` (output_attentions=True;
    `fields` maps each kind to the output field listing its layers), or None when this route cannot
    stream the model."""
    returned = []  # (module, position, tensor) in the order modules returned: innermost first

    def record(module, args, output):
        for position, x in enumerate(output if isinstance(output, tuple) else ()):
            if isinstance(x, torch.Tensor) and x.dim() == 4:
                returned.append((module, position, x))

    out = _with_hooks(base_model(model).modules(), record, run_short_pass)
    where, position_of, layers, heads = {}, {}, {}, {}
    for kind, field in fields.items():
        listed = getattr(out, field, None) or ()
        if not listed:
            return None
        layers[kind], heads[kind] = len(listed), listed[0].shape[1]
        for layer, weights in enumerate(listed):
            found = next(((m, p) for m, p, x in returned if x is weights), None)
            if found is None or position_of.setdefault(found[0], found[1]) != found[1]:
                return None
            where.setdefault(found[0], []).append((kind, layer))
    calls = {}
    for module, position, _ in returned:
        if position_of.get(module) == position:
            calls[module] = calls.get(module, 0) + 1
    if any(calls[module] != len(places) for module, places in where.items()):
        return None  # a module returning weights that are not all listed layers
    again = taking_returned(position_of, lambda module, weights: None, run_short_pass)
    if not _same_outputs(out, again, fields):
        return None  # the model uses the weights it returns: they cannot be replaced
    return Returned(where, position_of, layers, heads)


def taking_returned(position_of, listener, run):
    """run() with each module of `position_of` handing the weights it returns to `listener(module,
    weights)` and returning an empty tensor in their place."""

    def take(module, args, output):
        position = position_of.get(module)
        if position is None or not isinstance(output, tuple) or not isinstance(output[position], torch.Tensor):
            return None
        listener(module, output[position])
        return output[:position] + (output[position].new_empty(0),) + output[position + 1 :]

    return _with_hooks(position_of, take, run)


def _with_hooks(modules, hook, run):
    handles = [module.register_forward_hook(hook) for module in modules]
    try:
        return run()
    finally:
        for handle in handles:
            handle.remove()


def _same_outputs(out, again, fields):
    """Every output tensor but the attention fields is the same, bit for bit."""
    skipped = set(fields.values())
    for name, value in out.items():
        if name in skipped or not isinstance(value, torch.Tensor):
            continue
        other = again.get(name)
        if not isinstance(other, torch.Tensor) or not torch.equal(value, other):
            return False
    return True
