"""The `tb-attention` command: `replay` saved checkpoints into attention logs, `summary` of a run,
`export` of a run as one HTML file, `log-report` of it to W&B / MLflow.

    tb-attention replay OUTPUT_DIR --probes "The cat sat on the mat." [--log-dir DIR]
    tb-attention replay ORG/MODEL --revisions step1000..step20000 --log-dir DIR --probes "..."
    tb-attention summary RUN_DIR [--json]
    tb-attention export RUN_DIR -o report.html [--probe P ...] [--steps 0,100,200|all]
    tb-attention log-report RUN_DIR --to wandb --to mlflow [--wandb-run-id ID] [--mlflow-run-id ID]

`replay` needs the training extras (torch, transformers), imported only when it runs.
"""

import argparse
import json
import os
import sys


def _neurons_option(args):
    """--neurons [L.H ...] and --neurons-every K -> the callback's neurons= value (or None)."""
    if args.neurons is None:
        return None
    heads = []
    for item in args.neurons:
        layer, dot, head = item.partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise ValueError(f"--neurons takes heads as LAYER.HEAD (e.g. 0.3), got {item!r}")
        heads.append((int(layer), int(head)))
    return {"heads": heads or "all", "every": args.neurons_every}


def _heads_option(value):
    """--attention-heads changed | rotate | L.H [L.H ...] -> the callback's attention_heads= value."""
    if value in (["changed"], ["rotate"]):
        return value[0]
    heads = []
    for item in value:
        layer, dot, head = item.partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise ValueError(f"--attention-heads takes 'changed', 'rotate' or heads as LAYER.HEAD, got {item!r}")
        heads.append((int(layer), int(head)))
    return heads


def _replay(args):
    from .callback.replay import replay  # torch and transformers: only for this command

    source = args.source
    if args.checkpoint:
        if source is not None:
            raise ValueError("give either OUTPUT_DIR or --checkpoint DIR:STEP, not both")
        source = args.checkpoint
    elif source is None:
        raise ValueError(
            "give a Trainer OUTPUT_DIR (its checkpoint-N folders), a hub ORG/MODEL with --revisions, "
            "or --checkpoint DIR:STEP"
        )
    options = {} if args.max_tokens is None else {"max_tokens": args.max_tokens}
    options.update(relations=args.relations, predictions=args.predictions, neurons=_neurons_option(args))
    options.update(attention_budget=args.attention_budget, attention_heads=_heads_option(args.attention_heads))
    steps = replay(
        source,
        args.probes,
        args.log_dir,
        names=args.names,
        tokenizer=args.tokenizer,
        base_model=args.base_model,
        progress=not args.quiet,
        revisions=args.revisions,
        keep_downloads=not args.delete_downloads,
        **options,
    )
    where = args.log_dir or os.path.join(source, "runs", "replay")
    print(
        f"replayed {len(steps)} checkpoint(s) into {where}"
        + (f" (steps {steps[0]}..{steps[-1]})" if steps else " (all were logged already)")
    )


def _summary(args):
    from .tools.run_summary import format_summary, summarize

    if not os.path.isdir(args.run_dir):
        raise FileNotFoundError(f"{args.run_dir} is not a directory: pass a run directory holding event files")
    summary = summarize(args.run_dir)
    if not summary["probes"]:
        raise ValueError(f"{args.run_dir} holds no attention logs (is it the run directory, one level down?)")
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))


def _export(args):
    from .tools.export import DEFAULT_MAX_BYTES, DEFAULT_MAX_STEPS, export, parse_steps

    steps = None if args.steps is None else parse_steps(args.steps)
    max_steps = DEFAULT_MAX_STEPS if args.max_steps is None else args.max_steps
    if max_steps < 1:
        raise ValueError("--max-steps must be at least 1")
    if steps is not None and args.max_steps is not None:
        raise ValueError("give --steps or --max-steps, not both")
    budget = DEFAULT_MAX_BYTES if steps is None and args.max_steps is None else None
    payload, size = export(args.run_dir, args.output, args.probe, steps, max_steps, budget)
    probes, shown = payload["index"]["runs"][0]["probes"], payload["steps"]
    print(
        f"wrote {args.output}: {size / 2**20:.1f} MiB, {len(probes)} probe(s), "
        f"{len(shown)} of {payload['logged_steps']} logged steps ({shown[0]}..{shown[-1]})"
    )
    if budget is not None and len(shown) < min(max_steps, payload["logged_steps"]):
        print(f"(fewer than {max_steps} steps: a large model; --max-steps N or --steps all for more)")


def _export_parser(commands):
    export = commands.add_parser(
        "export",
        help="one self-contained HTML file of a run, to open offline in a browser",
        description="Write the Attention tab of one run directory, with its data, into ONE HTML file that "
        "works opened from disk (no server, no network): the timeline, the layers x heads grid, the head "
        "view and the head evolution. Snapshots at a subset of steps (by default at most "
        "30, evenly spread, the first and last included); statistics and curves at every step.",
    )
    export.add_argument("run_dir", help="a run directory holding event files")
    export.add_argument("-o", "--output", required=True, help="the HTML file to write")
    export.add_argument(
        "--probe", action="append", metavar="P", help="a probe to include (repeatable; default: every probe)"
    )
    export.add_argument("--steps", help="snapshot steps to include: 'all' or a list such as 0,100,200")
    export.add_argument(
        "--max-steps",
        type=int,
        help="without --steps: at most this many steps (default 30, fewer for a large model: about 256 MiB "
        "of snapshots)",
    )
    export.set_defaults(run=_export)


def _replay_parser(commands):
    replay = commands.add_parser(
        "replay",
        help="run probes through every saved checkpoint and write attention logs",
        description="Load every checkpoint-N of a Trainer output directory in step order (one model at a time), "
        "run the probes as the callback does, and write the same logs, with loss and metrics from "
        "trainer_state.json; or the revisions of a published checkpoint series on the hub (Pythia, OLMo), "
        "through the standard cache (HF_HUB_OFFLINE=1: the revisions already there). "
        "Re-running skips the checkpoints already logged.",
    )
    _source_arguments(replay)
    replay.add_argument("--probes", nargs="+", required=True, metavar="TEXT", help="probe sentences")
    replay.add_argument("--names", nargs="+", help="a name per probe (default: from the text)")
    replay.add_argument("--log-dir", help="run directory to write (default: OUTPUT_DIR/runs/replay)")
    replay.add_argument("--tokenizer", help="tokenizer directory (default: the one saved with the checkpoints)")
    replay.add_argument("--base-model", help="base model directory of PEFT adapter checkpoints")
    replay.add_argument("--max-tokens", type=int, help="tokens per probe at most (default: as the callback)")
    replay.add_argument(
        "--relations", help="add relation probes: 'english' (built in) or a JSON / JSONL file of relation probes"
    )
    replay.add_argument(
        "--predictions", type=int, metavar="K", help="also store the model's top-K predictions on each probe"
    )
    replay.add_argument(
        "--neurons",
        nargs="*",
        metavar="L.H",
        help="also store query and key vectors for the neuron view: of the heads named (e.g. 0.3 5.1), or of "
        "every head when none is named",
    )
    replay.add_argument(
        "--neurons-every", type=int, default=1, metavar="K", help="with --neurons: every K-th checkpoint only"
    )
    _storage_arguments(replay)
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(run=_replay)


def _source_arguments(replay):
    """Where the checkpoints come from: an output directory, hub revisions, or directories with steps."""
    replay.add_argument(
        "source", nargs="?", help="a Trainer output directory holding checkpoint-N folders, or a hub ORG/MODEL"
    )
    replay.add_argument(
        "--revisions",
        nargs="+",
        metavar="REV",
        help="with ORG/MODEL: hub revisions to replay, by name (step1000 step2000, or NAME:STEP when the name "
        "holds no step) or as ranges among the repository's revisions (step1000..step20000; "
        "0..143000..10000 keeps revisions at least 10000 steps apart); commas work too",
    )
    replay.add_argument(
        "--delete-downloads",
        action="store_true",
        help="with --revisions: delete each revision downloaded from the hub cache once its snapshot is written "
        "(what the cache held before stays)",
    )
    replay.add_argument(
        "--checkpoint",
        action="append",
        metavar="DIR:STEP",
        help="a model directory and its step (repeatable), instead of OUTPUT_DIR; a hub ORG/MODEL[@REV] works "
        "too, its step from its name when it holds one (MultiBERTs' ..._step_20k)",
    )


def _storage_arguments(replay):
    """The storage budget's two options (the callback's attention_budget= and attention_heads=)."""
    replay.add_argument(
        "--attention-budget",
        metavar="SIZE",
        help="what the checkpoints' attention maps may take, e.g. 500MB (default 4GB); beyond it, the maps of "
        "the heads --attention-heads chooses and the statistics of every head",
    )
    replay.add_argument(
        "--attention-heads",
        nargs="+",
        default=["changed"],
        metavar="CHOICE",
        help="heads that keep their maps when not all fit: changed (default), rotate, or heads as LAYER.HEAD",
    )


def _summary_parser(commands):
    summary = commands.add_parser(
        "summary",
        help="where the loss fell, which heads formed and when, what changed most",
        description="A plain-text report of one run directory's attention logs.",
    )
    summary.add_argument("run_dir", help="a run directory holding event files")
    summary.add_argument("--json", action="store_true", help="print JSON instead of text")
    summary.set_defaults(run=_summary)


def _log_report(args):
    from .tools.trackers import TrackerRuns, check_trackers, opened_runs

    if not os.path.isdir(args.run_dir):
        raise FileNotFoundError(f"{args.run_dir} is not a directory: pass a run directory holding event files")
    names = check_trackers(args.to)
    options = {k: getattr(args, k) for k in ("wandb_project", "wandb_run_id", "mlflow_experiment", "mlflow_run_id")}
    with opened_runs(names, **options) as runs:
        logged = TrackerRuns(names).log(args.run_dir, runs)
    if len(logged) < len(names):
        raise ValueError("the report did not reach every tracker (see the warnings above)")
    print(f"attention report and summary of {args.run_dir} logged to {', '.join(logged)}")


def _log_report_parser(commands):
    log_report = commands.add_parser(
        "log-report",
        help="log a run's HTML report and summary to a W&B and/or an MLflow run",
        description="Log the self-contained report (as `export` writes it) and the text summary of one run "
        "directory to a W&B run (an HTML panel and the files tb-attention/report.html, summary.txt) and/or an "
        "MLflow run (artifacts tb-attention/report.html, summary.txt). The callbacks do it at the end of "
        "training with trackers=.",
    )
    log_report.add_argument("run_dir", help="a run directory (holding the .attention event files)")
    log_report.add_argument("--to", action="append", required=True, choices=["wandb", "mlflow"], help="a tracker")
    log_report.add_argument("--wandb-project", help="W&B project of a new run (default: W&B's own)")
    log_report.add_argument("--wandb-run-id", help="an existing W&B run to add the report to")
    log_report.add_argument("--mlflow-experiment", help="MLflow experiment of a new run (default: MLflow's own)")
    log_report.add_argument("--mlflow-run-id", help="an existing MLflow run to add the report to")
    log_report.set_defaults(run=_log_report)


def parser():
    ap = argparse.ArgumentParser(prog="tb-attention", description="Attention heads over training, in TensorBoard.")
    commands = ap.add_subparsers(dest="command", required=True)
    _replay_parser(commands)
    _summary_parser(commands)
    _export_parser(commands)
    _log_report_parser(commands)
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
