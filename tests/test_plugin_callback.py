"""The plugin's routes over logs written by AttentionCallback during real (tiny, CPU) Trainer runs."""

import os

import numpy as np
import pytest

from tb_attention_plugin import AttentionCallback, read_run
from tb_attention_plugin.format.metadata import STAT_NAMES

from plugin_fixtures import App
from tiny_models import make_trainer

PROBES = ["the cat sat on the mat .", ("the dog is happy", "a cat is sad")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two runs in one logdir: BERT sharing its run directory with transformers' TensorBoardCallback
    (two event files), and GPT-2 (causal, with the automatic induction probe)."""
    root = tmp_path_factory.mktemp("callback_logs")
    logdir = root / "logs"
    old = os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
    try:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(logdir / "bert")
        cb = AttentionCallback(PROBES, every_n_steps=2, names=["mat", "pair"])
        make_trainer("bert", root / "bert", cb, max_steps=4, report_to="tensorboard", learning_rate=1e-2).train()
        del os.environ["TENSORBOARD_LOGGING_DIR"]
        cb = AttentionCallback(PROBES[:1], every_n_steps=2, log_dir=logdir / "gpt2", names=["mat"])
        make_trainer("gpt2", root / "gpt2", cb, max_steps=3, learning_rate=1e-2).train()
    finally:
        os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
        if old is not None:
            os.environ["TENSORBOARD_LOGGING_DIR"] = old
    return logdir


def test_callback_logs_are_served(trained):
    app = App(trained)
    index = app.json("index")
    runs = {r["run"]: r for r in index["runs"]}
    assert set(runs) == {"bert", "gpt2"}
    for run_name, entry in runs.items():
        run = read_run(str(trained / run_name))
        assert [p["name"] for p in entry["probes"]] == run.probes
        for p in entry["probes"]:
            probe = run.probe(p["name"])
            assert p["tokens"] == probe.tokens and p["special"] == probe.special
            assert p["segments"] == probe.segments
            for k in p["kinds"]:
                assert k["steps"] == probe.steps_of(k["kind"]) and k["causal"] == probe.causal(k["kind"])
                for step in k["steps"]:
                    header, data = app.container("snapshot", run=run_name, probe=p["name"], kind=k["kind"], step=step)
                    np.testing.assert_array_equal(data, probe.quantized(step, k["kind"]))
                header, stats = app.container("stats", run=run_name, probe=p["name"], kind=k["kind"])
                assert header["steps"] == probe.stats_steps(k["kind"])
                expected = probe.stats(k["kind"])
                for i, name in enumerate(header["stats"]):
                    np.testing.assert_array_equal(stats[i], expected[name])
                assert header["head_types"] == probe.head_types(k["kind"])
    assert runs["bert"]["probes"][1]["segments"][-1] == 1  # the text pair's segment
    assert runs["gpt2"]["probes"][0]["kinds"][0]["causal"] is True
    assert "repeated random tokens" in [p["name"] for p in runs["gpt2"]["probes"]]
    induction = app.container("stats", run="gpt2", probe="repeated random tokens", kind="self")[1]
    assert np.isfinite(induction[STAT_NAMES.index("induction")]).all()


def test_scalars_of_both_event_files(trained):
    app = App(trained)
    files = os.listdir(trained / "bert")
    assert len([f for f in files if "tfevents" in f]) == 2  # transformers' file and ours
    tags = app.json("scalars", run="bert")["tags"]
    assert tags["train/loss"]["steps"] == [1, 2, 3, 4]
    assert np.isfinite(tags["train/loss"]["values"]).all()
    gpt2 = app.json("scalars", run="gpt2")["tags"]
    steps, values = read_run(str(trained / "gpt2")).scalars("train/loss")
    assert gpt2["train/loss"]["steps"] == steps.tolist()
    np.testing.assert_allclose(gpt2["train/loss"]["values"], values, rtol=1e-6)
