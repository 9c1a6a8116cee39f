"""What the probe pass needs to know about a model that may come wrapped.

A Trainer, accelerate or the user may hand over the model inside wrappers: `torch.compile`'s
OptimizedModule (`_orig_mod`), DDP / DataParallel (`module`), a PEFT `PeftModel` (`get_base_model()`).
Compile and DDP wrappers share the parameters and only change how forward runs, so the probes run on
the module inside them (a compiled graph would not see the switch to eager attention; a DDP forward
on one rank deadlocks). A PEFT wrapper is kept: its forward is what the user's `peft_model(**inputs)`
runs. But wrappers take `*args, **kwargs`, so which inputs the model takes (`token_type_ids`...), its
config and its attention modules are read from the base model inside them all.
"""

import inspect

import torch


def forward_target(model):
    """The module to call: `model` without compile and DDP/DataParallel wrappers."""
    while True:
        if isinstance(getattr(model, "_orig_mod", None), torch.nn.Module):
            model = model._orig_mod
        elif isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        else:
            return model


def base_model(model):
    """The transformers model inside every wrapper (PEFT included)."""
    model = forward_target(model)
    get_base = getattr(model, "get_base_model", None)
    if callable(get_base):
        inner = get_base()
        if isinstance(inner, torch.nn.Module) and inner is not model:
            return base_model(inner)
    return model


def accepted_inputs(model):
    """Names of the inputs the base model's forward declares (None: cannot tell)."""
    try:
        parameters = inspect.signature(base_model(model).forward).parameters
    except (TypeError, ValueError):
        return None
    return {name for name, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def config_of(model):
    return getattr(base_model(model), "config", None)


def token_limit(model):
    """How many tokens the model can embed (None: no fixed limit, e.g. T5's relative positions).

    The config's maximum positions, less the offset of position tables that start after a padding
    index (RoBERTa, XLM-R...: positions padding_idx + 1 ... so `max_position_embeddings -
    padding_idx - 1` tokens fit).
    """
    config = config_of(model)
    limits = [getattr(config, key, None) for key in ("max_position_embeddings", "n_positions", "n_ctx")]
    limits = [int(n) for n in limits if isinstance(n, int) and not isinstance(n, bool) and n > 0]
    for name, module in base_model(model).named_modules():
        if (
            isinstance(module, torch.nn.Embedding)
            and "position" in name.rsplit(".", 1)[-1]
            and module.padding_idx is not None
        ):
            limits.append(module.num_embeddings - module.padding_idx - 1)
    return min(limits) if limits else None


def is_encoder_decoder(model):
    return bool(getattr(config_of(model), "is_encoder_decoder", False))


def causal_self_attention(model):
    """True when every self-attention module of a decoder-only model declares itself causal."""
    if is_encoder_decoder(model):
        return False
    flags = [bool(m.is_causal) for m in base_model(model).modules() if isinstance(getattr(m, "is_causal", None), bool)]
    return bool(flags) and all(flags)
