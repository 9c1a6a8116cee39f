"""Entropy collapse against sharp heads, on runs made for it: small causal LMs trained on natural text.

Zhai et al. 2023 call it entropy collapse when attention entropy falls across heads while the
attention logits keep growing, with loss spikes or divergence. Dehghani et al. 2023 and Wortsman et
al. 2023 trace the instability to the growing logits. QK-norm and a lower learning rate prevent it.
A head that becomes sharp while training is healthy is a specialised head, not a collapse.

The runs share the data, the seed and the schedule of snapshots:
- high-lr and mid-lr: a Llama-style model (no QK-norm), a high learning rate (3e-2, 1e-2) and no
  warmup: they should spike or diverge, and the warning should fire at or before the spike;
- low-lr: the same model at 1e-3 with a warmup: no warning;
- qk-norm: a Qwen3-style model (QK-norm) at the high rate: no warning.

The text is the Python standard library's own docstrings (English prose about code, offline, PSF
licence), a byte-level BPE of 2048 tokens trained on it, sequences of 128 tokens from <s>, batches
of 8. Each run
goes through the real Trainer with the AttentionCallback. Afterwards the script reads the log and
reports:
- the loss spikes: a logged loss 1 nat or more above the lowest loss so far;
- the steps at which the collapse rule (tb_attention_plugin/analysis/alerts.py) and the sharp-head
  rule fire;
- each run's largest attention logit;
- the share of heads that are attention sinks (Gu et al. 2024: mean attention to the first token
  above 0.3), with the step where it first reaches half.

    python bench/collapse_runs.py [--steps 800] [--runs high-lr mid-lr low-lr qk-norm] [--out FILE.json]
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from induction_heads import SequenceDataset  # noqa: E402 - the demo's dataset of token sequences

SEQ = 128
VOCAB = 2048
RUNS = {
    "high-lr": {"arch": "llama", "lr": 3e-2, "warmup": 0},
    "mid-lr": {"arch": "llama", "lr": 1e-2, "warmup": 0},
    "low-lr": {"arch": "llama", "lr": 1e-3, "warmup": 100},
    "qk-norm": {"arch": "qwen3", "lr": 3e-2, "warmup": 0},
}


def corpus():
    """The standard library's module and class docstrings, in a fixed order."""
    import pydoc

    texts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sorted(sys.stdlib_module_names):
            if name.startswith("_") or name in ("antigravity", "this", "idlelib", "tkinter", "turtledemo", "test"):
                continue
            try:
                module = importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a module this platform lacks
                continue
            texts.append(pydoc.getdoc(module))
            for attribute in dir(module):
                doc = getattr(getattr(module, attribute, None), "__doc__", None)
                owner = getattr(getattr(module, attribute, None), "__module__", None)
                if isinstance(doc, str) and len(doc) > 200 and owner == name:
                    texts.append(doc)
    return [" ".join(t.split()) for t in texts if t]


def tokenizer_for(texts):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<s>", "<pad>"]))
    # probes start with <s> as every training sequence does
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>")


def sequences(texts, tok):
    """Sequences of SEQ tokens, each <s> and then SEQ - 1 tokens of the running text."""
    ids = np.concatenate([tok(t, add_special_tokens=False)["input_ids"] for t in texts])
    n = len(ids) // (SEQ - 1)
    body = ids[: n * (SEQ - 1)].reshape(n, SEQ - 1)
    return np.concatenate([np.full((n, 1), tok.bos_token_id), body], axis=1)


def build_model(arch, vocab):
    import transformers

    common = dict(
        vocab_size=vocab,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=SEQ,
        tie_word_embeddings=True,
    )
    if arch == "qwen3":
        return transformers.Qwen3ForCausalLM(transformers.Qwen3Config(head_dim=32, **common))
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(**common))


def train(name, setting, tok, data, probes, steps, work):
    import torch
    import transformers

    from tb_attention_plugin import AttentionCallback

    transformers.set_seed(0)
    torch.set_num_threads(1)
    model = build_model(setting["arch"], len(tok))
    args = transformers.TrainingArguments(
        output_dir=os.path.join(work, name, "out"),
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=setting["lr"],
        warmup_steps=setting["warmup"],
        lr_scheduler_type="constant_with_warmup",
        weight_decay=0.0,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    log_dir = os.path.join(work, name, "logs")
    callback = AttentionCallback(probes, every_n_steps=25, log_dir=log_dir, induction_probe=False)
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=SequenceDataset(data), processing_class=tok, callbacks=[callback]
    )
    trainer.train()
    return log_dir


def loss_spikes(steps, losses, jump=1.0):
    """Logged steps whose loss is `jump` nats or more above the lowest loss logged before them."""
    best, spikes = np.inf, []
    for step, loss in zip(steps, losses):
        if np.isfinite(best) and (not np.isfinite(loss) or loss >= best + jump):
            spikes.append(int(step))
        best = min(best, loss) if np.isfinite(loss) else best
    return spikes


def report(log_dir):
    from tb_attention_plugin import read_run
    from tb_attention_plugin.analysis.alerts import alert_intervals

    run = read_run(log_dir)
    probe = run.probe(run.probes[0])
    steps, stats = probe.stats_steps("self"), probe.stats("self")
    loss_steps, losses = run.scalars("train/loss")
    alerts = alert_intervals(steps, stats)
    first = {kind: min((i[0] for a in found for i in a["intervals"]), default=None) for kind, found in alerts.items()}
    sinks = (stats["first"] > 0.3).mean(axis=(1, 2))
    half = np.nonzero(sinks >= 0.5)[0]
    return {
        "loss_first_last": [float(losses[0]), float(losses[-1])],
        "loss_spikes": loss_spikes(loss_steps, losses),
        "first_alert_step": first,
        "alert_heads": {kind: len(found) for kind, found in alerts.items()},
        "max_logit_first_last": [float(np.nanmax(stats["max_logit"][0])), float(np.nanmax(stats["max_logit"][-1]))],
        "max_logit_peak": float(np.nanmax(stats["max_logit"])),
        "sink_share_first_last": [float(sinks[0]), float(sinks[-1])],
        "sinks_half_at": int(steps[half[0]]) if len(half) else None,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    p.add_argument("--work", default=None, help="where the runs go (default: a new temporary directory)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="collapse-runs-")
    texts = corpus()
    held, train_texts = texts[::20], [t for i, t in enumerate(texts) if i % 20]
    tok = tokenizer_for(train_texts)
    data = sequences(train_texts, tok)
    probes = [" ".join(t.split()[:60]) for t in held[:3]]
    print(f"{len(train_texts)} docstrings, {data.size} tokens in {len(data)} sequences; runs in {work}", flush=True)
    results = {}
    for name in args.runs:
        results[name] = dict(RUNS[name], **report(train(name, RUNS[name], tok, data, probes, args.steps, work)))
        print(name, json.dumps(results[name]), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
