"""read_run: what it skips (with a log line) and what it keeps."""
import json
import os

import numpy as np
import pytest

from tb_attention_plugin import AttentionSummaryWriter, read_run
from tb_attention_plugin import format as fmt
from tb_attention_plugin.event_file import EventFileWriter
from tensorboard.compat.proto import event_pb2, summary_pb2


def _uniform(q, k, layers=1, heads=1):
    return np.full((layers, heads, q, k), 1.0 / k, dtype=np.float32)


def test_not_a_directory():
    with pytest.raises(FileNotFoundError, match="run directory"):
        read_run("/nonexistent/run")


def test_other_plugins_newer_versions_and_damaged_records_are_skipped(tmp_path, caplog):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("good", ["a", "b"])
    w.add_attention(0, "good", _uniform(2, 2))
    w.close()
    f = EventFileWriter(str(tmp_path), ".other")
    # another plugin's tensor, and a record of ours from a newer format version
    other = summary_pb2.Summary.Value(tag="images/x", metadata=summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images", content=b"{}")))
    newer = fmt.snapshot_value(fmt.probe_metadata({"name": "future", "index": 0, "tokens": ["a"], "segments": [0],
                                                   "special": [False]}, "self", causal=False, layers=1, heads=1),
                               1, [fmt.encode_layer(np.full((1, 1, 1), 255, np.uint8))], 1, 1)
    meta = json.loads(newer.metadata.plugin_data.content)
    meta["version"] = fmt.FORMAT_VERSION + 1
    newer.metadata.plugin_data.content = json.dumps(meta).encode()
    # a snapshot with a missing layer blob
    broken = fmt.snapshot_value(fmt.probe_metadata({"name": "broken", "index": 1, "tokens": ["a"], "segments": [0],
                                                    "special": [False]}, "self", causal=False, layers=2, heads=1),
                                1, [fmt.encode_layer(np.full((1, 1, 1), 255, np.uint8))], 1, 1)
    for value in (other, newer, broken):
        f.write(event_pb2.Event(step=1, summary=summary_pb2.Summary(value=[value])))
    f.close()
    with open(f.path, "ab") as raw:
        raw.write(b"\x10\x00\x00")  # a record cut off mid-write
    run = read_run(str(tmp_path))
    assert run.probes == ["good"]
    assert run.probe("good").steps == [0]
    assert "upgrade" in caplog.text and "wrong number of layers" in caplog.text


def test_restart_purges_only_later_steps_and_the_first_start_is_not_a_restart(tmp_path):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b"])
    w.add_session_start(5)  # the run's first START: nothing to purge even though steps come later
    for step in (1, 3, 5, 7):
        w.add_attention(step, "p", _uniform(2, 2))
        w.add_scalar("train/loss", float(step), step)
    w.add_session_start(4)
    w.add_scalar("train/loss", 40.0, 4)
    w.close()
    run = read_run(str(tmp_path))
    assert run.probe("p").steps == [1, 3]
    assert run.scalars("train/loss")[0].tolist() == [1, 3, 4]
    assert run.scalars("train/loss")[1].tolist() == [1.0, 3.0, 40.0]
    assert len(os.listdir(tmp_path)) == 1
