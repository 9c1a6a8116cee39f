"""TensorBoard's memory does not grow with the attention logs (both loaders), and records that fail
their checksum are never served.

The logs are a few hundred MB of real records (tb_attention_plugin.devtools.bulk_logs). Before the plugin
read its records itself, TensorBoard kept every one of them: this test measured 627 MiB (RustBoard,
0.4 GB of logs) and 418 MiB (the Python loader, 0.16 GB) there, against 120 and 167 MiB now.
"""

import threading
import urllib.parse

import numpy as np
import psutil
import pytest

from tb_attention_plugin.devtools import bulk_logs
from tb_attention_plugin.format.metadata import STATS_TAG_PREFIX
from tb_attention_plugin import read_run
from tb_attention_plugin.format.event_file import event_files, iter_events
from tb_attention_plugin.server.http_payload import decode_container

from plugin_fixtures import LOADERS, tensorboard, write_run  # noqa: F401 - the fixture

RSS_BOUND = 300 << 20
# The Python loader checksums records in pure Python (~0.2 s per MiB): a smaller log, read to its end.
LOG_BYTES = {"rustboard": 400e6, "python": 160e6}
SHAPE = dict(layers=12, heads=12, tokens=128)


def q(route, **params):
    return f"data/plugin/attention/{route}?" + urllib.parse.urlencode(params)


class PeakRSS:
    """The largest RSS of a process and its children, sampled every 0.2 s on a thread."""

    def __init__(self, pid):
        self.peak, self._stop = 0, threading.Event()
        self._proc = psutil.Process(pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self):
        try:
            rss = sum(p.memory_info().rss for p in [self._proc] + self._proc.children(recursive=True))
        except psutil.Error:
            return
        self.peak = max(self.peak, rss)

    def _run(self):
        while not self._stop.wait(0.2):
            self.sample()

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.peak


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_tensorboard_memory_stays_bounded_on_a_large_log(tensorboard, tmp_path, loader):  # noqa: F811
    per_step = bulk_logs.snapshot_bytes(**SHAPE)
    snapshots = int(LOG_BYTES[loader] / per_step)
    size = bulk_logs.write_bulk_run(tmp_path / "logs" / "bulk", snapshots=snapshots, **SHAPE)
    assert size > LOG_BYTES[loader] * 0.95
    steps = [i * 10 for i in range(snapshots)]
    tb = tensorboard(tmp_path / "logs", *LOADERS[loader])
    rss = PeakRSS(tb.proc.pid)
    try:
        tb.poll(lambda: tb.index_steps() == [steps], timeout=120)
        expected = read_run(str(tmp_path / "logs" / "bulk")).probe("probe 0")
        for step in (steps[0], steps[len(steps) // 2], steps[-1]):
            status, _, body = tb.get(q("snapshot", run="bulk", probe="probe 0", kind="self", step=step))
            assert status == 200
            np.testing.assert_array_equal(decode_container(body)[1], expected.quantized(step))
        header, data = decode_container(tb.get(q("stats", run="bulk", probe="probe 0", kind="self"))[2])
        assert header["steps"] == steps
        # Until the loader itself has read the whole log (its last loss point is served)
        tb.poll(lambda: tb.json(q("scalars", run="bulk"))["tags"]["train/loss"]["steps"][-1] == steps[-1], timeout=240)
    finally:
        peak = rss.stop()
    print(f"{loader}: peak RSS {peak / 2**20:.0f} MiB for {size / 1e6:.0f} MB of logs")
    assert peak < RSS_BOUND, f"TensorBoard used {peak / 2**20:.0f} MiB for {size / 1e6:.0f} MB of logs"


def _flip_byte_in_stats(run_dir, step):
    """Flip one byte inside the statistics tensor of `step` in place (the record's CRC now fails)."""
    (path,) = event_files(str(run_dir))
    data = bytearray(open(path, "rb").read())
    for event in iter_events(path):
        if event.step == step:
            for value in event.summary.value:
                if value.tag.startswith(STATS_TAG_PREFIX):
                    content = value.tensor.tensor_content
                    at = data.find(content)
                    assert at > 0 and data.find(content, at + 1) < 0
                    data[at + 1] ^= 0x40  # the high byte of the first float16: a huge or tiny value
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_record_whose_checksum_fails_is_never_served(tensorboard, tmp_path, loader):  # noqa: F811
    """RustBoard does not check data checksums: before, a flipped byte in a stats tensor was served
    (an entropy of tens of thousands). Now the record (that step's snapshot and statistics, written
    in one event) is skipped, and the steps after it are served (the Python loader itself stops
    reading the file there)."""
    run_dir = tmp_path / "logs" / "r"
    write_run(run_dir, range(6))
    intact = read_run(str(run_dir)).probe("p").stats()["entropy"]
    _flip_byte_in_stats(run_dir, 3)
    tb = tensorboard(tmp_path / "logs", *LOADERS[loader])
    tb.poll(lambda: tb.index_steps() == [[0, 1, 2, 4, 5]], timeout=90)
    header, data = decode_container(tb.get(q("stats", run="r", probe="p", kind="self"))[2])
    assert header["steps"] == [0, 1, 2, 4, 5]
    np.testing.assert_array_equal(data[0], intact[[0, 1, 2, 4, 5]])
    assert np.nanmax(data) <= 1.0 + 1e-6
    assert tb.get(q("snapshot", run="r", probe="p", kind="self", step=3))[0] == 404
