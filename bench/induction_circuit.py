"""Which layer-0 head the induction demo's induction head reads, and through which side: its query
or its key.

Olsson et al. 2022 describe a two-head circuit. A previous-token head in layer 0 writes "the token
before me" into each position. The layer-1 induction head's KEY reads it (K-composition), so the key
at j+1 can match a query whose token equals token j. The demo's logs show no previous-token head in
layer 0. They do show a duplicate-token head (L0H2) forming just before the induction head. This
script tests the other route that would explain that: the duplicate-token head writes into each
repeated token where its earlier copy was (its position), and the induction head's QUERY reads it
(Q-composition), so it can match the key one position further on.

The demo is trained, then on 512 held-out sequences:
1. Each layer-0 head is zero-ablated (its slice of the attention output before the output
   projection). The script reports the loss on the repeated half and the induction head's score.
2. Each layer-0 head is ablated on one side of layer 1 only. The layer-1 query, key (the induction
   score) or value (the loss) is computed from the residual stream of a pass without that head.
   Everything else sees the intact stream.

    python bench/induction_circuit.py [--steps 5000] [--seed 0] [--out bench/results/induction_circuit.json]
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import induction_heads as demo  # noqa: E402


def _ablating(model, layer, head):
    """A hook that zeroes one head's slice of layer `layer`'s attention output (before c_proj)."""
    size = model.config.n_embd // model.config.n_head

    def zero(module, args):
        (x,) = args
        x = x.clone()
        x[..., head * size : (head + 1) * size] = 0
        return (x,)

    return model.transformer.h[layer].attn.c_proj.register_forward_pre_hook(zero)


def _residual_after_layer0(model, ids, ablate=None):
    handle = _ablating(model, 0, ablate) if ablate is not None else None
    try:
        with torch.no_grad():
            return model(input_ids=ids, output_hidden_states=True).hidden_states[1]
    finally:
        if handle is not None:
            handle.remove()


def _layer1_pattern(model, query_stream, key_stream):
    """Layer 1's attention [n, heads, T, T], its queries from one residual stream, keys from another
    (GPT-2: q.k / sqrt(d), causal)."""
    block, heads = model.transformer.h[1], model.config.n_head
    size = model.config.n_embd // heads

    def split(stream, part):
        x = block.attn.c_attn(block.ln_1(stream))[..., part * model.config.n_embd : (part + 1) * model.config.n_embd]
        return x.view(*x.shape[:2], heads, size).transpose(1, 2)

    with torch.no_grad():
        scores = split(query_stream, 0) @ split(key_stream, 1).transpose(-1, -2) / size**0.5
        t = scores.shape[-1]
        scores = scores.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
        return scores.softmax(-1).numpy()


def _loss_value_side(model, ids, mask, without):
    """The loss when layer 1's attention VALUES (only) come from the stream `without` a head."""
    block, width = model.transformer.h[1], model.config.n_embd
    with torch.no_grad():
        values = block.attn.c_attn(block.ln_1(without))[..., 2 * width :]

    def swap(module, args, output):
        output = output.clone()
        output[..., 2 * width :] = values
        return output

    handle = block.attn.c_attn.register_forward_hook(swap)
    try:
        return _loss_repeated(model, ids, mask)
    finally:
        handle.remove()


def _induction(pattern, length, start):
    """Each head's mean attention from the second copy to the token after the first copy's match."""
    scores = []
    for i in range(len(pattern)):
        q = np.arange(start[i] + length[i], start[i] + 2 * length[i])
        scores.append(pattern[i][:, q, q - length[i] + 1].mean(axis=-1))
    return np.mean(scores, axis=0)


def _loss_repeated(model, ids, mask, ablate=None):
    handle = _ablating(model, 0, ablate) if ablate is not None else None
    try:
        with torch.no_grad():
            logits = model(input_ids=ids).logits
    finally:
        if handle is not None:
            handle.remove()
    nll = demo.token_nll(logits, ids).numpy()
    return float(nll[mask].mean())


def measure(model, ids, length, start):
    mask = demo.repeated_target_mask(length, start)
    ids = torch.as_tensor(ids)
    intact = _residual_after_layer0(model, ids)
    pattern = _layer1_pattern(model, intact, intact)
    with torch.no_grad():  # the hand-written layer 1 is the model's own
        own = model(input_ids=ids, output_attentions=True).attentions[1].numpy()
    assert np.abs(pattern - own).max() < 1e-5, np.abs(pattern - own).max()
    base = _induction(pattern, length, start)
    head = int(np.argmax(base))
    out = {
        "induction_head": [1, head],
        "intact": {"loss_repeated_half": _loss_repeated(model, ids, mask), "induction": float(base[head])},
        "ablated": {},
    }
    for h in range(model.config.n_head):
        without = _residual_after_layer0(model, ids, ablate=h)
        out["ablated"][f"L0H{h}"] = {
            "loss_repeated_half": _loss_repeated(model, ids, mask, ablate=h),
            "induction": float(_induction(_layer1_pattern(model, without, without), length, start)[head]),
            "induction_query_side": float(_induction(_layer1_pattern(model, without, intact), length, start)[head]),
            "induction_key_side": float(_induction(_layer1_pattern(model, intact, without), length, start)[head]),
            "loss_value_side": _loss_value_side(model, ids, mask, without),
        }
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="induction-circuit-")
    saved = os.path.join(work, "model")
    result = demo.main(
        ["--steps", str(args.steps), "--seed", str(args.seed), "--log-dir", os.path.join(work, "logs")]
        + ["--save-model", saved]
    )
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(saved, attn_implementation="eager").eval()
    rng = np.random.default_rng(20_000 + args.seed)
    ids, length, start = demo.make_sequences(rng, 512, bos_id=0)
    figures = measure(model, ids, length, start)
    figures["types"] = _types(os.path.join(work, "logs"))
    figures["cliff_step"] = result.get("cliff_step")
    _print(figures)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(figures, f, indent=2)
    return figures


def _types(log_dir):
    from tb_attention_plugin import read_run

    probe = read_run(log_dir).probe(demo.INDUCTION_PROBE)
    return [t for t in probe.head_types() if t["type"] in ("previous-token", "duplicate-token", "induction")]


def _print(figures):
    layer, head = figures["induction_head"]
    intact = figures["intact"]
    print(
        f"\ninduction head L{layer}H{head}: score {intact['induction']:.2f}, "
        f"loss on the repeated half {intact['loss_repeated_half']:.2f}"
    )
    print("layer-0 head ablated   loss   induction   query side only   key side only   loss, values only")
    for name, row in figures["ablated"].items():
        print(
            f"{name:>20}   {row['loss_repeated_half']:.2f}   {row['induction']:9.2f}   "
            f"{row['induction_query_side']:15.2f}   {row['induction_key_side']:13.2f}   {row['loss_value_side']:17.2f}"
        )
    for t in figures["types"]:
        print(f"type {t['type']}: L{t['layer']}H{t['head']} formed at step {t['formed_step']} (score {t['score']:.2f})")
    print(f"loss cliff at step {figures['cliff_step']}")


if __name__ == "__main__":
    main()
