"""The on-disk format: quantization bounds, layer blobs (keyframe + delta), metadata and records."""

import json
import zlib

import numpy as np
import pytest

from tb_attention_plugin.format.blobs import (
    ENCODING_DELTA,
    ENCODING_KEYFRAME,
    decode_layer,
    encode_layer,
    layer_blob_info,
)
from tb_attention_plugin.format.records import parse_snapshot_header
from tb_attention_plugin.format.metadata import (
    FORMAT_VERSION,
    FormatError,
    PLUGIN_NAME,
    STAT_NAMES,
)
from tb_attention_plugin.format.plugin_metadata import ProbeMetadata, probe_metadata
from tb_attention_plugin.format.records import decode_stats, snapshot_value, stats_value
from tb_attention_plugin.format.event_file import frame_record, iter_records
from tb_attention_plugin.format.quantize import SCALE, dequantize, quantize
from tensorboard.compat.proto import summary_pb2

STEP = 1.0 / 255


def softmax_rows(rng, shape, temperature=1.0, causal=False):
    logits = rng.normal(size=shape) / temperature
    if causal:
        q, k = shape[-2:]
        logits = np.where(np.tril(np.ones((q, k), bool)), logits, -np.inf)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


# ---------------------------------------------------------------- quantization


@pytest.mark.parametrize("temperature", [0.05, 1.0, 20.0])
def test_quantize_error_at_most_one_step_and_rows_keep_their_sum(temperature):
    rng = np.random.default_rng(1)
    a = softmax_rows(rng, (3, 4, 37, 37), temperature)
    q = quantize(a)
    assert q.dtype == np.uint8 and q.shape == a.shape
    err = np.abs(dequantize(q).astype(np.float64) - a)
    assert err.max() <= STEP + 1e-7
    # every softmax row sums to exactly 255 quanta, so the stored row sum is 1 within one step
    assert (q.sum(axis=-1, dtype=np.int64) == 255).all()
    assert np.abs(dequantize(q).sum(axis=-1) - a.sum(axis=-1)).max() <= STEP


def test_quantize_many_tiny_weights_keeps_the_row_sum():
    # 1000 weights of 0.001: rounding each weight alone would store a row of zeros
    a = np.full((1, 1000), 1e-3)
    q = quantize(a)
    assert q.sum() == 255
    assert np.abs(dequantize(q) - a).max() <= STEP
    assert q.max() == 1  # spread out, never piled up


def test_quantize_causal_zeros_stay_zero_and_one_hot_is_exact():
    rng = np.random.default_rng(2)
    a = softmax_rows(rng, (2, 16, 16), causal=True)
    q = quantize(a)
    upper = np.triu(np.ones((16, 16), bool), 1)
    assert (q[:, upper] == 0).all()
    assert (q[:, ~upper] >= 0).all()
    one_hot = np.eye(5, dtype=np.float32)
    assert (quantize(one_hot) == 255 * np.eye(5)).all()


def test_dequantize_is_byte_over_255():
    q = np.arange(256, dtype=np.uint8)
    w = dequantize(q)
    assert w.dtype == np.float32
    assert w[0] == 0 and w[255] == 1.0 and abs(w[100] - 100 / 255) < 1e-7
    assert abs(SCALE - 1 / 255) < 1e-12


# ---------------------------------------------------------------- layer blobs


def _layer(seed, shape=(4, 9, 9)):
    return quantize(softmax_rows(np.random.default_rng(seed), shape))


def test_keyframe_round_trip_and_header():
    q = _layer(0)
    blob = encode_layer(q)
    encoding, ref_step, ref_crc, shape = layer_blob_info(blob)[:4]
    assert (encoding, ref_step, ref_crc, shape) == (ENCODING_KEYFRAME, 0, 0, (4, 9, 9))
    assert blob[:2] == b"TA" and len(blob) > 22
    np.testing.assert_array_equal(decode_layer(blob), q)


def test_delta_round_trip_is_exact_even_when_bytes_wrap():
    key = _layer(0)
    later = _layer(1)  # unrelated values: differences wrap around modulo 256
    blob = encode_layer(later, reference=key, ref_step=7)
    encoding, ref_step, ref_crc, shape = layer_blob_info(blob)[:4]
    assert encoding == ENCODING_DELTA and ref_step == 7 and ref_crc == zlib.crc32(key)
    np.testing.assert_array_equal(decode_layer(blob, reference=key), later)


def test_delta_of_a_similar_layer_is_smaller_than_a_keyframe():
    rng = np.random.default_rng(3)
    a = softmax_rows(rng, (4, 40, 40))
    b = a + rng.normal(scale=1e-3, size=a.shape).astype(np.float32)
    b = np.clip(b, 0, None)
    b /= b.sum(axis=-1, keepdims=True)
    qa, qb = quantize(a), quantize(b)
    assert len(encode_layer(qb, reference=qa, ref_step=0)) < len(encode_layer(qb))


def test_delta_whose_keyframe_was_overwritten_raises_format_error():
    key, other, later = _layer(0), _layer(5), _layer(1)
    blob = encode_layer(later, reference=key, ref_step=3)
    with pytest.raises(FormatError, match="step 3"):
        decode_layer(blob, reference=other)
    with pytest.raises(FormatError):
        decode_layer(blob)  # no keyframe at all
    with pytest.raises(FormatError):
        decode_layer(blob, reference=_layer(0, shape=(4, 8, 8)))


@pytest.mark.parametrize("damage", ["truncated", "magic", "zlib", "size", "version"])
def test_damaged_layer_blobs_raise_format_error(damage):
    q = _layer(0)
    blob = encode_layer(q)
    if damage == "truncated":
        blob = blob[:10]
    elif damage == "magic":
        blob = b"XX" + blob[2:]
    elif damage == "zlib":
        blob = blob[:22] + b"not zlib at all"
    elif damage == "size":
        blob = blob[:22] + zlib.compress(b"\0" * 10)
    elif damage == "version":
        blob = blob[:2] + bytes([FORMAT_VERSION + 1]) + blob[3:]
    with pytest.raises(FormatError):
        decode_layer(blob)


# ---------------------------------------------------------------- metadata and values

PROBE = {
    "name": "cat",
    "index": 2,
    "tokens": ["[CLS]", "the", "cat", "[SEP]"],
    "segments": [0, 0, 0, 0],
    "special": [True, False, False, True],
}


def test_metadata_round_trip_and_data_classes():
    meta = probe_metadata(PROBE, "self", causal=False, layers=2, heads=3)
    a = softmax_rows(np.random.default_rng(0), (2, 3, 4, 4))
    blobs = [encode_layer(quantize(a[l])) for l in range(2)]
    snap = snapshot_value(meta, 12, blobs, 4, 4)
    stats = stats_value(meta, np.zeros((len(STAT_NAMES), 2, 3)))
    assert snap.tag == "attention/cat/self" and stats.tag == "attention_stats/cat/self"
    assert snap.metadata.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    assert stats.metadata.data_class == summary_pb2.DATA_CLASS_TENSOR
    for value in (snap, stats):
        assert value.metadata.plugin_data.plugin_name == PLUGIN_NAME == "attention"
        parsed = ProbeMetadata.from_json(value.metadata.plugin_data.content)
        assert parsed == meta and parsed.probe == "cat" and parsed.probe_index == 2 and parsed.tokens == PROBE["tokens"]
        assert parsed.query == parsed.key == "tokens" and parsed.stats == list(STAT_NAMES)
    header = parse_snapshot_header(snap.tensor.string_val[0])
    assert header == {"version": 1, "step": 12, "layers": 2, "heads": 3, "query_len": 4, "key_len": 4}
    assert len(snap.tensor.string_val) == 3
    np.testing.assert_array_equal(decode_layer(snap.tensor.string_val[2]), quantize(a[1]))


def test_cross_kind_sides_and_stats_shape_checks():
    info = dict(PROBE, decoder_tokens=["<s>", "a"], decoder_special=[True, False])
    meta = probe_metadata(info, "cross", causal=False, layers=1, heads=2)
    assert (meta.query, meta.key) == ("decoder_tokens", "tokens")
    assert meta.token_side(meta.query) == ["<s>", "a"]
    with pytest.raises(ValueError, match="shape"):
        stats_value(meta, np.zeros((3, 1, 2)))
    good = np.arange(len(STAT_NAMES) * 2, dtype="<f4")
    np.testing.assert_array_equal(decode_stats(good.tobytes(), meta).ravel(), good)
    with pytest.raises(FormatError):
        decode_stats(good.tobytes()[:-4], meta)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe", "JSON"),
        (b"[1, 2]", "version"),
        (json.dumps({"version": FORMAT_VERSION + 1}).encode(), "upgrade"),
        (json.dumps({"version": 1, "probe": "p", "kind": "self"}).encode(), "lacks"),
        (
            json.dumps(
                {
                    "version": 1,
                    "probe": "p",
                    "kind": "sideways",
                    "layers": 1,
                    "heads": 1,
                    "tokens": [],
                    "segments": [],
                    "special": [],
                    "query": "tokens",
                    "key": "tokens",
                }
            ).encode(),
            "kind",
        ),
    ],
)
def test_bad_metadata_raises_format_error(content, message):
    with pytest.raises(FormatError, match=message):
        ProbeMetadata.from_json(content)


def test_bad_snapshot_header_raises_format_error():
    for blob in (b"{", b"[]", json.dumps({"step": 1}).encode(), b"\xff"):
        with pytest.raises(FormatError):
            parse_snapshot_header(blob)


# ---------------------------------------------------------------- TFRecord framing


def test_records_are_readable_by_tensorboards_own_reader(tmp_path):
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

    payloads = [b"x" * n for n in (0, 1, 300, 70000)]
    path = tmp_path / "events.out.tfevents.1.test"
    path.write_bytes(b"".join(frame_record(p) for p in payloads))
    reader = PyRecordReader_New(str(path))
    seen = []
    while True:
        try:
            reader.GetNext()
        except Exception:  # tensorboard signals the end with an exception
            break
        seen.append(reader.record())
    assert seen == payloads
    assert list(iter_records(str(path))) == payloads


def test_truncated_tail_and_bad_checksum_are_skipped(tmp_path, caplog):
    records = [frame_record(b"first"), frame_record(b"second"), frame_record(b"third")]
    bad = bytearray(records[1])
    bad[14] ^= 0xFF  # inside the payload: its checksum no longer matches
    path = tmp_path / "events.out.tfevents.1.test"
    path.write_bytes(records[0] + bytes(bad) + records[2] + frame_record(b"cut off")[:-3])
    assert list(iter_records(str(path))) == [b"first", b"third"]
    assert "bad checksum" in caplog.text
    header = bytearray(records[0])
    header[9] ^= 0xFF  # length checksum: the rest of the file cannot be framed
    path.write_bytes(bytes(header) + records[1])
    assert list(iter_records(str(path))) == []
    assert "corrupted record header" in caplog.text


def test_layers_encode_and_decode_concurrently():
    """The plugin decodes on many request threads at once (a shared zstd context crashed TensorBoard)."""
    import concurrent.futures

    rng = np.random.default_rng(0)
    layers = [rng.integers(0, 256, size=(16, 64, 64), dtype=np.uint8) for _ in range(24)]
    blobs = [encode_layer(q) for q in layers]

    def round_trip(i):
        for _ in range(20):
            np.testing.assert_array_equal(decode_layer(blobs[i]), layers[i])
            assert encode_layer(layers[i]) is not None
        return i

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        assert sorted(pool.map(round_trip, range(len(blobs)))) == list(range(len(blobs)))


# ---------------------------------------------------------------- the metadata written, byte for byte


RELATION = {
    "relation": "nsubj",
    "source": [["tokens", 2]],
    "target": [["tokens", 1]],
    "source_text": "sat",
    "target_text": "cat",
}


def _written_metadata(tmp_path):
    """{tag: plugin content bytes} of what the writer writes for an encoder probe (causal self), an
    encoder-decoder probe (cross, with predictions) and a relation probe (with a neuron record)."""
    from tb_attention_plugin import AttentionSummaryWriter
    from tb_attention_plugin.format.event_file import iter_events

    rng = np.random.default_rng(0)
    with AttentionSummaryWriter(tmp_path) as w:
        w.add_probe("cat", ["[CLS]", "a", "cat"], special=[1, 0, 0], segments=[0, 0, 1])
        w.add_probe("mt", ["a", "b"], decoder_tokens=["<s>", "x", "y"], decoder_special=[1, 0, 0])
        w.add_probe("rel", ["the", "cat", "sat"], word_of={"tokens": [0, 1, 2]}, relations=[RELATION])
        w.add_attention(0, "cat", softmax_rows(rng, (2, 2, 3, 3), causal=True))
        w.add_attention(0, "mt", softmax_rows(rng, (1, 2, 3, 2)), kind="cross")
        w.add_predictions(
            0,
            "mt",
            {"mode": "label", "positions": [], "top": [[["x", 0.5]]], "targets": [None], "target_probs": [None]},
            kind="cross",
        )
        w.add_attention(0, "rel", softmax_rows(rng, (1, 2, 3, 3)))
        record = {
            "heads": [(0, 1)],
            "query": np.zeros((1, 3, 4), np.float32),
            "key": np.zeros((1, 3, 4), np.float32),
            "scale": [0.5],
            "softcap": [0.0],
            "allowed": np.ones((1, 3, 3), bool),
            "bias": None,
        }
        w.add_neurons(0, "rel", record)
    return {
        value.tag: value.metadata.plugin_data.content
        for path in sorted(tmp_path.iterdir())
        for event in iter_events(str(path))
        for value in event.summary.value
        if value.metadata.plugin_data.content
    }


def test_the_metadata_written_stays_byte_for_byte_what_older_versions_wrote(tmp_path):
    stats = list(STAT_NAMES)
    cat = {
        "version": 1, "probe": "cat", "probe_index": 0, "kind": "self", "query": "tokens", "key": "tokens",
        "causal": True, "layers": 2, "heads": 2, "tokens": ["[CLS]", "a", "cat"], "segments": [0, 0, 1],
        "special": [True, False, False], "decoder_tokens": None, "decoder_special": None, "stats": stats,
    }  # fmt: skip
    mt = {
        "version": 1, "probe": "mt", "probe_index": 1, "kind": "cross", "query": "decoder_tokens", "key": "tokens",
        "causal": False, "layers": 1, "heads": 2, "tokens": ["a", "b"], "segments": [0, 0], "special": [False, False],
        "decoder_tokens": ["<s>", "x", "y"], "decoder_special": [True, False, False], "stats": stats,
    }  # fmt: skip
    rel = {
        "version": 1, "probe": "rel", "probe_index": 2, "kind": "self", "query": "tokens", "key": "tokens",
        "causal": False, "layers": 1, "heads": 2, "tokens": ["the", "cat", "sat"], "segments": [0, 0, 0],
        "special": [False, False, False], "decoder_tokens": None, "decoder_special": None, "stats": stats,
        "word_of": {"tokens": [0, 1, 2]},
        "relations": [RELATION],
    }  # fmt: skip
    expected = {
        "attention/cat/self": cat,
        "attention_stats/cat/self": cat,
        "attention/mt/cross": mt,
        "attention_stats/mt/cross": mt,
        "attention_predictions/mt/cross": mt,
        "attention/rel/self": rel,
        "attention_stats/rel/self": rel,
        "attention_relations/rel/self": rel,
        "attention_neurons/rel/self": dict(rel, neuron_heads=[[0, 1]]),
    }
    written = _written_metadata(tmp_path)
    assert written == {tag: json.dumps(meta, separators=(",", ":")).encode() for tag, meta in expected.items()}
