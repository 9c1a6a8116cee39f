"""The on-disk format of attention logs: the one module both the writer and the readers use.

Specification: docs/format.md. In short, per probe and attention kind there are two tags:
- `attention/<probe>/<kind>`: a blob sequence; at each logged step blob 0 is a JSON header and blob
  1 + l holds layer l's quantized attention [heads, query, key], zstd-compressed, either whole
  (a keyframe) or as a byte-wise difference to the previous snapshot of the same tag and layer;
- `attention_stats/<probe>/<kind>`: a float16 tensor [stats, layers, heads] of per-head statistics.
The first value of each tag in each event file carries the JSON plugin metadata describing the probe
(tokens, segments, special tokens, layers, heads...).

Over 300 lines by design: this is the one home of the format (with docs/format.md), so that the
writer, `read_run` and the plugin cannot drift apart. It is import-light: numpy, zstandard and
TensorBoard's protos are imported inside the functions that encode or decode, so that the TensorBoard
entry point (plugin_entry.py) can take PLUGIN_NAME from here without loading them at start-up.
"""

import json
import struct
import threading
import zlib
from typing import NamedTuple

PLUGIN_NAME = "attention"
FORMAT_VERSION = 1

SNAPSHOT_TAG_PREFIX = "attention/"
STATS_TAG_PREFIX = "attention_stats/"
RELATIONS_TAG_PREFIX = "attention_relations/"
PREDICTIONS_TAG_PREFIX = "attention_predictions/"
NEURONS_TAG_PREFIX = "attention_neurons/"
# every tag of this plugin starts with one of these (the event-file index looks for no others)
TAG_PREFIXES = (SNAPSHOT_TAG_PREFIX, STATS_TAG_PREFIX, RELATIONS_TAG_PREFIX, PREDICTIONS_TAG_PREFIX, NEURONS_TAG_PREFIX)
# Scalar series `tb_attention/best_checkpoint/<metric>` (e.g. .../eval/loss): one point at the step of
# the checkpoint that load_best_model_at_end put back, valued with its metric. The tab shows it as a
# mark on the step axis, not as a curve.
BEST_CHECKPOINT_TAG_PREFIX = "tb_attention/best_checkpoint/"

# Order of the statistics in a stats tensor (definitions: docs/format.md).
STAT_NAMES = ("entropy", "first", "sep", "self", "prev", "next", "max", "drift", "induction", "duplicate")

# Which token list the query rows and key columns of each kind refer to, and whether it is causal
# by construction (`self` is causal for decoder-only models: the writer is told).
KIND_SIDES = {
    "self": ("tokens", "tokens"),
    "encoder": ("tokens", "tokens"),
    "decoder": ("decoder_tokens", "decoder_tokens"),
    "cross": ("decoder_tokens", "tokens"),
}

ENCODING_KEYFRAME = 0
ENCODING_DELTA = 1
# A delta refers to the previous snapshot of its tag and layer; a keyframe starts every chain of at
# most MAX_CHAIN blobs, so any layer of any step decodes from at most MAX_CHAIN blobs.
MAX_CHAIN = 4
_LAYER_MAGIC = b"TA"
_LAYER_HEADER = struct.Struct("<2sBBqIHHH")  # magic, version, encoding, ref step, ref crc32, H, Q, K
# zstd level 1: as small as zlib -6 on attention bytes, at a tenth of the time (bench/bench_callback.py).
ZSTD_LEVEL = 1
_codecs = threading.local()  # zstd (de)compressor objects must never be shared between threads


def _compressor():
    if not hasattr(_codecs, "compressor"):
        import zstandard

        # with its checksum, a frame with flipped bytes fails to decode instead of decoding wrongly
        _codecs.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
    return _codecs.compressor


def _decompressor():
    if not hasattr(_codecs, "decompressor"):
        import zstandard

        _codecs.decompressor = zstandard.ZstdDecompressor()
    return _codecs.decompressor


class FormatError(ValueError):
    """A record that does not follow this format (corrupted, truncated, or from a newer version)."""


# ---------------------------------------------------------------- tags and metadata


def _tag_safe(c):
    """Whether a character may stand in a tag as it is. RustBoard's blob keys are JSON that it parses
    into borrowed strings, so a tag (or run) holding a character JSON escapes (`"`, `\\`, control
    characters) makes every blob of the tag unreadable there; `/` separates a tag's parts and `%` is
    the escape itself."""
    o = ord(c)
    return c not in '%"\\/' and o >= 0x20 and not 0x7F <= o <= 0x9F


def needs_json_escape(text):
    """Whether a string needs an escape in JSON: then RustBoard cannot parse a blob key holding it."""
    return any(c in '"\\' or ord(c) < 0x20 for c in text)


def tag_name(probe):
    """A probe's name as spelled in its tags: `%`, `"`, `\\`, `/` and control characters are
    percent-encoded (UTF-8), everything else (ordinary unicode included) is kept. Readers take the
    name from the metadata (`probe`), never from the tag, so any spelling, old ones included, reads."""
    return "".join(
        c if _tag_safe(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")) for c in probe
    )


def snapshot_tag(probe, kind):
    return f"{SNAPSHOT_TAG_PREFIX}{tag_name(probe)}/{kind}"


def stats_tag(probe, kind):
    return f"{STATS_TAG_PREFIX}{tag_name(probe)}/{kind}"


def relations_tag(probe, kind):
    return f"{RELATIONS_TAG_PREFIX}{tag_name(probe)}/{kind}"


def predictions_tag(probe, kind):
    return f"{PREDICTIONS_TAG_PREFIX}{tag_name(probe)}/{kind}"


def neurons_tag(probe, kind):
    return f"{NEURONS_TAG_PREFIX}{tag_name(probe)}/{kind}"


def probe_metadata(probe_info, kind, *, causal, layers, heads):
    """The JSON description of one (probe, kind), written with the first value of each of its two
    tags in each event file."""
    query, key = KIND_SIDES[kind]
    meta = {
        "version": FORMAT_VERSION,
        "probe": probe_info["name"],
        "probe_index": probe_info["index"],
        "kind": kind,
        "query": query,
        "key": key,
        "causal": bool(causal),
        "layers": int(layers),
        "heads": int(heads),
        "tokens": list(probe_info["tokens"]),
        "segments": [int(s) for s in probe_info["segments"]],
        "special": [bool(s) for s in probe_info["special"]],
        "decoder_tokens": probe_info.get("decoder_tokens"),
        "decoder_special": probe_info.get("decoder_special"),
        "stats": list(STAT_NAMES),
    }
    if probe_info.get("relations"):
        meta["word_of"] = probe_info["word_of"]
        meta["relations"] = probe_info["relations"]
    try:
        return _check_values(meta)
    except FormatError as e:  # e.g. a model or probe beyond the format's limits: nothing is written
        raise ValueError(f"probe {meta['probe']!r} kind {kind!r} cannot be logged: {e}") from None


def _summary_metadata(meta, data_class):
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(meta, separators=(",", ":")).encode("utf-8")
        ),
        data_class=data_class,
    )


# Bounds on what a record may claim (docs/format.md, "Limits"): every reader allocates at most a
# small multiple of what a probe's metadata says, and the metadata cannot claim more than this. The
# writer refuses larger snapshots (a ValueError before anything is written).
MAX_LAYERS = 1024
MAX_HEADS = 1024
MAX_TOKENS = 16384  # per token list (tokens, decoder_tokens)
MAX_LAYER_WEIGHTS = 1 << 28  # heads x query x key of one layer: 256 MiB as stored, decoded at once
MAX_SNAPSHOT_WEIGHTS = 1 << 31  # layers x heads x query x key (e.g. 80 x 64 heads x 640 tokens): 2 GiB
MAX_METADATA_BYTES = 4 << 20  # the JSON plugin metadata of one tag
MAX_HEADER_BYTES = 64 << 10  # the JSON header (blob 0) of one snapshot
MAX_STATS = 256


def _loads(data, what, limit):
    """JSON text (bytes or str) of at most `limit` bytes -> object; FormatError on anything else,
    deep nesting included (json raises RecursionError there, not ValueError)."""
    if len(data) > limit:
        raise FormatError(f"{what} is {len(data)} bytes, more than the {limit} this format accepts")
    try:
        return json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)
    except RecursionError:
        raise FormatError(f"{what} is nested too deeply to be ours") from None
    except (ValueError, UnicodeDecodeError, TypeError) as e:
        raise FormatError(f"{what} is not JSON: {e}") from None


def parse_plugin_content(content):
    """bytes from SummaryMetadata.plugin_data.content -> metadata dict (FormatError if not ours)."""
    meta = _loads(content, "attention metadata", MAX_METADATA_BYTES)
    if not isinstance(meta, dict) or isinstance(meta.get("version"), bool) or not isinstance(meta.get("version"), int):
        raise FormatError("attention metadata has no version")
    if meta["version"] > FORMAT_VERSION:
        raise FormatError(
            f"attention log format v{meta['version']} is newer than this reader "
            f"(v{FORMAT_VERSION}): upgrade tb-attention"
        )
    required = ("probe", "kind", "layers", "heads", "tokens", "segments", "special", "query", "key")
    missing = [k for k in required if k not in meta]
    if missing or not isinstance(meta["kind"], str) or meta["kind"] not in KIND_SIDES:
        raise FormatError(f"attention metadata lacks {missing or 'a known kind'}")
    return _check_values(meta)


def _check_values(meta):
    """Reject metadata whose values no reader can use safely (types, sizes, consistent sides)."""
    if not isinstance(meta["probe"], str) or not meta["probe"]:
        raise FormatError(f"attention metadata has an invalid probe name: {meta['probe']!r}")
    for key, limit in (("layers", MAX_LAYERS), ("heads", MAX_HEADS)):
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise FormatError(f"attention metadata has an invalid {key}: {value!r}")
        if value > limit:
            raise FormatError(f"attention metadata claims {value} {key}, more than the {limit} this format accepts")
    for key in ("tokens", "decoder_tokens"):
        value = meta.get(key)
        if value is None and key == "decoder_tokens":
            continue
        if (
            not isinstance(value, list)
            or not (value or key == "decoder_tokens")
            or not all(isinstance(t, str) for t in value)
        ):
            raise FormatError(f"attention metadata has invalid {key}")
        if len(value) > MAX_TOKENS:
            raise FormatError(
                f"attention metadata claims {len(value)} {key}, more than the {MAX_TOKENS} this format accepts"
            )
    for key in ("segments", "special"):
        if not isinstance(meta[key], list) or len(meta[key]) != len(meta["tokens"]):
            raise FormatError(f"attention metadata has an invalid {key} list")
    value = meta.get("decoder_special")
    if value is not None and (not isinstance(value, list) or len(value) > MAX_TOKENS):
        raise FormatError("attention metadata has an invalid decoder_special")
    if (meta["query"], meta["key"]) != KIND_SIDES[meta["kind"]]:
        raise FormatError("attention metadata has query/key sides that do not match its kind")
    heads, queries, keys = layer_shape(meta)
    weights = meta["layers"] * heads * queries * keys
    if weights > MAX_SNAPSHOT_WEIGHTS or heads * queries * keys > MAX_LAYER_WEIGHTS:
        raise FormatError(
            f"attention metadata claims snapshots of {meta['layers']} layers x {heads} heads x "
            f"{queries} x {keys} tokens = {weights} weights, more than this format accepts "
            f"({MAX_LAYER_WEIGHTS} per layer, {MAX_SNAPSHOT_WEIGHTS} per snapshot): shorten "
            f"the probe"
        )
    names = meta.get("stats", list(STAT_NAMES))
    if not isinstance(names, list) or not names or len(names) > MAX_STATS or not all(isinstance(n, str) for n in names):
        raise FormatError("attention metadata has an invalid stats list")
    from .relations import check  # the relations' own module checks their part

    return check(meta)


def layer_shape(meta):
    """(heads, query length, key length) that every layer blob of this probe and kind must hold:
    the metadata's heads and the lengths of the token lists its kind's query and key refer to."""
    query, key = KIND_SIDES[meta["kind"]]
    return int(meta["heads"]), len(token_side(meta, query)), len(token_side(meta, key))


def token_side(meta, side):
    """The token list a kind's query or key axis refers to."""
    tokens = meta.get(side)
    if tokens is None:
        raise FormatError(f"attention metadata lacks {side}")
    return tokens


def key_special(meta):
    """The special-token mask of a kind's key tokens ([CLS], [SEP], BOS, EOS...): all False where the
    metadata has none (decoder tokens of older logs)."""
    side = KIND_SIDES[meta["kind"]][1]
    special = meta.get("special" if side == "tokens" else "decoder_special")
    return [bool(s) for s in special] if special is not None else [False] * len(token_side(meta, side))


# ---------------------------------------------------------------- snapshots


def encode_layer(q, reference=None, ref_step=0):
    """uint8 [H, Q, K] -> layer blob; a delta to `reference` (uint8, same shape) when given."""
    import numpy as np

    heads, queries, keys = q.shape
    if reference is None:
        encoding, ref_crc, payload = ENCODING_KEYFRAME, 0, q
        ref_step = 0
    else:
        encoding, ref_crc = ENCODING_DELTA, zlib.crc32(reference)
        payload = q - reference  # uint8 arithmetic wraps: exact and reversible
    header = _LAYER_HEADER.pack(_LAYER_MAGIC, FORMAT_VERSION, encoding, int(ref_step), ref_crc, heads, queries, keys)
    return header + _compressor().compress(np.ascontiguousarray(payload).tobytes())


class LayerInfo(NamedTuple):
    """What a layer blob's header says (`layer_blob_info`)."""

    encoding: int  # ENCODING_KEYFRAME or ENCODING_DELTA
    ref_step: int  # the step a delta refers to (0 for a keyframe)
    ref_crc: int  # CRC32 of the reference layer's bytes (0 for a keyframe)
    shape: tuple  # (heads, query, key)


def layer_blob_info(blob, expected=None):
    """LayerInfo(encoding, ref_step, ref_crc, (H, Q, K)) of a layer blob, without decompressing it.

    expected: the (H, Q, K) the probe's metadata says (`layer_shape(meta)`); a blob whose header
    disagrees is rejected here, before anything is allocated. Without it only the format's limits
    apply."""
    if len(blob) < _LAYER_HEADER.size:
        raise FormatError("attention layer blob is truncated")
    magic, version, encoding, ref_step, ref_crc, h, qn, kn = _LAYER_HEADER.unpack_from(blob)
    if magic != _LAYER_MAGIC or version > FORMAT_VERSION or encoding not in (ENCODING_KEYFRAME, ENCODING_DELTA):
        raise FormatError("not an attention layer blob of a known version")
    shape = (h, qn, kn)
    if expected is not None:
        if shape != tuple(expected):
            raise FormatError(
                "attention layer blob holds %dx%dx%d (heads x query x key) weights but the "
                "probe's metadata says %dx%dx%d" % (shape + tuple(expected))
            )
    elif not h or not qn or not kn or h * qn * kn > MAX_LAYER_WEIGHTS:
        raise FormatError("attention layer blob claims %dx%dx%d weights" % shape)
    return LayerInfo(encoding, ref_step, ref_crc, shape)


def _decompress(frame, size):
    """The zstd frame of a layer -> exactly `size` bytes, never allocating more: `max_output_size`
    bounds a frame that does not declare its content size, and is ignored by zstandard when the
    frame does, so a declared size other than `size` is rejected before decompressing."""
    import zstandard

    try:
        declared = zstandard.frame_content_size(frame)
    except zstandard.ZstdError:
        raise FormatError("attention layer blob holds no zstd frame") from None
    if declared not in (-1, size):
        raise FormatError(f"attention layer blob declares {declared} bytes for a {size}-byte layer")
    try:
        raw = _decompressor().decompress(frame, max_output_size=size, allow_extra_data=False)
    except zstandard.ZstdError as e:
        raise FormatError(f"attention layer blob does not decompress to {size} bytes: {e}") from None
    if len(raw) != size:
        raise FormatError("attention layer blob has the wrong size")
    return raw


def decode_layer(blob, reference=None, expected=None):
    """Layer blob -> uint8 [H, Q, K]. A delta blob needs its reference step's decoded bytes as
    `reference` (decode_layer_at follows a whole chain). `expected`: see layer_blob_info; readers
    pass `layer_shape(meta)`, so no blob makes them allocate more than the metadata says."""
    import numpy as np

    encoding, ref_step, ref_crc, shape = layer_blob_info(blob, expected)
    raw = _decompress(blob[_LAYER_HEADER.size :], shape[0] * shape[1] * shape[2])
    q = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    if encoding == ENCODING_KEYFRAME:
        return q
    if reference is None or reference.shape != q.shape or zlib.crc32(np.ascontiguousarray(reference)) != ref_crc:
        raise FormatError(f"reference snapshot at step {ref_step} is missing or was overwritten")
    return q + reference


class Link(NamedTuple):
    """One blob of a delta chain: the step it is logged at, its bytes, what its header says."""

    step: int
    blob: bytes
    info: LayerInfo


class Chain(NamedTuple):
    """What one layer at a step decodes from (`walk_chain`): `links`, newest first, back to a keyframe
    or to the layer after `base`, a layer already decoded at `base_step` (None, None: a keyframe)."""

    links: list
    base: object
    base_step: object


def walk_chain(step, blob_of, decoded_of=None, expected=None, label=""):
    """Follow one layer's delta chain back from `step`: the one walk of the writer's chains, used by
    `read_run` (decode_layer_at) and the plugin (plugin_snapshot.py).

    blob_of(step) -> that layer's blob at a step; it raises FormatError (with the reader's own words)
    when the step is not at hand. decoded_of(step) -> the layer already decoded at a step, or None:
    the walk stops there. `expected`: the (H, Q, K) of the probe's metadata (layer_shape), checked
    on every blob's header before anything is decompressed; `label` prefixes that check's errors.
    A chain longer than MAX_CHAIN blobs, or a delta that does not refer to an earlier step, is a
    FormatError. Decode the result with `decode_chain`."""
    links, current = [], step
    while True:
        base = None if decoded_of is None else decoded_of(current)
        if base is not None:
            return Chain(links, base, current)
        blob = blob_of(current)
        try:
            info = layer_blob_info(blob, expected)
        except FormatError as e:
            raise FormatError(f"{label}{e}") from None
        links.append(Link(current, blob, info))
        if info.encoding == ENCODING_KEYFRAME:
            return Chain(links, None, None)
        if info.ref_step >= current or len(links) >= MAX_CHAIN:
            raise FormatError(
                f"snapshot at step {current} refers to step {info.ref_step}: not an earlier step within "
                f"{MAX_CHAIN} blobs"
            )
        current = info.ref_step


def decode_chain(chain, expected=None, keep=None):
    """Decode a `walk_chain` result forward -> uint8 [H, Q, K] at the chain's first step; keep(step,
    layer) is called with every layer decoded on the way (a cache). Each delta checks the CRC of its
    reference: a reference overwritten by another record is a FormatError, never a wrong layer."""
    layer = chain.base
    for link in reversed(chain.links):
        layer = decode_layer(link.blob, None if link.info.encoding == ENCODING_KEYFRAME else layer, expected)
        if keep is not None:
            keep(link.step, layer)
    return layer


def decode_layer_at(step, layer_blob_of, decoded=None, expected=None):
    """Decode one layer at `step`, following its delta chain back to the keyframe.

    layer_blob_of(step) -> that layer's blob at another step (None if that step is not logged);
    `decoded` is an optional dict step -> uint8 layer that callers keep as a cache (filled here);
    `expected`: the (H, Q, K) of the probe's metadata (layer_shape), checked on every blob.
    """
    decoded = {} if decoded is None else decoded

    def blob_of(at):
        blob = layer_blob_of(at)
        if blob is None:
            raise FormatError(f"reference snapshot at step {at} is missing")
        return blob

    chain = walk_chain(step, blob_of, decoded.get, expected)
    return decode_chain(chain, expected, decoded.__setitem__)


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
    header = _loads(blob, "attention snapshot header", MAX_HEADER_BYTES)
    try:
        int(header["layers"]), int(header["step"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise FormatError("attention snapshot header is not valid JSON") from None
    return header


def check_snapshot_blobs(blobs, meta):
    """A snapshot record's blob sequence [header, layer 0, ...] as read: FormatError unless it holds
    a header and one blob per layer of its metadata."""
    header = parse_snapshot_header(blobs[0]) if blobs else None
    if header is None or len(blobs) != int(meta["layers"]) + 1:
        raise FormatError("snapshot has the wrong number of layers")
    return blobs


def snapshot_value(meta, step, layer_blobs, queries, keys, *, with_metadata=True):
    """Summary.Value of a blob sequence: [header, layer 0, ..., layer L-1].

    Metadata goes on the first value of a tag in each file (TensorBoard keeps only the first anyway).
    """
    blobs = [encode_snapshot_header(step, len(layer_blobs), meta["heads"], queries, keys)] + list(layer_blobs)
    return _blob_sequence_value(snapshot_tag(meta["probe"], meta["kind"]), blobs, meta, with_metadata)


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
        value.metadata.CopyFrom(_summary_metadata(meta, summary_pb2.DATA_CLASS_BLOB_SEQUENCE))
    return value


# ---------------------------------------------------------------- statistics


def stats_value(meta, stats, *, with_metadata=True):
    """Summary.Value of a float16 tensor [len(STAT_NAMES), layers, heads] (statistics lie in [0, 1]:
    half precision keeps ~3 significant digits in half float32's bytes)."""
    import numpy as np

    arr = np.ascontiguousarray(stats, dtype="<f2")
    if arr.shape != (len(STAT_NAMES), meta["layers"], meta["heads"]):
        raise ValueError(f"stats must have shape {(len(STAT_NAMES), meta['layers'], meta['heads'])}, got {arr.shape}")
    return _half_tensor_value(stats_tag(meta["probe"], meta["kind"]), arr, meta, with_metadata)


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
        value.metadata.CopyFrom(_summary_metadata(meta, summary_pb2.DATA_CLASS_TENSOR))
    return value


def decode_stats(array, meta):
    """A decoded stats tensor (any float dtype; raw bytes are read as float32) -> float32
    [len(meta['stats']), layers, heads]."""
    import numpy as np

    names = meta.get("stats", STAT_NAMES)
    shape = (len(names), int(meta["layers"]), int(meta["heads"]))
    arr = np.frombuffer(array, dtype="<f4") if isinstance(array, (bytes, bytearray)) else np.asarray(array)
    if arr.dtype.kind != "f" or arr.size != shape[0] * shape[1] * shape[2]:
        raise FormatError("attention stats tensor has the wrong size or type")
    return arr.astype(np.float32).reshape(shape)


# ---------------------------------------------------------------- relations


def relations_value(meta, features, *, with_metadata=True):
    """Summary.Value of a float16 tensor [instances, key words, layers, heads]: each relation's word
    attention in this kind (relations.py)."""
    import numpy as np

    arr = np.ascontiguousarray(features, dtype="<f2")
    return _half_tensor_value(relations_tag(meta["probe"], meta["kind"]), arr, meta, with_metadata)


def decode_relations(array, meta):
    """A decoded relations tensor -> float32 [instances, key words, layers, heads], its shape checked
    against the metadata."""
    import numpy as np

    from .relations import instances, key_words

    shape = (len(instances(meta)), len(key_words(meta)), int(meta["layers"]), int(meta["heads"]))
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
    return _blob_sequence_value(predictions_tag(meta["probe"], meta["kind"]), [blob], meta, with_metadata)


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
    return check_predictions(_loads(blob, "attention predictions", MAX_PREDICTION_BYTES))


# ---------------------------------------------------------------- neurons (the neuron view)

MAX_NEURON_DIM = 4096  # per-head query/key width
MAX_NEURON_VALUES = 1 << 27  # floats of one record (query, key and bias of every captured head): 512 MiB
_NEURON_PARTS = ("query", "key", "allowed", "bias", "value_norm")
NEURON_VECTOR_TYPES = ("<f4", "<f2")  # query and key: float32, or float16 where it keeps the bound


def _check_neuron_header(header, meta):
    """(heads, dim, queries, keys) of a neuron record's header, checked against its probe's metadata."""
    _, queries, keys = layer_shape(meta)
    try:
        heads = [(int(lh[0]), int(lh[1])) for lh in header["heads"]]
        dim, scale, softcap = int(header["dim"]), header["scale"], header["softcap"]
        ok = (
            len(heads) == len(header["heads"]) == len(scale) == len(softcap)
            and all(0 <= lay < meta["layers"] and 0 <= h < meta["heads"] for lay, h in heads)
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
    blobs = [json.dumps(header, separators=(",", ":")).encode()] + [_compressor().compress(p) for p in parts]
    return _blob_sequence_value(neurons_tag(meta["probe"], meta["kind"]), blobs, meta, with_metadata)


def parse_neurons(blobs, meta):
    """A neuron record's blobs -> {"heads", "scale", "softcap", "query" float32 [n, Q, D], "key"
    [n, K, D], "allowed" bool [n, Q, K], "bias" float32 [n, Q, K] or None, "value_norm" [n, K] or
    None} (float16 vectors widened), every size checked before anything is decompressed."""
    import numpy as np

    if not blobs:
        raise FormatError("attention neuron record is empty")
    header = _loads(blobs[0], "attention neuron header", MAX_HEADER_BYTES)
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
            bits = np.frombuffer(_decompress(blob, (n * queries * keys + 7) // 8), np.uint8)
            out[name] = np.unpackbits(bits, count=n * queries * keys).astype(bool).reshape(n, queries, keys)
        else:
            dtype = np.dtype(header.get("dtype", "<f4") if name in ("query", "key") else "<f4")
            shape = shapes[name]
            raw = _decompress(blob, dtype.itemsize * shape[0] * shape[1] * shape[2])
            out[name] = np.frombuffer(raw, dtype).reshape(shape).astype(np.float32)
    out.setdefault("bias", None)
    out["value_norm"] = out["value_norm"][..., 0] if "value_norm" in out else None
    if not all(np.isfinite(out[k]).all() for k in ("query", "key")) or any(
        out[k] is not None and np.isnan(out[k]).any() for k in ("bias", "value_norm")
    ):
        raise FormatError("attention neuron record holds non-finite vectors")
    return out


def vector_dtype(record, attention, tolerance=1 / 510):
    """Float16 ("<f2") when the attention recomputed from float16 query and key vectors stays within
    `tolerance` of the model's own (float) `attention` ([layer][head] -> [Q, K]) for every head, so
    that, with the stored attention's own rounding, the view stays within 1/255; "<f4" otherwise."""
    import numpy as np

    from .neuron_math import softmax_of

    if attention is None:
        return "<f4"
    half = {k: record[k].astype(np.float16) for k in ("query", "key")}
    if not all(np.isfinite(v).all() for v in half.values()):
        return "<f4"
    rounded = dict(record, **{k: v.astype(np.float32) for k, v in half.items()})
    for i, (layer, head) in enumerate(record["heads"]):
        if not np.abs(softmax_of(rounded, i) - np.asarray(attention[layer][head], np.float64)).max() <= tolerance:
            return "<f4"
    return "<f2"
