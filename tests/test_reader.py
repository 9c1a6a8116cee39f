"""read_run: what it skips (with a log line) and what it keeps."""

import json
import os

import numpy as np
import pytest

from tb_attention_plugin import AttentionSummaryWriter, read_run
from tb_attention_plugin.format.blobs import encode_layer
from tb_attention_plugin.format.metadata import FORMAT_VERSION, STAT_NAMES
from tb_attention_plugin.format.plugin_metadata import probe_metadata
from tb_attention_plugin.format.records import snapshot_value
from tb_attention_plugin.format.event_file import EventFileWriter
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
    other = summary_pb2.Summary.Value(
        tag="images/x",
        metadata=summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images", content=b"{}")
        ),
    )
    newer = snapshot_value(
        probe_metadata(
            {"name": "future", "index": 0, "tokens": ["a"], "segments": [0], "special": [False]},
            "self",
            causal=False,
            layers=1,
            heads=1,
        ),
        1,
        [encode_layer(np.full((1, 1, 1), 255, np.uint8))],
        1,
        1,
    )
    meta = json.loads(newer.metadata.plugin_data.content)
    meta["version"] = FORMAT_VERSION + 1
    newer.metadata.plugin_data.content = json.dumps(meta).encode()
    # a snapshot with a missing layer blob
    broken = snapshot_value(
        probe_metadata(
            {"name": "broken", "index": 1, "tokens": ["a"], "segments": [0], "special": [False]},
            "self",
            causal=False,
            layers=2,
            heads=1,
        ),
        1,
        [encode_layer(np.full((1, 1, 1), 255, np.uint8))],
        1,
        1,
    )
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
    def start(step):  # TensorBoard's restart marker, as any writer may put it in its own file
        w._file.write(event_pb2.Event(step=step, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))

    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b"])
    start(5)  # the run's first START: nothing to purge even though steps come later
    for step in (1, 3, 5, 7):
        w.add_attention(step, "p", _uniform(2, 2))
        w.add_scalar("train/loss", float(step), step)
    start(4)
    w.add_scalar("train/loss", 40.0, 4)
    w.close()
    run = read_run(str(tmp_path))
    assert run.probe("p").steps == [1, 3]
    assert run.scalars("train/loss")[0].tolist() == [1, 3, 4]
    assert run.scalars("train/loss")[1].tolist() == [1.0, 3.0, 40.0]
    assert len([f for f in os.listdir(tmp_path) if "tfevents" in f]) == 1  # no restart marker's file


def _softmax(seed, shape):
    rng = np.random.default_rng(seed)
    e = np.exp(rng.normal(size=shape) * 2)
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def test_one_probe_at_two_model_sizes_is_read_per_size_never_stacked(tmp_path):
    """Two writers in sequence log probe 'p' with a 2 x 4 and then a 3 x 2 heads model (the second also
    rewrites step 2): a clear error names the sizes and their steps; each size reads on its own."""
    from tb_attention_plugin.analysis.statistics import head_statistics

    tokens = ["[CLS]", "a", "b", "[SEP]"]
    written = {}
    with AttentionSummaryWriter(tmp_path) as w:
        w.add_probe("p", tokens, special=[1, 0, 0, 1])
        for step in (0, 1, 2):
            written[step] = _softmax(step, (2, 4, 4, 4))
            w.add_attention(step, "p", written[step])
    with AttentionSummaryWriter(tmp_path) as w, pytest.warns(UserWarning) as caught:
        w.add_probe("p", tokens, special=[1, 0, 0, 1])
        for step in (2, 3, 4):
            written[step] = _softmax(10 + step, (3, 2, 4, 4))
            w.add_attention(step, "p", written[step])
    messages = " ".join(str(c.message) for c in caught)
    assert "at another model size (2 layers x 4 heads at steps 0, 1, 2)" in messages  # the writer warned
    p = read_run(str(tmp_path)).probe("p")
    assert p.steps == [0, 1, 2, 3, 4]
    assert p.sizes() == {(2, 4): [0, 1], (3, 2): [2, 3, 4]}
    with pytest.raises(ValueError) as error:
        p.stats()
    message = str(error.value)
    assert "probe 'p' (self) was logged at 2 model sizes" in message
    assert "2 layers x 4 heads at steps 0, 1; 3 layers x 2 heads at steps 2, 3, 4" in message
    assert "size=(layers, heads)" in message
    for call in (p.stats_steps, p.head_types, p.layers, p.heads):
        with pytest.raises(ValueError, match="2 model sizes"):
            call()
    assert p.layers(step=1) == 2 and p.heads(step=1) == 4 and p.layers(step=3) == 3 and p.heads(step=3) == 2
    assert p.layers(size=(3, 2)) == 3
    assert p.steps_of(size=(2, 4)) == [0, 1] and p.steps_of(size=(3, 2)) == [2, 3, 4]
    for step, a in written.items():  # every step decodes at its own size (step 2: the later record)
        assert p.attention(step).shape == a.shape
        assert np.abs(p.attention(step) - a).max() <= 1 / 255 + 1e-6
    for size, steps in p.sizes().items():
        assert p.stats_steps(size=size) == steps
        stats = p.stats(size=size)
        for k, step in enumerate(steps):
            reference = written[steps[0]] if size == (3, 2) else written[0]
            want = head_statistics(
                written[step],
                causal=False,
                self_attention=True,
                query_tokens=tokens,
                key_tokens=tokens,
                key_special=[1, 0, 0, 1],
                reference=None if step == steps[0] else reference,
            )
            for i, name in enumerate(STAT_NAMES):
                np.testing.assert_allclose(stats[name][k], want[i], rtol=1e-3, atol=1e-3, equal_nan=True)
        assert {(h["layer"], h["head"]) for h in p.head_types(size=size)} <= {
            (layer, head) for layer in range(size[0]) for head in range(size[1])
        }
    with pytest.raises(KeyError, match="no records at 5 layers x 5 heads"):
        p.stats(size=(5, 5))


def test_where_each_shown_record_lies_and_the_restart_markers(tmp_path):
    with AttentionSummaryWriter(tmp_path) as w:
        w.add_session_start(0)
        w.add_probe("p", ["a", "b"])
        for step in (0, 1, 2):
            w.add_attention(step, "p", _uniform(2, 2))
            w.add_scalar("train/loss", 1.0, step)
        first = w._file.path
    with AttentionSummaryWriter(tmp_path) as w:
        w.add_session_start(2)
        w.add_probe("p", ["a", "b"])
        w.add_attention(2, "p", _uniform(2, 2))
        second = w._file.path
    run = read_run(str(tmp_path))
    # no marker in a fresh directory; the restart's two STARTs in a file of their own between the runs'
    assert run.files == [first, first + ".restart-2", second] and run.session_starts == [2, 2]
    where = run.tag_steps()
    assert where["attention/p/self"] == {0: first, 1: first, 2: second}
    assert where["attention_stats/p/self"] == {0: first, 1: first, 2: second}
    assert where["train/loss"] == {0: first, 1: first}  # step 2's loss was dropped by the restart
