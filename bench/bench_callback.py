"""Callback benchmarks on the real MiniLM (CPU), all ratios measured in one run.

1. training wall time with AttentionCallback at defaults / without it (same run, alternating);
2. during a fine-tune with a snapshot every 10 steps: the time the training thread is blocked writing
   one step's snapshots / that step's probe forward pass (encoding runs on the writer's background
   thread: its cost per weight is reported too), and bytes on disk per stored attention weight.

    python bench/bench_callback.py [--steps 60] [--repeats 2] [--out bench/results/callback.json]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from minilm_setup import PROBES, load_minilm, sentiment_dataset  # noqa: E402


def train(steps, with_callback, log_dir, seed=0):
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from tb_attention_plugin import AttentionCallback

    torch.manual_seed(seed)
    model, tok = load_minilm()
    data = sentiment_dataset(tok, 16 * steps, seed=seed)
    args = TrainingArguments(
        output_dir=log_dir,
        max_steps=steps,
        per_device_train_batch_size=16,
        learning_rate=5e-5,
        logging_steps=10,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=seed,
    )
    callbacks = [_HookTimer(AttentionCallback(PROBES, log_dir=os.path.join(log_dir, "run")))] if with_callback else []
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tok,
        data_collator=DataCollatorWithPadding(tok),
        callbacks=callbacks,
    )
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    return elapsed, (callbacks[0] if callbacks else None)


def _HookTimer(callback):
    """Wraps every hook of a callback instance to add up the time spent inside it."""
    callback.hook_seconds = 0.0
    for name in (
        "on_init_end",
        "on_train_begin",
        "on_step_begin",
        "on_step_end",
        "on_epoch_end",
        "on_log",
        "on_train_end",
    ):
        original = getattr(callback, name)

        def timed(*a, _original=original, **k):
            t = time.perf_counter()
            try:
                return _original(*a, **k)
            finally:
                callback.hook_seconds += time.perf_counter() - t

        setattr(callback, name, timed)
    return callback


def overhead(steps, repeats):
    """Alternating runs with and without the callback (wall time ratio of medians), and inside each run
    with the callback the time spent in its hooks (a ratio that machine noise cannot blur)."""
    times = {False: [], True: []}
    hook_ratios = []
    n_every = None
    for r in range(repeats):
        for with_cb in (False, True) if r % 2 == 0 else (True, False):
            with tempfile.TemporaryDirectory() as d:
                t, cb = train(steps, with_cb, d)
                times[with_cb].append(t)
                if cb is not None:
                    n_every = cb.every_n_steps
                    hook_ratios.append(t / (t - cb.hook_seconds))
                print(
                    f"  run {r} callback={with_cb}: {t:.1f} s"
                    + (f" (in callback hooks: {cb.hook_seconds:.2f} s)" if cb is not None else ""),
                    flush=True,
                )
    ratio = statistics.median(times[True]) / statistics.median(times[False])
    return {
        "steps": steps,
        "repeats": repeats,
        "seconds_without": times[False],
        "seconds_with": times[True],
        "every_n_steps_chosen": n_every,
        "ratio": ratio,
        "in_run_ratio": statistics.median(hook_ratios),
    }


class _Timers:
    """Times, during a real run, each snapshot's probe pass, the part of it the training thread spends
    writing (the sink: each layer's input checks and hand-over, then the commit; encoding runs on the
    writer's background thread), and that background encoding per stored weight. The pass streams,
    so the forward is the snapshot's time less the writing inside it."""

    def __init__(self):
        import tb_attention_plugin.callback.probe_runner as runner_module
        from tb_attention_plugin.callback.layer_sinks import WritingSink
        from tb_attention_plugin.writer.snapshot_stream import SnapshotStream

        self.forward, self.blocked, self.encode = [], [], []  # seconds; encode: (seconds, weights)
        self._writing = 0.0
        self._patches = [
            (runner_module.ProbeRunner, "snapshot"),
            (WritingSink, "layer"),
            (WritingSink, "commit"),
            (SnapshotStream, "_encode"),
        ]
        self._saved = [getattr(obj, name) for obj, name in self._patches]
        snapshot, layer, commit, encode = self._saved

        def writing(method):
            def timed(sink, *a, **k):  # on the training thread
                t = time.perf_counter()
                try:
                    return method(sink, *a, **k)
                finally:
                    self._writing += time.perf_counter() - t

            return timed

        def timed_snapshot(runner, *a, **k):  # one step's snapshots of every probe
            self._writing = 0.0
            t = time.perf_counter()
            out = snapshot(runner, *a, **k)
            total = time.perf_counter() - t
            self.blocked.append(self._writing)
            self.forward.append(total - self._writing)
            return out

        def timed_encode(stream, index, layer):  # one layer, on the background thread
            t = time.perf_counter()
            out = encode(stream, index, layer)
            self.encode.append((time.perf_counter() - t, layer.size))
            return out

        runner_module.ProbeRunner.snapshot = timed_snapshot
        WritingSink.layer, WritingSink.commit = writing(layer), writing(commit)
        SnapshotStream._encode = timed_encode

    def restore(self):
        for (obj, name), value in zip(self._patches, self._saved):
            setattr(obj, name, value)

    def summary(self):
        # skip the step-0 pass: it includes one-off warm-up (eager switch, first allocation)
        f, b = statistics.median(self.forward[1:]), statistics.median(self.blocked[1:])
        seconds, weights = (sum(x) for x in zip(*self.encode))
        return {
            "snapshots": len(self.blocked),
            "probe_forward_s": f,
            "blocked_s": b,
            "blocked_ratio": b / f,
            "encode_ns_per_weight": 1e9 * seconds / weights,
        }


def bytes_and_encode_cost(steps, every):
    """Fine-tune with snapshots every `every` steps: bytes on disk per stored weight; the time the
    training thread is blocked writing each step's snapshots against that step's probe forward pass;
    the background encoding's cost per weight."""
    from tb_attention_plugin import AttentionCallback, read_run
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        model, tok = load_minilm()
        run_dir = os.path.join(d, "run")
        cb = AttentionCallback(PROBES, every_n_steps=every, log_dir=run_dir)
        timers = _Timers()
        args = TrainingArguments(
            output_dir=d,
            max_steps=steps,
            per_device_train_batch_size=16,
            learning_rate=5e-5,
            report_to="none",
            use_cpu=True,
            save_strategy="no",
            disable_tqdm=True,
            logging_steps=10,
        )
        Trainer(
            model=model,
            args=args,
            train_dataset=sentiment_dataset(tok, 16 * steps),
            processing_class=tok,
            data_collator=DataCollatorWithPadding(tok),
            callbacks=[cb],
        ).train()
        timers.restore()
        run = read_run(run_dir)
        weights = snapshot_bytes = 0
        for name in run.probes:
            p = run.probe(name)
            for kind in p.kinds:
                for step in p.steps_of(kind):
                    weights += p.quantized(step, kind).size
                    snapshot_bytes += sum(len(b) for b in p._snapshots[kind][step])
        file_bytes = sum(os.path.getsize(os.path.join(run_dir, f)) for f in os.listdir(run_dir))
        drift = run.probe(run.probes[0]).stats()["drift"][-1].mean(axis=1)
        n_snapshots = len(run.probe(run.probes[0]).steps)
    return {
        "bytes": {
            "steps": steps,
            "every": every,
            "snapshots": n_snapshots,
            "weights": weights,
            "snapshot_bytes_per_weight": snapshot_bytes / weights,
            "file_bytes_per_weight": file_bytes / weights,
            "final_drift_by_layer": [round(float(x), 3) for x in drift],
        },
        "encode": timers.summary(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60, help="training steps per overhead run")
    ap.add_argument("--repeats", type=int, default=2, help="alternating pairs of runs")
    ap.add_argument("--bytes-steps", type=int, default=200)
    ap.add_argument("--only", choices=["overhead", "bytes"], action="append")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "callback.json"))
    a = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    todo = a.only or ["bytes", "overhead"]
    result = {}
    if "bytes" in todo:
        result.update(bytes_and_encode_cost(a.bytes_steps, every=10))
        print("bytes per weight:", json.dumps(result["bytes"]), flush=True)
        print("blocked writing / probe forward, encoding per weight:", json.dumps(result["encode"]), flush=True)
    if "overhead" in todo:
        result["overhead"] = overhead(a.steps, a.repeats)
        print("wall time with / without callback:", json.dumps(result["overhead"]), flush=True)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
