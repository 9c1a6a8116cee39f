"""Peak extra host memory and time of one snapshot of a Llama-shaped model (CPU, a tiny head size but in
8b-width-512),
against one layer's attention of one probe and against the same model's eager forward; and the
bytes each snapshot writes against its share of the storage budget (the default attention_budget over
the automatic schedule's planned snapshots, or --budget). With --neurons LAYER.HEAD,..., every snapshot
also takes the neuron view's query and key vectors of those heads (neurons={"heads": ..., "every": 1}).

Each case runs in fresh processes (peak RSS only grows): one builds the model and takes snapshots
through AttentionRecorder (the Trainer callback's runner, streaming and writer), one builds it and runs
its eager forward on the same tokens without attention output. Both report the peak resident memory
above the process's size once the model is built and the callback's modules imported, so the ratios
compare like with like. The time ratio
comes from a third process that alternates the eager forward and a snapshot (a shared machine's load
drifts over minutes): the fastest of each, and the spread of the pairs' ratios.

On a GPU (--device cuda --dtype bfloat16 --attention sdpa or flash_attention_2) the model runs there in
that dtype; each row also gives the peak extra device memory (torch.cuda.max_memory_allocated above
the model) over one layer's attention of one probe, and the times are taken after a synchronize.

    python bench/bench_capture_memory.py [--cases 8b-512,70b-512] [--out bench/results/capture-memory.json]
    python bench/bench_capture_memory.py --device cuda --dtype bfloat16 --attention sdpa --cases 8b-2048
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

CASES = {  # name: (layers, heads, kv heads, tokens, probes[, head size]; HEAD_DIM when left out)
    "bert-128x8": (12, 12, 12, 128, 8),
    "8b-512": (32, 32, 8, 512, 1),
    "8b-1024": (32, 32, 8, 1024, 1),
    "8b-1024x4": (32, 32, 8, 1024, 4),
    "8b-2048": (32, 32, 8, 2048, 1),
    "8b-4096": (32, 32, 8, 4096, 1),
    "70b-512": (80, 64, 8, 512, 1),
    "70b-2048": (80, 64, 8, 2048, 1),
    # Llama-8B's real width (head size 128, hidden 4,096; its MLP 4x that, Llama's is 3.5x), 4 of its 32
    # layers: the time ratio where the forward does a real model's work per attention weight (neither
    # ratio depends on the number of layers)
    "8b-width-512": (4, 32, 8, 512, 1, 128),
}
# a tiny head size: the forward costs little besides the attention weights, whose cost is measured
HEAD_DIM = 4
SNAPSHOTS = 3  # the third is the first whose every layer has a previous snapshot's deltas and sketches
PAIRS = 3
# where and how the model runs: --device, --dtype, --attention (the CPU defaults: float32, sdpa)
PLACE = {"device": "cpu", "dtype": "float32", "attention": "sdpa"}


def _peak_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _case(case):
    """(layers, heads, kv heads, tokens, probes, head size) of a case."""
    layers, heads, kv, tokens, count, *head_dim = CASES[case]
    return layers, heads, kv, tokens, count, (head_dim or [HEAD_DIM])[0]


def _model(layers, heads, kv, tokens, head_dim=HEAD_DIM):
    import torch
    import transformers

    sys.path.insert(0, os.path.dirname(__file__))
    from bench_scale_callback import word_tokenizer

    torch.manual_seed(0)
    tok = word_tokenizer(1000)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=head_dim * heads,
        intermediate_size=4 * head_dim * heads,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=2 * tokens,
    )
    model = transformers.LlamaForCausalLM._from_config(
        config, attn_implementation=PLACE["attention"], dtype=getattr(torch, PLACE["dtype"])
    )
    return model.to(PLACE["device"]), tok


def _sync():
    """Wait for the device (timings of a GPU's asynchronous work)."""
    import torch

    if PLACE["device"] != "cpu":
        torch.cuda.synchronize()


def _device_base():
    """The device memory held once the model is built (None on the CPU); its peak counted from here."""
    import torch

    if PLACE["device"] == "cpu":
        return None
    _sync()
    torch.cuda.reset_peak_memory_stats()
    return torch.cuda.memory_allocated()


def _device_peak_extra(base):
    import torch

    return None if base is None else torch.cuda.max_memory_allocated() - base


def _probes(tokens, count):
    # one word per token: `tokens` words (the tokenizer adds no special tokens)
    return [" ".join(f"w{(p * 37 + i * 11) % 1000}" for i in range(tokens)) for p in range(count)]


def _neurons(heads):
    """--neurons "0.0,31.7" -> the neurons= option capturing those heads at every snapshot, or None."""
    if not heads:
        return None
    return {"heads": [tuple(int(x) for x in lh.split(".")) for lh in heads.split(",")], "every": 1}


def _recorder(model, tok, probes, log_dir, tokens, budget, neurons):
    from tb_attention_plugin import AttentionRecorder

    return AttentionRecorder(
        model,
        tok,
        probes,
        log_dir,
        max_tokens=tokens,
        induction_probe=False,
        attention_budget=budget,
        neurons=_neurons(neurons),
    )


def paired_times(case, budget=None, neurons=None, pairs=PAIRS):
    """Snapshot time / eager forward time measured in one process, alternating (forward, snapshot)
    `pairs` times after a first snapshot: the machine's load drifts over minutes, and the two
    processes of `child` may see different loads. -> (min snapshot s, min forward s)."""
    import torch

    layers, heads, kv, tokens, count, head_dim = _case(case)
    model, tok = _model(layers, heads, kv, tokens, head_dim)
    probes = _probes(tokens, count)
    ids = tok(probes, return_tensors="pt")["input_ids"].to(PLACE["device"])
    snapshots, forwards = [], []
    with tempfile.TemporaryDirectory() as d:
        recorder = _recorder(model, tok, probes, d, tokens, budget, neurons)
        recorder.snapshot(0)  # the first snapshot (no drift to measure yet) is not timed
        recorder.writer.flush()
        for step in range(1, pairs + 1):
            model.set_attn_implementation("eager")
            with torch.no_grad():
                _sync()
                started = time.perf_counter()
                model(input_ids=ids, use_cache=False)
                _sync()
                forwards.append(time.perf_counter() - started)
            model.set_attn_implementation(PLACE["attention"])
            started = time.perf_counter()
            recorder.snapshot(step)
            recorder.writer.flush()
            _sync()
            snapshots.append(time.perf_counter() - started)
        recorder.close()
    print(json.dumps({"snapshot_seconds": snapshots, "forward_seconds": forwards}))


def child(kind, case, budget=None, neurons=None):
    """One measurement in this process: 'snapshot', 'forward' or 'paired' (paired_times)."""
    if kind == "paired":
        paired_times(case, budget, neurons)
        return
    import torch

    # imported by both before the baseline: the callback's imports (transformers' Trainer modules, peft
    # where installed: ~22 MB) are paid once per process, whatever the model, not per snapshot
    import tb_attention_plugin.callback  # noqa: F401

    layers, heads, kv, tokens, count, head_dim = _case(case)
    model, tok = _model(layers, heads, kv, tokens, head_dim)
    probes = _probes(tokens, count)
    base, device_base = _peak_bytes(), _device_base()
    times = []
    stored = 0
    if kind == "forward":
        model.set_attn_implementation("eager")
        model.eval()
        ids = tok(probes, return_tensors="pt")["input_ids"].to(PLACE["device"])
        with torch.no_grad():
            for _ in range(SNAPSHOTS):
                started = time.perf_counter()
                model(input_ids=ids, use_cache=False)
                _sync()
                times.append(time.perf_counter() - started)
    else:
        with tempfile.TemporaryDirectory() as d:
            recorder = _recorder(model, tok, probes, d, tokens, budget, neurons)
            plan = recorder.runner.plan
            for step in range(SNAPSHOTS):
                started = time.perf_counter()
                recorder.snapshot(step)
                recorder.writer.flush()
                _sync()
                times.append(time.perf_counter() - started)
            recorder.close()
            stored = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) // SNAPSHOTS
    result = {"peak_extra": _peak_bytes() - base, "seconds": min(times), "bytes_per_snapshot": stored}
    if device_base is not None:
        result["device_peak_extra"] = _device_peak_extra(device_base)
    if kind == "snapshot":
        result["budget_per_snapshot"] = plan.budget // plan.snapshots
        result["maps_per_probe"] = "all" if plan.choice is None else plan.choice.maps
    print(json.dumps(result))


def measure(case, budget=None, neurons=None):
    layers, heads, kv, tokens, count, head_dim = _case(case)
    one_layer = heads * tokens * tokens * 4  # float32 [heads, T, T] of one probe
    out = {}
    for kind in ("forward", "snapshot", "paired"):
        run = subprocess.run(
            [sys.executable, __file__, "--child", kind, case]
            + [f"--{k}={v}" for k, v in PLACE.items()]
            + ([] if budget is None else ["--budget", budget])
            + ([] if neurons is None else ["--neurons", neurons]),
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode:
            out[kind] = {"error": (run.stderr.strip().splitlines() or ["killed"])[-1], "returncode": run.returncode}
        else:
            out[kind] = json.loads(run.stdout.strip().splitlines()[-1])
    row = {
        "case": case,
        "layout": f"{layers} layers x {heads} heads ({kv} KV) of size {head_dim}, {tokens} tokens x {count} probes",
        "place": dict(PLACE),
        "neurons": neurons,
        "one_layer_MiB": one_layer / 2**20,
        **{f"{kind}_{k}": v for kind, values in out.items() for k, v in values.items()},
    }
    if "budget_per_snapshot" in out["snapshot"]:
        row["bytes_over_budget"] = out["snapshot"]["bytes_per_snapshot"] / out["snapshot"]["budget_per_snapshot"]
    if "peak_extra" in out["snapshot"]:
        row["snapshot_peak_over_one_layer"] = out["snapshot"]["peak_extra"] / one_layer
    if "peak_extra" in out["forward"]:
        row["eager_forward_peak_over_one_layer"] = out["forward"]["peak_extra"] / one_layer
    for kind in ("snapshot", "forward"):
        if "device_peak_extra" in out[kind]:
            row[f"{kind}_device_peak_over_one_layer"] = out[kind]["device_peak_extra"] / one_layer
    if "snapshot_seconds" in out["paired"]:  # the time ratio from one process (paired_times)
        snapshot, forward = min(out["paired"]["snapshot_seconds"]), min(out["paired"]["forward_seconds"])
        row["snapshot_over_eager_forward_time"] = snapshot / forward
        ratios = [s / f for s, f in zip(out["paired"]["snapshot_seconds"], out["paired"]["forward_seconds"])]
        row["snapshot_over_eager_forward_time_spread"] = [min(ratios), max(ratios)]
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--cases", default="bert-128x8,8b-512,8b-1024,8b-1024x4,70b-512")
    ap.add_argument("--budget", help="attention_budget= of the runs (default: the callback's)")
    ap.add_argument("--neurons", help="LAYER.HEAD,... whose query and key vectors every snapshot takes too")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "capture-memory.json"))
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (a GPU)")
    ap.add_argument("--dtype", default="float32", help="the model's dtype, e.g. bfloat16 on a GPU")
    ap.add_argument("--attention", default="sdpa", help="the model's attention: sdpa, flash_attention_2")
    a = ap.parse_args()
    PLACE.update(device=a.device, dtype=a.dtype, attention=a.attention)
    if a.child:
        child(*a.child, budget=a.budget, neurons=a.neurons)
        return
    rows = []
    for case in a.cases.split(","):
        rows.append(measure(case, a.budget, a.neurons))
        print(json.dumps(rows[-1]), flush=True)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
