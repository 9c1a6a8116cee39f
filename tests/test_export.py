"""`tb-attention export` from the installed console script, end to end: the HTML file holds the tab's
bundle and the plugin's own answers, which decode to what read_run holds (snapshots byte for byte,
statistics, head types, tokens, loss curve and best-checkpoint mark); the default subset of steps, --steps,
--probe; bad arguments exit 2 with a message. The browser side: tests/browser/test_export_report.py."""

import base64
import gzip
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from card_logs import write_cards_run
from tb_attention_plugin import AttentionSummaryWriter, read_run
from tb_attention_plugin.tools.export import BUNDLE, collect, spread, step_bytes
from tb_attention_plugin.server.http_payload import decode_container
from tb_attention_plugin.devtools.synthetic import PAIR_PROBE, REPEATED_PROBE, write_drifting_run, write_run


@pytest.fixture(scope="module", autouse=True)
def bundle():
    """The report's bundle, built with npm when missing (it is git-ignored build output)."""
    if not os.path.exists(BUNDLE):
        frontend = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "frontend")
        npm = shutil.which("npm")
        assert npm, f"{BUNDLE} is missing and npm is not installed to build it"
        if not os.path.isdir(os.path.join(frontend, "node_modules")):
            subprocess.run([npm, "ci"], cwd=frontend, check=True)
        subprocess.run([npm, "run", "build"], cwd=frontend, check=True)


DATA = re.compile(r'<script type="application/json" id="tb-attention-data">(.*?)</script>', re.S)
HOSTILE = "</script><script>alert(1)</script> & \u2028"
HOSTILE_NAME = "<script>alert(1)<!-- & \u2028"  # probe names hold anything but '/'


def tb_attention(*args, timeout=300):
    exe = shutil.which("tb-attention")
    assert exe, "the tb-attention console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def embedded(path):
    """The report's payload, its containers decoded: (payload, {(probe, kind, step|None): (header, array)})."""
    text = path.read_text(encoding="utf-8")
    found = DATA.findall(text)
    assert len(found) == 1, "one data element, closed once (no '</script>' inside the data)"
    payload = json.loads(found[0])
    answers = {}
    for item in payload["snapshots"] + payload["stats"]:
        body = gzip.decompress(base64.b64decode(item["data"]))
        answers[(item["probe"], item["kind"], item.get("step"))] = decode_container(body)
    return payload, answers


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "induction"
    write_run(path, layers=2, heads=4, tokens=16, steps=40, every=100, best_checkpoint=1800)
    return path


def test_report_holds_what_read_run_holds(run_dir, tmp_path):
    out = tmp_path / "report.html"
    done = tb_attention("export", run_dir, "-o", out)
    assert done.returncode == 0, done.stderr
    assert f"{out.stat().st_size / 2**20:.1f} MiB" in done.stdout and "30 of 40 logged steps" in done.stdout
    payload, answers = embedded(out)
    run = read_run(str(run_dir))
    logged = run.probe(REPEATED_PROBE).steps
    assert payload["steps"] == spread(logged, 30) and len(payload["steps"]) == 30
    assert payload["steps"][0] == logged[0] and payload["steps"][-1] == logged[-1]
    (entry,) = payload["index"]["runs"]
    assert entry["run"] == "induction" and [p["name"] for p in entry["probes"]] == run.probes
    for name in run.probes:
        probe = run.probe(name)
        index_probe = next(p for p in entry["probes"] if p["name"] == name)
        assert index_probe["tokens"] == probe.tokens and index_probe["kinds"][0]["steps"] == payload["steps"]
        for step in payload["steps"]:
            header, array = answers[(name, "self", step)]
            assert header["step"] == step and header["layers"] == list(range(probe.layers()))
            np.testing.assert_array_equal(array, probe.quantized(step))
        header, array = answers[(name, "self", None)]
        assert header["steps"] == logged  # statistics at every logged step
        stats = probe.stats()
        for i, stat in enumerate(header["stats"]):
            np.testing.assert_array_equal(array[i], stats[stat])
        assert header["head_types"] == json.loads(json.dumps(probe.head_types()))
    steps, values = run.scalars("train/loss")
    loss = payload["scalars"]["tags"]["train/loss"]
    assert loss["steps"] == steps.tolist() and loss["values"] == pytest.approx(values.tolist())
    best = pytest.approx(run.scalars("eval/loss")[1][9])  # eval every other snapshot: step 1800 is the 10th
    mark = {"kind": "best_checkpoint", "step": 1800, "value": best, "metric": "eval/loss"}
    assert payload["scalars"]["marks"] == [mark]


def test_the_page_loads_nothing(run_dir, tmp_path):
    out = tmp_path / "report.html"
    assert tb_attention("export", run_dir, "-o", out, "--steps", "0").returncode == 0
    text = out.read_text(encoding="utf-8")
    assert "default-src 'none'" in text and "connect-src 'none'" in text
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]*\bsrc=", text)
    with open(BUNDLE, encoding="utf-8") as f:
        assert f.read() in text


def test_steps_and_probes_chosen(run_dir, tmp_path):
    out = tmp_path / "report.html"
    done = tb_attention("export", run_dir, "-o", out, "--steps", "3900,0,100", "--probe", PAIR_PROBE)
    assert done.returncode == 0, done.stderr
    payload, answers = embedded(out)
    assert payload["steps"] == [0, 100, 3900] and [p["name"] for p in payload["index"]["runs"][0]["probes"]] == [
        PAIR_PROBE
    ]
    assert sorted(k for k in answers if k[2] is not None) == [(PAIR_PROBE, "self", s) for s in (0, 100, 3900)]
    assert tb_attention("export", run_dir, "-o", out, "--steps", "all").returncode == 0
    assert len(embedded(out)[0]["steps"]) == 40
    assert tb_attention("export", run_dir, "-o", out, "--max-steps", "5").returncode == 0
    assert embedded(out)[0]["steps"] == [0, 1000, 2000, 2900, 3900]


def test_large_models_get_fewer_steps_by_default(run_dir):
    """The default subset keeps the snapshots under a byte budget (at least the first and last step)."""
    one = step_bytes(collect(run_dir, steps=[0])["index"]["runs"][0]["probes"])
    run = read_run(str(run_dir))
    assert one == sum(2 * 4 * len(run.probe(p).tokens) ** 2 for p in run.probes)  # 2 layers x 4 heads
    assert collect(run_dir, max_bytes=5 * one)["steps"] == spread(list(range(0, 4000, 100)), 5)
    assert len(collect(run_dir, max_bytes=1)["steps"]) == 2


def test_names_and_tokens_stay_data(tmp_path):
    """A probe name and tokens holding '</script>', '&' and U+2028 come back as they were."""
    run_dir = tmp_path / "hostile"
    with AttentionSummaryWriter(str(run_dir)) as writer:
        writer.add_probe(HOSTILE_NAME, tokens=["[CLS]", HOSTILE, "<b>", "[SEP]"], special=[1, 0, 0, 1])
        writer.add_attention(0, HOSTILE_NAME, np.full((1, 2, 4, 4), 0.25, np.float32))
    write_drifting_run(tmp_path / "drift", range(0, 50, 10), probes=("a", "b"))
    for directory in (run_dir, tmp_path / "drift"):
        out = tmp_path / f"{directory.name}.html"
        done = tb_attention("export", directory, "-o", out)
        assert done.returncode == 0, done.stderr
        payload, _ = embedded(out)
        assert [p["name"] for p in payload["index"]["runs"][0]["probes"]] == read_run(str(directory)).probes
    probe = embedded(tmp_path / "hostile.html")[0]["index"]["runs"][0]["probes"][0]
    assert probe["tokens"][1] == HOSTILE and probe["name"] == HOSTILE_NAME


@pytest.mark.parametrize(
    "args, message",
    [
        (("missing-dir",), "is not a directory"),
        (("empty",), "holds no attention logs"),
        (("RUN", "--probe", "nope"), "no probe 'nope'"),
        (("RUN", "--steps", "0,150"), "step(s) [150] not logged"),
        (("RUN", "--steps", "first"), "--steps takes 'all' or integers"),
        (("RUN", "--max-steps", "0"), "--max-steps must be at least 1"),
        (("RUN", "--steps", "0", "--max-steps", "3"), "not both"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(run_dir, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    args = [run_dir if a == "RUN" else tmp_path / a if a in ("missing-dir", "empty") else a for a in args]
    done = tb_attention("export", *args, "-o", tmp_path / "out.html")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.html").exists()


def test_help():
    done = tb_attention("export", "--help")
    assert done.returncode == 0 and "usage: tb-attention export" in done.stdout and "--steps" in done.stdout


@pytest.fixture(scope="module")
def cards_run(tmp_path_factory):
    return write_cards_run(tmp_path_factory.mktemp("cards") / "cards")


def _inflated(item):
    return gzip.decompress(base64.b64decode(item if isinstance(item, str) else item["data"]))


def test_the_other_cards_answers_are_in_the_report(cards_run, tmp_path):
    from plugin_fixtures import App

    payload = collect(str(cards_run), steps=[0, 10])
    run = read_run(str(cards_run))
    app = App(cards_run.parent)
    kinds = {(p["name"], k["kind"]): k for p in payload["index"]["runs"][0]["probes"] for k in p["kinds"]}
    assert kinds[("sad", "self")]["neuron_steps"] == [0, 10] and kinds[("sad", "self")]["neuron_heads"] == [
        [0, 1],
        [1, 3],
    ]
    header, array = decode_container(_inflated(payload["relations"]))
    route_header, route_array = app.container("relations", run="cards")
    assert header == route_header and [r["relation"] for r in header["relations"]] == ["coref"]
    np.testing.assert_array_equal(array, route_array)
    predictions = {(p["probe"], p["kind"]): json.loads(_inflated(p)) for p in payload["predictions"]}
    answer = predictions[("sad", "self")]
    assert answer["steps"] == [0, 5, 10] and answer["predictions"] == [
        run.probe("sad").predictions()[s] for s in (0, 5, 10)
    ]
    similarity = {(s["probe"], s["step"]): decode_container(_inflated(s)) for s in payload["similarity"]}
    assert sorted(similarity) == [("sad", 0), ("sad", 10)]  # the report's steps
    route = app.container("similarity", run="cards", probe="sad", kind="self", step=10)
    np.testing.assert_array_equal(similarity[("sad", 10)][1], route[1])
    (contributions,) = [json.loads(_inflated(c)) for c in payload["contributions"]]
    expected = run.probe("sad").contributions()
    assert contributions["steps"] == [0, 5, 10]
    np.testing.assert_allclose(contributions["first"][2], expected[10]["first"], rtol=1e-6)
    neurons = {(n["step"], n["layer"], n["head"]): decode_container(_inflated(n)) for n in payload["neurons"]}
    assert sorted(neurons) == [(0, 0, 1), (0, 1, 3), (10, 0, 1), (10, 1, 3)]
    header, data = neurons[(10, 1, 3)]
    q, d = header["parts"][0][1]
    np.testing.assert_array_equal(data[: q * d].reshape(q, d), run.probe("sad").neurons(10)["query"][1])


def test_neuron_records_beyond_the_budget_are_left_out_and_the_index_says_so(cards_run, monkeypatch, caplog):
    from tb_attention_plugin.tools import export_views

    monkeypatch.setattr(export_views, "NEURON_BYTES", 1)
    payload = collect(str(cards_run), steps=[0, 10])
    (probe,) = payload["index"]["runs"][0]["probes"]
    assert probe["kinds"][0]["neuron_steps"] == [] and payload["neurons"] == []
    assert "neuron records of 2 probe step(s) left out" in caplog.text


def test_the_summaries_of_a_budgets_heads_are_in_the_report(run_dir, tmp_path):
    """A storage budget's summaries (block means + each row's top keys) of the exported snapshots are
    embedded, one per summarized head, as the route answers part=summary, and each snapshot's block
    means of all of them as part=summary_means answers them; none for a run without."""
    from tb_attention_plugin.devtools.synthetic import DriftingMaps
    from tb_attention_plugin.writer.head_choice import HeadChoice

    maps = DriftingMaps(2, 3, 40, seed=5, drift=0.3)
    with AttentionSummaryWriter(str(tmp_path / "run")) as w:
        w.add_probe("p", [f"t{i}" for i in range(40)])
        for step in range(3):
            stream = w.open_snapshot(step, "p", "self", causal=False, heads=HeadChoice(2, "rotate", summaries=2))
            for layer in maps.next():
                stream.add_layer(layer)
            stream.commit()
    probe = read_run(str(tmp_path / "run")).probe("p")
    payload = collect(str(tmp_path / "run"), steps="all")
    got = {(s["step"], s["layer"], s["head"]): decode_container(_inflated(s)) for s in payload["summaries"]}
    want = {(step, l, h) for step in range(3) for l, heads in probe.summarized_heads(step).items() for h in heads}
    assert set(got) == want and len(want) == 6
    for (step, layer, head), (header, array) in got.items():
        summary = probe.summary(step, layer, head)
        assert header["part"] == "summary" and header["block"] == summary.block
        assert header["means"] == summary.means.ravel().tolist()
        assert np.array_equal(array[:, 0], summary.keys) and np.array_equal(array[:, 1], summary.weights)
    # the grid's one answer per step: every summarized head's block means (part=summary_means)
    assert [s["step"] for s in payload["summary_means"]] == [0, 1, 2]
    for entry in payload["summary_means"]:
        header, array = decode_container(_inflated(entry))
        heads = [(l, h) for l, ids in zip(header["layers"], header["summarized"]) for h in ids]
        assert header["part"] == "summary_means" and heads == sorted(k[1:] for k in got if k[0] == entry["step"])
        for (layer, head), means in zip(heads, array):
            assert np.array_equal(means, probe.summary(entry["step"], layer, head).means)
    plain = collect(run_dir)  # a run without a budget
    assert plain["summaries"] == [] and plain["summary_means"] == []
