#!/usr/bin/env python3
"""Benchmark of a long probe's large map (the head evolution card) in headless Chromium (Debian's
/usr/bin/chromium): a step change on a 4k-token head map, uncached, until the map of the new step
is painted (the frontend's `tba:bigmap-painted` mark) and a frame has been presented.

It writes (once, cached under bench/results/logs/) a run with the real writer from synthetic maps,
2 layers x 2 heads x 4096 tokens x 20 snapshots by default (268 MB of float32 per snapshot before
quantizing; about 40 s), starts a real `tensorboard` on it and measures, for each of `--samples`
random steps, none of which the tab holds (what it cached of that step is dropped first):

  overview  the whole map: the head's block means at the canvas's size (./snapshot?layer&head&pool=B)
  zoomed    a 512 x 512-token window (the state's mapWindow): first the new step's block means
            ("first"), then its exact weights (./snapshot?layer&head, 16 MB: "exact")

with the backend's share (request sent -> first byte, Resource Timing) of the head's requests; and,
zoomed, the next step at a user's pace (the arrow key: the idle read-ahead has loaded it).
Target (issue #20): a step change on a 4k-token map repainted within 150 ms.

    python bench/frontend/bench_long_map.py                      # 2x2x4096x20, 15 samples
    python bench/frontend/bench_long_map.py --config 2x2x2048x20 --samples 25 --label after
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_frontend  # noqa: E402  (its logs, configurations and Chromium flags)

ROOT = bench_frontend.ROOT
RESULTS = bench_frontend.RESULTS

# step change -> the first non-stale paint of the map at that step (of `source` when given), then a frame
STEP_JS = """async ({step, source}) => {
  const app = window.tbAttention.app;
  if (app.state.step === step) throw new Error('already at step ' + step);
  const t0 = performance.now();
  const hit = (e) => e.startTime >= t0 && e.detail && e.detail.step === step && !e.detail.stale
    && (!source || e.detail.source === source);
  const wait = (pred) => new Promise((resolve, reject) => {
    const found = performance.getEntriesByName('tba:bigmap-painted').find(pred);
    if (found) return resolve(found);
    const obs = new PerformanceObserver((list) => {
      const e = list.getEntries().find((x) => x.name === 'tba:bigmap-painted' && pred(x));
      if (e) { obs.disconnect(); resolve(e); }
    });
    obs.observe({ type: 'mark' });
    setTimeout(() => { obs.disconnect(); reject(new Error('no map of step ' + step + ' within 60 s')); }, 60000);
  });
  window.tbAttention.setStep(step);
  const first = await wait(hit);
  await new Promise((r) => requestAnimationFrame(() => r()));
  const shown = performance.now() - t0;
  const last = source ? first : await wait((e) => hit(e) && e.detail.source === 'exact').catch(() => null);
  const res = performance.getEntriesByType('resource')
    .filter((r) => r.startTime >= t0 && r.name.includes('head=') && r.name.includes('step=' + step + '&'));
  performance.clearResourceTimings();
  const timing = (pool) => {
    const r = res.find((x) => x.name.includes('pool=') === pool);
    return r ? [r.requestStart - r.startTime, r.responseStart - r.requestStart, r.responseEnd - r.responseStart] : [null, null, null];
  };
  const [queuedPooled, serverPooled] = timing(true);
  const [queuedExact, serverExact, transferExact] = timing(false);
  return {first: first.startTime - t0, shown, firstSource: first.detail.source, exact: last ? last.startTime - t0 : null,
          queuedPooled, serverPooled, queuedExact, serverExact, transferExact};
}"""

# forget what the tab holds of `step` (the grid's snapshot, the map's and the head view's heads), and
# only that: the filmstrip's frames at other steps stay, as they would for a user
CLEAR_JS = """(step) => {
  const stepOf = (k) => { let v = JSON.parse(k); if (v.length === 2) v = JSON.parse(v[0]); return v[3]; }; // a head's key: [the snapshot's key, head]
  const d = window.tbAttention.app.data;
  for (const cache of [d.snapshots, d.heads])
    for (const k of [...cache.map.keys()]) if (stepOf(k) === step) { cache.bytes -= cache.map.get(k).size; cache.map.delete(k); }
}"""


def open_tab(browser, url):
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.goto(url)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=300000)
    page.wait_for_function("document.querySelector('.tba-bigmap').dataset.state === 'data'", timeout=300000)
    return page


def measure(page, steps, window, samples, seed, pace_ms):
    """Step changes to `samples` random steps with `window` as the map's zoom window (None: whole)."""
    page.evaluate("(w) => window.tbAttention.app.set({ mapWindow: w })", window)
    page.wait_for_timeout(1500)
    rng = random.Random(seed)
    out = []
    current = page.evaluate("window.tbAttention.state.step")
    for step in rng.sample([s for s in steps if s != current], min(samples, len(steps) - 1)):
        page.wait_for_timeout(pace_ms)  # a user's pace: what the previous step started has finished
        page.evaluate(CLEAR_JS, step)
        out.append(page.evaluate(STEP_JS, {"step": step, "source": None if window else "pooled"}))
    return out


def measure_neighbours(page, steps, window, samples, pace_ms):
    """Steps by one (the arrow keys) at a user's pace: the idle read-ahead has loaded the next map."""
    page.evaluate("(w) => window.tbAttention.app.set({ mapWindow: w })", window)
    out = []
    for _ in range(min(samples, len(steps) - 1)):
        page.wait_for_timeout(pace_ms)
        current = page.evaluate("window.tbAttention.state.step")
        step = steps[(steps.index(current) + 1) % len(steps)]
        out.append(page.evaluate(STEP_JS, {"step": step, "source": None if window else "pooled"}))
    return out


def summary(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return {
        "median": round(statistics.median(xs), 1),
        "p90": round(xs[int(0.9 * (len(xs) - 1))], 1),
        "range": [round(xs[0], 1), round(xs[-1], 1)],
    }


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="2x2x4096x20", help="LAYERSxHEADSxTOKENSxSNAPSHOTS")
    ap.add_argument("--samples", type=int, default=15, help="uncached step changes per measurement")
    ap.add_argument("--pace-ms", type=int, default=2000, help="wait before each step change (a user's pace)")
    ap.add_argument("--label", default="", help="added to the result file's name and record")
    args = ap.parse_args()
    if not os.path.exists(bench_frontend.CHROMIUM):
        sys.exit(f"Chromium not found at {bench_frontend.CHROMIUM}")
    if not (ROOT / "tb_attention_plugin" / "static" / "index.js").exists():
        sys.exit("build the bundle first: cd frontend && npm ci && npm run build")
    from playwright.sync_api import sync_playwright

    cfg = bench_frontend.parse_config(args.config)
    tb = bench_frontend.start_tensorboard(cfg)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=bench_frontend.CHROMIUM, headless=True, args=bench_frontend.ARGS
            )
            try:
                page = open_tab(browser, tb.plugin_page)
                steps = page.evaluate("window.tbAttention.app.steps()")
                tokens = cfg["tokens"]
                middle = tokens // 2 - 256
                window = {"q0": middle, "q1": middle + 512, "k0": middle, "k1": middle + 512}
                overview = measure(page, steps, None, args.samples, 0, args.pace_ms)
                zoomed = measure(page, steps, window, args.samples, 1, args.pace_ms)
                stepping = measure_neighbours(page, steps, window, min(8, args.samples), args.pace_ms)
                page.close()
            finally:
                browser.close()
    finally:
        tb.stop()
    result = {
        "config": cfg,
        "samples": len(overview),
        "overview_ms": summary([r["shown"] for r in overview]),
        "overview_server_ms": summary([r["serverPooled"] for r in overview]),
        "zoomed_first_ms": summary([r["shown"] for r in zoomed]),
        "zoomed_first_sources": sorted({r["firstSource"] for r in zoomed}),
        "zoomed_exact_ms": summary([r["exact"] for r in zoomed]),
        "zoomed_server_exact_ms": summary([r["serverExact"] for r in zoomed]),
        "zoomed_transfer_exact_ms": summary([r["transferExact"] for r in zoomed]),
        "queued_ms": summary([r[k] for r in overview + zoomed for k in ("queuedPooled", "queuedExact")]),
        "next_step_zoomed_ms": summary([r["shown"] for r in stepping]),
        "next_step_zoomed_exact_ms": summary([r["exact"] for r in stepping]),
        "raw": {"overview": overview, "zoomed": zoomed, "next_step": stepping},
    }
    print(
        f"{args.config}: step change -> map painted + frame, whole map (block means): {result['overview_ms']}; "
        f"zoomed 512 x 512: first paint {result['zoomed_first_ms']} ({', '.join(result['zoomed_first_sources'])}), "
        f"exact weights painted {result['zoomed_exact_ms']}; backend to first byte: block means "
        f"{result['overview_server_ms']}, exact head {result['zoomed_server_exact_ms']} (its body "
        f"{result['zoomed_transfer_exact_ms']}), queued in the browser {result['queued_ms']}; the next step "
        f"(read ahead), zoomed: {result['next_step_zoomed_ms']}",
        flush=True,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    label = f"-{args.label}" if args.label else ""
    out = RESULTS / f"frontend-long-map-{time.strftime('%Y%m%d-%H%M%S')}{label}.json"
    record = {"result": result, "label": args.label, "cpus": os.cpu_count(), "pace_ms": args.pace_ms}
    out.write_text(json.dumps(record, indent=2))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
