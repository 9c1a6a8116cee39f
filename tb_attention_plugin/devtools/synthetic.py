"""Synthetic attention logs, written with the real `AttentionSummaryWriter` (numpy only, no torch).

It lives in the package, not in tests/, because the tests, the benchmarks and the frontend's dev server
(`frontend/dev/serve.py`) all share it, and because it lets anyone try the Attention tab without
training a model:

    python -m tb_attention_plugin.devtools.synthetic LOGDIR [--encdec]    # then: tensorboard --logdir LOGDIR

Two kinds of maps, [layers, heads, query, key] float32 rows summing to 1:
- `SyntheticHeads`: each head blends, over training, from noisy attention into a pattern
  (previous-token, first-token, induction, self, separator, next-token, broad), each at its own step
  (`form`), so the grid visibly changes from step to step and the plugin finds heads that "formed at"
  known steps. The runs of `write_run` / `write_encoder_decoder_run` / `write_demo` use it.
- `DriftingMaps`: softmax of scaled Gaussians that drift slowly at every `next()`, as fine-tuning
  moves real maps, so the writer stores keyframes and small deltas (`write_drifting_run`).

A little over 300 lines by design: the maps, the tokens and the run writers are one generator that
the tests, the benchmarks and the dev server must share whole.
"""

import argparse
import math
import os

import numpy as np

from ..format.metadata import BEST_CHECKPOINT_TAG_PREFIX
from ..writer.summary_writer import AttentionSummaryWriter

# A token the browser tests look for: shown as text everywhere, never parsed as HTML.
XSS_TOKEN = "<img src=x onerror=alert(1)>"
PATTERNS = ["prev", "first", "induction", "self", "broad", "sep", "prev", "induction", "first", "next"]
CROSS_PATTERNS = ["first", "broad", "self", "sep"]
REPEATED_PROBE = "repeated random tokens"
PAIR_PROBE = "sentence pair"


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ------------------------------------------------------------------ maps
class SyntheticHeads:
    """Attention [layers, heads, q, k] as a function of the step: head (l, h) follows `patterns[...]`
    (in `self.patterns`, row-major) and is half-way from its noisy start to its pattern at step
    `self.form[l, h]` (uniform in 0.1..1.2 x `last_step`, so some heads never fully form)."""

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
                self.start[l, h] = softmax(np.where(mask, noise, -1e9))
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
                self.target[l, h] = softmax(logits)
                self.patterns.append(kind)
        self.form = rng.uniform(0.1, 1.2, size=(layers, heads)) * last_step
        self.width = max(1.0, last_step / 20)

    def formation(self, step):
        """[layers, heads]: how far each head has gone from its start (0) to its pattern (1)."""
        return 1 / (1 + np.exp(-(step - self.form) / self.width))

    def at(self, step):
        a = self.formation(step).astype(np.float32)[:, :, None, None]
        return self.start + a * (self.target - self.start)


class DriftingMaps:
    """Attention-like maps [L, H, Q, K]: softmax(scale * gaussian), the gaussian drifting per `next()`."""

    def __init__(self, layers, heads, q, k=None, *, seed=0, scale=3.0, drift=0.03, causal=False):
        self.rng = np.random.default_rng(seed)
        self.logits = self.rng.normal(size=(layers, heads, q, k or q)).astype(np.float32)
        self.scale, self.drift, self.causal = scale, drift, causal

    def next(self):
        self.logits += self.drift * self.rng.normal(size=self.logits.shape).astype(np.float32)
        x = self.scale * self.logits
        if self.causal:
            q, k = x.shape[-2:]
            x = np.where(np.triu(np.ones((q, k), bool), 1), -np.inf, x)
        return softmax(x).astype(np.float32)


# ------------------------------------------------------------------ tokens and curves
def plain_tokens(n, prefix="t"):
    """[CLS] t1 .. t(n-2) [SEP]."""
    return ["[CLS]"] + [f"{prefix}{i}" for i in range(1, n - 1)] + ["[SEP]"]


def repeated_tokens(n, seed=0):
    """<bos>, random tokens, the same tokens again (induction heads have something to find), padding."""
    rng = np.random.default_rng(seed)
    half = max(1, (n - 1) // 2)
    rand = [f"tok{int(x)}" for x in rng.choice(5000, size=half, replace=False)]
    toks = (["<bos>"] + rand + rand)[:n]
    toks += [f"pad{i}" for i in range(n - len(toks))]
    return toks


def pair_tokens():
    """A sentence pair (with XSS_TOKEN in it): tokens, segments, special."""
    a = ["the", "cat", "sat", "on", XSS_TOKEN, "mat", "."]
    b = ["it", "was", "very", "tired", "."]
    tokens = ["[CLS]"] + a + ["[SEP]"] + b + ["[SEP]"]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    special = [t in ("[CLS]", "[SEP]") for t in tokens]
    return tokens, segments, special


ENCODER_TOKENS = [
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
DECODER_TOKENS = ["<pad>", "\u2581Das", "\u2581Haus", "\u2581ist", "\u2581wunderbar", ".", "</s>"]


def loss_curve(steps, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    last = max(steps) or 1
    return [float(scale * (3.0 * math.exp(-s / (0.35 * last)) + 1.0 + 0.05 * rng.standard_normal())) for s in steps]


# ------------------------------------------------------------------ runs
def write_run(
    run_dir,
    *,
    layers=3,
    heads=4,
    tokens=24,
    steps=12,
    every=100,
    seed=0,
    causal=True,
    pair_probe=True,
    scalars=True,
    best_checkpoint=None,
):
    """A decoder-style run: snapshots at steps 0, every, .. (`steps` of them) of a 'repeated random
    tokens' probe (causal unless `causal=False`) and, with `pair_probe`, a non-causal sentence-pair
    probe (segments, [CLS]/[SEP], XSS_TOKEN); `scalars`: train/loss, train/learning_rate, eval/loss
    (every other snapshot step); `best_checkpoint`: an eval step to mark, as the callback does, as
    the checkpoint load_best_model_at_end put back. Returns the snapshot steps."""
    step_list = [i * every for i in range(steps)]
    last = step_list[-1] if step_list else 1
    rep = repeated_tokens(tokens, seed)
    heads_rep = SyntheticHeads(layers, heads, rep, causal=causal, last_step=last, seed=seed)
    if pair_probe:
        ptoks, psegs, pspecial = pair_tokens()
        heads_pair = SyntheticHeads(
            layers, heads, ptoks, causal=False, k_special=pspecial, last_step=last, seed=seed + 1
        )
    with AttentionSummaryWriter(run_dir) as w:
        w.add_probe(REPEATED_PROBE, rep, special=[i == 0 for i in range(len(rep))])
        if pair_probe:
            w.add_probe(PAIR_PROBE, ptoks, segments=psegs, special=pspecial)
        for s in step_list:
            w.add_attention(s, REPEATED_PROBE, heads_rep.at(s), kind="self", causal=causal)
            if pair_probe:
                w.add_attention(s, PAIR_PROBE, heads_pair.at(s), kind="self", causal=False)
        if scalars:
            tr = list(range(10, last + 1, max(1, last // 60)))
            for s, v in zip(tr, loss_curve(tr, seed)):
                w.add_scalar("train/loss", v, s)
                w.add_scalar("train/learning_rate", 1e-3 * min(1.0, s / (0.1 * last + 1)), s)
            ev = step_list[::2]
            eval_loss = dict(zip(ev, loss_curve(ev, seed + 7, 1.1)))
            for s, v in eval_loss.items():
                w.add_scalar("eval/loss", v, s)
            if best_checkpoint is not None:
                w.add_scalar(BEST_CHECKPOINT_TAG_PREFIX + "eval/loss", eval_loss[best_checkpoint], best_checkpoint)
    return step_list


def write_encoder_decoder_run(run_dir, *, layers=2, heads=4, steps=6, every=100, seed=3, scalars=True):
    """A T5-style run: probe 'translation' with kinds encoder, decoder (causal) and cross (decoder
    queries x encoder keys); train/loss at every snapshot step. Returns the snapshot steps."""
    enc, dec = ENCODER_TOKENS, DECODER_TOKENS
    es = [t == "</s>" for t in enc]
    ds = [t in ("<pad>", "</s>") for t in dec]
    step_list = [i * every for i in range(steps)]
    last = step_list[-1] if step_list else 1
    kinds = {
        "encoder": SyntheticHeads(layers, heads, enc, causal=False, k_special=es, last_step=last, seed=seed),
        "decoder": SyntheticHeads(layers, heads, dec, causal=True, k_special=ds, last_step=last, seed=seed + 1),
        "cross": SyntheticHeads(
            layers, heads, dec, enc, causal=False, k_special=es, last_step=last, seed=seed + 2, patterns=CROSS_PATTERNS
        ),
    }
    with AttentionSummaryWriter(run_dir) as w:
        w.add_probe("translation", enc, special=es, decoder_tokens=dec, decoder_special=ds)
        for s in step_list:
            for kind, gen in kinds.items():
                w.add_attention(s, "translation", gen.at(s), kind=kind)
            if scalars:
                w.add_scalar("train/loss", loss_curve([s], seed)[0], s)
    return step_list


def write_drifting_run(
    run_dir,
    steps,
    *,
    layers=2,
    heads=3,
    n_tokens=6,
    probes=("p",),
    seed=0,
    causal=False,
    scalars=True,
    writer=None,
    maps=None,
    close=True,
    drift=0.03,
):
    """Write one snapshot of every probe (`plain_tokens(n_tokens)`, first and last special) per step in
    `steps` from `DriftingMaps` (probe i: seed + i), and train/loss = 1 / (1 + step). Continue a run
    with the returned writer and maps: `write_drifting_run(d, more, writer=w, maps=maps)`.
    Returns (writer, maps); the writer is closed unless `close=False`."""
    w = writer or AttentionSummaryWriter(str(run_dir))
    maps = maps or {}
    for i, name in enumerate(probes):
        if name not in w.probes:
            w.add_probe(name, plain_tokens(n_tokens), special=[1] + [0] * (n_tokens - 2) + [1])
        maps.setdefault(name, DriftingMaps(layers, heads, n_tokens, seed=seed + i, causal=causal, drift=drift))
    for step in steps:
        for name in probes:
            w.add_attention(step, name, maps[name].next())
        if scalars:
            w.add_scalar("train/loss", 1.0 / (1 + step), step)
    if close:
        w.close()
    return w, maps


def write_budget_run(run_dir, probe, tokens, steps, *, layers, heads, choice=None, seed=0):
    """A run of one causal probe of `tokens` (its first one special) under a storage budget: each
    snapshot of `SyntheticHeads` keeps what `choice` (a writer.head_choice.HeadChoice; None: every
    map) keeps, written a layer at a time as the callback writes."""
    maps = SyntheticHeads(layers, heads, tokens, causal=True, last_step=steps[-1], seed=seed)
    with AttentionSummaryWriter(str(run_dir)) as w:
        w.add_probe(probe, tokens, special=[i == 0 for i in range(len(tokens))])
        for step in steps:
            stream = w.open_snapshot(step, probe, "self", causal=True, heads=choice)
            for layer in maps.at(step):
                stream.add_layer(np.ascontiguousarray(layer, dtype=np.float32))
            stream.commit()


def write_demo(logdir, *, layers=3, heads=4, tokens=24, steps=12, every=100, runs=2, encdec=True):
    """Runs to look at in the tab: 'induction' (its best checkpoint marked), 'induction-b', ...
    (`runs` of them, each with a sentence-pair probe) and, with `encdec`, 't5'. Returns the run names."""
    names = []
    for i in range(runs):
        name = "induction" if i == 0 else f"induction-{chr(ord('a') + i)}"
        size = dict(layers=layers, heads=heads, tokens=tokens, steps=steps, every=every)
        evals = list(range(0, steps, 2))  # write_run's eval steps, in snapshots; mark the middle one
        best = evals[(len(evals) - 1) // 2] * every if i == 0 and evals else None
        write_run(os.path.join(str(logdir), name), seed=5 * i, best_checkpoint=best, **size)
        names.append(name)
    if encdec:
        write_encoder_decoder_run(os.path.join(str(logdir), "t5"), steps=steps, every=every)
        names.append("t5")
    return names


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Write synthetic attention logs (heads that form at known steps) for TensorBoard's Attention tab."
    )
    ap.add_argument("logdir")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=24, help="length of the 'repeated random tokens' probe")
    ap.add_argument("--steps", type=int, default=12, help="snapshots per run")
    ap.add_argument("--every", type=int, default=100, help="training steps between snapshots")
    ap.add_argument("--runs", type=int, default=2, help="decoder-style runs")
    ap.add_argument("--encdec", action="store_true", help="also an encoder-decoder run ('t5')")
    args = ap.parse_args(argv)
    names = write_demo(
        args.logdir,
        layers=args.layers,
        heads=args.heads,
        tokens=args.tokens,
        steps=args.steps,
        every=args.every,
        runs=args.runs,
        encdec=args.encdec,
    )
    print(f"wrote runs {', '.join(names)} into {args.logdir}; now: tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
    main()
