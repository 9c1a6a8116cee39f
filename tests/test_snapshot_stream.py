"""A snapshot written one layer at a time (AttentionSummaryWriter.open_snapshot): it stores exactly what
add_attention stores, a refused layer leaves no trace, and deltas never refer to a lost file."""

import numpy as np
import pytest

from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import DriftingMaps, plain_tokens
from tb_attention_plugin.format.blobs import ENCODING_DELTA, ENCODING_KEYFRAME
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

from test_writer import layer_encodings

STEPS = range(0, 40, 10)


def _streamed(log_dir, maps, background):
    with AttentionSummaryWriter(str(log_dir), background=background) as w:
        w.add_probe("p", plain_tokens(6))
        for step, a in zip(STEPS, maps):
            stream = w.open_snapshot(step, "p", "self", causal=False)
            for layer in a:
                stream.add_layer(layer)
            stream.commit()
    return read_run(str(log_dir)).probe("p")


@pytest.mark.parametrize("background", [False, True])
def test_a_streamed_snapshot_stores_what_add_attention_stores(tmp_path, background):
    drifting = DriftingMaps(3, 2, 6, seed=4)
    maps = [drifting.next() for _ in STEPS]
    with AttentionSummaryWriter(str(tmp_path / "whole")) as w:
        w.add_probe("p", plain_tokens(6))
        for step, a in zip(STEPS, maps):
            w.add_attention(step, "p", a, causal=False)
    whole = read_run(str(tmp_path / "whole")).probe("p")
    streamed = _streamed(tmp_path / "streamed", maps, background)
    assert streamed.steps == whole.steps == list(STEPS)
    for step in STEPS:
        np.testing.assert_array_equal(streamed.quantized(step), whole.quantized(step))
    for name, values in whole.stats().items():
        np.testing.assert_array_equal(streamed.stats()[name], values)
    tag = "attention/p/self"  # the same keyframes and deltas
    assert layer_encodings(str(tmp_path / "streamed"), tag) == layer_encodings(str(tmp_path / "whole"), tag)


def test_a_refused_layer_aborts_the_snapshot_and_leaves_no_trace(tmp_path):
    drifting = DriftingMaps(3, 2, 6, seed=4)
    with AttentionSummaryWriter(str(tmp_path)) as w:
        w.add_probe("p", plain_tokens(6))
        w.add_attention(0, "p", drifting.next())
        stream = w.open_snapshot(5, "p", "self", causal=False)
        stream.add_layer(drifting.next()[0])
        bad = drifting.next()[1]
        bad[0, 2, 3] = np.nan
        with pytest.raises(ValueError, match=r"NaN.*layer 1, head 0, query row 2"):
            stream.add_layer(bad)
        with pytest.raises(RuntimeError, match="committed or aborted"):
            stream.add_layer(drifting.next()[2])
        with pytest.raises(RuntimeError, match="committed or aborted"):
            stream.commit()
        with pytest.raises(ValueError, match="1 heads, layer 0 had 2"):
            _two_layers_of_other_heads(w)
        aborted = w.open_snapshot(7, "p", "self", causal=False)
        aborted.add_layer(np.full((2, 6, 6), 1 / 6, np.float32))
        aborted.abort()
        w.add_attention(10, "p", drifting.next())
    p = read_run(str(tmp_path)).probe("p")
    assert p.steps == [0, 10] and p.stats_steps() == [0, 10]


def _two_layers_of_other_heads(w):
    stream = w.open_snapshot(6, "p", "self", causal=False)
    stream.add_layer(np.full((2, 6, 6), 1 / 6, np.float32))
    stream.add_layer(np.full((1, 6, 6), 1 / 6, np.float32))


def test_one_stream_per_probe_and_kind_at_a_time_and_the_model_size_is_kept(tmp_path):
    with AttentionSummaryWriter(str(tmp_path)) as w:
        w.add_probe("p", plain_tokens(6))
        w.add_attention(0, "p", np.full((3, 2, 6, 6), 1 / 6, np.float32))
        stream = w.open_snapshot(1, "p", "self", causal=False)
        with pytest.raises(RuntimeError, match="being written already"):
            w.open_snapshot(2, "p", "self", causal=False)
        stream.add_layer(np.full((2, 6, 6), 1 / 6, np.float32))
        with pytest.raises(ValueError, match="1 layers x 2 heads.*had 3 x 2"):
            stream.commit()
        w.open_snapshot(2, "p", "self", causal=False).abort()  # the refused one is closed
    assert read_run(str(tmp_path)).probe("p").steps == [0]


def test_deltas_encoded_before_a_file_is_abandoned_are_written_as_keyframes(tmp_path):
    """A snapshot's layers were encoded as deltas to the last file; that file is abandoned (an I/O
    error) before the record is written: the record, in the new file, holds keyframes."""
    drifting = DriftingMaps(3, 2, 32, seed=4)  # maps that drift slowly: deltas pay
    maps = [drifting.next() for _ in range(3)]
    w = AttentionSummaryWriter(str(tmp_path))
    w.add_probe("p", plain_tokens(32))
    w.add_attention(0, "p", maps[0])
    stream = w.open_snapshot(10, "p", "self", causal=False)
    for layer in maps[1]:
        stream.add_layer(layer)  # encoded now (no background thread): deltas to step 0
    assert [entry[0][3] for entry in stream._layers] == [ENCODING_DELTA] * 3  # the blobs' encoding byte
    with pytest.warns(RuntimeWarning, match="the disk went away"):
        w._file.abandon(OSError("test: the disk went away"))
    stream.commit()
    w.add_attention(20, "p", maps[2])
    w.close()
    p = read_run(str(tmp_path)).probe("p")
    assert p.steps == [0, 10, 20]
    for step, a in zip(p.steps, maps):
        assert np.abs(p.attention(step) - a).max() <= 1 / 255 + 1e-6
    assert layer_encodings(str(tmp_path), "attention/p/self")[10] == [ENCODING_KEYFRAME] * 3


def test_nothing_of_a_written_snapshot_stays_alive_on_the_background_thread(tmp_path):
    # the record's job holds the stream and what it kept (the budget's heads): it goes once written,
    # not when the next job comes (a long probe's next snapshot would hold two snapshots' heads)
    import gc
    import weakref

    with AttentionSummaryWriter(str(tmp_path), background=True) as w:
        w.add_probe("p", plain_tokens(6))
        stream = w.open_snapshot(0, "p", "self", causal=False)
        for layer in DriftingMaps(3, 2, 6, seed=4).next():
            stream.add_layer(layer)
        stream.commit()
        alive = weakref.ref(stream)
        del stream
        w.flush()
        gc.collect()
        assert alive() is None


@pytest.mark.parametrize("max_queued_bytes, trims", [(1 << 20, 0), (64, 1)])
def test_a_snapshot_of_large_layers_gives_freed_memory_back_once_its_record_is_written(
    tmp_path, monkeypatch, max_queued_bytes, trims
):
    # a layer of more than a quarter of the queue runs on the caller's thread and is trimmed after;
    # once the record is written, what it held (the layers' blobs, the budget's heads) is freed and
    # trimmed too
    from tb_attention_plugin.writer import snapshot_stream

    calls, streams = [], []
    monkeypatch.setattr(snapshot_stream, "release_freed_memory", lambda: calls.append(len(streams[0]._layers)))
    with AttentionSummaryWriter(str(tmp_path), background=True, max_queued_bytes=max_queued_bytes) as w:
        w.add_probe("p", plain_tokens(6))
        stream = w.open_snapshot(0, "p", "self", causal=False)
        streams.append(stream)
        for layer in DriftingMaps(3, 2, 6, seed=4).next():
            stream.add_layer(layer)
        stream.commit()
        w.flush()
        assert calls == [0] * trims  # no layer still held when the memory is given back
