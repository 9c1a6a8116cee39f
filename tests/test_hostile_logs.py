"""Hostile run directories (crafted event files, framed with the project's event_file.frame_record):
one of them must never break the tab for the other runs, nor a writer logging into it, nor cost a
request more memory than a small multiple of what the probe's metadata says.

- `nested`: plugin metadata of 200 KB of nested brackets (json.loads raises RecursionError).
- `bomb_declared`: a layer's zstd frame declares (and holds) 256 MiB for a 108-byte layer.
- `bomb_undeclared`: the same without a declared content size.
- `huge_declared`: a frame header declaring 1 TiB (637 bytes of file in all).
- `hqk`: a layer header of 3 x 6000 x 6000 where the metadata says 3 x 6 x 6 (a valid 108 MB frame).
- `giant`: metadata claiming 8192 heads x 128 tokens, with blobs that match it (134 MB per layer).

Each is served next to a good run by the in-process app (tracemalloc peak per request) and by a real
`tensorboard` per loader (RustBoard, --load_fast=false; the peak RSS of its process), and read back
with read_run.
"""

import json
import logging
import os
import tracemalloc
import urllib.parse

import numpy as np
import pytest
import zstandard

from tb_attention_plugin import AttentionSummaryWriter, read_run
from tb_attention_plugin.format.blobs import (
    ENCODING_KEYFRAME,
    LAYER_HEADER,
    HeadsLayer,
    compress_head,
    decode_layer,
    encode_heads,
    layer_blob_info,
    encode_layer,
)
from tb_attention_plugin.format.records import encode_snapshot_header, parse_snapshot_header
from tb_attention_plugin.format.metadata import (
    FORMAT_VERSION,
    FormatError,
    MAX_HEADS,
    MAX_LAYERS,
    MAX_METADATA_BYTES,
    MAX_TOKENS,
    PLUGIN_NAME,
    SNAPSHOT_TAG_PREFIX,
    STATS_TAG_PREFIX,
    STAT_NAMES,
    TooLarge,
    snapshot_tag,
)
from tb_attention_plugin.format.plugin_metadata import ProbeMetadata
from tb_attention_plugin.format.event_file import frame_record
from tb_attention_plugin.server.http_payload import decode_container
from tb_attention_plugin.devtools.synthetic import DriftingMaps
from tensorboard.compat.proto import event_pb2, summary_pb2

from plugin_fixtures import LOADERS, App, TensorBoardProcess, assert_json_error, tensorboard_env, tokens, write_run

LAYERS, HEADS, N = 2, 3, 6
LAYER_BYTES = HEADS * N * N  # 108: what the metadata of the hostile runs says per layer
BOMB = 256 << 20
NESTED = b"[" * 100_000 + b"]" * 100_000  # 200 KB
MIB = 1 << 20
HOSTILE_404 = ("bomb_declared", "bomb_undeclared", "huge_declared", "hqk")


# ------------------------------------------------------------------ crafting records
def probe_meta(name="p", layers=LAYERS, heads=HEADS, n=N):
    return {
        "version": FORMAT_VERSION,
        "probe": name,
        "probe_index": 0,
        "kind": "self",
        "query": "tokens",
        "key": "tokens",
        "causal": False,
        "layers": layers,
        "heads": heads,
        "tokens": tokens(n),
        "segments": [0] * n,
        "special": [True] + [False] * (n - 2) + [True],
        "decoder_tokens": None,
        "decoder_special": None,
        "stats": list(STAT_NAMES),
    }


def metadata(content, data_class):
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=content),
        data_class=data_class,
    )


def layer_blob(shape, frame):
    return LAYER_HEADER.pack(b"TA", FORMAT_VERSION, ENCODING_KEYFRAME, 0, 0, *shape) + frame


def zero_frame(size, declare=True):
    """A valid zstd frame of `size` zero bytes, made in 1 MiB chunks (never `size` bytes at once)."""
    cobj = zstandard.ZstdCompressor(level=1).compressobj(size=size if declare else -1)
    chunk = bytes(MIB)
    parts = [cobj.compress(chunk[: min(MIB, size - done)]) for done in range(0, size, MIB)]
    return b"".join(parts) + cobj.flush()


def declaring_frame(declared):
    """A zstd frame header declaring `declared` bytes (single segment, 8-byte size), then one raw block."""
    return (
        b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + declared.to_bytes(8, "little") + bytes([0x21, 0x00, 0x00]) + b"\x00" * 4
    )  # last raw block of 4 bytes


def snapshot_values(content, blobs, step=0, with_metadata=True, tag=None):
    """[blob sequence value, stats value] of one probe at one step, with the given metadata content."""
    meta = json.loads(content) if content.startswith(b"{") else probe_meta()
    tag = tag or snapshot_tag(meta["probe"], "self")
    header = encode_snapshot_header(step, len(blobs), HEADS, N, N)
    seq = summary_pb2.Summary.Value(tag=tag)
    seq.tensor.dtype = 7  # DT_STRING
    seq.tensor.tensor_shape.dim.add(size=1 + len(blobs))
    seq.tensor.string_val.extend([header] + list(blobs))
    stats = summary_pb2.Summary.Value(tag=tag.replace(SNAPSHOT_TAG_PREFIX, STATS_TAG_PREFIX, 1))
    stats.tensor.dtype = 19  # DT_HALF
    shape = (len(STAT_NAMES), meta["layers"], meta["heads"])
    for n in shape:
        stats.tensor.tensor_shape.dim.add(size=n)
    stats.tensor.tensor_content = np.full(shape, 0.5, "<f2").tobytes()
    if with_metadata:
        seq.metadata.CopyFrom(metadata(content, summary_pb2.DATA_CLASS_BLOB_SEQUENCE))
        stats.metadata.CopyFrom(metadata(content, summary_pb2.DATA_CLASS_TENSOR))
    return [seq, stats]


def write_events(run_dir, values_per_step, name="events.out.tfevents.0000000001.hostile.1.000000"):
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, name), "wb") as f:
        f.write(frame_record(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()))
        for step, values in values_per_step:
            event = event_pb2.Event(step=step, wall_time=1.0 + step, summary=summary_pb2.Summary(value=values))
            f.write(frame_record(event.SerializeToString()))
    return os.path.join(run_dir, name)


def good_blobs():
    return [encode_layer(np.full((HEADS, N, N), 42, np.uint8)) for _ in range(LAYERS)]


def write_hostile(root):
    ok = json.dumps(probe_meta()).encode()
    write_events(root / "nested", [(0, snapshot_values(NESTED, good_blobs()))])
    bomb = layer_blob((HEADS, N, N), zero_frame(BOMB))
    write_events(root / "bomb_declared", [(0, snapshot_values(ok, [bomb, good_blobs()[1]]))])
    undeclared = layer_blob((HEADS, N, N), zero_frame(BOMB, declare=False))
    assert zstandard.frame_content_size(undeclared[LAYER_HEADER.size :]) == -1
    write_events(root / "bomb_undeclared", [(0, snapshot_values(ok, [undeclared, good_blobs()[1]]))])
    huge = layer_blob((HEADS, N, N), declaring_frame(1 << 40))
    write_events(root / "huge_declared", [(0, snapshot_values(ok, [huge, good_blobs()[1]]))])
    wide = layer_blob((HEADS, 6000, 6000), zero_frame(HEADS * 6000 * 6000))
    write_events(root / "hqk", [(0, snapshot_values(ok, [wide, good_blobs()[1]]))])
    giant_meta = probe_meta(layers=1, heads=8192, n=128)
    giant = layer_blob((8192, 128, 128), zero_frame(8192 * 128 * 128))
    write_events(root / "giant", [(0, snapshot_values(json.dumps(giant_meta).encode(), [giant]))])
    # file sizes, for the record
    return {
        d: sum(os.path.getsize(os.path.join(root, d, f)) for f in os.listdir(root / d))
        for d in ("nested", "bomb_declared", "bomb_undeclared", "huge_declared", "hqk", "giant")
    }


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_logs")
    write_run(root / "good", range(0, 12, 3), layers=LAYERS, heads=HEADS, n_tokens=N)
    sizes = write_hostile(root)
    # a hostile record of another probe in a run the writer then logs into (it reads it back first)
    write_events(root / "mixed", [(0, snapshot_values(NESTED, good_blobs(), tag=snapshot_tag("evil", "self")))])
    write_run(root / "mixed", range(0, 12, 3), layers=LAYERS, heads=HEADS, n_tokens=N, seed=7)
    print("hostile file sizes:", sizes)
    return root


@pytest.fixture(scope="module")
def good(logs):
    return read_run(str(logs / "good")).probe("p")


@pytest.fixture(scope="module")
def mixed(logs):
    run = read_run(str(logs / "mixed"))
    assert run.probes == ["p"]
    return run.probe("p")


# ------------------------------------------------------------------ the format module
def test_format_rejects_nested_and_oversized_json():
    with pytest.raises(FormatError, match="nested too deeply"):
        ProbeMetadata.from_json(NESTED)
    with pytest.raises(FormatError, match="nested too deeply"):
        parse_snapshot_header(b"[" * 20_000 + b"]" * 20_000)
    with pytest.raises(FormatError, match="bytes, more than"):
        parse_snapshot_header(NESTED)
    with pytest.raises(FormatError, match="bytes, more than"):
        ProbeMetadata.from_json(b" " * (MAX_METADATA_BYTES + 1))
    big = probe_meta(layers=1, heads=1, n=MAX_TOKENS)  # at every limit, still legal
    assert ProbeMetadata.from_json(json.dumps(big).encode()).tokens == big["tokens"]


@pytest.mark.parametrize(
    "claim, message",
    [
        (dict(heads=MAX_HEADS + 1), "heads, more than"),
        (dict(layers=MAX_LAYERS + 1), "layers, more than"),
        (dict(n=MAX_TOKENS + 1), "tokens, more than"),
    ],
)
def test_metadata_cannot_claim_gigabytes(claim, message):
    with pytest.raises(FormatError, match=message):
        ProbeMetadata.from_json(json.dumps(probe_meta(**claim)).encode())


def test_a_claim_of_gigabytes_is_read_a_head_at_a_time_never_whole():
    """Metadata may state a model of 1 G weights per layer (long probes are written a head at a
    time); a reader decodes at most one head or MAX_LAYER_WEIGHTS at once, and refuses more."""
    meta = ProbeMetadata.from_json(json.dumps(probe_meta(layers=1, heads=1024, n=1024)).encode())
    blob = encode_heads([3], [compress_head(np.full((1024, 1024), 0, np.uint8))], 1024, 1024)
    with pytest.raises(TooLarge, match="read one head at a time"):
        decode_layer(blob, expected=meta.layer_shape())
    layer = HeadsLayer(blob, meta.layer_shape())
    assert layer.stored == (3,) and layer.head(7).shape == (1024, 1024)
    with pytest.raises(FormatError, match="in one frame"):  # a whole-layer frame beyond the bound
        layer_blob_info(layer_blob(meta.layer_shape(), zero_frame(16)))


def test_writer_refuses_snapshots_beyond_the_limits(tmp_path):
    w = AttentionSummaryWriter(str(tmp_path))
    w.add_probe("p", tokens(4))
    with pytest.raises(ValueError, match="cannot be logged.*heads, more than"):
        w.add_attention(0, "p", np.full((1, MAX_HEADS + 1, 4, 4), 0.25, np.float32))
    w.close()


def test_layer_blob_checked_against_the_metadata_before_allocating():
    expected = (HEADS, N, N)
    cases = {
        "declares 268435456 bytes for a 108-byte layer": layer_blob(expected, zero_frame(BOMB)),
        "does not decompress to 108 bytes": layer_blob(expected, zero_frame(BOMB, declare=False)),
        "declares 1099511627776 bytes": layer_blob(expected, declaring_frame(1 << 40)),
        "holds 3x6000x6000 .* metadata says 3x6x6": layer_blob((HEADS, 6000, 6000), zero_frame(HEADS * 6000 * 6000)),
        "holds 3x6x7": layer_blob((HEADS, N, N + 1), zero_frame(HEADS * N * (N + 1))),
    }
    for message, blob in cases.items():
        tracemalloc.start()
        try:
            with pytest.raises(FormatError, match=message):
                decode_layer(blob, expected=expected)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 64 * 1024, (message, peak)
    np.testing.assert_array_equal(decode_layer(good_blobs()[0], expected=expected), np.full(expected, 42))


# ------------------------------------------------------------------ read_run and the writer
def test_read_run_skips_or_refuses_hostile_records(logs, caplog):
    with caplog.at_level(logging.WARNING, logger="tb_attention_plugin.reading.reader"):
        assert read_run(str(logs / "nested")).probes == []
        assert read_run(str(logs / "giant")).probes == []
    assert "nested too deeply" in caplog.text and "8192 heads, more than" in caplog.text
    for run, message in [
        ("bomb_declared", "declares 268435456 bytes"),
        ("bomb_undeclared", "does not decompress"),
        ("huge_declared", "declares 1099511627776"),
        ("hqk", "holds 3x6000x6000"),
    ]:
        probe = read_run(str(logs / run)).probe("p")
        tracemalloc.start()
        try:
            with pytest.raises(FormatError, match=message):
                probe.attention(0)
            with pytest.raises(FormatError, match=message):
                probe.quantized(0, layer=0)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 256 * 1024, (run, peak)
        np.testing.assert_array_equal(probe.quantized(0, layer=1), np.full((HEADS, N, N), 42))


def test_writer_keeps_writing_into_a_directory_with_hostile_metadata(tmp_path, caplog):
    """The writer reads its directory back before its first snapshot (resume): a hostile record
    there, under the very tag it writes, is skipped with a log line, and every snapshot is written."""
    run_dir = tmp_path / "run"
    write_events(run_dir, [(0, snapshot_values(NESTED, good_blobs(), tag=snapshot_tag("p", "self")))])
    maps = DriftingMaps(LAYERS, HEADS, N, seed=4)
    written = {}
    with caplog.at_level(logging.WARNING, logger="tb_attention_plugin.reading.reader"):
        w = AttentionSummaryWriter(str(run_dir))
        w.add_probe("p", tokens(N))
        for step in (0, 1, 2):
            written[step] = maps.next()
            w.add_attention(step, "p", written[step])
        w.close()
    assert "nested too deeply" in caplog.text
    probe = read_run(str(run_dir)).probe("p")
    assert probe.steps == [0, 1, 2]
    for step, a in written.items():
        assert np.abs(probe.attention(step) - a).max() <= 1 / 255 + 1e-6


# ------------------------------------------------------------------ the in-process app
def request_peak(app, route, **params):
    tracemalloc.start()
    try:
        response = app.get(route, **params)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return response, peak


def test_app_lists_the_good_run_next_to_hostile_ones_and_answers_404_in_bounded_memory(logs, good, mixed):
    app = App(logs)
    index, peak = request_peak(app, "index")
    assert index.status_code == 200, index.get_data()[:300]
    runs = {r["run"]: r for r in json.loads(index.get_data())["runs"]}
    assert set(runs) == {"good", "mixed"} | set(HOSTILE_404)  # nested and giant: metadata refused
    assert runs["good"]["probes"][0]["kinds"][0]["steps"] == good.steps
    assert [p["name"] for p in runs["mixed"]["probes"]] == ["p"]
    header, data = app.container("snapshot", run="good", probe="p", kind="self", step=6)
    np.testing.assert_array_equal(data, good.quantized(6))
    header, data = app.container("snapshot", run="mixed", probe="p", kind="self", step=9)
    np.testing.assert_array_equal(data, mixed.quantized(9))
    peaks = {}
    for run in HOSTILE_404:
        response, peaks[run] = request_peak(app, "snapshot", run=run, probe="p", kind="self", step=0)
        message = assert_json_error(response, 404)
        assert "cannot be decoded" in message, message
        response, _ = request_peak(app, "snapshot", run=run, probe="p", kind="self", step=0, layer=1)
        np.testing.assert_array_equal(decode_container(response.get_data())[1][0], np.full((HEADS, N, N), 42))
    for run in ("nested", "giant"):
        response, peaks[run] = request_peak(app, "snapshot", run=run, probe="p", kind="self", step=0)
        assert_json_error(response, 404)
        assert_json_error(app.get("stats", run=run, probe="p", kind="self"), 404)
    print("tracemalloc peak per request (bytes):", peaks)
    assert max(peaks.values()) < 2 * MIB, peaks
    # the steps that failed to decode leave the index; the good run stays
    assert [r["run"] for r in app.json("index")["runs"]] == ["good", "mixed"]


def test_app_peak_memory_is_a_small_multiple_of_a_real_snapshot(tmp_path):
    write_run(tmp_path / "big", [0, 1], layers=2, heads=8, n_tokens=256)
    app = App(tmp_path)
    expected = read_run(str(tmp_path / "big")).probe("p").quantized(1)
    response, peak = request_peak(app, "snapshot", run="big", probe="p", kind="self", step=1)
    np.testing.assert_array_equal(decode_container(response.get_data())[1], expected)
    print(f"snapshot of {expected.nbytes} bytes: tracemalloc peak {peak} bytes ({peak / expected.nbytes:.1f}x)")
    assert peak < 6 * expected.nbytes, (peak, expected.nbytes)


# ------------------------------------------------------------------ real TensorBoard, both loaders
def q(route, **params):
    return f"data/plugin/attention/{route}?" + urllib.parse.urlencode(params)


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


@pytest.fixture(scope="module", params=sorted(LOADERS))
def tb(request, logs, good, mixed, tmp_path_factory):
    proc = TensorBoardProcess(logs, *LOADERS[request.param], env=tensorboard_env(tmp_path_factory.mktemp("env")))
    proc.start()
    proc.loader = request.param
    try:

        def loaded():
            status, _, body = proc.get(q("index"))
            assert status == 200, body[:300]
            runs = {r["run"]: r for r in json.loads(body)["runs"]}
            return all(
                r in runs and runs[r]["probes"][0]["kinds"][0]["steps"] == good.steps for r in ("good", "mixed")
            ) and set(HOSTILE_404) <= set(runs)

        proc.poll(loaded, timeout=90)
        yield proc
    finally:
        proc.stop()


def test_real_tensorboard_serves_the_good_run_and_answers_404_in_bounded_memory(tb, good, mixed):
    status, _, body = tb.get(q("index"))
    assert status == 200, body[:300]
    runs = {r["run"]: r for r in json.loads(body)["runs"]}
    assert set(runs) == {"good", "mixed"} | set(HOSTILE_404)
    assert [p["name"] for p in runs["mixed"]["probes"]] == ["p"]
    before = peak_rss(tb.proc.pid)
    for run in HOSTILE_404 + ("nested", "giant"):
        for _ in range(2):
            status, ctype, body = tb.get(q("snapshot", run=run, probe="p", kind="self", step=0))
            assert status == 404 and ctype.startswith("application/json"), (tb.loader, run, status, body[:300])
            assert json.loads(body)["error"]
    grown = peak_rss(tb.proc.pid) - before
    print(f"{tb.loader}: peak RSS of the tensorboard process grew by {grown / MIB:.1f} MiB over 12 hostile requests")
    assert grown < 32 * MIB, grown
    for run, probe in (("good", good), ("mixed", mixed)):
        for step in probe.steps:
            status, _, body = tb.get(q("snapshot", run=run, probe="p", kind="self", step=step))
            assert status == 200
            np.testing.assert_array_equal(decode_container(body)[1], probe.quantized(step))
        header, data = decode_container(tb.get(q("stats", run=run, probe="p", kind="self"))[2])
        np.testing.assert_array_equal(data[0], probe.stats()["entropy"])
    status, _, body = tb.get(q("index"))
    assert [r["run"] for r in json.loads(body)["runs"]] == ["good", "mixed"]  # failed steps leave it
