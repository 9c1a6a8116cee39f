"""Benchmark of the plugin backend inside a real `tensorboard` process (RustBoard by default).

12 layers x 12 heads, a 128-token probe, 200 snapshots of synthetic maps (softmax of scaled Gaussians
drifting slowly over steps, so the writer stores keyframes and deltas as in training). Measures:
- the first snapshot request right after ./index lists every step (cold: the read-ahead of
  server/provider/prefetch.py has just started), then how long until TensorBoard goes idle (read-ahead done),
- median and p90 latency of one snapshot request (one step, all layers), random steps, after that
  (target <= 50 ms),
- median latency of the stats request (target <= 50 ms),
- RSS of TensorBoard + its data server after loading and read-ahead, vs the raw uint8 attention
  payload (target <= 2x).

    python bench/plugin/bench_plugin.py [--load_fast=false] [--logdir DIR] [--requests N]

Prints the figures and saves JSON in bench/results/plugin.json (git-ignored).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.parse

import numpy as np
import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

from tb_attention_plugin.devtools.tensorboard_process import TensorBoardProcess  # noqa: E402

from tb_attention_plugin.server.http_payload import decode_container  # noqa: E402
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter  # noqa: E402
from tb_attention_plugin.devtools.synthetic import DriftingMaps  # noqa: E402

LAYERS, HEADS, TOKENS, STEPS, EVERY = 12, 12, 128, 200, 50


def write_logs(logdir):
    run_dir = os.path.join(logdir, "bench")
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        return run_dir  # reuse logs made by an earlier run of this script
    maps = DriftingMaps(LAYERS, HEADS, TOKENS, seed=0, drift=0.02)
    writer = AttentionSummaryWriter(run_dir)
    writer.add_probe("probe", [f"tok{i}" for i in range(TOKENS)], special=[1] + [0] * (TOKENS - 2) + [1])
    started = time.perf_counter()
    for i in range(STEPS):
        writer.add_attention(i * EVERY, "probe", maps.next())
        writer.add_scalar("train/loss", 3.0 / (1 + i), i * EVERY)
    writer.close()
    print(f"wrote {STEPS} snapshots in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return run_dir


def tree_rss(pid):
    proc = psutil.Process(pid)
    procs = [proc] + proc.children(recursive=True)
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total, len(procs)


def wait_idle(pid, timeout=300, window=0.5, busy=0.1):
    """Seconds until the process tree uses less than `busy` of one core over `window` seconds."""

    def cpu():
        total = 0.0
        for p in [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    started = time.perf_counter()
    last = cpu()
    while time.perf_counter() - started < timeout:
        time.sleep(window)
        now = cpu()
        if now - last < busy * window:
            return time.perf_counter() - started - window
        last = now
    return float("nan")


def timed_get(tb, path):
    started = time.perf_counter()
    status, _, body = tb.get(path)
    elapsed = time.perf_counter() - started
    if status != 200:
        raise SystemExit(f"{path} answered {status}: {body[:200]!r}")
    return elapsed, body


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logdir", help="directory for the synthetic logs (default: a temporary one)")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--load_fast", default=None, help="pass --load_fast=false for the Python loader")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results", "plugin.json"))
    args = parser.parse_args()

    tmp = None if args.logdir else tempfile.TemporaryDirectory(prefix="tb_attention_bench_")
    logdir = args.logdir or tmp.name
    run_dir = write_logs(logdir)
    log_bytes = sum(os.path.getsize(os.path.join(run_dir, f)) for f in os.listdir(run_dir))
    extra = [f"--load_fast={args.load_fast}"] if args.load_fast else []
    tb = TensorBoardProcess(logdir, *extra)
    tb.start()
    try:
        q = lambda route, **p: f"data/plugin/attention/{route}?" + urllib.parse.urlencode(p)  # noqa: E731
        started = time.perf_counter()
        steps = tb.poll(
            lambda: (
                (s := [k["steps"] for r in tb.json(q("index"))["runs"] for p in r["probes"] for k in p["kinds"]])
                and len(s[0]) == STEPS
                and s[0]
            ),
            timeout=600,
        )
        load_s = time.perf_counter() - started
        rng = np.random.default_rng(0)
        cold_step = int(rng.choice(steps))
        cold_ms = 1000 * timed_get(tb, q("snapshot", run="bench", probe="probe", kind="self", step=cold_step))[0]
        warm_s = wait_idle(tb.proc.pid)  # the read-ahead started with ./index: until it is done
        rss_loaded, n_procs = tree_rss(tb.proc.pid)

        snap_ms = []
        for step in rng.choice(steps, size=args.requests):
            elapsed, body = timed_get(tb, q("snapshot", run="bench", probe="probe", kind="self", step=int(step)))
            header, data = decode_container(body)
            assert data.shape == (LAYERS, HEADS, TOKENS, TOKENS)
            snap_ms.append(1000 * elapsed)
        layer_ms = [
            1000
            * timed_get(
                tb, q("snapshot", run="bench", probe="probe", kind="self", step=int(s), layer=int(rng.integers(LAYERS)))
            )[0]
            for s in rng.choice(steps, size=args.requests)
        ]
        stats_ms = [
            1000 * timed_get(tb, q("stats", run="bench", probe="probe", kind="self"))[0] for _ in range(args.requests)
        ]
        index_ms = [1000 * timed_get(tb, q("index"))[0] for _ in range(args.requests)]
        rss_after, _ = tree_rss(tb.proc.pid)
        loader = "python" if "experimental fast data loading" not in "".join(tb.stderr) else "rustboard"
    finally:
        tb.stop()
        if tmp is not None:
            tmp.cleanup()

    raw = STEPS * LAYERS * HEADS * TOKENS * TOKENS
    result = {
        "loader": loader,
        "shape": {"steps": STEPS, "layers": LAYERS, "heads": HEADS, "tokens": TOKENS},
        "requests": args.requests,
        "snapshot_cold_first_ms": cold_ms,
        "read_ahead_seconds": warm_s,
        "snapshot_all_layers_ms": {
            "median": statistics.median(snap_ms),
            "p90": float(np.percentile(snap_ms, 90)),
            "max": max(snap_ms),
            "target": 50,
        },
        "snapshot_one_layer_ms": {"median": statistics.median(layer_ms), "p90": float(np.percentile(layer_ms, 90))},
        "stats_ms": {"median": statistics.median(stats_ms), "p90": float(np.percentile(stats_ms, 90)), "target": 50},
        "index_ms": {"median": statistics.median(index_ms)},
        "load_seconds": load_s,
        "raw_payload_bytes": raw,
        "event_file_bytes": log_bytes,
        "rss_bytes_after_loading": rss_loaded,
        "rss_bytes_after_requests": rss_after,
        "rss_over_raw_after_loading": rss_loaded / raw,
        "rss_over_raw_after_requests": rss_after / raw,
        "rss_target_ratio": 2.0,
        "processes_measured": n_procs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    mib = 1 << 20
    print(f"loader: {loader}; logs {log_bytes / mib:.0f} MiB on disk, loaded in {load_s:.1f} s")
    print(
        f"first snapshot request after ./index (cold): {cold_ms:.1f} ms; TensorBoard idle (read-ahead done) "
        f"{warm_s:.1f} s later"
    )
    print(
        f"snapshot (all {LAYERS} layers): median {result['snapshot_all_layers_ms']['median']:.1f} ms, "
        f"p90 {result['snapshot_all_layers_ms']['p90']:.1f} ms, max {max(snap_ms):.1f} ms (target <= 50)"
    )
    print(f"snapshot (one layer): median {result['snapshot_one_layer_ms']['median']:.1f} ms")
    print(f"stats: median {result['stats_ms']['median']:.1f} ms, p90 {result['stats_ms']['p90']:.1f} ms (target <= 50)")
    print(f"index: median {result['index_ms']['median']:.1f} ms")
    print(
        f"RSS ({n_procs} processes): {rss_loaded / mib:.0f} MiB after loading and read-ahead, {rss_after / mib:.0f} MiB after "
        f"requests; raw payload {raw / mib:.0f} MiB -> {rss_loaded / raw:.2f}x / {rss_after / raw:.2f}x "
        f"(target <= 2x)"
    )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
