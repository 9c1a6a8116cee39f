"""Corrupted, truncated or half-written records: skipped (404 for that step, a log line), never a 500."""

import logging
import os

import numpy as np
import pytest

from tb_attention_plugin.format.blobs import ENCODING_DELTA, ENCODING_KEYFRAME, LAYER_HEADER, layer_blob_info
from tb_attention_plugin.format.metadata import SNAPSHOT_TAG_PREFIX, STATS_TAG_PREFIX
from tb_attention_plugin import read_run
from tb_attention_plugin.format.event_file import event_files, frame_record, iter_events

from plugin_fixtures import App, assert_json_error, write_run

LOGGER = "tb_attention_plugin.server.data"


def rewrite(run_dir, mutate):
    """Rewrite a run's (single) event file with valid TFRecord framing, after mutate(event) -> event|None."""
    (path,) = event_files(str(run_dir))
    events = [mutate(e) for e in iter_events(path)]
    with open(path, "wb") as f:
        for e in events:
            if e is not None:
                f.write(frame_record(e.SerializeToString()))


def change_blob(step, index, change, tag_prefix=SNAPSHOT_TAG_PREFIX):
    def mutate(event):
        if event.step == step:
            for value in event.summary.value:
                if value.tag.startswith(tag_prefix):
                    value.tensor.string_val[index] = change(value.tensor.string_val[index])
        return event

    return mutate


def snapshot(app, step, **extra):
    return app.get("snapshot", run="r", probe="p", kind="self", step=step, **extra)


def encodings(run_dir, step):
    return [layer_blob_info(b)[0] for b in read_run(str(run_dir)).probe("p")._snapshots["self"][step][1:]]


def steps_in_index(app):
    runs = app.json("index")["runs"]
    return runs[0]["probes"][0]["kinds"][0]["steps"] if runs else []


def test_truncated_file_tail_drops_the_half_written_record(tmp_path):
    write_run(tmp_path / "r", range(10))
    (path,) = event_files(str(tmp_path / "r"))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 120)  # cuts into the last record (the step-9 scalar or snapshot)
    app = App(tmp_path)
    probe = read_run(str(tmp_path / "r")).probe("p")
    steps = steps_in_index(app)
    assert steps == probe.steps and steps[:9] == list(range(9))
    for step in steps:
        np.testing.assert_array_equal(
            app.container("snapshot", run="r", probe="p", kind="self", step=step)[1], probe.quantized(step)
        )
    assert app.get("stats", run="r", probe="p", kind="self").status_code == 200


def test_flipped_bytes_in_the_file_skip_that_record(tmp_path):
    write_run(tmp_path / "r", range(6))
    (path,) = event_files(str(tmp_path / "r"))
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])  # the record's CRC fails
    open(path, "wb").write(bytes(data))
    app = App(tmp_path)
    for step in steps_in_index(app):
        assert snapshot(app, step).status_code in (200, 404)
    assert app.get("stats", run="r", probe="p", kind="self").status_code in (200, 404)
    assert app.get("index").status_code == 200


@pytest.mark.parametrize(
    "damage, what",
    [
        (lambda b: b[:10], "truncated layer header"),
        (lambda b: b"XX" + b[2:], "bad magic"),
        (lambda b: b[: LAYER_HEADER.size + 3], "truncated payload"),
        (lambda b: b[: LAYER_HEADER.size] + b"\x00" * 40, "payload that is not compressed data"),
    ],
)
def test_damaged_layer_blob_is_a_404_and_the_step_leaves_the_index(tmp_path, caplog, damage, what):
    write_run(tmp_path / "r", range(6))
    rewrite(tmp_path / "r", change_blob(3, 2, damage))  # step 3, layer 1
    app = App(tmp_path)
    probe_steps = list(range(6))
    assert steps_in_index(app) == probe_steps
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        message = assert_json_error(snapshot(app, 3), 404)
    assert "cannot be decoded" in message, what
    assert any("step 3" in r.getMessage() for r in caplog.records)
    assert snapshot(app, 3, layer=0).status_code == 200  # the intact layer is still served
    assert steps_in_index(app) == [0, 1, 2, 4, 5]  # skipped from now on
    for step in (0, 1, 2, 4, 5):
        assert snapshot(app, step).status_code == 200


def test_random_flips_inside_a_layer_payload_never_give_500(tmp_path):
    write_run(tmp_path / "r", range(6))
    rng = np.random.default_rng(0)

    def flip(blob):
        b = bytearray(blob)
        for i in rng.integers(LAYER_HEADER.size, len(b), size=4):
            b[i] ^= 0xA5
        return bytes(b)

    rewrite(tmp_path / "r", change_blob(2, 1, flip))
    app = App(tmp_path)
    for step in range(6):
        r = snapshot(app, step)
        assert r.status_code in (200, 404), r.status_code
        if r.status_code == 200 and step != 2:
            assert len(r.get_data()) > 100


def test_delta_whose_keyframe_was_overwritten_is_a_404(tmp_path):
    """Steps 1.. are deltas to the keyframe at step 0; then step 0 is replaced by another session's
    keyframe (as after a resume that rewrote step 0 but not the steps after it)."""
    write_run(tmp_path / "a" / "r", range(6), seed=1, n_tokens=16, drift=0.003)
    write_run(tmp_path / "b" / "r", range(1), seed=2, n_tokens=16, drift=0.003)
    assert ENCODING_DELTA in encodings(tmp_path / "a" / "r", 3)
    (other,) = event_files(str(tmp_path / "b" / "r"))
    replacement = {}
    for e in iter_events(other):
        if e.step == 0 and e.HasField("summary"):
            for v in e.summary.value:
                if v.tag.startswith(SNAPSHOT_TAG_PREFIX):
                    replacement[v.tag] = list(v.tensor.string_val)

    def swap_keyframe(event):
        if event.step == 0:
            for v in event.summary.value:
                if v.tag in replacement:
                    del v.tensor.string_val[:]
                    v.tensor.string_val.extend(replacement[v.tag])
        return event

    rewrite(tmp_path / "a" / "r", swap_keyframe)
    app = App(tmp_path / "a")
    assert snapshot(app, 0).status_code == 200
    broken = [s for s in range(1, 6) if reaches_step_0(tmp_path / "a" / "r", s)]
    assert broken
    for step in broken:
        assert "overwritten" in assert_json_error(snapshot(app, step), 404)
    for step in sorted(set(range(1, 6)) - set(broken)):
        assert snapshot(app, step).status_code == 200
    assert set(steps_in_index(app)).isdisjoint(broken)


def reaches_step_0(run_dir, step):
    """Whether some layer's delta chain at `step` goes back to the record at step 0."""
    records = read_run(str(run_dir)).probe("p")._snapshots["self"]
    for layer in range(1, len(records[step])):
        current = step
        while True:
            encoding, ref_step = layer_blob_info(records[current][layer])[:2]
            if encoding == ENCODING_KEYFRAME:
                break
            if ref_step == 0:
                return True
            current = ref_step
    return False


def test_snapshot_with_the_wrong_number_of_blobs_is_left_out(tmp_path, caplog):
    write_run(tmp_path / "r", range(4))

    def drop_layer(event):
        if event.step == 2:
            for v in event.summary.value:
                if v.tag.startswith(SNAPSHOT_TAG_PREFIX):
                    del v.tensor.string_val[-1]
                    v.tensor.tensor_shape.dim[0].size -= 1  # a well-formed sequence, one layer short
        return event

    rewrite(tmp_path / "r", drop_layer)
    app = App(tmp_path)
    # The index is built without reading the records' payloads: the step is found out when read.
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert "wrong number of layers" in assert_json_error(snapshot(app, 2), 404)
    assert any("step 2" in r.getMessage() for r in caplog.records)
    assert steps_in_index(app) == [0, 1, 3]
    assert read_run(str(tmp_path / "r")).probe("p").steps == [0, 1, 3]  # read_run checks every record


def shrink_stats(step, consistent):
    def mutate(event):
        if event.step == step:
            for v in event.summary.value:
                if v.tag.startswith(STATS_TAG_PREFIX):
                    one_stat = len(v.tensor.tensor_content) // v.tensor.tensor_shape.dim[0].size
                    v.tensor.tensor_content = v.tensor.tensor_content[:-one_stat]
                    if consistent:  # a well-formed tensor with one statistic too few
                        v.tensor.tensor_shape.dim[0].size -= 1
        return event

    return mutate


def test_stats_of_the_wrong_size_are_skipped(tmp_path, caplog):
    write_run(tmp_path / "r", range(4))
    rewrite(tmp_path / "r", shrink_stats(1, consistent=True))
    app = App(tmp_path)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        header, data = app.container("stats", run="r", probe="p", kind="self")
    assert header["steps"] == [0, 2, 3] and data.shape[1] == 3
    assert any("step 1" in r.getMessage() for r in caplog.records)


def test_stats_whose_bytes_contradict_their_shape_skip_that_step(tmp_path):
    """Read from the files, a stats tensor whose bytes contradict its shape skips its step only."""
    write_run(tmp_path / "r", range(4))
    rewrite(tmp_path / "r", shrink_stats(1, consistent=False))
    header, data = App(tmp_path).container("stats", run="r", probe="p", kind="self")
    assert header["steps"] == [0, 2, 3] and data.shape[1] == 3


def test_stats_the_provider_cannot_convert_are_a_404(tmp_path):
    """Through the data provider (a log directory the plugin cannot read itself), the Python provider
    converts a tag's tensors at once: a tensor whose bytes contradict its shape fails the whole tag.
    The answer is a JSON 404 that says so, not a 500."""
    write_run(tmp_path / "r", range(4))
    rewrite(tmp_path / "r", shrink_stats(1, consistent=False))
    app = App(tmp_path, read_files=False)
    assert "corrupted record" in assert_json_error(app.get("stats", run="r", probe="p", kind="self"), 404)
    assert app.get("snapshot", run="r", probe="p", kind="self", step=1).status_code == 200


def test_unreadable_metadata_hides_the_tag_only(tmp_path):
    write_run(tmp_path / "r", range(3), probes=("good", "bad"))

    def break_meta(event):
        for v in event.summary.value:
            if "/bad/" in v.tag and v.HasField("metadata"):
                v.metadata.plugin_data.content = b"{not json"
        return event

    rewrite(tmp_path / "r", break_meta)
    app = App(tmp_path)
    probes = [p["name"] for p in app.json("index")["runs"][0]["probes"]]
    assert probes == ["good"]
    assert_json_error(app.get("snapshot", run="r", probe="bad", kind="self", step=0), 404)
    assert_json_error(app.get("stats", run="r", probe="bad", kind="self"), 404)
    assert app.get("snapshot", run="r", probe="good", kind="self", step=0).status_code == 200


def test_blob_sequence_that_contradicts_its_shape_is_a_404(tmp_path):
    write_run(tmp_path / "r", range(4))

    def drop_blob(event):
        if event.step == 2:
            for v in event.summary.value:
                if v.tag.startswith(SNAPSHOT_TAG_PREFIX):
                    del v.tensor.string_val[-1]  # the shape still says layers + 1 blobs
        return event

    rewrite(tmp_path / "r", drop_blob)
    app = App(tmp_path)
    assert_json_error(snapshot(app, 2), 404)
    assert 2 not in steps_in_index(app)
    assert snapshot(app, 3).status_code == 200
