"""Probe and run names holding characters RustBoard cannot carry in a blob key (`"`, `\\`, a tab,
a newline, control characters), through both of TensorBoard's loaders.

RustBoard's blob keys are base64 of a JSON array [experiment, run, tag, step, index] that it parses
into borrowed strings, so any string that needs a JSON escape fails with 400 "BadJson": the writer's
tags therefore percent-encode those characters (the display name lives in the metadata). A run
directory's name cannot be changed by the plugin: for such runs (and for tags an older writer spelled
raw) the plugin reads the snapshots from the run's own event files when the log directory is local,
and answers a clear 400 that says what to do when it is not. One TensorBoard process per loader serves
the whole module.
"""

import urllib.parse

import numpy as np
import pytest

from tb_attention_plugin.format.metadata import PLUGIN_NAME, snapshot_tag, stats_tag
from tb_attention_plugin.format.plugin_metadata import ProbeMetadata
from tb_attention_plugin import read_run
from tb_attention_plugin.format.event_file import event_files, frame_record, iter_events
from tb_attention_plugin.server.http_payload import decode_container

from plugin_fixtures import LOADERS, App, TensorBoardProcess, assert_json_error, tensorboard_env, write_run

STEPS = range(0, 9, 3)
PROBE_NAMES = [
    'She said "no" to the cat.',
    "back\\slash",
    "tab\there",
    "new\nline",
    "bell\x07 rings",
    "100% sure",
    "del\x7f",
    "Katze 猫 ünïcode",
]
BAD_RUNS = ['q"uote', "back\\slash", "tab\there"]  # run directory names RustBoard cannot serve
OLD_RUN = "old_spelling"  # tags spelled as before this fix: raw names


def q(route, **params):
    return f"data/plugin/attention/{route}?" + urllib.parse.urlencode(params)


def rewrite_old_spelling(run_dir):
    """Give every attention tag the spelling writers used before: the raw probe name."""
    (path,) = event_files(str(run_dir))
    events = list(iter_events(path))
    metas = {}
    for event in events:
        for value in event.summary.value:
            if value.HasField("metadata") and value.metadata.plugin_data.plugin_name == PLUGIN_NAME:
                metas[value.tag] = ProbeMetadata.from_json(value.metadata.plugin_data.content)
    for event in events:
        for value in event.summary.value:
            if value.tag in metas:
                meta = metas[value.tag]
                prefix = value.tag[: value.tag.index("/") + 1]
                value.tag = f"{prefix}{meta.probe}/{meta.kind}"
    with open(path, "wb") as f:
        for event in events:
            f.write(frame_record(event.SerializeToString()))


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("name_logs")
    write_run(root / "plain", STEPS, probes=PROBE_NAMES, layers=2, heads=2, n_tokens=5)
    for i, run in enumerate(BAD_RUNS):
        write_run(root / run, STEPS, probes=("p", 'say "hi"'), layers=1, heads=2, n_tokens=4, seed=10 + i)
    write_run(root / OLD_RUN, STEPS, probes=('She said "no"', "plain probe"), layers=1, heads=2, n_tokens=4, seed=20)
    rewrite_old_spelling(root / OLD_RUN)
    return root


@pytest.fixture(scope="module")
def expected(logs):
    return {run: read_run(str(logs / run)) for run in ["plain", OLD_RUN] + BAD_RUNS}


@pytest.fixture(scope="module", params=sorted(LOADERS))
def tb(request, logs, expected, tmp_path_factory):
    proc = TensorBoardProcess(logs, *LOADERS[request.param], env=tensorboard_env(tmp_path_factory.mktemp("env")))
    proc.start()
    proc.loader = request.param
    try:

        def loaded():
            runs = {r["run"]: r for r in proc.json(q("index"))["runs"]}
            return set(runs) == set(expected) and all(
                k["steps"] == list(STEPS) for r in runs.values() for p in r["probes"] for k in p["kinds"]
            )

        proc.poll(loaded, timeout=90)
        yield proc
    finally:
        proc.stop()


def test_tag_spelling_escapes_only_what_rustboard_cannot_carry():
    assert snapshot_tag('She said "no" to the cat.', "self") == "attention/She said %22no%22 to the cat./self"
    assert stats_tag("a\\b\tc\nd\x07e\x7ff", "cross") == "attention_stats/a%5Cb%09c%0Ad%07e%7Ff/cross"
    assert snapshot_tag("100% sure/x", "self") == "attention/100%25 sure%2Fx/self"
    assert snapshot_tag("Katze 猫 ünïcode [CLS]'s", "decoder") == "attention/Katze 猫 ünïcode [CLS]'s/decoder"


def test_read_run_takes_names_from_the_metadata(logs, expected):
    assert expected["plain"].probes == PROBE_NAMES
    assert expected[OLD_RUN].probes == ['She said "no"', "plain probe"]
    for run in BAD_RUNS:
        assert expected[run].probes == ["p", 'say "hi"']
        assert expected[run].probe('say "hi"').steps == list(STEPS)
    # the tags on disk hold no character that needs a JSON escape (old spelling excepted)
    for run in ["plain"] + BAD_RUNS:
        for path in event_files(str(logs / run)):
            for event in iter_events(path):
                for value in event.summary.value:
                    assert not any(c in value.tag for c in '"\\') and all(ord(c) >= 0x20 for c in value.tag)


def test_every_probe_name_is_served_by_both_loaders(tb, expected):
    runs = {r["run"]: r for r in tb.json(q("index"))["runs"]}
    assert [p["name"] for p in runs["plain"]["probes"]] == PROBE_NAMES
    probe_log = expected["plain"]
    for name in PROBE_NAMES:
        for step in STEPS:
            status, _, body = tb.get(q("snapshot", run="plain", probe=name, kind="self", step=step))
            assert status == 200, (tb.loader, name, body[:300])
            header, data = decode_container(body)
            assert header["probe"] == name
            np.testing.assert_array_equal(data, probe_log.probe(name).quantized(step))
        status, _, body = tb.get(q("snapshot", run="plain", probe=name, kind="self", step=STEPS[-1], layer=1))
        assert status == 200, (tb.loader, name, body[:300])
        np.testing.assert_array_equal(decode_container(body)[1][0], probe_log.probe(name).quantized(STEPS[-1], layer=1))
        status, _, body = tb.get(q("stats", run="plain", probe=name, kind="self"))
        assert status == 200, (tb.loader, name, body[:300])
        header, data = decode_container(body)
        np.testing.assert_array_equal(data[header["stats"].index("entropy")], probe_log.probe(name).stats()["entropy"])


def test_run_names_rustboard_cannot_carry_are_served_from_their_files(tb, expected):
    """Python loader: served by the loader. RustBoard: listed, statistics served, and snapshots read
    from the run's own event files (its blob keys cannot carry such a run name, whatever the spelling)."""
    runs = {r["run"]: r for r in tb.json(q("index"))["runs"]}
    for run in BAD_RUNS:
        assert [p["name"] for p in runs[run]["probes"]] == ["p", 'say "hi"']
        for name in ("p", 'say "hi"'):
            probe = expected[run].probe(name)
            header, data = decode_container(tb.get(q("stats", run=run, probe=name, kind="self"))[2])
            np.testing.assert_array_equal(data[0], probe.stats()["entropy"])
            for step in STEPS:
                status, ctype, body = tb.get(q("snapshot", run=run, probe=name, kind="self", step=step))
                assert status == 200, (tb.loader, run, body[:300])
                np.testing.assert_array_equal(decode_container(body)[1], probe.quantized(step))
            status, _, body = tb.get(q("snapshot", run=run, probe=name, kind="self", step=3, layer=0))
            np.testing.assert_array_equal(decode_container(body)[1][0], probe.quantized(3, layer=0))
            status, _, body = tb.get(q("snapshot", run=run, probe=name, kind="self", step=4))
            assert status == 404, (tb.loader, run, status)
    runs = {r["run"]: r for r in tb.json(q("index"))["runs"]}
    assert all(k["steps"] == list(STEPS) for run in BAD_RUNS for p in runs[run]["probes"] for k in p["kinds"])


def test_logs_with_the_old_tag_spelling_stay_readable(tb, expected):
    runs = {r["run"]: r for r in tb.json(q("index"))["runs"]}
    assert [p["name"] for p in runs[OLD_RUN]["probes"]] == ['She said "no"', "plain probe"]
    old = expected[OLD_RUN]
    for name in ('She said "no"', "plain probe"):
        header, data = decode_container(tb.get(q("stats", run=OLD_RUN, probe=name, kind="self"))[2])
        np.testing.assert_array_equal(data[0], old.probe(name).stats()["entropy"])
        status, _, body = tb.get(q("snapshot", run=OLD_RUN, probe=name, kind="self", step=6))
        assert status == 200, (tb.loader, name, body[:300])
        np.testing.assert_array_equal(decode_container(body)[1], old.probe(name).quantized(6))


def test_run_names_never_leave_the_log_directory(logs):
    app = App(logs)
    for run in ("../../etc", "..", "/etc"):
        assert app.get("snapshot", run=run, probe="p", kind="self", step=3).status_code == 404


def test_remote_log_directory_answers_what_to_do(logs, monkeypatch):
    """Where the plugin cannot read the files itself (a log directory it cannot open, or
    --logdir_spec), a refused blob key is a 400 that says how to see the run."""
    from tb_attention_plugin.server.provider import snapshot

    app = App(logs, read_files=False)

    def refuse(*args, **kwargs):
        raise snapshot.BlobKeyRefused("failed to parse blob key: BadJson")

    monkeypatch.setattr(snapshot.SnapshotReader, "read", refuse)
    response = app.get("snapshot", run=BAD_RUNS[0], probe="p", kind="self", step=3)
    message = assert_json_error(response, 400)
    assert "rename the run directory" in message.lower() and "--load_fast=false" in message, message


def test_werkzeug_app_serves_every_name(logs, expected):
    app = App(logs)
    runs = {r["run"]: r for r in app.json("index")["runs"]}
    assert set(runs) == set(expected)
    for run, log in expected.items():
        for name in log.probes:
            header, data = app.container("snapshot", run=run, probe=name, kind="self", step=3)
            np.testing.assert_array_equal(data, log.probe(name).quantized(3))
    assert_json_error(app.get("snapshot", run="plain", probe='She said "no"', kind="self", step=3), 404)


def decode_json_error(body):
    import json

    return json.loads(body)["error"]


def test_callback_default_name_with_quotes_under_rustboard(tmp_path):
    """The user's case: AttentionCallback(probes=['She said "no" to the cat.']) names the probe from
    its text; under default TensorBoard its snapshots are served."""
    from tb_attention_plugin import AttentionCallback
    from tiny_models import make_trainer

    logdir = tmp_path / "logs"
    cb = AttentionCallback(['She said "no" to the cat.'], every_n_steps=1, log_dir=logdir / "bert")
    make_trainer("bert", tmp_path, cb, max_steps=1).train()
    run = read_run(str(logdir / "bert"))
    (name,) = run.probes
    assert '"' in name
    probe = run.probe(name)
    proc = TensorBoardProcess(logdir, env=tensorboard_env(tmp_path)).start()
    try:
        proc.poll(
            lambda: any(
                p["kinds"][0]["steps"] == probe.steps for r in proc.json(q("index"))["runs"] for p in r["probes"]
            ),
            timeout=90,
        )
        for step in probe.steps:
            status, _, body = proc.get(q("snapshot", run="bert", probe=name, kind="self", step=step))
            assert status == 200, body[:300]
            np.testing.assert_array_equal(decode_container(body)[1], probe.quantized(step))
    finally:
        proc.stop()
