"""Run the probes through the model without changing training in any way.

The pass switches to eager attention (sdpa/flash return no weights), eval mode and no_grad, and
restores afterwards the attention implementation, every module's train/eval flag and the CPU and
CUDA RNG states, so a run with the callback trains bit-identically to one without it.
"""
import contextlib

import numpy as np
import torch


class AttentionUnavailableError(RuntimeError):
    """The model cannot return attention weights."""


def _attn_implementation(model):
    return getattr(getattr(model, "config", None), "_attn_implementation", None)


@contextlib.contextmanager
def probing_mode(model):
    """eval + no_grad + eager attention + RNG untouched, restored on exit (also on error)."""
    modes = [(m, m.training) for m in model.modules()]
    previous = _attn_implementation(model)
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    switched = False
    try:
        if previous not in (None, "eager"):
            if not hasattr(model, "set_attn_implementation"):
                raise AttentionUnavailableError(
                    f"{type(model).__name__} uses {previous!r} attention and cannot switch to 'eager', "
                    f"which is needed to read attention weights; load it with attn_implementation='eager'")
            try:
                model.set_attn_implementation("eager")
            except Exception as e:
                raise AttentionUnavailableError(
                    f"{type(model).__name__} cannot switch to eager attention to return attention "
                    f"weights: {e}") from e
            switched = True
        model.eval()
        with torch.no_grad():
            yield
    finally:
        if switched:
            model.set_attn_implementation(previous)
        for module, training in modes:
            module.training = training
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def _device_of(model):
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _pad(rows, pad_id):
    """Right-pad lists of ids -> (ids [B, T], mask [B, T]) tensors; real rows/columns stay exact."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[b, :len(r)] = 1
    return ids, mask


def _accepts(model, name):
    import inspect
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _stack(layers, b, q, k):
    """Tuple of per-layer [B, H, Q', K'] tensors -> float32 numpy [L, H, q, k] of batch item b."""
    return np.stack([layer[b, :, :q, :k].float().cpu().numpy() for layer in layers])


def run_probes(model, probes, pad_id=0):
    """Probes -> [{kind: float32 [L, H, Q, K]}] (one dict per probe), one batched forward pass."""
    encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
    device = _device_of(model)
    ids, mask = _pad([p.input_ids for p in probes], pad_id)
    kwargs = dict(input_ids=ids.to(device), attention_mask=mask.to(device), output_attentions=True,
                  return_dict=True)
    if all(p.token_type_ids is not None for p in probes) and _accepts(model, "token_type_ids"):
        kwargs["token_type_ids"] = _pad([p.token_type_ids for p in probes], 0)[0].to(device)
    if encoder_decoder:
        dec_ids, dec_mask = _pad([p.decoder_input_ids for p in probes], pad_id)
        kwargs.update(decoder_input_ids=dec_ids.to(device), decoder_attention_mask=dec_mask.to(device))
    if _accepts(model, "use_cache") or encoder_decoder:
        kwargs["use_cache"] = False
    with probing_mode(model):
        out = model(**kwargs)
    result = []
    for b, p in enumerate(probes):
        n = len(p.input_ids)
        if encoder_decoder:
            m = len(p.decoder_input_ids)
            kinds = {"encoder": _stack(_check(out, "encoder_attentions", model), b, n, n),
                     "decoder": _stack(_check(out, "decoder_attentions", model), b, m, m),
                     "cross": _stack(_check(out, "cross_attentions", model), b, m, n)}
        else:
            kinds = {"self": _stack(_check(out, "attentions", model), b, n, n)}
        result.append(kinds)
    return result


def _check(out, field, model):
    value = getattr(out, field, None)
    if not value or any(v is None for v in value):
        raise AttentionUnavailableError(
            f"{type(model).__name__} returned no {field} with output_attentions=True "
            f"(attention implementation {_attn_implementation(model)!r}); tb-attention needs a model "
            f"that can return attention weights")
    return value
