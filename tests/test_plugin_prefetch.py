"""Read-ahead of stored layer blobs (prefetch.py) over TensorBoard's Python data provider."""

import threading
import time

import numpy as np
import pytest

from tensorboard import context
from tb_attention_plugin.server.provider import prefetch
from tb_attention_plugin import read_run
from tb_attention_plugin.server.data import AttentionData
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

from plugin_fixtures import App, write_run


class CountingProvider:
    """The app's data provider, counting `read_blob` calls."""

    def __init__(self, inner):
        self._inner = inner
        self.blob_reads = 0

    def read_blob(self, ctx=None, *, blob_key):
        self.blob_reads += 1
        return self._inner.read_blob(ctx, blob_key=blob_key)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def make_app(logdir, **kwargs):
    """App whose plugin reads through a CountingProvider with the given AttentionData options."""
    app = App(logdir)
    counting = CountingProvider(app.plugin._data._provider)
    app.plugin._data = AttentionData(counting, **kwargs)  # no log directory: through the provider
    return app, counting, app.plugin._data.source


def wait_idle(data, timeout=20):
    deadline = time.monotonic() + timeout
    while not data.prefetch.idle():
        assert time.monotonic() < deadline, "the read-ahead did not finish"
        time.sleep(0.01)


def layer_entries(data, run, step):
    """The cache keys of every layer blob of a step, as the plugin lists them now."""
    series = next(s for (eid, r, _), s in data._series.items() if r == run)
    wall, keys = series.refs[step]
    return [(k, wall) for k in keys[1:]]


def snapshot(app, run, step):
    return app.container("snapshot", run=run, probe="p", kind="self", step=step)[1]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefetch_logs")
    write_run(root / "run", range(40), layers=3, heads=2, n_tokens=8)
    return root


def test_warm_cache_holds_the_stored_bytes_and_serves_without_reading(logs):
    app, counting, data = make_app(logs)
    app.json("index")  # lists the series: the read-ahead starts
    wait_idle(data)
    probe = read_run(str(logs / "run")).probe("p")
    for step in probe.steps:
        entries = layer_entries(data, "run", step)
        for layer, entry in enumerate(entries):
            assert data.prefetch.cache.get(entry) == counting._inner.read_blob(
                context.RequestContext(), blob_key=entry[0]
            )
            assert data.prefetch.cache.get(entry) == probe._snapshots["self"][step][1 + layer]
    before = counting.blob_reads
    for step in (39, 0, 17, 18, 5):
        np.testing.assert_array_equal(snapshot(app, "run", step), probe.quantized(step))
    wait_idle(data)
    assert counting.blob_reads == before  # every blob came from the cache


def test_small_budget_keeps_the_requested_steps_neighbours(logs):
    probe = read_run(str(logs / "run")).probe("p")
    blob = len(probe._snapshots["self"][20][2]) + prefetch.ENTRY_OVERHEAD
    budget = 12 * 3 * blob  # about a dozen steps of 3 layers out of 40
    app, counting, data = make_app(logs, blob_cache_bytes=budget)
    app.json("index")
    np.testing.assert_array_equal(snapshot(app, "run", 20), probe.quantized(20))
    wait_idle(data)
    cache = data.prefetch.cache
    assert 0 < cache.nbytes <= budget
    near = [s for s in range(17, 24) if all(cache.get(e) is not None for e in layer_entries(data, "run", s))]
    far = [s for s in range(9) if any(cache.get(e) is not None for e in layer_entries(data, "run", s))]
    assert near == list(range(17, 24)) and far == []
    # a pass stops at the budget instead of reading (and evicting) everything in turn
    assert data.prefetch.reads < 40 * 3
    for step in (0, 39, 21):
        np.testing.assert_array_equal(snapshot(app, "run", step), probe.quantized(step))
    wait_idle(data)
    assert cache.nbytes <= budget
    assert all(cache.get(e) is not None for e in layer_entries(data, "run", 21))


def resume(run_dir, steps, restart):
    """A second session rewriting `steps` from a checkpoint (START marker at `restart`)."""
    writer = AttentionSummaryWriter(str(run_dir), filename_suffix=".resumed")
    writer.add_session_start(restart)
    write_run(run_dir, steps, writer=writer, layers=3, heads=2, n_tokens=8, seed=7)


@pytest.mark.parametrize("refresh", ["index", "poll"])
def test_rewritten_record_is_never_served_from_the_old_bytes(tmp_path, refresh):
    run_dir = tmp_path / "run"
    writer = AttentionSummaryWriter(str(run_dir))
    writer.add_session_start(0)
    write_run(run_dir, range(12), writer=writer, layers=3, heads=2, n_tokens=8)
    app, counting, data = make_app(tmp_path, poll_s=0.05)
    first = read_run(str(run_dir)).probe("p")
    app.json("index")
    np.testing.assert_array_equal(snapshot(app, "run", 7), first.quantized(7))
    wait_idle(data)
    old = [data.prefetch.cache.get(e) for e in layer_entries(data, "run", 7)]
    assert all(b is not None for b in old)
    resume(run_dir, range(6, 12), restart=6)
    latest = read_run(str(run_dir)).probe("p")
    assert not np.array_equal(latest.quantized(7), first.quantized(7))
    app.reload()
    if refresh == "index":
        app.json("index")
    else:  # no ./index: the background poll of the requested run must notice the new records
        deadline = time.monotonic() + 10
        while not np.array_equal(snapshot(app, "run", 7), latest.quantized(7)):
            assert time.monotonic() < deadline, "the rewritten step is still served from the old record"
            time.sleep(0.05)
    for step in range(12):
        np.testing.assert_array_equal(snapshot(app, "run", step), latest.quantized(step))
    wait_idle(data)
    assert [data.prefetch.cache.get(e) for e in layer_entries(data, "run", 7)] == list(latest._snapshots["self"][7][1:])


def test_new_steps_of_a_live_run_are_read_ahead_and_served(tmp_path):
    writer, maps = write_run(tmp_path / "live", range(3), close=False, layers=3, heads=2, n_tokens=8)
    app, counting, data = make_app(tmp_path, poll_s=0.05)
    app.json("index")
    snapshot(app, "live", 2)
    wait_idle(data)
    write_run(tmp_path / "live", range(3, 8), writer=writer, maps=maps, layers=3, heads=2, n_tokens=8)
    app.reload()

    def cached(step):
        try:
            return all(data.prefetch.cache.get(e) is not None for e in layer_entries(data, "live", step))
        except KeyError:
            return False

    deadline = time.monotonic() + 10
    while not cached(7):  # no ./index request: the poll lists the new steps, the workers read them
        assert time.monotonic() < deadline, "new steps were not read ahead"
        time.sleep(0.02)
    wait_idle(data)
    before = counting.blob_reads
    probe = read_run(str(tmp_path / "live")).probe("p")
    for step in range(3, 8):
        np.testing.assert_array_equal(snapshot(app, "live", step), probe.quantized(step))
    assert counting.blob_reads == before
    assert app.json("index")["runs"][0]["probes"][0]["kinds"][0]["steps"] == list(range(8))


def threads_of(data):
    return [t for t in threading.enumerate() if t.name == data.prefetch.thread_name]


def test_workers_are_bounded_daemons_that_stop(logs, monkeypatch):
    monkeypatch.setattr(prefetch, "IDLE_EXIT_S", 0.2)
    monkeypatch.setattr(prefetch, "ACTIVE_S", 0.2)
    app, counting, data = make_app(logs, prefetch_workers=3, poll_s=0.05)
    app.json("index")
    for step in range(0, 40, 2):
        snapshot(app, "run", step)
        assert len(threads_of(data)) <= 3
    assert all(t.daemon for t in threads_of(data))
    wait_idle(data)
    deadline = time.monotonic() + 10
    while threads_of(data):  # idle and no run requested recently: they exit
        assert time.monotonic() < deadline, "idle workers did not exit"
        time.sleep(0.05)
    snapshot(app, "run", 3)  # and come back on demand
    assert threads_of(data)
    data.prefetch.close()
    deadline = time.monotonic() + 10
    while threads_of(data):
        assert time.monotonic() < deadline, "closed workers did not exit"
        time.sleep(0.05)
