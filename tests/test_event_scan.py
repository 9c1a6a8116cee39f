"""The scanner's fast path (records larger than event_scan.SMALL_RECORD are described from their first
bytes, their payload skipped): it lists what protobuf itself would parse, and damaged record starts
(flipped bytes in the framing or the Event's first fields) never serve wrong data, never answer 500."""

import struct

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from tensorboard.compat.proto import summary_pb2

from tb_attention_plugin import read_run
from tb_attention_plugin.reading import event_scan
from tb_attention_plugin.format.event_file import event_files
from tb_attention_plugin.reading.run_index import RunIndex
from tb_attention_plugin.reading.storage import LocalStorage

from plugin_fixtures import App, write_run

SMALL = 1024  # in these tests every snapshot record is "large" (taken through the fast path)


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(event_scan, "SMALL_RECORD", SMALL)
    write_run(tmp_path / "r", range(0, 60, 10), layers=2, heads=4, n_tokens=24)
    return tmp_path / "r"


def _records(path):
    """(offset, length) of every record of a file."""
    data, pos, out = open(path, "rb").read(), 0, []
    while pos + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        out.append((pos, length))
        pos += 16 + length
    return out


def test_the_fast_path_lists_what_a_full_parse_lists(run_dir, monkeypatch):
    (path,) = event_files(str(run_dir))
    assert max(length for _, length in _records(path)) > event_scan.SMALL_RECORD
    fast = RunIndex(LocalStorage(), str(run_dir))
    fast.refresh()
    monkeypatch.setattr(event_scan, "SMALL_RECORD", 1 << 40)  # every record parsed whole by protobuf
    full = RunIndex(LocalStorage(), str(run_dir))
    full.refresh()
    strip = lambda view: {t: {s: e.ref._replace(checked=None) for s, e in by.items()} for t, by in view.tags.items()}  # noqa: E731
    assert strip(fast.view) == strip(full.view) and fast.view.scalars == full.view.scalars


@pytest.mark.parametrize("seed", range(12))
def test_flipped_bytes_at_record_starts_never_serve_wrong_data(run_dir, seed):
    expected = read_run(str(run_dir)).probe("p")
    (path,) = event_files(str(run_dir))
    data = bytearray(open(path, "rb").read())
    rng = np.random.default_rng(seed)
    big = [(pos, length) for pos, length in _records(path) if length > event_scan.SMALL_RECORD]
    for pos, _ in [big[i] for i in rng.choice(len(big), size=2, replace=False)]:
        for at in pos + rng.integers(0, 80, size=2):  # the framing and the Event's first fields
            data[at] ^= 1 << int(rng.integers(8))
    open(path, "wb").write(bytes(data))
    app = App(run_dir.parent)
    index = app.get("index")
    assert index.status_code == 200
    damaged = read_run(str(run_dir)).probe("p") if read_run(str(run_dir)).probes else None
    for step in expected.steps:
        r = app.get("snapshot", run="r", probe="p", kind="self", step=step)
        assert r.status_code in (200, 404), r.status_code
        if r.status_code == 200:
            _, served = app.container("snapshot", run="r", probe="p", kind="self", step=step)
            assert damaged is not None and step in damaged.steps
            np.testing.assert_array_equal(served, expected.quantized(step))
    assert app.get("stats", run="r", probe="p", kind="self").status_code in (200, 404)


@pytest.mark.parametrize("error", [DecodeError, UnicodeDecodeError])
def test_metadata_protobuf_cannot_parse_is_a_damaged_record_under_either_parser(run_dir, monkeypatch, caplog, error):
    """A record's metadata with a bad string (a flipped byte in the plugin name): protobuf's C parser
    (upb) raises DecodeError, its pure-Python one UnicodeDecodeError. Either way the record is parsed
    whole, found damaged and skipped with a warning; no request fails. (The name rides only on the
    tag's first record, so the tag's other records are not known to be attention: none is served.)"""
    expected = read_run(str(run_dir)).probe("p")
    (path,) = event_files(str(run_dir))
    data = bytearray(open(path, "rb").read())
    # the plugin name (PluginData.plugin_name, field 1, 9 bytes) rides on the tag's first record: step 0's
    at = data.index(b"\n\tattention") + 2
    assert at < min(pos for pos, length in _records(path)[2:] if length > SMALL)
    data[at] = 0xFF  # not UTF-8 any more
    open(path, "wb").write(bytes(data))
    parse = summary_pb2.SummaryMetadata.FromString

    def refuse_bad_utf8(raw):
        if b"\xffttention" in raw:
            raise UnicodeDecodeError("utf-8", raw, 0, 1, "invalid") if error is UnicodeDecodeError else error("bad")
        return parse(raw)

    monkeypatch.setattr(summary_pb2.SummaryMetadata, "FromString", refuse_bad_utf8)
    app = App(run_dir.parent)
    assert app.get("index").status_code == 200
    for step in expected.steps:
        assert app.get("snapshot", run="r", probe="p", kind="self", step=step).status_code == 404
    assert app.get("stats", run="r", probe="p", kind="self").status_code == 404
    assert "record with a bad checksum" in caplog.text and "at byte 40 skipped" in caplog.text
