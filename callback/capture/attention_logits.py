"""The largest attention logit of each head: the number QK-norm and QK-clip users watch.

Dehghani et al. 2023 and Wortsman et al. 2023 trace attention-entropy collapse and loss divergence to
attention logits that keep growing. The logit is what the softmax is given, before the mask:
q.k x scaling, soft-capped where the model soft-caps (Gemma 2). Weights cannot give it back (a softmax
forgets a shift), so it is recomputed from the query and key the model's own eager function was given.

Only the row maxima are needed. Without an additive bias (the mask only 0 or -inf), the key a row's
largest weight falls on is the key of its largest logit, so one dot product per row gives it:
O(rows x head size), not another pass over every (row, key). A mask that adds a bias (T5, ALiBi) has
every logit recomputed, a few rows at a time.

Whether a model's attention is softmax(q.k x scaling) at all is checked once, before training, on the
short pass that learns the layers (`explains`): a model whose eager function computes something else
logs why and stores no logit (NaN), never a wrong one.
"""

import inspect
import typing

import torch

ROWS_AT_ONCE = 1 << 22  # logits recomputed at a time (bias masks only): [batch, heads, rows, keys]
MATCH_TOLERANCE = 1 / 510  # the recomputed softmax against the model's weights (half the 1/255 bound)


class LogitInputs(typing.NamedTuple):
    """What one attention call was given: query [B, H, Q, d], key [B, KV, K, d], the additive mask
    (None, bool, or float [B, 1 or H, Q, K]), the scaling, the soft-cap (0: none)."""

    query: torch.Tensor
    key: torch.Tensor
    mask: typing.Optional[torch.Tensor]
    scaling: float
    softcap: float


def logit_inputs(eager, module, query, key, value, attention_mask, args, kwargs):
    """The LogitInputs of a call of the model's eager function `eager` (its own defaults applied), or
    None for a call its signature does not explain (then no logit is measured; the pass goes on)."""
    try:
        bound = inspect.signature(eager).bind(module, query, key, value, attention_mask, *args, **kwargs)
    except (TypeError, ValueError):
        return None
    scaling, softcap = bound.arguments.get("scaling"), bound.arguments.get("softcap")
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    return LogitInputs(query, key, attention_mask, float(scaling), float(softcap or 0.0))


def row_max_logits(inputs, weights):
    """float32 [B, H, Q]: each query row's largest logit over the keys it may see."""
    if _adds_a_bias(inputs.mask):
        return _by_recomputing(inputs)
    batch, heads = weights.shape[:2]
    kv_heads = inputs.key.shape[1]
    best = weights.argmax(dim=-1)  # [B, H, Q]: the key of each row's largest weight
    b = torch.arange(batch, device=best.device)[:, None, None]
    h = (torch.arange(heads, device=best.device) // (heads // kv_heads))[None, :, None]
    keys = inputs.key[b, h, best]  # [B, H, Q, d]
    logits = (inputs.query.float() * keys.float()).sum(dim=-1) * inputs.scaling
    return _softcapped(logits, inputs.softcap)


def explains(inputs, weights):
    """Whether softmax(q.k x scaling, soft-capped, + mask) is the model's `weights` (within
    MATCH_TOLERANCE), so that its logits are these."""
    logits = _logits(inputs, 0, inputs.query.shape[2])
    if inputs.mask is not None:
        logits = logits + _float_mask(inputs.mask, logits.dtype)
    recomputed = torch.softmax(logits, dim=-1)
    seen = torch.isfinite(logits).any(dim=-1)  # rows with no key to see are the model's business
    return bool(((recomputed - weights.float()).abs().amax(dim=-1) <= MATCH_TOLERANCE)[seen].all())


def _logits(inputs, r0, r1):
    query = inputs.query[:, :, r0:r1].float()
    key = inputs.key.float()
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
    return _softcapped(query @ key.transpose(-1, -2) * inputs.scaling, inputs.softcap)


def _by_recomputing(inputs):
    batch, heads, rows = inputs.query.shape[:3]
    keys = inputs.key.shape[2]
    step = max(1, ROWS_AT_ONCE // max(1, batch * heads * keys))
    out = torch.empty(batch, heads, rows, device=inputs.query.device)
    for r0 in range(0, rows, step):
        logits = _logits(inputs, r0, r0 + step)
        mask = inputs.mask if inputs.mask.shape[-2] == 1 else inputs.mask[..., r0 : r0 + step, :]
        hidden = _hidden(mask)
        out[:, :, r0 : r0 + step] = logits.masked_fill(hidden, float("-inf")).amax(dim=-1)
    return out


def _softcapped(logits, softcap):
    return torch.tanh(logits / softcap) * softcap if softcap else logits


def _hidden(mask):
    """Where the mask hides a key (bool masks: True means visible)."""
    if mask.dtype == torch.bool:
        return ~mask
    return mask <= torch.finfo(mask.dtype).min / 2


def _float_mask(mask, dtype):
    base = torch.zeros(mask.shape, dtype=dtype, device=mask.device) if mask.dtype == torch.bool else mask.to(dtype)
    return base.masked_fill(_hidden(mask), float("-inf"))


def _adds_a_bias(mask):
    """Whether the mask adds anything but 0 or -inf (a position bias), so the largest weight need not
    be on the largest logit."""
    if mask is None or mask.dtype == torch.bool:
        return False
    return bool(((mask != 0) & ~_hidden(mask)).any())
