"""What the optional features cost, on the real MiniLM (CPU), all ratios measured in one run.

For each configuration (defaults; predictions=True; neurons=True; both), an AttentionRecorder over
the same model and the 8 classic probes takes snapshots, the configurations alternating round after
round: the time the training thread waits per snapshot (probe forward + checks + hand-over), its
ratio to the defaults' time measured in the same round, and the bytes each feature adds on disk per
snapshot. The weights are nudged between rounds so that every snapshot differs (as in training).

    python bench/bench_features.py [--rounds 12] [--out bench/results/features.json]
"""

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from minilm_setup import PROBES, load_minilm  # noqa: E402

CONFIGS = {
    "defaults": {},
    "predictions": {"predictions": True},
    # every snapshot captured (without "every", neurons=True captures every 2nd one here)
    "neurons": {"neurons": {"heads": "all", "every": 1}},
    "predictions+neurons": {"predictions": True, "neurons": {"heads": "all", "every": 1}},
}


def measure(rounds):
    from tb_attention_plugin import AttentionRecorder

    torch.manual_seed(0)
    model, tok = load_minilm()
    model.eval()
    waits = {name: [] for name in CONFIGS}
    ratios = {name: [] for name in CONFIGS}
    sizes = {}
    with tempfile.TemporaryDirectory() as d:
        recorders = {
            name: AttentionRecorder(model, tok, PROBES, os.path.join(d, name), **options)
            for name, options in CONFIGS.items()
        }
        for r in range(rounds):
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 1e-3)  # as an update would
            order = list(CONFIGS) if r % 2 == 0 else list(reversed(CONFIGS))
            took = {}
            for name in order:
                started = time.perf_counter()
                recorders[name].snapshot(r)
                took[name] = time.perf_counter() - started
            if r == 0:
                continue  # warm-up round
            for name in CONFIGS:
                waits[name].append(took[name])
                ratios[name].append(took[name] / took["defaults"])
        for rec in recorders.values():
            rec.close()
        for name in CONFIGS:
            files = glob.glob(os.path.join(d, name, "events.out.tfevents.*"))
            sizes[name] = sum(os.path.getsize(f) for f in files) / rounds
    return {
        name: {
            "wait_s_median": statistics.median(waits[name]),
            "wait_s_spread": [min(waits[name]), max(waits[name])],
            "ratio_to_defaults_median": statistics.median(ratios[name]),
            "ratio_spread": [min(ratios[name]), max(ratios[name])],
            "disk_bytes_per_snapshot": sizes[name],
            "disk_ratio_to_defaults": sizes[name] / sizes["defaults"],
        }
        for name in CONFIGS
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "features.json"))
    args = parser.parse_args()
    result = {"probes": len(PROBES), "rounds": args.rounds, "configs": measure(args.rounds)}
    for name, r in result["configs"].items():
        print(
            f"{name:>20}: wait {1000 * r['wait_s_median']:.1f} ms "
            f"(x{r['ratio_to_defaults_median']:.2f}, {r['ratio_spread'][0]:.2f}-{r['ratio_spread'][1]:.2f}), "
            f"{r['disk_bytes_per_snapshot'] / 1e3:.0f} kB on disk per snapshot (x{r['disk_ratio_to_defaults']:.2f})"
        )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
