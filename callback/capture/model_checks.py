"""What the probe pass needs of a model, and the errors that say what to do when a model lacks it.

The probes run through a transformers model: `model(input_ids=..., attention_mask=...,
output_attentions=True)`, eager attention returning each layer's weights. A model that takes no
`input_ids` (TransformerLens' bridge, a user's own module) or has no attention layers (a state-space
model such as Mamba) is told so before training, and pointed to the writer, which logs attention
computed any other way.
"""

import inspect
import math

import torch

from .model_access import base_model

# Row sums of softmax weights in float32/bf16 stay well within this of 1; a model with attention sinks
# (weights summing to less than 1) is fine, more than 1 is not attention.
ROW_SUM_TOLERANCE = 1e-2
CAUSAL_TOLERANCE = 1e-6
WRITER_HINT = (
    "compute its attention yourself and log it with AttentionSummaryWriter (docs/usage.md, 'Attention "
    "from other libraries': TransformerLens in a few lines)"
)


class AttentionUnavailableError(RuntimeError):
    """The model cannot return its attention weights (as it is loaded)."""


def implementations(model):
    """The attention implementation of the model's config and of its text config (multimodal models)."""
    config = getattr(base_model(model), "config", None)
    if config is None:
        return []
    configs = [config]
    get_text = getattr(config, "get_text_config", None)
    if callable(get_text):
        text = get_text()
        if text is not None and text is not config:
            configs.append(text)
    return [getattr(c, "_attn_implementation", None) for c in configs]


def load_eager_hint(model, current):
    return (
        f"{type(base_model(model)).__name__} stays on {current!r} attention, which returns no attention "
        f"weights (or values that are not its attention), and cannot be switched at run time: load it "
        f"with attn_implementation='eager', e.g. from_pretrained(..., attn_implementation='eager') or "
        f"from_config(config, attn_implementation='eager')"
    )


def check_drivable(model):
    """Raise AttentionUnavailableError, before any pass, for a model whose forward takes no input_ids:
    it declares none and either takes no other keyword arguments or requires an input the probes do
    not give (TransformerBridge's `input`). A forward of only *args, **kwargs (a wrapper) may take them."""
    try:
        parameters = list(inspect.signature(base_model(model).forward).parameters.values())
    except (TypeError, ValueError):
        return
    if any(p.name == "input_ids" for p in parameters):
        return
    required = [p for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if required or not any(p.kind is p.VAR_KEYWORD for p in parameters):
        name = type(base_model(model)).__name__
        raise AttentionUnavailableError(
            f"{name}.forward takes no input_ids: tb-attention runs its probes through transformers models "
            f"(model(input_ids=..., attention_mask=..., output_attentions=True)) and reads the attention "
            f"weights they return. For {name}, {WRITER_HINT}"
        )


def no_attention(out, field, model):
    """The error for outputs that hold no attention weights in `field`."""
    name = type(base_model(model)).__name__
    if field not in getattr(type(out), "__dataclass_fields__", {field: None}):
        return AttentionUnavailableError(
            f"{name} has no attention layers: its outputs have no {field} (a state-space or recurrent model "
            f"such as Mamba computes no attention weights). tb-attention logs attention weights only; for a "
            f"model that mixes attention into other layers, {WRITER_HINT}"
        )
    current = (implementations(model) or [None])[0]
    if current == "eager":
        return AttentionUnavailableError(
            f"{name} returned no {field} with output_attentions=True although its attention is eager: its "
            f"attention layers do not hand their weights out. To log them, {WRITER_HINT}"
        )
    return AttentionUnavailableError(
        f"{name} returned no {field} with output_attentions=True (attention implementation {current!r}); "
        f"tb-attention needs a model that can return its attention weights: load it with "
        f"attn_implementation='eager'"
    )


def check_layer_weights(w, model, probe, kind, causal, strict):
    """One probe's layer [heads, query, key] as the model computed it (on its device). Every pass
    checks causality where the model says its attention is causal (passes that run while training
    waits: on the last layer only, what would break it is the attention implementation, the same for
    every layer); the first (strict) pass also checks that every weight is a probability. NaN of a
    diverged model later on is left to the writer, which skips that snapshot with a warning."""
    name = type(base_model(model)).__name__
    if causal and w.shape[-2] > 1:
        # a head at a time: a copy of the whole layer would double what the pass holds
        above = max((float(torch.triu(head, 1).abs().amax()) for head in w), default=0.0) if w.shape[-1] > 1 else 0.0
        if above > CAUSAL_TOLERANCE:
            raise AttentionUnavailableError(
                f"{name}'s {kind} attention for probe {probe!r} weights later tokens although its attention "
                f"is causal: these are not its attention weights (attention implementation "
                f"{implementations(model)[0]!r}); load it with attn_implementation='eager'"
            )
    if not strict:
        return
    # reductions only: torch.isfinite would make a float copy and two bool layers (1.8x the layer);
    # a NaN propagates to the smallest and the largest weight, an infinity shows in one of them
    a = w.float()
    sums = a.sum(-1)
    low, high = (float(x) for x in torch.aminmax(a))
    if (
        not (math.isfinite(low) and math.isfinite(high))
        or low < -CAUSAL_TOLERANCE
        or float(sums.max()) > 1 + ROW_SUM_TOLERANCE
        or float(sums.min()) <= 0
    ):
        raise AttentionUnavailableError(
            f"{name}'s {kind} attention for probe {probe!r} is not a probability distribution over keys "
            f"(weights in [{low:.3g}, {high:.3g}], row sums in [{float(sums.min()):.3g}, {float(sums.max()):.3g}]): "
            f"tb-attention stores attention weights only"
        )
