"""The codecs of the format's records (docs/format.md): each record a TensorBoard Summary.Value, its
plugin metadata on the first value of a tag in each event file, and the checks every reader applies
when it decodes one:
- `attention/<probe>/<kind>`: a blob sequence [header, layer 0, ...]: the JSON header (here) and the
  layer blobs (blobs.py);
- `attention_stats/<probe>/<kind>`: a float16 tensor [stats, layers, heads] of per-head statistics;
- `attention_relations/`, `attention_predictions/`, `attention_neurons/`: the relation words'
  attention, the model's predictions and the neuron view's vectors.
numpy and TensorBoard's protos are imported inside the functions that encode or decode.
"""

import json

from .blobs import compressor, decompress
from .metadata import (
    FORMAT_VERSION,
    MAX_HEADER_BYTES,
    MAX_TOKENS,
    STAT_NAMES,
    FormatError,
    load_json,
    neurons_tag,
    predictions_tag,
    relations_tag,
    snapshot_tag,
    stats_tag,
)
from .plugin_metadata import summary_metadata


def encode_snapshot_header(step, layers, heads, queries, keys):
    return json.dumps(
        {
            "version": FORMAT_VERSION,
            "step": int(step),
            "layers": int(layers),
            "heads": int(heads),
            "query_len": int(queries),
            "key_len": int(keys),
        }
    ).encode()


def parse_snapshot_header(blob):
    header = load_json(blob, "attention snapshot header", MAX_HEADER_BYTES)
    try:
        int(header["layers"]), int(header["step"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise FormatError("attention snapshot header is not valid JSON") from None
    return header


def check_snapshot_blobs(blobs, meta):
    """A snapshot record's blob sequence [header, layer 0, ...] as read: FormatError unless it holds
    a header and one blob per layer of its metadata."""
    header = parse_snapshot_header(blobs[0]) if blobs else None
    if header is None or len(blobs) != meta.layers + 1:
        raise FormatError("snapshot has the wrong number of layers")
    return blobs


def snapshot_value(meta, step, layer_blobs, queries, keys, *, with_metadata=True):
    """Summary.Value of a blob sequence: [header, layer 0, ..., layer L-1].

    Metadata goes on the first value of a tag in each file (TensorBoard keeps only the first anyway).
    """
    blobs = [encode_snapshot_header(step, len(layer_blobs), meta.heads, queries, keys)] + list(layer_blobs)
    return _blob_sequence_value(snapshot_tag(meta.probe, meta.kind), blobs, meta, with_metadata)


def _blob_sequence_value(tag, blobs, meta, with_metadata):
    """Summary.Value of a string tensor [len(blobs)] (a blob sequence: readers fetch it only when asked
    for), with the plugin metadata when `with_metadata`."""
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(blobs))]),
        string_val=blobs,
    )
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if with_metadata:
        value.metadata.CopyFrom(summary_metadata(meta, summary_pb2.DATA_CLASS_BLOB_SEQUENCE))
    return value


# ---------------------------------------------------------------- statistics


def stats_value(meta, stats, *, with_metadata=True):
    """Summary.Value of a float16 tensor [len(STAT_NAMES), layers, heads] (the weights' statistics lie
    in [0, 1], max_logit mostly below 10^3: half precision keeps ~3 significant digits in half
    float32's bytes)."""
    import numpy as np

    arr = np.ascontiguousarray(stats, dtype="<f2")
    if arr.shape != (len(STAT_NAMES), meta.layers, meta.heads):
        raise ValueError(f"stats must have shape {(len(STAT_NAMES), meta.layers, meta.heads)}, got {arr.shape}")
    return _half_tensor_value(stats_tag(meta.probe, meta.kind), arr, meta, with_metadata)


def _half_tensor_value(tag, arr, meta, with_metadata):
    """Summary.Value of a float16 tensor (DATA_CLASS_TENSOR), with the metadata when asked."""
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_HALF,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n) for n in arr.shape]
        ),
        tensor_content=arr.tobytes(),
    )
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if with_metadata:
        value.metadata.CopyFrom(summary_metadata(meta, summary_pb2.DATA_CLASS_TENSOR))
    return value


def decode_stats(array, meta):
    """A decoded stats tensor (any float dtype; raw bytes are read as float32) -> float32
    [len(meta.stats), layers, heads]."""
    import numpy as np

    shape = (len(meta.stats), meta.layers, meta.heads)
    arr = np.frombuffer(array, dtype="<f4") if isinstance(array, (bytes, bytearray)) else np.asarray(array)
    if arr.dtype.kind != "f" or arr.size != shape[0] * shape[1] * shape[2]:
        raise FormatError("attention stats tensor has the wrong size or type")
    return arr.astype(np.float32).reshape(shape)


# ---------------------------------------------------------------- relations


def relations_value(meta, features, *, with_metadata=True):
    """Summary.Value of a float16 tensor [instances, key words, layers, heads]: each relation's word
    attention in this kind (analysis/relations.py)."""
    import numpy as np

    arr = np.ascontiguousarray(features, dtype="<f2")
    return _half_tensor_value(relations_tag(meta.probe, meta.kind), arr, meta, with_metadata)


def decode_relations(array, meta):
    """A decoded relations tensor -> float32 [instances, key words, layers, heads], its shape checked
    against the metadata."""
    import numpy as np

    shape = (len(meta.relation_instances()), len(meta.relation_key_words()), meta.layers, meta.heads)
    arr = np.asarray(array)
    if arr.dtype.kind != "f" or arr.shape != shape:
        raise FormatError(f"attention relations tensor has shape {arr.shape}, not {shape}")
    return arr.astype(np.float32)


# ---------------------------------------------------------------- predictions

PREDICTION_MODES = ("next-token", "masked", "label")
MAX_PREDICTION_BYTES = 4 << 20


def predictions_value(meta, prediction, *, with_metadata=True):
    """Summary.Value of a string tensor [1]: the JSON of what the model predicted on the probe at this
    step ({"mode", "positions", "top": [[[token, probability], ...] per position], "targets",
    "target_probs"}); a blob sequence, so that readers read it only when asked for."""
    blob = json.dumps(check_predictions(prediction), separators=(",", ":")).encode("utf-8")
    return _blob_sequence_value(predictions_tag(meta.probe, meta.kind), [blob], meta, with_metadata)


def check_predictions(prediction):
    """The prediction dict as stored, or FormatError: every reader checks the same."""
    if not isinstance(prediction, dict) or prediction.get("mode") not in PREDICTION_MODES:
        raise FormatError("predictions have no known mode")
    positions, top = prediction.get("positions"), prediction.get("top")
    targets, target_probs = prediction.get("targets"), prediction.get("target_probs")
    rows = 1 if prediction["mode"] == "label" else len(positions) if isinstance(positions, list) else -1
    if not isinstance(positions, list) or not isinstance(top, list) or len(top) != rows or rows > MAX_TOKENS:
        raise FormatError("predictions do not hold one list of candidates per position")
    if not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p < MAX_TOKENS for p in positions):
        raise FormatError("predictions have invalid positions")
    for candidates in top:
        if not isinstance(candidates, list) or not all(
            isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and _probability(c[1]) for c in candidates
        ):
            raise FormatError("predictions have invalid candidates")
    if (
        not isinstance(targets, list)
        or not isinstance(target_probs, list)
        or not len(targets) == len(target_probs) == rows
    ):
        raise FormatError("predictions have invalid targets")
    if not all(
        (t is None or isinstance(t, str)) and (p is None or _probability(p)) for t, p in zip(targets, target_probs)
    ):
        raise FormatError("predictions have invalid targets")
    return prediction


def _probability(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0 + 1e-6


def parse_predictions(blob):
    """The JSON blob of a predictions record -> its checked dict."""
    return check_predictions(load_json(blob, "attention predictions", MAX_PREDICTION_BYTES))


# ---------------------------------------------------------------- neurons (the neuron view)

MAX_NEURON_DIM = 4096  # per-head query/key width
MAX_NEURON_VALUES = 1 << 27  # floats of one record (query, key and bias of every captured head): 512 MiB
_NEURON_PARTS = ("query", "key", "allowed", "bias", "value_norm")
NEURON_VECTOR_TYPES = ("<f4", "<f2")  # query and key: float32, or float16 where it keeps the bound


def _check_neuron_header(header, meta):
    """(heads, dim, queries, keys) of a neuron record's header, checked against its probe's metadata."""
    _, queries, keys = meta.layer_shape()
    try:
        heads = [(int(lh[0]), int(lh[1])) for lh in header["heads"]]
        dim, scale, softcap = int(header["dim"]), header["scale"], header["softcap"]
        ok = (
            len(heads) == len(header["heads"]) == len(scale) == len(softcap)
            and all(0 <= lay < meta.layers and 0 <= h < meta.heads for lay, h in heads)
            and heads == sorted(set(heads))
            and 0 < dim <= MAX_NEURON_DIM
            and (header["query_len"], header["key_len"]) == (queries, keys)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in list(scale) + list(softcap))
            and isinstance(header["bias"], bool)
            and isinstance(header.get("value_norm", False), bool)
            and header.get("dtype", "<f4") in NEURON_VECTOR_TYPES
        )
    except (KeyError, TypeError, ValueError, IndexError):
        ok = False
    if not ok:
        raise FormatError("attention neuron record has an invalid header")
    if len(heads) * ((queries + keys) * dim + queries * keys) > MAX_NEURON_VALUES:
        raise FormatError("attention neuron record is larger than this format accepts")
    return heads, dim, queries, keys


def neuron_header(meta, record):
    """The JSON header of a neuron record (heads with their scale and soft-cap, sizes), checked
    against its probe's metadata: FormatError for a record no reader would accept."""
    query, key = record["query"], record["key"]
    header = {
        "version": FORMAT_VERSION,
        "heads": [[int(lay), int(h)] for lay, h in record["heads"]],
        "dim": int(query.shape[-1]),
        "query_len": int(query.shape[1]),
        "key_len": int(key.shape[1]),
        "scale": [float(x) for x in record["scale"]],
        "softcap": [float(x) for x in record["softcap"]],
        "bias": record["bias"] is not None,
        "value_norm": record.get("value_norm") is not None,
    }
    heads, dim, queries, keys = _check_neuron_header(header, meta)
    n = len(heads)
    shapes = [(query, (n, queries, dim)), (key, (n, keys, dim)), (record["allowed"], (n, queries, keys))]
    if record["bias"] is not None:
        shapes.append((record["bias"], (n, queries, keys)))
    if header["value_norm"]:
        shapes.append((record["value_norm"], (n, keys)))
    if any(tuple(a.shape) != shape for a, shape in shapes):
        raise FormatError("attention neuron record's arrays do not match its heads and tokens")
    return header


def neurons_value(meta, record, header, *, with_metadata=True):
    """Summary.Value of a blob sequence [JSON header, query, key, allowed (, bias) (, value_norm)]:
    each captured head's query [Q, D] and key [K, D] vectors (header "dtype": float32, or float16
    where `vector_dtype` allows), the keys it may attend to (bits
    [Q, K]), an additive bias [Q, K] (T5's position bias) and ||W_O^h v_j|| per key [K],
    zstd-compressed; the header (`neuron_header`) lists the heads with their scale and soft-cap and
    which optional parts follow (docs/format.md, "Neurons")."""
    import numpy as np

    vectors = header.get("dtype", "<f4")
    parts = [np.ascontiguousarray(record[k], vectors).tobytes() for k in ("query", "key")]
    parts.append(np.packbits(np.asarray(record["allowed"], bool)).tobytes())
    for name in ("bias", "value_norm"):
        if header[name]:
            parts.append(np.ascontiguousarray(record[name], "<f4").tobytes())
    blobs = [json.dumps(header, separators=(",", ":")).encode()] + [compressor().compress(p) for p in parts]
    return _blob_sequence_value(neurons_tag(meta.probe, meta.kind), blobs, meta, with_metadata)


def parse_neurons(blobs, meta):
    """A neuron record's blobs -> {"heads", "scale", "softcap", "query" float32 [n, Q, D], "key"
    [n, K, D], "allowed" bool [n, Q, K], "bias" float32 [n, Q, K] or None, "value_norm" [n, K] or
    None} (float16 vectors widened), every size checked before anything is decompressed."""
    import numpy as np

    if not blobs:
        raise FormatError("attention neuron record is empty")
    header = load_json(blobs[0], "attention neuron header", MAX_HEADER_BYTES)
    if not isinstance(header, dict):
        raise FormatError("attention neuron record has an invalid header")
    heads, dim, queries, keys = _check_neuron_header(header, meta)
    n = len(heads)
    names = [p for p in _NEURON_PARTS if p in ("query", "key", "allowed") or header.get(p, False)]
    if len(blobs) != 1 + len(names):
        raise FormatError("attention neuron record has the wrong number of parts")
    shapes = {"query": (n, queries, dim), "key": (n, keys, dim), "bias": (n, queries, keys), "value_norm": (n, keys, 1)}
    out = {"heads": heads, "scale": np.array(header["scale"], np.float32)}
    out["softcap"] = np.array(header["softcap"], np.float32)
    for name, blob in zip(names, blobs[1:]):
        if name == "allowed":
            bits = np.frombuffer(decompress(blob, (n * queries * keys + 7) // 8), np.uint8)
            out[name] = np.unpackbits(bits, count=n * queries * keys).astype(bool).reshape(n, queries, keys)
        else:
            dtype = np.dtype(header.get("dtype", "<f4") if name in ("query", "key") else "<f4")
            shape = shapes[name]
            raw = decompress(blob, dtype.itemsize * shape[0] * shape[1] * shape[2])
            out[name] = np.frombuffer(raw, dtype).reshape(shape).astype(np.float32)
    out.setdefault("bias", None)
    out["value_norm"] = out["value_norm"][..., 0] if "value_norm" in out else None
    if not all(np.isfinite(out[k]).all() for k in ("query", "key")) or any(
        out[k] is not None and np.isnan(out[k]).any() for k in ("bias", "value_norm")
    ):
        raise FormatError("attention neuron record holds non-finite vectors")
    return out
