"""A run's self-contained report and text summary logged to the experiment trackers users already
watch: the active W&B run and the active MLflow run (those a Trainer's report_to starts, or the
user's own), at the end of training and optionally every N snapshots (`trackers=`,
`trackers_every=` of the callbacks and AttentionRecorder), or afterwards with
`tb-attention log-report`.

- W&B: an HTML panel `tb-attention/report` (wandb.Html: the tab, shown in the run's workspace) and
  the files tb-attention/report.html and tb-attention/summary.txt of the run.
- MLflow: the artifacts tb-attention/report.html (its artifact view shows it) and
  tb-attention/summary.txt.

Neither package is imported unless asked for. A tracker with no active run is skipped with one
warning; a failure to log never stops training.
"""

import contextlib
import logging
import os
import tempfile
import warnings

from . import export
from .run_summary import format_summary, summarize

TRACKERS = ("wandb", "mlflow")
FOLDER = "tb-attention"
# The report uploaded: fewer snapshots than an export file for a large model (uint8 weights before
# compression; the statistics and curves come at every step whatever this is)
REPORT_MAX_BYTES = 64 << 20
logger = logging.getLogger(__name__)


def check_trackers(value):
    """trackers= -> a tuple of tracker names (None: none); each one's package must be installed."""
    if value is None:
        return ()
    names = (value,) if isinstance(value, str) else tuple(value)
    for name in names:
        if name not in TRACKERS:
            raise ValueError(f"trackers= takes {' and '.join(map(repr, TRACKERS))} (or a list of them), got {name!r}")
        try:
            __import__(name)
        except ImportError:
            raise ValueError(f"trackers={list(names)} needs the {name} package: pip install {name}") from None
    return tuple(dict.fromkeys(names))


def check_every(value):
    """trackers_every= -> None (only at the end) or a positive number of snapshots."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"trackers_every= takes a positive number of snapshots (or None), got {value!r}")
    return value


def _active_wandb():
    import wandb

    return wandb.run


def _active_mlflow():
    import mlflow

    run = mlflow.active_run()
    return None if run is None else run.info.run_id


def _log_wandb(run, report, summary):
    import wandb

    folder = os.path.join(run.dir, FOLDER)
    os.makedirs(folder, exist_ok=True)
    for name, text in (("report.html", report), ("summary.txt", summary)):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)
        run.save(os.path.join(folder, name), base_path=run.dir, policy="now")
    run.log({f"{FOLDER}/report": wandb.Html(report, inject=False)})
    return f"W&B run {run.id}"


def _log_mlflow(run_id, report, summary):
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as d:
        for name, text in (("report.html", report), ("summary.txt", summary)):
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(text)
        MlflowClient().log_artifacts(run_id, d, artifact_path=FOLDER)  # the active run's tracking URI
    return f"MLflow run {run_id}"


_ACTIVE = {"wandb": _active_wandb, "mlflow": _active_mlflow}
_LOG = {"wandb": _log_wandb, "mlflow": _log_mlflow}
_STARTS = {"wandb": "wandb.init or report_to='wandb'", "mlflow": "mlflow.start_run or report_to='mlflow'"}


def report_and_summary(run_dir):
    """(the report's HTML, the summary's text) of a run directory, as export and summary make them."""
    payload = export.collect(run_dir, max_bytes=REPORT_MAX_BYTES)
    return export.html(payload, export.bundle()), format_summary(summarize(run_dir))


class TrackerRuns:
    """The tracker runs the report goes to, looked up when training starts (a Trainer's report_to
    callbacks have started them; the MLflow run may be ended before ours sees the end of training)
    and again for those not found yet when the report is logged."""

    def __init__(self, names):
        self.names = names
        self._runs = {}
        self._warned = set()

    def find(self):
        for name in self.names:
            if name not in self._runs:
                found = _ACTIVE[name]()
                if found is not None:
                    self._runs[name] = found

    def log(self, run_dir, runs=None):
        """Log the report and summary of `run_dir` to each tracker's run (`runs`: {name: run} given
        explicitly, else the active ones); -> the runs logged to. Never raises: a tracker that fails
        or has no run is warned about (once for a missing run)."""
        if runs is None:
            self.find()
            runs = self._runs
        for name in self.names:
            if name not in runs and name not in self._warned:
                self._warned.add(name)
                warnings.warn(
                    f"tb-attention: no active {name} run to log the attention report to ({_STARTS[name]} "
                    f"starts one); `tb-attention log-report {run_dir} --to {name}` logs it later",
                    RuntimeWarning,
                    stacklevel=3,
                )
        if not any(name in runs for name in self.names):
            return []
        try:
            report, summary = report_and_summary(run_dir)
        except (OSError, ValueError) as e:
            warnings.warn(f"tb-attention: no attention report for the trackers: {e}", RuntimeWarning, stacklevel=3)
            return []
        logged = []
        for name in (n for n in self.names if n in runs):
            try:
                logged.append(_LOG[name](runs[name], report, summary))
            except Exception as e:  # a tracker's own failure (network, permissions) never stops training
                warnings.warn(f"tb-attention: could not log the report to {name}: {e}", RuntimeWarning, stacklevel=3)
        if logged:
            logger.info("tb-attention: attention report of %s logged to %s", run_dir, ", ".join(logged))
        return logged


@contextlib.contextmanager
def opened_runs(names, *, wandb_project=None, wandb_run_id=None, mlflow_experiment=None, mlflow_run_id=None):
    """{name: run} for `tb-attention log-report`: the W&B run `wandb_run_id` resumed (or a new one in
    `wandb_project`), the MLflow run `mlflow_run_id` (or a new one in `mlflow_experiment`); the runs
    this opened are finished on exit."""
    runs = {}
    with contextlib.ExitStack() as stack:
        if "wandb" in names:
            import wandb

            run = wandb.init(project=wandb_project, id=wandb_run_id, resume="allow" if wandb_run_id else None)
            stack.callback(run.finish)
            runs["wandb"] = run
        if "mlflow" in names:
            import mlflow

            if mlflow_run_id is None:
                if mlflow_experiment is not None:
                    mlflow.set_experiment(mlflow_experiment)
                run = mlflow.start_run()
                stack.callback(mlflow.end_run)
                mlflow_run_id = run.info.run_id
            runs["mlflow"] = mlflow_run_id
        yield runs
