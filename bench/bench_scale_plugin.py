#!/usr/bin/env python3
"""Scale benchmark of the plugin inside a real `tensorboard`: memory and latency on a large log.

Writes (once, cached under --logdir) a run of `--gigabytes` of attention records with
`tb_attention_plugin.devtools.bulk_logs` (the writer's own records, repeated at every step), then for each
loader (RustBoard, `--load_fast=false`) starts TensorBoard and reports:
- open: TensorBoard started -> ./index lists every step of the run,
- the first snapshot request, then median / p90 of random snapshot requests (all layers),
- the stats request,
- RSS of TensorBoard and its data server (peak of samples taken every 0.5 s over `--watch` seconds
  of loading and the requests), target < 1 GiB whatever the log size,
- how far the loader itself got (the Python loader checksums in pure Python: ~0.2 s per MiB).

    python bench/bench_scale_plugin.py                       # 10 GB, 32x32 heads x 128 tokens
    python bench/bench_scale_plugin.py --gigabytes 0.5 --layers 12 --heads 12

Prints the figures and writes bench/results/scale-plugin.json.
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

import numpy as np
import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tb_attention_plugin.devtools import bulk_logs  # noqa: E402
from tb_attention_plugin.server.http_payload import decode_container  # noqa: E402
from tb_attention_plugin.devtools.tensorboard_process import TensorBoardProcess  # noqa: E402

LOADERS = {"rustboard": (), "python": ("--load_fast=false",)}


def q(route, **params):
    return f"data/plugin/attention/{route}?" + urllib.parse.urlencode(params)


def tree_rss(pid):
    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc] + proc.children(recursive=True))
    except psutil.Error:
        return 0


class PeakRSS:
    """Samples a process tree's RSS every 0.5 s on a thread; `peak` is the largest seen."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, tree_rss(self.pid))

    def stop(self):
        self._stop.set()
        self.peak = max(self.peak, tree_rss(self.pid))
        return self.peak


def ensure_log(args):
    run_dir = os.path.join(args.logdir, "bulk")
    marker = os.path.join(args.logdir, "shape.json")
    shape = {k: getattr(args, k) for k in ("layers", "heads", "tokens", "probes", "gigabytes")}
    if os.path.exists(marker) and json.load(open(marker)) == shape:
        return run_dir, json.load(open(os.path.join(args.logdir, "steps.json")))
    os.makedirs(args.logdir, exist_ok=True)
    for name in os.listdir(run_dir) if os.path.isdir(run_dir) else []:
        os.remove(os.path.join(run_dir, name))
    per_step = bulk_logs.snapshot_bytes(args.layers, args.heads, args.tokens, args.probes)
    snapshots = max(2, int(args.gigabytes * 1e9 / per_step))
    started = time.perf_counter()
    size = bulk_logs.write_bulk_run(
        run_dir, layers=args.layers, heads=args.heads, tokens=args.tokens, snapshots=snapshots, probes=args.probes
    )
    print(
        f"wrote {size / 1e9:.2f} GB ({snapshots} snapshots) in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )
    json.dump([i * 10 for i in range(snapshots)], open(os.path.join(args.logdir, "steps.json"), "w"))
    json.dump(shape, open(marker, "w"))
    return run_dir, [i * 10 for i in range(snapshots)]


def timed(tb, path):
    started = time.perf_counter()
    status, _, body = tb.get(path, timeout=300)
    if status != 200:
        raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
    return 1000 * (time.perf_counter() - started), body


def measure(args, loader, steps):
    tb = TensorBoardProcess(args.logdir, *LOADERS[loader])
    started = time.perf_counter()
    tb.start()
    rss = PeakRSS(tb.proc.pid)
    try:
        tb.poll(lambda: (s := tb.index_steps()) and len(s[0]) == len(steps), timeout=900, interval=0.2)
        open_s = time.perf_counter() - started
        rng = np.random.default_rng(0)
        first_ms, body = timed(tb, q("snapshot", run="bulk", probe="probe 0", kind="self", step=int(steps[-1])))
        header, data = decode_container(body)
        assert data.shape == (args.layers, args.heads, args.tokens, args.tokens), data.shape
        snap_ms = [
            timed(tb, q("snapshot", run="bulk", probe="probe 0", kind="self", step=int(s)))[0]
            for s in rng.choice(steps, size=args.requests)
        ]
        stats_ms = [timed(tb, q("stats", run="bulk", probe="probe 0", kind="self"))[0] for _ in range(5)]
        time.sleep(max(0.0, args.watch - (time.perf_counter() - started)))  # the loader keeps loading
        peak = rss.stop()
        return {
            "open_s": open_s,
            "first_snapshot_ms": first_ms,
            "snapshot_ms": {"median": statistics.median(snap_ms), "p90": float(np.percentile(snap_ms, 90))},
            "stats_ms": {"median": statistics.median(stats_ms)},
            "peak_rss_bytes": peak,
            "watched_s": time.perf_counter() - started,
        }
    finally:
        rss.stop()
        tb.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--logdir", default=os.path.join(REPO, "bench", "results", "logs", "scale"))
    ap.add_argument("--gigabytes", type=float, default=10.0)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=128, help="tokens per probe, [CLS] and [SEP] included")
    ap.add_argument("--probes", type=int, default=1)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--watch", type=float, default=60.0, help="seconds RSS is watched from start")
    ap.add_argument("--loaders", default="rustboard,python")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "scale-plugin.json"))
    args = ap.parse_args()
    run_dir, steps = ensure_log(args)
    log_bytes = sum(os.path.getsize(os.path.join(run_dir, f)) for f in os.listdir(run_dir))
    result = {"log_bytes": log_bytes, "snapshots": len(steps), "shape": [args.layers, args.heads, args.tokens]}
    for loader in args.loaders.split(","):
        result[loader] = measure(args, loader, steps)
        r = result[loader]
        print(
            f"{loader}: log {log_bytes / 1e9:.2f} GB, {len(steps)} snapshots; open {r['open_s']:.1f} s; first "
            f"snapshot {r['first_snapshot_ms']:.0f} ms; snapshot median {r['snapshot_ms']['median']:.0f} ms, "
            f"p90 {r['snapshot_ms']['p90']:.0f} ms; stats {r['stats_ms']['median']:.0f} ms; peak RSS "
            f"{r['peak_rss_bytes'] / (1 << 20):.0f} MiB over {r['watched_s']:.0f} s"
        )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    json.dump(result, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
