"""The installed `tb-attention` console script, end to end: summary (text and JSON, values checked
against read_run), replay of a Trainer run's checkpoints, --help, and clear errors for bad arguments."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from tb_attention_plugin import read_run
from tb_attention_plugin.tools.run_summary import steepest_fall
from tb_attention_plugin.devtools.synthetic import REPEATED_PROBE, write_run


def tb_attention(*args, timeout=300):
    exe = shutil.which("tb-attention")
    assert exe, "the tb-attention console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("summary") / "run"
    write_run(path, layers=2, heads=4, tokens=16, steps=12, every=100)
    return path


def test_help_of_every_command():
    for args in ((), ("replay",), ("summary",), ("export",), ("log-report",)):
        done = tb_attention(*args, "--help")
        assert done.returncode == 0 and "usage: tb-attention" in done.stdout, done.stderr


def test_summary_json_holds_the_runs_own_values(run_dir):
    done = tb_attention("summary", run_dir, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    probe = read_run(str(run_dir)).probe(REPEATED_PROBE)
    entry = next(e for e in summary["probes"] if e["probe"] == REPEATED_PROBE)
    assert entry["snapshots"] == len(probe.steps) and entry["steps"] == [probe.steps[0], probe.steps[-1]]
    expected = sorted((h["type"], h["layer"], h["head"], h["formed_step"]) for h in probe.head_types())
    assert sorted((h["type"], h["layer"], h["head"], h["formed_step"]) for h in entry["formed"]) == expected
    drift = probe.stats()["drift"][-1]
    assert entry["layers_change"] == pytest.approx(drift.mean(axis=1), abs=1e-4)
    top = entry["heads_change"][0]
    assert drift[top["layer"], top["head"]] == pytest.approx(np.nanmax(drift), abs=1e-4)
    steps, values = read_run(str(run_dir)).scalars("train/loss")
    assert summary["loss"]["first"] == {"step": int(steps[0]), "value": pytest.approx(values[0])}


def test_summary_text_names_heads_and_when_they_formed(run_dir):
    done = tb_attention("summary", run_dir)
    assert done.returncode == 0, done.stderr
    probe = read_run(str(run_dir)).probe(REPEATED_PROBE)
    late = [h for h in probe.head_types() if h["formed_step"] > probe.steps[0]]
    assert late, "the synthetic run forms heads during training"
    for h in late:
        assert f"{h['layer']}.{h['head']} at step {h['formed_step']}" in done.stdout
    assert "steepest fall" in done.stdout and "heads that changed most" in done.stdout


def test_steepest_fall_by_hand():
    steps = list(range(0, 200, 10))  # 20 points: windows of 2
    values = [3.0] * 8 + [2.9, 1.0, 0.9] + [0.8] * 9
    assert steepest_fall(steps, values) == {"from_step": 70, "to_step": 90, "from": 3.0, "to": 1.0}
    assert steepest_fall([0, 1], [1.0, 2.0]) is None and steepest_fall([0], [1.0]) is None


@pytest.mark.parametrize(
    "args, message",
    [
        (("summary", "/nonexistent/run"), "is not a directory"),
        (("replay", "--probes", "a cat"), "give a Trainer OUTPUT_DIR"),
        (("replay", "/nonexistent", "--probes", "a cat"), "is not a directory"),
        (("replay", "--checkpoint", "x:y", "--probes", "a cat", "--log-dir", "/tmp/never"), "must be an integer"),
        (("replay", "/tmp", "--probes", "a cat", "--neurons", "3"), "--neurons takes heads as LAYER.HEAD"),
        (("replay", "/tmp", "--probes", "a cat", "--attention-heads", "most"), "--attention-heads takes 'changed'"),
        (("replay", "/tmp", "--probes", "a cat", "--attention-budget", "lots"), "attention_budget must be"),
        (("log-report", "/nonexistent/run", "--to", "mlflow"), "is not a directory"),
        (("log-report", "/tmp", "--to", "comet"), "invalid choice: 'comet'"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message, tmp_path):
    done = tb_attention(*args)
    assert done.returncode == 2 and message in done.stderr, (done.returncode, done.stderr[-500:])


def test_summary_of_a_directory_without_attention_logs(tmp_path):
    done = tb_attention("summary", tmp_path)
    assert done.returncode == 2 and "holds no attention logs" in done.stderr


def test_replay_from_the_console_script(tmp_path):
    from test_replay import PROBES, train_with_callback

    out, logged, _ = train_with_callback(tmp_path, "bert")
    done = tb_attention(
        "replay", out, "--probes", PROBES[0], "--names", "sad", "--log-dir", tmp_path / "replayed", "--quiet"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "replayed 3 checkpoint(s)" in done.stdout
    a, b = read_run(str(logged)).probe("sad"), read_run(str(tmp_path / "replayed")).probe("sad")
    assert b.steps == [2, 4, 6]
    for step in b.steps:
        assert np.abs(a.attention(step) - b.attention(step)).max() <= 1 / 255 + 1e-6
    with_more = tb_attention(
        "replay",
        out,
        "--probes",
        PROBES[0],
        "--names",
        "sad",
        "--log-dir",
        tmp_path / "more",
        "--quiet",
        "--relations",
        "english",
        "--predictions",
        "3",
        "--neurons",
        "1.2",
        "0.3",
        "--neurons-every",
        "2",
        "--attention-heads",
        "0.1",
        "1.2",
    )
    assert with_more.returncode == 0, with_more.stderr[-2000:]
    more = read_run(str(tmp_path / "more"))
    assert "coref: it -> cat" in more.probes and more.probe("sad").predictions()[2]["mode"] == "label"
    assert any(m.relation == "coreference" for m in more.relations())
    sad = more.probe("sad")  # the first and third checkpoints, two heads
    assert sad.neuron_steps() == [2, 6] and sad.neurons(6)["heads"] == [(0, 3), (1, 2)]
    assert sad.stored_heads(4) == {0: (1,), 1: (2,)}  # the maps of the heads named, the statistics of all
    assert not np.isnan(sad.stats()["entropy"]).any()
    again = tb_attention(
        "replay", out, "--probes", PROBES[0], "--names", "sad", "--log-dir", tmp_path / "replayed", "--quiet"
    )
    assert again.returncode == 0 and "all were logged already" in again.stdout


def test_summary_warns_of_entropy_collapse_and_says_when_it_cannot_tell(tmp_path):
    from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

    n = 6
    with AttentionSummaryWriter(str(tmp_path / "run")) as writer:
        writer.add_probe("p", [f"w{i}" for i in range(n)])
        writer.add_probe("old", [f"w{i}" for i in range(n)])
        for i, step in enumerate((0, 10, 20, 30)):
            sharp = 1.0 - 0.5 ** (3 * i)  # head 0 turns one-hot, head 1 stays uniform
            maps = np.stack([sharp * np.eye(n) + (1 - sharp) / n, np.full((n, n), 1 / n)])[None].astype(np.float32)
            writer.add_attention(step, "p", maps, max_logits=[[5.0 * 4**i, 5.0]])  # 5, 20, 80, 320
            writer.add_attention(step, "old", maps)  # as a log written before max_logit existed
    done = tb_attention("summary", tmp_path / "run", "--json")
    entries = {e["probe"]: e for e in json.loads(done.stdout)["probes"]}
    assert entries["p"]["collapse"] == [{"layer": 0, "head": 0, "since": 30}]  # sharp from 20, logit > 100 at 30
    assert entries["old"]["collapse"] is None
    text = tb_attention("summary", tmp_path / "run").stdout
    assert "WARNING entropy collapse in 1 head(s): 0.0 from step 30" in text
    assert "entropy collapse: not checked (the log has no max_logit)" in text
