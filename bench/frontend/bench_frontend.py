#!/usr/bin/env python3
"""Frontend benchmark of the Attention tab, in headless Chromium (Debian's /usr/bin/chromium).

For each configuration (layers x heads, probe length, number of snapshots) it writes logs with the
real writer from synthetic attention maps (`tb_attention_plugin.devtools.synthetic`, cached under
bench/results/logs/), starts a real `tensorboard` on them, and measures from the frontend's own
performance marks (`tba:grid-painted`, `tba:snapshot-received`):

  open   tab opened (navigation start) -> first grid fully painted
  step   step changed -> grid fully painted and a frame presented, for a snapshot
         not in the cache (fetch + decode + paint)
  cached step changed to a snapshot already in the cache (paint only)

Targets (issue #9): 12x12x128: step <= 50 ms; 32x32x128: step <= 150 ms; 80x64x64x200: step
<= 500 ms, open <= 2 s. The grid paints only the heads in its viewport at the default zoom ('fit').

Figures are printed and written to bench/results/frontend-<time>.json. Not a test: run it by hand.

    python bench/frontend/bench_frontend.py                       # 12x12x128x200 and 24x16x256x30
    python bench/frontend/bench_frontend.py --configs 12x12x128x200 --repeats 5
    python bench/frontend/bench_frontend.py --configs 80x64x64x200,32x32x128x30 --label after
"""

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
from tb_attention_plugin.devtools.tensorboard_process import TensorBoardProcess  # noqa: E402

from tb_attention_plugin.devtools import synthetic  # noqa: E402
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CHROMIUM = os.environ.get("TBA_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

STEP_JS = """async (step) => {
  if (window.tbAttention.state.step === step) throw new Error('already at step ' + step);
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('no paint of step ' + step + ' within 60 s')), 60000);
    const onPaint = (e) => {
      if (e.detail.step !== step) return;
      window.removeEventListener('tb-attention:grid-painted', onPaint);
      resolve();
    };
    window.addEventListener('tb-attention:grid-painted', onPaint);
    window.addEventListener('tb-attention:grid-failed', (e) => reject(new Error('step ' + step + ': ' + e.detail.error)), { once: true });
    window.tbAttention.setStep(step);
  });
  const painted = performance.now();
  await new Promise((r) => requestAnimationFrame(() => r()));  // the frame that shows it
  const shown = performance.now();
  const recv = performance.getEntriesByName('tba:snapshot-received').filter((m) => m.startTime >= t0);
  // the backend's share: request sent -> first byte of the snapshot response (Resource Timing)
  const res = performance.getEntriesByType('resource')
    .filter((r) => r.startTime >= t0 && r.name.includes('snapshot?') && !r.name.includes('layer=') && r.name.includes('step=' + step));
  performance.clearResourceTimings();
  const server = res.length ? res[0].responseStart - res[0].requestStart : 0;
  const transfer = res.length ? res[0].responseEnd - res[0].responseStart : 0;
  const queued = res.length ? res[0].requestStart - t0 : 0;
  return {queued, total: shown - t0, painted: painted - t0, fetch: recv.length ? recv[recv.length - 1].startTime - t0 : 0, server, transfer};
}"""


def parse_config(text):
    layers, heads, tokens, steps = (int(x) for x in text.lower().split("x"))
    return {"layers": layers, "heads": heads, "tokens": tokens, "steps": steps}


def make_logs(cfg):
    """Write (once) a run with cfg's size through the real writer; returns its logdir."""
    name = "{layers}x{heads}x{tokens}x{steps}".format(**cfg)
    logdir = RESULTS / "logs" / name
    done = logdir / "DONE"
    if done.exists():
        return logdir
    run = logdir / "bench"
    run.mkdir(parents=True, exist_ok=True)
    for f in run.iterdir():
        f.unlink()
    every = 50
    steps = [i * every for i in range(cfg["steps"])]
    toks = synthetic.repeated_tokens(cfg["tokens"])
    gen = synthetic.SyntheticHeads(cfg["layers"], cfg["heads"], toks, causal=True, last_step=steps[-1])
    t = time.time()
    with AttentionSummaryWriter(run) as w:
        w.add_probe("repeated random tokens", toks, special=[i == 0 for i in range(len(toks))])
        for i, s in enumerate(steps):
            w.add_attention(s, "repeated random tokens", gen.at(s), kind="self", causal=True)
            if i % 20 == 0:
                print(f"  writing {name}: {i}/{len(steps)} snapshots ({time.time() - t:.0f} s)", file=sys.stderr)
        tr = list(range(10, steps[-1] + 1, 10))
        for s, v in zip(tr, synthetic.loss_curve(tr)):
            w.add_scalar("train/loss", v, s)
        for s, v in zip(steps[::10], synthetic.loss_curve(steps[::10], 3, 1.1)):
            w.add_scalar("eval/loss", v, s)
    done.write_text("ok")
    return logdir


def start_tensorboard(cfg):
    """A real tensorboard on cfg's logs, once it has loaded every snapshot."""
    tb = TensorBoardProcess(make_logs(cfg)).start()
    try:
        tb.wait_for_steps(cfg["steps"], timeout=900)
    except BaseException:
        tb.stop()
        raise
    return tb


def bench_config(browser, cfg, repeats, step_samples, seed=0):
    tb = start_tensorboard(cfg)
    try:
        # warm the backend's caches once (the first read of a logdir is not the frontend's cost)
        warm = browser.new_page(viewport={"width": 1600, "height": 1200})
        warm.goto(tb.plugin_page)
        warm.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=600000)
        steps = warm.evaluate("window.tbAttention.app.steps()")
        warm.close()

        opens = []
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(tb.plugin_page)
            page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=120000)
            opens.append(page.evaluate("performance.getEntriesByName('tba:grid-painted')[0].startTime"))
            page.close()

        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(tb.plugin_page)
        page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=120000)
        page.wait_for_timeout(1500)  # let the head view / filmstrip loads settle
        rng = random.Random(seed)
        pool = [s for s in steps if s != steps[-1]]
        rng.shuffle(pool)
        cold = []
        for s in pool[:step_samples]:
            page.wait_for_timeout(700)  # a user's pace: the previous step's idle prefetches are done
            page.evaluate("window.tbAttention.cache.clear()")
            cold.append(page.evaluate(STEP_JS, s))
        # cached: walk back over snapshots just visited
        warm_steps = pool[: min(step_samples, 20)]
        for s in warm_steps:
            page.evaluate(  # at the resolution the grid paints (its pooled snapshot, when it pools)
                "(s) => { const a = window.tbAttention.app; return a.data.snapshot(a.sel(), s, a.views.model.pool()); }",
                s,
            )
        current = page.evaluate("window.tbAttention.state.step")
        cached = [page.evaluate(STEP_JS, s) for s in warm_steps[::-1] if s != current]
        cells = page.evaluate(
            "Array.from(document.querySelectorAll('[data-testid=\"grid\"]'))"
            ".reduce((n, g) => n + Number(g.dataset.layers) * Number(g.dataset.heads), 0)"
        )
        page.close()
    finally:
        tb.stop()
    med = lambda xs: round(statistics.median(xs), 1)
    return {
        "config": cfg,
        "backend": "tensorboard",
        "cells": cells,
        "open_ms_median": med(opens),
        "open_ms": [round(x, 1) for x in opens],
        "step_ms_median": med([c["total"] for c in cold]),
        "step_fetch_ms_median": med([c["fetch"] for c in cold]),
        "step_paint_ms_median": med([c["total"] - c["fetch"] for c in cold]),
        "step_server_ms_median": med([c["server"] for c in cold]),
        "step_transfer_ms_median": med([c["transfer"] for c in cold]),
        "step_queued_ms_median": med([c["queued"] for c in cold]),
        "step_frontend_ms_median": med([c["total"] - c["server"] for c in cold]),
        "step_ms_p90": round(sorted(c["total"] for c in cold)[int(0.9 * (len(cold) - 1))], 1),
        "step_ms_range": [round(min(c["total"] for c in cold), 1), round(max(c["total"] for c in cold), 1)],
        "step_ms": [round(c["total"], 1) for c in cold],
        "cached_step_ms_median": med([c["total"] for c in cached]),
        "samples": len(cold),
    }


def main():
    # a SIGTERM (e.g. from `timeout`) unwinds normally, so the servers and Chromium are stopped
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--configs", default="12x12x128x200,24x16x256x30", help="comma-separated LAYERSxHEADSxTOKENSxSNAPSHOTS"
    )
    ap.add_argument("--repeats", type=int, default=3, help="tab openings per configuration")
    ap.add_argument("--samples", type=int, default=25, help="uncached step changes per configuration")
    ap.add_argument("--label", default="", help="added to the result file's name and record (e.g. before/after)")
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"Chromium not found at {CHROMIUM}")
    bundle = ROOT / "tb_attention_plugin" / "static" / "index.js"
    if not bundle.exists():
        sys.exit("build the bundle first: cd frontend && npm ci && npm run build")
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            for text in args.configs.split(","):
                cfg = parse_config(text)
                r = bench_config(browser, cfg, args.repeats, args.samples)
                results.append(r)
                print(
                    f"{text} ({r['cells']} heads): open -> first grid {r['open_ms_median']} ms | "
                    f"step change -> grid painted {r['step_ms_median']} ms median, p90 {r['step_ms_p90']} "
                    f"(request queued {r['step_queued_ms_median']}, backend to first byte {r['step_server_ms_median']}, body transfer {r['step_transfer_ms_median']}, everything else {r['step_frontend_ms_median']}; "
                    f"until decoded {r['step_fetch_ms_median']}, paint+frame {r['step_paint_ms_median']}) | "
                    f"cached step {r['cached_step_ms_median']} ms | step range {r['step_ms_range']}, opens {r['open_ms']}",
                    flush=True,
                )
        finally:
            browser.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    label = f"-{args.label}" if args.label else ""
    out = RESULTS / f"frontend-{time.strftime('%Y%m%d-%H%M%S')}{label}.json"
    record = {"results": results, "label": args.label, "chromium": CHROMIUM, "cpus": os.cpu_count()}
    out.write_text(json.dumps(record, indent=2))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
