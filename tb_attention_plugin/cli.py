"""The `tb-attention` command: `replay` saved checkpoints into attention logs, `summary` of a run.

    tb-attention replay OUTPUT_DIR --probes "The cat sat on the mat." [--log-dir DIR]
    tb-attention summary RUN_DIR [--json]

`replay` needs the training extras (torch, transformers), imported only when it runs.
"""

import argparse
import json
import os
import sys


def _replay(args):
    from .callback.replay import replay  # torch and transformers: only for this command

    source = args.source
    if args.checkpoint:
        if source is not None:
            raise ValueError("give either OUTPUT_DIR or --checkpoint DIR:STEP, not both")
        source = args.checkpoint
    elif source is None:
        raise ValueError("give a Trainer OUTPUT_DIR (its checkpoint-N folders) or --checkpoint DIR:STEP")
    options = {} if args.max_tokens is None else {"max_tokens": args.max_tokens}
    steps = replay(
        source,
        args.probes,
        args.log_dir,
        names=args.names,
        tokenizer=args.tokenizer,
        base_model=args.base_model,
        progress=not args.quiet,
        **options,
    )
    where = args.log_dir or os.path.join(source, "runs", "replay")
    print(
        f"replayed {len(steps)} checkpoint(s) into {where}"
        + (f" (steps {steps[0]}..{steps[-1]})" if steps else " (all were logged already)")
    )


def _summary(args):
    from .run_summary import format_summary, summarize

    if not os.path.isdir(args.run_dir):
        raise FileNotFoundError(f"{args.run_dir} is not a directory: pass a run directory holding event files")
    summary = summarize(args.run_dir)
    if not summary["probes"]:
        raise ValueError(f"{args.run_dir} holds no attention logs (is it the run directory, one level down?)")
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))


def parser():
    ap = argparse.ArgumentParser(prog="tb-attention", description="Attention heads over training, in TensorBoard.")
    commands = ap.add_subparsers(dest="command", required=True)
    replay = commands.add_parser(
        "replay",
        help="run probes through every saved checkpoint and write attention logs",
        description="Load every checkpoint-N of a Trainer output directory in step order (one model at a time), "
        "run the probes as the callback does, and write the same logs, with loss and metrics from "
        "trainer_state.json. Re-running skips the checkpoints already logged.",
    )
    replay.add_argument("source", nargs="?", help="a Trainer output directory holding checkpoint-N folders")
    replay.add_argument(
        "--checkpoint",
        action="append",
        metavar="DIR:STEP",
        help="a model directory and its step (repeatable), instead of OUTPUT_DIR",
    )
    replay.add_argument("--probes", nargs="+", required=True, metavar="TEXT", help="probe sentences")
    replay.add_argument("--names", nargs="+", help="a name per probe (default: from the text)")
    replay.add_argument("--log-dir", help="run directory to write (default: OUTPUT_DIR/runs/replay)")
    replay.add_argument("--tokenizer", help="tokenizer directory (default: the one saved with the checkpoints)")
    replay.add_argument("--base-model", help="base model directory of PEFT adapter checkpoints")
    replay.add_argument("--max-tokens", type=int, help="tokens per probe at most (default: as the callback)")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(run=_replay)
    summary = commands.add_parser(
        "summary",
        help="where the loss fell, which heads formed and when, what changed most",
        description="A plain-text report of one run directory's attention logs.",
    )
    summary.add_argument("run_dir", help="a run directory holding event files")
    summary.add_argument("--json", action="store_true", help="print JSON instead of text")
    summary.set_defaults(run=_summary)
    return ap


def main(argv=None):
    ap = parser()
    args = ap.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, KeyError) as e:
        ap.exit(2, f"tb-attention {args.command}: error: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
