"""The real `tensorboard` command (RustBoard and --load_fast=false) finding the plugin by its entry point.

Each test starts TensorBoard on 127.0.0.1 with a free port, polls (bounded) until the data is loaded,
and the fixture kills the process group at teardown.
"""

import http.client
import urllib.parse

import numpy as np
import pytest

from tb_attention_plugin import read_run
from tb_attention_plugin.server.http_payload import decode_container
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

from plugin_fixtures import LOADERS, tensorboard, write_run  # noqa: F401 - the fixture

N_STEPS = 120  # > RustBoard's default of 100 kept tensors and the default 10 kept blob sequences


def q(route, **params):
    return f"data/plugin/attention/{route}?" + urllib.parse.urlencode(params)


@pytest.fixture(scope="module")
def big_logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tb_logs")
    write_run(root / "run1", range(0, 10 * N_STEPS, 10), layers=2, heads=2, n_tokens=6)
    write_run(root / "run2", range(N_STEPS // 4), layers=1, heads=2, n_tokens=4, seed=3, causal=True)
    return root


def _steps(tb, run="run1"):
    index = tb.json(q("index"))
    for r in index["runs"]:
        if r["run"] == run:
            return r["probes"][0]["kinds"][0]["steps"]
    return []


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_snapshot_is_served_by_real_tensorboard(tensorboard, big_logs, loader):  # noqa: F811
    tb = tensorboard(big_logs, *LOADERS[loader])
    expected = list(range(0, 10 * N_STEPS, 10))
    tb.poll(lambda: _steps(tb) == expected and len(_steps(tb, "run2")) == N_STEPS // 4, timeout=120)
    assert reads_with_rustboard(tb) == (loader == "rustboard"), "".join(tb.stderr)
    listing = tb.json("data/plugins_listing")
    assert listing["attention"]["enabled"] is True
    assert listing["attention"]["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/attention/index.js",
    }
    assert listing["attention"]["tab_name"] == "Attention"

    probe = read_run(str(big_logs / "run1")).probe("p")
    for step in (0, 10, expected[len(expected) // 2], expected[-1]):
        status, ctype, body = tb.get(q("snapshot", run="run1", probe="p", kind="self", step=step))
        assert status == 200 and ctype == "application/octet-stream"
        header, data = decode_container(body)
        np.testing.assert_array_equal(data, probe.quantized(step))
    header, data = decode_container(
        tb.get(q("snapshot", run="run1", probe="p", kind="self", step=expected[-1], layer=1))[2]
    )
    np.testing.assert_array_equal(data[0], probe.quantized(expected[-1], layer=1))
    header, data = decode_container(tb.get(q("stats", run="run1", probe="p", kind="self"))[2])
    assert header["steps"] == expected and data.shape[1] == N_STEPS
    np.testing.assert_array_equal(data[0], probe.stats()["entropy"])
    scalars = tb.json(q("scalars", run="run1"))["tags"]["train/loss"]
    assert scalars["steps"] == expected
    status, ctype, body = tb.get("data/plugin/attention/index.js")
    assert status == 200 and ctype.startswith("text/javascript") and b"render" in body
    status, ctype, _ = tb.get(q("snapshot", run="run1", probe="p", kind="self", step=5))
    assert status == 404 and ctype.startswith("application/json")
    for raw in ("../../../../etc/passwd", "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/plugin.py"):
        status, body = raw_get(tb.url, "/data/plugin/attention/" + raw)
        assert status in (400, 404) and b"root:" not in body and b"import" not in body, raw
    # a run is named exactly: a NUL byte or a trailing slash still leads to run1's directory
    for run in ("run1\x00", "run1/", "./run1", "run1\\"):
        for route, params in (
            ("snapshot", dict(probe="p", kind="self", step=0)),
            ("stats", dict(probe="p", kind="self")),
            ("relations", {}),
            ("neurons", dict(probe="p", kind="self", step=0, layer=0, head=0)),
            ("scalars", {}),
        ):
            status, ctype, body = tb.get(q(route, run=run, **params))
            assert status == 404 and ctype.startswith("application/json"), (route, run, status, body[:200])
            assert b"unknown run" in body, (route, run, body[:200])


def reads_with_rustboard(tb):
    """Whether this TensorBoard reads through RustBoard: its data server is a child process."""
    import psutil

    children = psutil.Process(tb.proc.pid).children(recursive=True)
    return any("tensorboard_data_server" in " ".join(c.cmdline()) for c in children)


def raw_get(url, path):
    """GET a path sent exactly as given (urllib would not normalise it either; this makes it explicit)."""
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_live_run_new_steps_appear_without_restart(tensorboard, tmp_path, loader):  # noqa: F811
    """A second writer in the same run directory (as transformers' TensorBoardCallback has) writes a
    newer file: the Python loader needs reload_multifile (set by our loader) to keep reading ours."""
    run_dir = tmp_path / "logs" / "live"
    writer, maps = write_run(run_dir, range(5), close=False)
    other = AttentionSummaryWriter(str(run_dir), filename_suffix=".other")
    other.add_scalar("train/lr", 0.1, 0)
    tb = tensorboard(tmp_path / "logs", *LOADERS[loader])
    tb.poll(lambda: _steps(tb, "live") == list(range(5)), timeout=90)
    write_run(run_dir, range(5, 12), writer=writer, maps=maps, close=False)
    other.add_scalar("train/lr", 0.05, 11)
    tb.poll(lambda: _steps(tb, "live") == list(range(12)), timeout=60)
    probe = read_run(str(run_dir)).probe("p")
    header, data = decode_container(tb.get(q("snapshot", run="live", probe="p", kind="self", step=11))[2])
    np.testing.assert_array_equal(data, probe.quantized(11))
    tb.poll(
        lambda: (
            tb.json(q("stats", run="live", probe="p", kind="self").replace("stats", "scalars", 1))["tags"][
                "train/loss"
            ]["steps"]
            == list(range(12))
        ),
        timeout=30,
    )
    assert tb.json(q("scalars", run="live"))["tags"]["train/lr"]["steps"] == [0, 11]
    writer.close()
    other.close()


def test_rustboard_resumed_run_latest_record_wins(tensorboard, tmp_path):  # noqa: F811
    run_dir = tmp_path / "logs" / "resumed"
    write_run(run_dir, range(10), seed=1)
    write_run(run_dir, range(5, 12), seed=2)
    latest = read_run(str(run_dir)).probe("p")
    tb = tensorboard(tmp_path / "logs")
    tb.poll(lambda: _steps(tb, "resumed") == list(range(12)), timeout=90)
    for step in range(12):
        header, data = decode_container(tb.get(q("snapshot", run="resumed", probe="p", kind="self", step=step))[2])
        np.testing.assert_array_equal(data, latest.quantized(step))
    header, data = decode_container(tb.get(q("stats", run="resumed", probe="p", kind="self"))[2])
    np.testing.assert_array_equal(data[0], latest.stats()["entropy"])
