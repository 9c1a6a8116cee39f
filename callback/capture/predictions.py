"""What the model predicts on each probe, from the logits of the same probe pass (no second forward).

- causal language models: the next token at every position (and the probability of the token that
  does come next);
- masked language models: the probe's mask tokens (a relation or plain probe with "mask": [words]
  gets those words masked; the probability of the masked word is kept);
- encoder-decoder models: the next decoder token at every decoder position;
- sequence classifiers: the label distribution of the probe.
Other heads (token classification, a bare encoder) give None: "no prediction head" in the tab.
Top-k is taken on the model's device (torch.topk), so only k ids and probabilities per position come
back to the CPU.
"""

import torch

from .model_access import base_model, causal_self_attention, is_encoder_decoder

MAX_TOP_K = 100


def check_top_k(value):
    """predictions= of the callbacks: None/False/0 (off), True (10) or an integer in 1..MAX_TOP_K."""
    if value is None or value is False or (type(value) is int and value == 0):
        return 0
    if value is True:
        return 10
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise ValueError(f"predictions must be True, False or a top-k between 1 and {MAX_TOP_K}, got {value!r}")
    return value


def mode_of(model, logits):
    """ "next-token", "masked", "label" or None for this model's output logits."""
    if logits is None:
        return None
    if logits.dim() == 2:
        return "label" if "SequenceClassification" in type(base_model(model)).__name__ else None
    name = type(base_model(model)).__name__
    if is_encoder_decoder(model) or causal_self_attention(model) or name.endswith("ForCausalLM"):
        return "next-token" if logits.shape[-1] == getattr(base_model(model).config, "vocab_size", -1) else None
    if name.endswith(("ForMaskedLM", "ForPreTraining")):
        return "masked"
    return None


def _top(log_probs, k):
    values, ids = torch.topk(log_probs, min(k, log_probs.shape[-1]), dim=-1)
    return ids.cpu().tolist(), values.exp().float().cpu().tolist()


def _label_prediction(logits, k):
    """The top-k labels of a sequence classifier (one prediction for the whole probe)."""
    ids, probs = _top(torch.log_softmax(logits.float(), -1), k)
    return {
        "mode": "label",
        "positions": [],
        "top_ids": [ids],
        "top_probs": [probs],
        "target_ids": [None],
        "target_probs": [None],
    }


def batch_predictions(out, model, probes, k, mask_id):
    """[{"mode", "positions", "top_ids", "top_probs", "target_ids", "target_probs"} or None] per probe
    of a batch; ids are turned into text by the probe runner (it has the tokenizer)."""
    logits = getattr(out, "logits", None)
    mode = mode_of(model, logits)
    if mode is None:
        return [None] * len(probes)
    result = []
    for b, p in enumerate(probes):
        if mode == "label":
            result.append(_label_prediction(logits[b], k))
            continue
        tokens = p.decoder_input_ids if is_encoder_decoder(model) else p.input_ids
        if mode == "masked":
            positions = [t for t, i in enumerate(p.input_ids) if i == mask_id]
            targets = [(p.mask_targets or {}).get(t) for t in positions]
        else:
            positions = list(range(len(tokens)))
            targets = [tokens[t + 1] if t + 1 < len(tokens) else None for t in positions]
        if not positions:
            result.append(None)
            continue
        log_probs = torch.log_softmax(logits[b, positions].float(), -1)
        ids, probs = _top(log_probs, k)
        known = [i for i, t in enumerate(targets) if t is not None]
        target_probs = [None] * len(positions)
        if known:
            picked = log_probs[known, [targets[i] for i in known]].exp().cpu().tolist()
            for i, value in zip(known, picked):
                target_probs[i] = value
        result.append(
            {
                "mode": mode,
                "positions": positions,
                "top_ids": ids,
                "top_probs": probs,
                "target_ids": targets,
                "target_probs": target_probs,
            }
        )
    return result


def named(prediction, tokenizer, model):
    """A prediction with its ids turned into tokens (or labels): what the writer stores."""
    if prediction is None:
        return None
    if prediction["mode"] == "label":
        labels = getattr(base_model(model).config, "id2label", None) or {}
        name = lambda i: str(labels.get(i, labels.get(str(i), i)))  # noqa: E731
    else:
        name = lambda i: tokenizer.convert_ids_to_tokens(int(i))  # noqa: E731
    return {
        "mode": prediction["mode"],
        "positions": prediction["positions"],
        "top": [
            [[name(i), float(pr)] for i, pr in zip(ids, probs)]
            for ids, probs in zip(prediction["top_ids"], prediction["top_probs"])
        ],
        "targets": [None if t is None else name(t) for t in prediction["target_ids"]],
        "target_probs": prediction["target_probs"],
    }
