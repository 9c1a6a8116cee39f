"""trackers=: the run's self-contained report and summary logged to the active W&B run (wandb offline)
and MLflow run (a local SQLite tracking store) at the end of training and every N snapshots, and by
`tb-attention log-report`; read back byte for byte."""

import glob
import os
import subprocess
import shutil
import sys

import pytest

from tb_attention_plugin import AttentionCallback, AttentionRecorder
from tb_attention_plugin.tools.trackers import report_and_summary
from tiny_models import make_trainer, tiny_model, word_tokenizer, TOKENIZER_KIND

wandb = pytest.importorskip("wandb")
mlflow = pytest.importorskip("mlflow")
PROBES = ["the cat sat on the mat ."]


@pytest.fixture
def trackers_here(tmp_path, monkeypatch):
    """wandb offline under tmp_path, MLflow's tracking store a SQLite file there."""
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "WANDB_SILENT": "true",
        "WANDB_PROJECT": "tb-attention-test",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLFLOW_EXPERIMENT_NAME": "tb-attention-test",
    }.items():
        monkeypatch.setenv(key, value)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("tb-attention-test")  # in this store (the fluent API remembers the last one)
    yield tmp_path
    if wandb.run is not None:
        wandb.finish()
    wandb.teardown()  # the next test's wandb reads its settings (WANDB_DIR) afresh
    if mlflow.active_run() is not None:
        mlflow.end_run()


def wandb_files(tmp_path, name):
    return sorted(glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "files" / name)))


def mlflow_artifact(run_id, name, tmp_path):
    folder = tmp_path / f"download-{run_id}-{name}"
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=f"tb-attention/{name}", dst_path=str(folder)
    )
    with open(path, "rb") as f:
        return f.read()


def only_mlflow_run():
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    return run.info.run_id


def test_the_trainer_logs_the_report_to_its_wandb_and_mlflow_runs(trackers_here):
    tmp_path = trackers_here
    cb = AttentionCallback(PROBES, every_n_steps=2, log_dir=str(tmp_path / "run"), trackers=["wandb", "mlflow"])
    make_trainer("bert", tmp_path, cb, max_steps=3, report_to=["wandb", "mlflow"]).train()
    report, summary = (text.encode("utf-8") for text in report_and_summary(cb.log_dir))
    assert b"tb-attention-data" in report and b"the cat sat" in report
    (saved,) = wandb_files(tmp_path, "tb-attention/report.html")
    (panel,) = wandb_files(tmp_path, "media/html/tb-attention/report_*.html")  # the run's HTML panel
    (saved_summary,) = wandb_files(tmp_path, "tb-attention/summary.txt")
    for path, want in ((saved, report), (panel, report), (saved_summary, summary)):
        with open(path, "rb") as f:
            assert f.read() == want, path
    run_id = only_mlflow_run()  # the run transformers' MLflowCallback started (and may have ended)
    assert mlflow_artifact(run_id, "report.html", tmp_path) == report
    assert mlflow_artifact(run_id, "summary.txt", tmp_path) == summary


def test_a_custom_loop_logs_every_n_snapshots_and_at_the_end(trackers_here):
    tmp_path = trackers_here
    tok = word_tokenizer(TOKENIZER_KIND["bert"])
    wandb.init()
    mlflow.start_run()
    with AttentionRecorder(
        tiny_model("bert", len(tok)), tok, PROBES, tmp_path / "run", trackers="wandb", trackers_every=2
    ) as rec:
        for step in range(5):
            rec.snapshot(step)  # the report after snapshots 2 and 4, then at the end
    assert len(wandb_files(tmp_path, "media/html/tb-attention/report_*.html")) == 3
    with open(wandb_files(tmp_path, "tb-attention/report.html")[0], "rb") as f:
        assert f.read() == report_and_summary(tmp_path / "run")[0].encode("utf-8")
    assert not mlflow.artifacts.list_artifacts(run_id=mlflow.active_run().info.run_id)  # not asked for


def test_no_active_run_is_a_warning_and_training_goes_on(trackers_here):
    tok = word_tokenizer(TOKENIZER_KIND["bert"])
    with pytest.warns(RuntimeWarning, match=r"no active mlflow run .*tb-attention log-report .* --to mlflow"):
        with AttentionRecorder(
            tiny_model("bert", len(tok)), tok, PROBES, trackers_here / "run", trackers="mlflow"
        ) as rec:
            rec.snapshot(0)


def test_the_command_logs_a_run_afterwards(trackers_here):
    tmp_path = trackers_here
    from tb_attention_plugin.devtools.synthetic import write_run

    write_run(tmp_path / "run", layers=2, heads=2, tokens=8, steps=3)
    exe = shutil.which("tb-attention")
    done = subprocess.run(
        [exe, "log-report", str(tmp_path / "run"), "--to", "mlflow", "--mlflow-experiment", "later"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "logged to MLflow run" in done.stdout
    report, summary = report_and_summary(tmp_path / "run")
    run_id = only_mlflow_run()
    assert mlflow_artifact(run_id, "report.html", tmp_path) == report.encode("utf-8")
    assert mlflow_artifact(run_id, "summary.txt", tmp_path) == summary.encode("utf-8")


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(trackers="comet"), r"trackers= takes 'wandb' and 'mlflow'"),
        (dict(trackers="wandb", trackers_every=0), "trackers_every= takes a positive number"),
    ],
)
def test_bad_tracker_options_fail_when_the_callback_is_made(options, message):
    with pytest.raises(ValueError, match=message):
        AttentionCallback(PROBES, **options)


def test_a_tracker_that_is_not_installed_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # what `import wandb` does without the package
    with pytest.raises(ValueError, match=r"needs the wandb package: pip install wandb"):
        AttentionCallback(PROBES, trackers=["wandb"])
