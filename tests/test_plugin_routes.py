"""The plugin's routes over TensorBoard's Python data provider, checked against the numpy reader."""

import argparse
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from tb_attention_plugin.format.blobs import ENCODING_DELTA, layer_blob_info
from tb_attention_plugin.format.metadata import FORMAT_VERSION, SNAPSHOT_TAG_PREFIX, STAT_NAMES
from tb_attention_plugin import read_run
from tb_attention_plugin.format.event_file import event_files, iter_events
from tb_attention_plugin.server.data import AttentionData
from tb_attention_plugin.server.entry import AttentionLoader
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter
from tb_attention_plugin.devtools.synthetic import DriftingMaps

from plugin_fixtures import REPO, App, assert_json_error, tokens, write_run


def layer_encodings(run_dir):
    """Encoding (keyframe/delta) of every layer blob in a run's files."""
    found = []
    for path in event_files(str(run_dir)):
        for event in iter_events(path):
            for value in event.summary.value:
                if value.tag.startswith(SNAPSHOT_TAG_PREFIX):
                    found += [layer_blob_info(b)[0] for b in value.tensor.string_val[1:]]
    return found


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    write_run(root / "b_run", range(0, 60, 3), probes=("first", "second"), layers=2, heads=3, n_tokens=7)
    write_run(root / "a_causal", range(0, 20, 2), layers=3, heads=2, n_tokens=5, causal=True, seed=5)
    w = AttentionSummaryWriter(str(root / "scalars_only"))
    w.add_scalar("train/loss", 1.0, 1)
    w.close()
    return root


@pytest.fixture(scope="module", params=["files", "provider"])
def app(logs, request):
    """The plugin reading the run's files (the default), and through the data provider only (a log
    directory it cannot read itself): every route answers the same."""
    return App(logs, read_files=request.param == "files")


def test_index_lists_runs_with_attention_probes_kinds_and_steps(app):
    index = app.json("index")
    assert index["version"] == FORMAT_VERSION
    assert [r["run"] for r in index["runs"]] == ["a_causal", "b_run"]  # no "scalars_only"
    b = index["runs"][1]
    assert [p["name"] for p in b["probes"]] == ["first", "second"]  # the order they were added in
    probe = b["probes"][0]
    assert probe["tokens"] == tokens(7)
    assert probe["special"] == [True] + [False] * 5 + [True]
    assert probe["segments"] == [0] * 7
    assert probe["decoder_tokens"] is None and probe["decoder_special"] is None
    assert probe["kinds"] == [
        {
            "kind": "self",
            "layers": 2,
            "heads": 3,
            "query": "tokens",
            "key": "tokens",
            "causal": False,
            "steps": list(range(0, 60, 3)),
            "neuron_steps": [],
            "neuron_heads": [],
        }
    ]
    causal = index["runs"][0]["probes"][0]["kinds"][0]
    assert causal["causal"] is True and causal["layers"] == 3 and causal["steps"] == list(range(0, 20, 2))


def test_snapshot_bytes_equal_the_stored_quantized_values(app, logs):
    assert ENCODING_DELTA in layer_encodings(logs / "b_run")  # the keyframe path is exercised
    run = read_run(str(logs / "b_run"))
    for name in ("first", "second"):
        probe = run.probe(name)
        for step in probe.steps:
            header, data = app.container("snapshot", run="b_run", probe=name, kind="self", step=step)
            assert data.dtype == np.uint8
            np.testing.assert_array_equal(data, probe.quantized(step))
            assert header["step"] == step and header["layers"] == [0, 1] and header["heads"] == 3
            assert (header["query_len"], header["key_len"]) == (7, 7)
            assert header["shape"] == [2, 3, 7, 7] and header["dtype"] == "uint8"
            assert header["scale"] == pytest.approx(1 / 255)
            sums = data.sum(axis=-1, dtype=np.int64)
            assert np.all(np.abs(sums - 255) <= 1)


def test_single_layer_snapshot(app, logs):
    probe = read_run(str(logs / "a_causal")).probe("p")
    for step in probe.steps[::3]:
        for layer in range(3):
            header, data = app.container("snapshot", run="a_causal", probe="p", kind="self", step=step, layer=layer)
            assert header["layers"] == [layer] and data.shape == (1, 2, 5, 5)
            np.testing.assert_array_equal(data[0], probe.quantized(step, layer=layer))
            assert not np.triu(data[0], 1).any()  # causal maps stay causal


def test_stats_equal_the_reader_with_head_types_and_thresholds(app, logs):
    probe = read_run(str(logs / "b_run")).probe("second")
    header, data = app.container("stats", run="b_run", probe="second", kind="self")
    expected = probe.stats()
    assert header["stats"] == list(STAT_NAMES) and header["steps"] == probe.stats_steps()
    assert data.dtype == np.float32 and data.shape == (len(STAT_NAMES), len(probe.stats_steps()), 2, 3)
    for i, name in enumerate(header["stats"]):
        np.testing.assert_array_equal(data[i], expected[name])
    assert header["head_types"] == probe.head_types()
    assert header["thresholds"]["prev"] == 0.5 and header["thresholds"]["induction"] == 0.4
    assert (header["layers"], header["heads"]) == (2, 3)


def test_scalars_come_from_the_data_provider(app, logs):
    body = app.json("scalars", run="b_run")
    steps, values = read_run(str(logs / "b_run")).scalars("train/loss")
    assert body["run"] == "b_run"
    assert body["tags"]["train/loss"]["steps"] == steps.tolist()
    np.testing.assert_allclose(body["tags"]["train/loss"]["values"], values, rtol=1e-6)
    assert app.json("scalars", run="scalars_only")["tags"]["train/loss"]["steps"] == [1]


def test_frontend_metadata_and_routes(app):
    meta = app.plugin.frontend_metadata()
    assert meta.es_module_path == "/index.js" and meta.tab_name == "Attention"
    assert app.plugin.plugin_name == "attention"
    assert "attention" in app.plugin.data_plugin_names()
    assert {"/index", "/snapshot", "/stats", "/scalars", "/index.js"} <= set(app.plugin.get_plugin_apps())


def test_missing_bundle_serves_a_module_that_says_how_to_build_it(logs, tmp_path):
    app = App(logs, static_dir=tmp_path / "nothing")
    r = app.get("index.js")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")
    text = r.get_data(as_text=True)
    assert "export function render" in text and "npm run build" in text
    assert_json_error(app.get("chunk.js"), 404)


def test_static_files_are_served_from_the_static_dir(logs, tmp_path):
    static = tmp_path / "static"
    (static / "workers").mkdir(parents=True)
    (static / "index.js").write_text("export function render() {}\n")
    (static / "chunk-1.js").write_text("export const x = 1;\n")
    (static / "workers" / "decode.js").write_text("self.onmessage = () => {};\n")
    (static / "style.css").write_text("body {}\n")
    app = App(logs, static_dir=static)
    for name, ctype, text in [
        ("index.js", "text/javascript", "render"),
        ("chunk-1.js", "text/javascript", "x = 1"),
        ("workers/decode.js", "text/javascript", "onmessage"),
        ("style.css", "text/css", "body"),
    ]:
        r = app.get(name)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(ctype), name
        assert text in r.get_data(as_text=True)
    assert_json_error(app.get("missing.js"), 404)


def test_new_steps_show_up_after_a_reload(tmp_path):
    writer, maps = write_run(tmp_path / "live", range(3), close=False)
    app = App(tmp_path)
    assert app.json("index")["runs"][0]["probes"][0]["kinds"][0]["steps"] == [0, 1, 2]
    assert app.container("stats", run="live", probe="p", kind="self")[0]["steps"] == [0, 1, 2]
    write_run(tmp_path / "live", range(3, 6), writer=writer, maps=maps)
    app.reload()
    assert app.json("index")["runs"][0]["probes"][0]["kinds"][0]["steps"] == list(range(6))
    assert app.container("stats", run="live", probe="p", kind="self")[0]["steps"] == list(range(6))
    probe = read_run(str(tmp_path / "live")).probe("p")
    np.testing.assert_array_equal(
        app.container("snapshot", run="live", probe="p", kind="self", step=5)[1], probe.quantized(5)
    )


def test_resumed_run_steps_sorted_and_deduplicated(tmp_path):
    """The latest record of a step wins for snapshots, stats and scalars alike: the plugin reads the
    run's files itself (the Python loader alone would hand out the FIRST blob sequence of a step)."""
    run_dir = tmp_path / "resumed"
    write_run(run_dir, range(10), seed=1)
    first = read_run(str(run_dir)).probe("p")
    # A resume from a checkpoint at step 5 rewrites steps 5.. into a new file with other maps.
    write_run(run_dir, range(5, 12), seed=2)
    app = App(tmp_path)
    latest = read_run(str(run_dir)).probe("p")
    steps = app.json("index")["runs"][0]["probes"][0]["kinds"][0]["steps"]
    assert steps == latest.steps == list(range(12))
    for step in range(12):
        served = app.container("snapshot", run="resumed", probe="p", kind="self", step=step)[1]
        np.testing.assert_array_equal(served, latest.quantized(step))
        if 5 <= step < 10:
            assert not np.array_equal(served, first.quantized(step))
    header, data = app.container("stats", run="resumed", probe="p", kind="self")
    assert header["steps"] == list(range(12))
    np.testing.assert_array_equal(data[0], latest.stats()["entropy"])
    scalars = app.json("scalars", run="resumed")["tags"]["train/loss"]
    assert scalars["steps"] == list(range(12))


def test_concurrent_requests_with_a_tiny_decoded_layer_cache(app, logs):
    original = app.plugin._data
    data = AttentionData(original._provider, logdir=str(logs), read_files=original.reads_files, decoded_cache_bytes=200)
    app.plugin._data = data  # constant eviction
    probe = read_run(str(logs / "b_run")).probe("first")
    errors = []

    def worker(offset):
        try:
            for step in probe.steps[offset::4]:
                _, data = app.container("snapshot", run="b_run", probe="first", kind="self", step=step)
                np.testing.assert_array_equal(data, probe.quantized(step))
                app.json("index")
                app.container("stats", run="b_run", probe="first", kind="self")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    app.plugin._data = original
    assert not errors, errors[:3]
    decoded = data.source._decoded if data.reads_files else data.source._snapshots.decoded
    assert decoded.nbytes <= 200


def test_fix_flags_keeps_one_sample_when_the_plugin_reads_the_files(tmp_path):
    loader = AttentionLoader()
    flags = argparse.Namespace(samples_per_plugin={}, reload_multifile=None, logdir=str(tmp_path), logdir_spec="")
    loader.fix_flags(flags)
    assert flags.samples_per_plugin == {"attention": 1} and flags.reload_multifile is True
    assert loader._read_files is True
    flags = argparse.Namespace(samples_per_plugin={"attention": 7, "images": 3}, reload_multifile=False, logdir="x")
    loader.fix_flags(flags)
    assert flags.samples_per_plugin == {"attention": 7, "images": 3} and flags.reload_multifile is False
    flags = argparse.Namespace(samples_per_plugin="images=3", reload_multifile=None, logdir=str(tmp_path))
    loader.fix_flags(flags)  # configure(...) hands over the string
    assert flags.samples_per_plugin == {"images": 3, "attention": 1}


@pytest.mark.parametrize(
    "logdir, spec",
    [("", "a:/tmp/a,b:/tmp/b"), ("unknownfs://bucket/logs", ""), ("", "")],
    ids=["logdir_spec", "unreadable URL", "no logdir"],
)
def test_fix_flags_keeps_every_sample_where_the_plugin_cannot_read_the_files(logdir, spec, caplog):
    loader = AttentionLoader()
    flags = argparse.Namespace(samples_per_plugin={}, reload_multifile=None, logdir=logdir, logdir_spec=spec)
    with caplog.at_level(logging.WARNING):
        loader.fix_flags(flags)
    assert flags.samples_per_plugin == {"attention": 0} and loader._read_files is False
    assert any("keep every attention record in memory" in r.getMessage() for r in caplog.records)


def test_fix_flags_through_tensorboards_own_flag_parsing(tmp_path):
    from tensorboard import program
    from tensorboard.plugins.core import core_plugin

    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader(), AttentionLoader()])
    tb.configure(argv=["tensorboard", "--logdir", str(tmp_path)])
    assert tb.flags.samples_per_plugin["attention"] == 1 and tb.flags.reload_multifile is True
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader(), AttentionLoader()])
    tb.configure(
        argv=[
            "tensorboard",
            "--logdir",
            str(tmp_path),
            "--samples_per_plugin",
            "attention=5",
            "--reload_multifile",
            "false",
        ]
    )
    assert tb.flags.samples_per_plugin["attention"] == 5 and tb.flags.reload_multifile is False


def test_plugin_side_never_imports_torch_or_transformers():
    code = (
        "import sys; import tb_attention_plugin.server.entry as e; import tb_attention_plugin.server.routes; "
        "import tb_attention_plugin.server.data, tb_attention_plugin.server.http_payload; "
        "e.AttentionLoader().fix_flags(type('F', (), {'samples_per_plugin': {}, 'reload_multifile': None})()); "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_entry_point_takes_the_format_names_without_numpy_or_zstandard():
    """TensorBoard imports the entry point at start-up: it reads PLUGIN_NAME from format/metadata.py
    (the format's names), which imports the standard library only."""
    code = (
        "import sys; import tb_attention_plugin.server.entry as e; "
        "from tb_attention_plugin.format import metadata as f; "
        "e.AttentionLoader().fix_flags(type('F', (), {'samples_per_plugin': {}, 'reload_multifile': None})()); "
        "assert e.PLUGIN_NAME == f.PLUGIN_NAME == 'attention'; "
        "bad = [m for m in ('numpy', 'zstandard', 'torch', 'transformers') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_loader_builds_the_plugin(app):
    from tensorboard.plugins import base_plugin

    plugin = AttentionLoader().load(base_plugin.TBContext(data_provider=app.plugin._data._provider))
    assert plugin.plugin_name == "attention"


def test_encoder_decoder_kinds(tmp_path):
    w = AttentionSummaryWriter(str(tmp_path / "s2s"))
    w.add_probe("tr", tokens(5), decoder_tokens=["<s>", "a", "b", "</s>"], decoder_special=[1, 0, 0, 1])
    enc, dec, cross = (DriftingMaps(2, 2, q, k, seed=s) for s, q, k in ((0, 5, 5), (1, 4, 4), (2, 4, 5)))
    for step in range(3):
        w.add_attention(step, "tr", enc.next(), kind="encoder")
        w.add_attention(step, "tr", dec.next(), kind="decoder")
        w.add_attention(step, "tr", cross.next(), kind="cross")
    w.close()
    app = App(tmp_path)
    probe = app.json("index")["runs"][0]["probes"][0]
    assert probe["decoder_tokens"] == ["<s>", "a", "b", "</s>"] and probe["decoder_special"] == [
        True,
        False,
        False,
        True,
    ]
    kinds = {k["kind"]: k for k in probe["kinds"]}
    assert list(kinds) == ["encoder", "decoder", "cross"]
    assert (kinds["cross"]["query"], kinds["cross"]["key"]) == ("decoder_tokens", "tokens")
    assert kinds["decoder"]["causal"] is True
    header, data = app.container("snapshot", run="s2s", probe="tr", kind="cross", step=2)
    assert (header["query_len"], header["key_len"]) == (4, 5)
    np.testing.assert_array_equal(data, read_run(str(tmp_path / "s2s")).probe("tr").quantized(2, kind="cross"))
    _, stats = app.container("stats", run="s2s", probe="tr", kind="cross")
    assert np.isnan(stats[STAT_NAMES.index("self")]).all()


def test_similarity_of_heads_is_computed_from_the_stored_snapshot(app, logs):
    from tb_attention_plugin.analysis.statistics import head_distances

    probe = read_run(str(logs / "a_causal")).probe("p")
    step = probe.steps[-1]
    header, data = app.container("similarity", run="a_causal", probe="p", kind="self", step=step)
    assert header["step"] == step and data.shape == (3, 2, 2)
    np.testing.assert_allclose(data, head_distances(probe.attention(step), causal=True), atol=1e-6)
    snapshot_header, _ = app.container("snapshot", run="a_causal", probe="p", kind="self", step=step)
    assert snapshot_header["causal"] is True
    assert_json_error(app.get("similarity", run="a_causal", probe="p", kind="self", step=step + 1), 404)


@pytest.mark.parametrize("read_files", [True, False])
def test_similarity_leaves_out_the_heads_a_storage_budget_stored_no_map_of(tmp_path, read_files):
    from tb_attention_plugin.analysis.statistics import head_distances
    from tb_attention_plugin.writer.head_choice import HeadChoice

    maps, choice = DriftingMaps(2, 3, 5, seed=2), HeadChoice(2, "rotate")
    with AttentionSummaryWriter(str(tmp_path / "budget")) as w:
        w.add_probe("p", tokens(5))
        for step in (0, 10):
            s = w.open_snapshot(step, "p", "self", causal=False, heads=choice)
            for layer in maps.next():
                s.add_layer(layer)
            s.commit()
    app = App(tmp_path, read_files=read_files)
    probe = read_run(str(tmp_path / "budget")).probe("p")
    header, data = app.container("similarity", run="budget", probe="p", kind="self", step=10)
    stored = probe.stored_heads(10)
    assert header["stored"] == [list(stored[0]), list(stored[1])] and sum(map(len, stored.values())) == 2
    expected = head_distances(probe.quantized(10) / 255.0, causal=False)
    for layer, heads in stored.items():
        missing = np.setdiff1d(np.arange(3), heads)
        assert np.isnan(data[layer, missing]).all() and np.isnan(data[layer][:, missing]).all()
        kept = np.ix_(heads, heads)
        np.testing.assert_allclose(data[layer][kept], expected[layer][kept], atol=1e-6)
