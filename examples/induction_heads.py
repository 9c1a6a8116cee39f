#!/usr/bin/env python3
"""Induction heads forming from scratch, watched with tb-attention.

A 2-layer GPT-2-style model (4 heads per layer, width 64, 64-token vocabulary) is trained from random
initialisation with the Hugging Face Trainer on sequences of random tokens that contain one repeated
segment:

    <bos>  random prefix  SEGMENT  SEGMENT  random suffix        (32 tokens in all)

The segment length (4..12) and its offset are random in every sequence, and the words of a sequence
are distinct apart from the repeated segment. Nothing but the repeated segment is predictable, and
only by looking back at the first copy: "find the earlier occurrence of the current token and
predict the token that came after it". The loss on the second copy first creeps down to what "guess
any word seen before" gets (~2.7 nats); then, within a few hundred steps, it falls off a cliff
while a layer-1 head turns into an induction head (Olsson et al. 2022). Measured with the defaults
(seed 0): cliff at step ~2,700 (2.4 -> 0.8 nats between steps 2,400 and 2,800), head 1.1's induction
score 0.1 -> 0.8 over the same steps. The AttentionCallback records both on
one step axis: `eval/loss_repeated_half` in the Scalars tab and the heads in the Attention tab.

    python examples/induction_heads.py                     # 5000 steps, ~2 minutes on one CPU core
    python examples/induction_heads.py --quick             # a few seconds, same code path (for tests)
    tensorboard --logdir logs

Three settings matter (measured): with transformers' default initializer_range=0.02 no induction head
forms within 6,000 steps, so this uses 0.1; a FIXED segment length would let a layer-0 head that
simply looks back a fixed distance score as an induction head, so the length varies; and with words
drawn with replacement (chance repeats) no induction head formed within 10,000 steps.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

# A readable 64-token vocabulary: 2 special tokens and 62 short words.
BOS, UNK = "<bos>", "<unk>"
WORDS = (
    "red blue green gold gray pink black white "
    "cat dog fox owl bee ant cow pig hen elk yak eel bat "
    "sun moon star rain snow wind fog ice sea sky "
    "one two six ten "
    "big old new hot cold wet dry "
    "run jump swim fly sing eat sit "
    "tree rock leaf rose lake hill road door "
    "box cup hat pen key"
).split()
VOCAB = [BOS, UNK] + WORDS
assert len(VOCAB) == 64 and len(set(VOCAB)) == 64

SEQ_LEN = 32
MIN_SEGMENT, MAX_SEGMENT = 4, 12
INDUCTION_PROBE = "repeated segment"
PROBE_SEGMENT = (5, 8)  # the induction probe repeats 8 words after a 5-word prefix
THREE_SEGMENTS = (4, 5, 6)  # the "three repeats" probe


def induction_probe_text(seed=1234):
    """Like a training sequence: 31 distinct random words (with <bos>: the model's 32 positions), of
    which 8 after a 5-word prefix are repeated once. Induction scores and head types are read from it.

    One segment of one length cannot tell an induction head from a head that looks back a fixed
    distance (7 here); the script cross-checks every induction head on held-out sequences with
    segment lengths 4..12 (heldout_induction_scores), where no fixed lookback can score.
    """
    rng = np.random.default_rng(seed)
    words = rng.permutation(WORDS).tolist()
    prefix, n = PROBE_SEGMENT
    body = words[: 31 - n]
    segment = body[prefix : prefix + n]
    return " ".join(body[: prefix + n] + segment + body[prefix + n :])


def three_repeats_text(seed=4321):
    """31 distinct random words in which segments of 4, 5 and 6 words, in shuffled order, are each
    repeated right after themselves. Training sequences hold ONE repeat: this shows how far the
    learned circuit generalizes (in our runs: the first repeats are copied, the last is not)."""
    rng = np.random.default_rng(seed)
    words = iter(rng.permutation(WORDS).tolist())
    out = [next(words)]
    for n in rng.permutation(THREE_SEGMENTS):
        segment = [next(words) for _ in range(int(n))]
        out += segment + segment
    return " ".join(out)


# Probes, written with the vocabulary above. The first is what the induction head types are read from.
PROBES = {
    INDUCTION_PROBE: induction_probe_text(),
    "three repeats": three_repeats_text(),
    "repeated phrase": "cat sun big tree owl cold road pen cat sun big tree owl cold road pen",
    "no repeat": "cold wind rain snow fog big gray sea sky",
}


# ----------------------------------------------------------------------------- tokenizer
def build_tokenizer():
    """A WordLevel tokenizer over VOCAB that puts <bos> in front; no download."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B:1", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=BOS, unk_token=UNK)


# ----------------------------------------------------------------------------- data
def make_sequences(
    rng,
    n,
    seq_len=SEQ_LEN,
    min_segment=MIN_SEGMENT,
    max_segment=MAX_SEGMENT,
    bos_id=0,
    first_word_id=2,
    vocab_size=len(VOCAB),
):
    """n sequences [BOS] + prefix + segment + segment + suffix of random words.

    The words of a sequence are drawn WITHOUT replacement (distinct), so the repeated segment is the
    only repetition: with words drawn with replacement, chance repeats blur the copy signal and, in
    our runs, no induction head formed within 10,000 steps (with distinct words: ~2,500-4,000).
    Returns (ids int64 [n, seq_len], length int64 [n], start int64 [n]): the first copy of the segment
    is ids[i, start:start+length] and the second copy starts at start+length.
    """
    if not 1 <= min_segment <= max_segment or 2 * max_segment > seq_len - 1:
        raise ValueError(f"segment lengths {min_segment}..{max_segment} do not fit twice in {seq_len - 1} tokens")
    n_words = vocab_size - first_word_id
    if n_words < seq_len - 1:
        raise ValueError(f"{n_words} words are too few for {seq_len - 1} distinct words a sequence")
    ids = np.empty((n, seq_len), dtype=np.int64)
    ids[:, 0] = bos_id
    for lo in range(0, n, 65536):  # a random permutation of the words per sequence, in chunks
        hi = min(n, lo + 65536)
        ids[lo:hi, 1:] = first_word_id + np.argsort(rng.random((hi - lo, n_words)), axis=1)[:, : seq_len - 1]
    length = rng.integers(min_segment, max_segment + 1, size=n)
    # Random offset: the two copies may start anywhere after <bos> as long as both fit.
    start = 1 + (rng.random(n) * (seq_len - 2 * length)).astype(np.int64)
    rows = np.arange(n)[:, None]
    j = np.arange(max_segment)[None, :]
    inside = j < length[:, None]
    src = np.where(inside, start[:, None] + j, 0)
    dst = np.where(inside, start[:, None] + length[:, None] + j, 0)
    r = np.broadcast_to(rows, src.shape)
    ids[r[inside], dst[inside]] = ids[r[inside], src[inside]]
    return ids, length, start


def repeated_target_mask(length, start, seq_len=SEQ_LEN):
    """bool [n, seq_len-1]: which next-token predictions are predictable by copying the first copy.

    Position t predicts token t+1. The second copy occupies [start+length, start+2*length); its first
    token cannot be predicted (it follows the end of the first copy), the other length-1 can.
    """
    target = np.arange(1, seq_len)[None, :]
    second = start[:, None] + length[:, None]
    return (target > second) & (target < second + length[:, None])


class SequenceDataset:
    """A map-style dataset over pre-generated sequences (labels = input ids, as for any causal LM)."""

    def __init__(self, ids):
        import torch

        self.ids = torch.as_tensor(ids, dtype=torch.long)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def collate(batch):
    import torch

    ids = torch.stack([b["input_ids"] for b in batch])
    return {"input_ids": ids, "labels": ids.clone()}


# ----------------------------------------------------------------------------- metrics
def token_nll(logits, labels):
    """Per-token next-token loss [n, seq_len-1] (keeps the eval predictions small)."""
    import torch

    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return -logp.gather(-1, labels[:, 1:, None]).squeeze(-1)


def make_compute_metrics(mask):
    """eval/loss_repeated_half: mean loss on the predictable tokens of the second copy;
    eval/loss_elsewhere: mean loss on every other token (unpredictable: about ln 62 = 4.1)."""

    def compute_metrics(eval_pred):
        nll = np.asarray(eval_pred.predictions, dtype=np.float64)
        if nll.shape != mask.shape:
            raise ValueError(f"eval predictions {nll.shape} do not match the eval set {mask.shape}")
        return {"loss_repeated_half": float(nll[mask].mean()), "loss_elsewhere": float(nll[~mask].mean())}

    return compute_metrics


# ----------------------------------------------------------------------------- summary
def heldout_induction_scores(model, ids, length, start):
    """Each head's induction score on training-like sequences (not a probe): the mean attention from
    each token of the second copy to the token after its first occurrence. -> float [layers, heads]."""
    import torch

    model.eval()
    previous = getattr(model.config, "_attn_implementation", None)
    model.set_attn_implementation("eager")  # sdpa returns no attention weights
    try:
        with torch.no_grad():
            att = model(input_ids=torch.as_tensor(ids), output_attentions=True).attentions
    finally:
        if previous:
            model.set_attn_implementation(previous)
    att = torch.stack(att, dim=1).numpy()  # [n, layers, heads, q, k]
    scores = []
    for i in range(len(ids)):
        q = np.arange(start[i] + length[i], start[i] + 2 * length[i])
        scores.append(att[i][:, :, q, q - length[i] + 1].mean(axis=-1))
    return np.mean(scores, axis=0)


def no_induction_baseline(ids, mask):
    """The loss on the repeated half of a model that knows which words already appeared but not where:
    the mean of ln(number of distinct words seen so far) over the predictable targets. A model without
    an induction head cannot do much better (about 2.7 nats here, against ln 62 = 4.1 for a blind guess).
    """
    ids = np.asarray(ids)
    rows, cols = np.nonzero(mask)
    return float(np.mean([np.log(len(set(ids[r, 1 : c + 1].tolist()))) for r, c in zip(rows, cols)]))


def cliff_step(steps, values, baseline, margin=1.0):
    """First eval step at which the loss on the repeated half is `margin` nats below the induction-free
    baseline (only a model that copies from the right place gets there), or None."""
    below = np.nonzero(np.asarray(values, dtype=np.float64) <= baseline - margin)[0]
    return int(steps[below[0]]) if len(below) else None


def summarize(log_dir, baseline, heldout=None, out=sys.stdout):
    """Print the loss cliff and the heads that became induction heads; return them as a dict."""
    from tb_attention_plugin import read_run

    run = read_run(log_dir)
    probe = run.probe(INDUCTION_PROBE)
    stats = probe.stats()["induction"]  # [snapshots, layers, heads]
    snap_steps = probe.stats_steps()
    induction = [h for h in probe.head_types() if h["type"] == "induction"]
    result = {
        "snapshots": len(snap_steps),
        "induction_heads": induction,
        "cliff_step": None,
        "loss_repeated_half": None,
    }
    print("\n=== Result ===", file=out)
    tag = "eval/loss_repeated_half"
    if tag in run.scalar_tags:
        steps, values = run.scalars(tag)
        result["cliff_step"] = cliff = cliff_step(steps, values, baseline)
        result["loss_repeated_half"] = (float(values[0]), float(values[-1]))
        print(
            f"loss on the repeated half: {values[0]:.2f} at step {steps[0]} -> {values[-1]:.2f} at step "
            f"{steps[-1]} (min {values.min():.2f}); without an induction head a model gets about "
            f"{baseline:.2f}",
            file=out,
        )
        if cliff is None:
            print(
                f"no loss cliff yet: the loss on the repeated half never went below {baseline - 1:.2f} "
                f"(train longer, e.g. --steps 8000, or try another --seed)",
                file=out,
            )
        else:
            print(f"loss cliff: the loss on the repeated half went below {baseline - 1:.2f} at step {cliff}", file=out)
    # A short timeline: the best induction score per layer at a few snapshots.
    layers = stats.shape[1]
    print("\nbest induction score per layer over training:", file=out)
    print("   step  " + "  ".join(f"layer {l}" for l in range(layers)), file=out)
    picks = sorted(set(np.linspace(0, len(snap_steps) - 1, min(12, len(snap_steps))).round().astype(int)))
    for i in picks:
        print(f"{snap_steps[i]:7d}  " + "  ".join(f"{np.nanmax(stats[i, l]):7.2f}" for l in range(layers)), file=out)
    if induction:
        print(
            f"\n{len(induction)} induction head(s) (score >= 0.4 at the last snapshot, step {snap_steps[-1]}):",
            file=out,
        )
        for h in induction:
            check = ""
            if heldout is not None:
                h["heldout_score"] = float(heldout[h["layer"], h["head"]])
                check = f"; {h['heldout_score']:.2f} on held-out sequences"
                if h["heldout_score"] < 0.4:
                    check += " (low: a fixed-lookback head rather than an induction head?)"
            print(
                f"  layer {h['layer']} head {h['head']}: induction score {h['score']:.2f}, "
                f"formed at step {h['formed_step']}{check}",
                file=out,
            )
    else:
        print(
            f"\nno induction head yet (no head scores >= 0.4 on the probe {INDUCTION_PROBE!r}); train longer "
            f"(--steps 8000) or try another --seed",
            file=out,
        )
    result["circuit_heads"] = _circuit_heads(probe, out)
    return result


def _circuit_heads(probe, out):
    """The heads an induction head can read from (Olsson et al. 2022's previous-token head; this model
    grows a duplicate-token head instead: bench/induction_circuit.py ablates it), with when each formed."""
    heads = [h for h in probe.head_types() if h["type"] in ("previous-token", "duplicate-token")]
    for h in heads:
        print(
            f"  layer {h['layer']} head {h['head']}: {h['type']} head (score {h['score']:.2f}), formed at step "
            f"{h['formed_step']}",
            file=out,
        )
    if not any(h["type"] == "previous-token" for h in heads):
        print("  no previous-token head (see bench/induction_circuit.py for what the circuit uses)", file=out)
    return heads


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default 5000; 30 with --quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-dir", default="logs/induction", help="run directory for TensorBoard")
    p.add_argument("--every", type=int, default=None, help="snapshot every N steps (default: steps/100)")
    p.add_argument("--eval-every", type=int, default=None, help="evaluate every N steps (default: steps/50)")
    p.add_argument("--quick", action="store_true", help="a few steps, for a smoke test (seconds)")
    p.add_argument(
        "--save-model",
        metavar="DIR",
        help="also save the trained model and tokenizer there (bench/induction_circuit.py)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: this model is tiny, more threads only add overhead; "
        "measured 20 ms a step with 1 thread, up to 20x slower with 2 on a busy 2-core machine)",
    )
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = 30 if args.quick else 5000
    if args.steps < 1:
        p.error("--steps must be >= 1")
    args.every = args.every or (10 if args.quick else max(1, args.steps // 100))
    args.eval_every = args.eval_every or (15 if args.quick else max(1, args.steps // 50))
    return args


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.time()
    print(f"[1/3] building a 2-layer GPT-2 (random init) and {args.steps} steps of data (seed {args.seed})", flush=True)
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, set_seed
    from transformers.utils import logging as hf_logging

    from tb_attention_plugin import AttentionCallback

    hf_logging.set_verbosity_error()
    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    set_seed(args.seed)
    tok = build_tokenizer()
    batch = 32
    rng = np.random.default_rng(args.seed)
    train_ids, _, _ = make_sequences(rng, args.steps * batch, bos_id=tok.bos_token_id)
    n_eval = 64 if args.quick else 512
    eval_ids, eval_len, eval_start = make_sequences(
        np.random.default_rng(10_000 + args.seed), n_eval, bos_id=tok.bos_token_id
    )
    eval_mask = repeated_target_mask(eval_len, eval_start)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=SEQ_LEN,
        n_embd=64,
        n_layer=2,
        n_head=4,
        initializer_range=0.1,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.bos_token_id,
    )
    model = GPT2LMHeadModel(config)
    output_dir = tempfile.mkdtemp(prefix="induction-trainer-")  # nothing is saved there (save_strategy="no")
    training_args = TrainingArguments(
        output_dir=output_dir,
        max_steps=args.steps,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=128,
        learning_rate=1e-3,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        eval_strategy="steps",
        eval_steps=args.eval_every,
        logging_steps=args.eval_every,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=args.seed,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    callback = AttentionCallback(
        probes=list(PROBES.values()),
        names=list(PROBES),
        every_n_steps=args.every,
        log_dir=args.log_dir,
        max_tokens=SEQ_LEN,
        # In 32 positions the callback's own repeated-random-token probe fits
        # only with 2-5 word segments, shorter than any in training: PROBES
        # holds training-like ones instead.
        induction_probe=False,
        # the model's top-10 next tokens at every position of every probe, from the same forward: on
        # the repeated half they turn right (the true next word, rank 1) at the loss cliff
        predictions=True,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=SequenceDataset(train_ids),
        eval_dataset=SequenceDataset(eval_ids),
        data_collator=collate,
        processing_class=tok,
        compute_metrics=make_compute_metrics(eval_mask),
        preprocess_logits_for_metrics=token_nll,
        callbacks=[callback],
    )
    print(
        f"[2/3] training {args.steps} steps, attention snapshot every {args.every} steps, eval every "
        f"{args.eval_every} -> {args.log_dir}",
        flush=True,
    )
    t0 = time.time()
    try:
        trainer.train()
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)
    train_s = time.time() - t0
    if args.save_model:
        model.save_pretrained(args.save_model)
        tok.save_pretrained(args.save_model)
    print(
        f"[3/3] trained in {train_s:.0f} s ({1000 * train_s / args.steps:.0f} ms a step, probes and eval "
        f"included); reading the run back",
        flush=True,
    )
    held = heldout_induction_scores(model, eval_ids[:128], eval_len[:128], eval_start[:128])
    result = summarize(args.log_dir, no_induction_baseline(eval_ids, eval_mask), held)
    result["heldout_induction"] = held.tolist()
    print("\ninduction score of each head at the end on 128 held-out sequences (segments of 4..12 words):")
    for l, row in enumerate(held):
        print(f"  layer {l}: " + "  ".join(f"{v:.2f}" for v in row))
    print(f"\nOpen the run in TensorBoard:  tensorboard --logdir {os.path.dirname(os.path.abspath(args.log_dir))}")
    result["train_seconds"] = train_s
    print(f"total {time.time() - started:.0f} s", flush=True)
    return result


if __name__ == "__main__":
    main()
