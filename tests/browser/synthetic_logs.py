"""Attention logs for the browser tests and the frontend benchmark, written with the project's real
writer (`tb_attention_plugin.AttentionSummaryWriter`) from synthetic attention maps.

Each head blends, over training, from broad attention into a pattern (previous-token, first-token,
induction, self, separator...), each at its own step, so the grid visibly changes from step to step
and heads "form" at known steps. Only numpy and the writer are needed (no torch).
"""

import math

import numpy as np

XSS_TOKEN = "<img src=x onerror=alert(1)>"
PATTERNS = ["prev", "first", "induction", "self", "broad", "sep", "prev", "induction", "first", "next"]


def _softmax_rows(logits):
    logits = logits - logits.max(-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(-1, keepdims=True)


class SyntheticHeads:
    """Attention [layers, heads, q, k] as a function of the step."""

    def __init__(
        self,
        layers,
        heads,
        q_tokens,
        k_tokens=None,
        *,
        causal,
        k_special=None,
        last_step=1000,
        seed=0,
        patterns=PATTERNS,
    ):
        k_tokens = q_tokens if k_tokens is None else k_tokens
        rng = np.random.default_rng(seed)
        Q, K = len(q_tokens), len(k_tokens)
        mask = np.tril(np.ones((Q, K), bool)) if causal else np.ones((Q, K), bool)
        mask[~mask.any(1), 0] = True
        seen, prev_occ = {}, np.full(Q, -1)
        for i, t in enumerate(q_tokens):
            if t in seen:
                prev_occ[i] = seen[t]
            seen.setdefault(t, i)
        seps = [j for j, s in enumerate(k_special or []) if s and j > 0] or [K - 1]
        self.start = np.empty((layers, heads, Q, K), np.float32)
        self.target = np.empty((layers, heads, Q, K), np.float32)
        self.patterns = []
        for l in range(layers):
            for h in range(heads):
                kind = patterns[(l * heads + h * 7 + seed) % len(patterns)]
                noise = rng.normal(0, 1.0, size=(Q, K))
                self.start[l, h] = _softmax_rows(np.where(mask, noise, -1e9))
                logits = np.where(mask, 0.3 * rng.normal(size=(Q, K)), -1e9)
                for i in range(Q):
                    j = {
                        "prev": max(0, i - 1),
                        "next": min(K - 1, i + 1),
                        "first": 0,
                        "self": min(i, K - 1),
                        "sep": seps[0],
                        "induction": prev_occ[i] + 1 if prev_occ[i] >= 0 else max(0, i - 1),
                    }.get(kind, -1)
                    if j >= 0 and mask[i, min(j, K - 1)]:
                        logits[i, min(j, K - 1)] += 6.0
                self.target[l, h] = _softmax_rows(logits)
                self.patterns.append(kind)
        self.form = rng.uniform(0.1, 1.2, size=(layers, heads)) * last_step
        self.width = max(1.0, last_step / 20)

    def at(self, step):
        a = 1 / (1 + np.exp(-(step - self.form) / self.width))
        a = a.astype(np.float32)[:, :, None, None]
        return self.start + a * (self.target - self.start)


def repeated_tokens(n, seed=0):
    rng = np.random.default_rng(seed)
    half = max(1, (n - 1) // 2)
    rand = [f"tok{int(x)}" for x in rng.choice(5000, size=half, replace=False)]
    toks = (["<bos>"] + rand + rand)[:n]
    toks += [f"pad{i}" for i in range(n - len(toks))]
    return toks


def pair_tokens():
    a = ["the", "cat", "sat", "on", XSS_TOKEN, "mat", "."]
    b = ["it", "was", "very", "tired", "."]
    tokens = ["[CLS]"] + a + ["[SEP]"] + b + ["[SEP]"]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    special = [t in ("[CLS]", "[SEP]") for t in tokens]
    return tokens, segments, special


def loss_curve(steps, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    last = max(steps) or 1
    return [float(scale * (3.0 * math.exp(-s / (0.35 * last)) + 1.0 + 0.05 * rng.standard_normal())) for s in steps]


def write_run(
    run_dir,
    *,
    layers=3,
    heads=4,
    tokens=24,
    steps=12,
    every=100,
    seed=0,
    pair_probe=True,
    scalars=True,
    best_checkpoint=None,
):
    """A decoder-style run: a causal 'repeated random tokens' probe (+ a sentence-pair probe);
    `best_checkpoint`: an eval step to mark as the checkpoint load_best_model_at_end put back."""
    from tb_attention_plugin import AttentionSummaryWriter

    step_list = [i * every for i in range(steps)]
    last = step_list[-1] if step_list else 1
    rep = repeated_tokens(tokens, seed)
    heads_rep = SyntheticHeads(layers, heads, rep, causal=True, last_step=last, seed=seed)
    if pair_probe:
        ptoks, psegs, pspecial = pair_tokens()
        heads_pair = SyntheticHeads(
            layers, heads, ptoks, causal=False, k_special=pspecial, last_step=last, seed=seed + 1
        )
    with AttentionSummaryWriter(run_dir) as w:
        w.add_probe("repeated random tokens", rep, special=[i == 0 for i in range(len(rep))])
        if pair_probe:
            w.add_probe("sentence pair", ptoks, segments=psegs, special=pspecial)
        for s in step_list:
            w.add_attention(s, "repeated random tokens", heads_rep.at(s), kind="self", causal=True)
            if pair_probe:
                w.add_attention(s, "sentence pair", heads_pair.at(s), kind="self", causal=False)
        if scalars:
            tr = list(range(10, last + 1, max(1, last // 60)))
            for s, v in zip(tr, loss_curve(tr, seed)):
                w.add_scalar("train/loss", v, s)
                w.add_scalar("train/learning_rate", 1e-3 * min(1.0, s / (0.1 * last + 1)), s)
            ev = step_list[::2]
            eval_loss = dict(zip(ev, loss_curve(ev, seed + 7, 1.1)))
            for s, v in eval_loss.items():
                w.add_scalar("eval/loss", v, s)
            if best_checkpoint is not None:  # as the callback marks it under load_best_model_at_end
                from tb_attention_plugin.format import BEST_CHECKPOINT_TAG_PREFIX

                w.add_scalar(BEST_CHECKPOINT_TAG_PREFIX + "eval/loss", eval_loss[best_checkpoint], best_checkpoint)
    return step_list


def write_encoder_decoder_run(run_dir, *, steps=6, every=100, seed=3):
    from tb_attention_plugin import AttentionSummaryWriter

    enc = [
        "\u2581translate",
        "\u2581English",
        "\u2581to",
        "\u2581German:",
        "\u2581The",
        "\u2581house",
        "\u2581is",
        "\u2581wonderful",
        ".",
        "</s>",
    ]
    dec = ["<pad>", "\u2581Das", "\u2581Haus", "\u2581ist", "\u2581wunderbar", ".", "</s>"]
    es = [t == "</s>" for t in enc]
    ds = [t in ("<pad>", "</s>") for t in dec]
    step_list = [i * every for i in range(steps)]
    last = step_list[-1]
    kinds = {
        "encoder": SyntheticHeads(2, 4, enc, causal=False, k_special=es, last_step=last, seed=seed),
        "decoder": SyntheticHeads(2, 4, dec, causal=True, k_special=ds, last_step=last, seed=seed + 1),
        "cross": SyntheticHeads(
            2,
            4,
            dec,
            enc,
            causal=False,
            k_special=es,
            last_step=last,
            seed=seed + 2,
            patterns=["first", "broad", "self", "sep"],
        ),
    }
    with AttentionSummaryWriter(run_dir) as w:
        w.add_probe("translation", enc, special=es, decoder_tokens=dec, decoder_special=ds)
        for s in step_list:
            for kind, gen in kinds.items():
                w.add_attention(s, "translation", gen.at(s), kind=kind)
            w.add_scalar("train/loss", loss_curve([s], seed)[0], s)
    return step_list
