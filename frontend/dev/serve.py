#!/usr/bin/env python3
"""Frontend development without training: synthetic logs served by the real TensorBoard.

Writes synthetic attention logs (heads that form at known steps, `tb_attention_plugin/devtools/synthetic.py`,
through the real writer) into a temporary directory, runs `tensorboard --logdir` on it on 127.0.0.1
(the real plugin backend and the built bundle, under TensorBoard's own CSP), and removes the logs
when TensorBoard stops (Ctrl+C).

    python frontend/dev/serve.py                     # then open http://127.0.0.1:6007/#attention
    python frontend/dev/serve.py --encdec            # also an encoder-decoder run (t5)
    python frontend/dev/serve.py --empty             # no logs: the tab's empty state
    python frontend/dev/serve.py --layers 24 --heads 16 --tokens 256 --steps 200
    python frontend/dev/serve.py -- --load_fast=false  # flags after -- go to tensorboard

Needs the package installed (`pip install -e .`) so that TensorBoard finds the plugin, and the
bundle built (`npm run build` in frontend/; `npm run watch` rebuilds on save, reload the page).
"""

import argparse
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from tb_attention_plugin.devtools import synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLE = os.path.join(ROOT, "tb_attention_plugin", "static", "index.js")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=6007, help="0: a free port (TensorBoard prints it)")
    ap.add_argument("--encdec", action="store_true", help="also an encoder-decoder run ('t5')")
    ap.add_argument("--empty", action="store_true", help="write no logs (the tab's empty state)")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=24, help="length of the 'repeated random tokens' probe")
    ap.add_argument("--steps", type=int, default=12, help="snapshots per run")
    ap.add_argument("--runs", type=int, default=2, help="decoder-style runs")
    ap.add_argument("--logdir", help="write the logs here and keep them (default: a temporary directory)")
    ap.add_argument("tensorboard_args", nargs="*", help="after --: more flags for tensorboard")
    return ap.parse_args(argv)


def write_logs(logdir, args):
    """The logs serve.py shows (none with --empty); returns the run names."""
    os.makedirs(logdir, exist_ok=True)
    if args.empty:
        return []
    return synthetic.write_demo(
        logdir,
        layers=args.layers,
        heads=args.heads,
        tokens=args.tokens,
        steps=args.steps,
        runs=args.runs,
        encdec=args.encdec,
    )


def main(argv=None):
    args = parse_args(argv)
    if not any(ep.name == "attention" for ep in importlib.metadata.entry_points(group="tensorboard_plugins")):
        sys.exit("TensorBoard would not find the plugin: run `pip install -e .` in the checkout first")
    if not os.path.exists(BUNDLE):
        print("warning: no bundle yet: run `npm run build` in frontend/", file=sys.stderr)
    logdir = args.logdir or tempfile.mkdtemp(prefix="tb_attention_dev_")
    try:
        runs = write_logs(logdir, args)
        print(f"serve.py: {len(runs)} runs ({', '.join(runs) or 'none'}) in {logdir}", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1"]
        cmd += ["--port", str(args.port), "--reload_interval", "1", *args.tensorboard_args]
        tb = subprocess.Popen(cmd)
        # Ctrl+C reaches TensorBoard too; a SIGTERM to this script is passed on to it
        signal.signal(signal.SIGTERM, lambda *_: tb.terminate())
        try:
            return tb.wait()
        except KeyboardInterrupt:
            tb.terminate()
            return tb.wait()
    finally:
        if not args.logdir:
            shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
