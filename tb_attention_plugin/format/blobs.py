"""Layer blobs and their delta chains (docs/format.md): one layer's quantized attention [heads, query,
key], zstd-compressed, either whole (a keyframe) or as a byte-wise difference to the previous snapshot
of the same tag and layer; a keyframe starts every chain of at most MAX_CHAIN blobs (the JSON header,
blob 0 of a snapshot's sequence, is records.py's). numpy and zstandard are imported where they code.
"""

import struct
import threading
import zlib
from typing import NamedTuple

from .metadata import (
    FORMAT_VERSION,
    MAX_HEAD_WEIGHTS,
    MAX_HEADS,
    MAX_LAYER_WEIGHTS,
    FormatError,
    TooLarge,
)

ENCODING_KEYFRAME = 0
ENCODING_DELTA = 1
# Some heads of a layer (a storage budget), or every head of a large layer: after the header, one
# HEAD_ENTRY per stored head (its index in the layer, the length of its zstd frame), then those
# frames; never a delta's reference. A reader decodes one head without the others.
ENCODING_HEADS = 2
HEAD_ENTRY = struct.Struct("<HI")
# A storage budget's layer whose left-out heads keep a summary (format/summaries.py): as
# ENCODING_HEADS, but each PART_ENTRY also says whether its frame is the head's map or its summary.
ENCODING_HEAD_PARTS = 3
PART_ENTRY = struct.Struct("<HBI")  # head, part, length
PART_MAP, PART_SUMMARY = 0, 1
HEAD_ENCODINGS = (ENCODING_HEADS, ENCODING_HEAD_PARTS)
HEADS_BLOB_WEIGHTS = 1 << 24  # a layer larger than this (16 MiB) is written a head at a time
# A delta refers to the previous snapshot of its tag and layer; a keyframe starts every chain of at
# most MAX_CHAIN blobs, so any layer of any step decodes from at most MAX_CHAIN blobs.
MAX_CHAIN = 4
LAYER_MAGIC = b"TA"
LAYER_HEADER = struct.Struct("<2sBBqIHHH")  # magic, version, encoding, ref step, ref crc32, H, Q, K
# zstd level 1: as small as zlib -6 on attention bytes, at a tenth of the time (bench/bench_callback.py).
ZSTD_LEVEL = 1
_codecs = threading.local()  # zstd (de)compressor objects must never be shared between threads


def compressor():
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
    header = LAYER_HEADER.pack(LAYER_MAGIC, FORMAT_VERSION, encoding, int(ref_step), ref_crc, heads, queries, keys)
    return header + compressor().compress(np.ascontiguousarray(payload).tobytes())


def encode_heads(heads, frames, queries, keys, summaries=()):
    """Some heads of a layer -> a layer blob of ENCODING_HEADS: `heads`, their sorted indices in the
    layer; `frames`, each head's [query, key] uint8 weights as one zstd frame (`compress_head`).
    `summaries`: (head, bytes of summaries.encode_summary) of other heads; then ENCODING_HEAD_PARTS."""
    if not summaries:
        header = LAYER_HEADER.pack(LAYER_MAGIC, FORMAT_VERSION, ENCODING_HEADS, 0, 0, len(heads), queries, keys)
        entries = b"".join(HEAD_ENTRY.pack(int(h), len(f)) for h, f in zip(heads, frames))
        return header + entries + b"".join(frames)
    parts = sorted(
        [(int(h), PART_MAP, f) for h, f in zip(heads, frames)] + [(int(h), PART_SUMMARY, d) for h, d in summaries]
    )
    header = LAYER_HEADER.pack(LAYER_MAGIC, FORMAT_VERSION, ENCODING_HEAD_PARTS, 0, 0, len(parts), queries, keys)
    entries = b"".join(PART_ENTRY.pack(h, part, len(f)) for h, part, f in parts)
    return header + entries + b"".join(f for _, _, f in parts)


def compress_head(q):
    """One head's uint8 [query, key] weights as the zstd frame `encode_heads` takes."""
    import numpy as np

    return memoryview(compressor().compress(np.ascontiguousarray(q))).tobytes()


class LayerInfo(NamedTuple):
    """What a layer blob's header says (`layer_blob_info`)."""

    encoding: int  # ENCODING_KEYFRAME, ENCODING_DELTA, ENCODING_HEADS or ENCODING_HEAD_PARTS
    ref_step: int  # the step a delta refers to (0 for a keyframe)
    ref_crc: int  # CRC32 of the reference layer's bytes (0 for a keyframe)
    shape: tuple  # (heads, query, key) of the layer (HEAD_ENCODINGS: of the metadata, when expected)
    stored: object = None  # the indices of the heads with a map when not every head; None: every head
    held: tuple = ()  # HEAD_ENCODINGS: the indices of the heads with a map
    summarized: tuple = ()  # ENCODING_HEAD_PARTS: the indices of the heads with a summary instead


def layer_blob_info(blob, expected=None):
    """LayerInfo(encoding, ref_step, ref_crc, (H, Q, K)) of a layer blob, without decompressing it.

    expected: the (H, Q, K) the probe's metadata says (`ProbeMetadata.layer_shape()`); a blob whose
    header disagrees is rejected here, before anything is allocated. Without it only the format's
    limits apply."""
    if len(blob) < LAYER_HEADER.size:
        raise FormatError("attention layer blob is truncated")
    magic, version, encoding, ref_step, ref_crc, h, qn, kn = LAYER_HEADER.unpack_from(blob)
    if magic != LAYER_MAGIC or version > FORMAT_VERSION or encoding not in _ENCODINGS:
        raise FormatError("not an attention layer blob of a known version")
    shape = (h, qn, kn)
    if encoding in HEAD_ENCODINGS:
        return _heads_info(blob, encoding, shape, expected)
    if h * qn * kn > MAX_LAYER_WEIGHTS:
        raise FormatError("attention layer blob claims %dx%dx%d weights in one frame" % shape)
    if expected is not None:
        if shape != tuple(expected):
            raise FormatError(
                "attention layer blob holds %dx%dx%d (heads x query x key) weights but the "
                "probe's metadata says %dx%dx%d" % (shape + tuple(expected))
            )
    elif not h or not qn or not kn or h * qn * kn > MAX_LAYER_WEIGHTS:
        raise FormatError("attention layer blob claims %dx%dx%d weights" % shape)
    return LayerInfo(encoding, ref_step, ref_crc, shape)


_ENCODINGS = (ENCODING_KEYFRAME, ENCODING_DELTA) + HEAD_ENCODINGS


def _heads_info(blob, encoding, shape, expected):
    """LayerInfo of a blob of heads: its entries checked against the layer's heads (sorted, distinct,
    below the metadata's heads, a known part) and against the blob's length."""
    stored, (qn, kn) = shape[0], shape[1:]
    heads = expected[0] if expected is not None else MAX_HEADS
    if expected is not None and tuple(expected[1:]) != (qn, kn):
        raise FormatError(
            "attention layer blob holds %dx%d (query x key) maps but the probe's metadata says %dx%d"
            % ((qn, kn) + tuple(expected[1:]))
        )
    if stored > heads or qn * kn > MAX_HEAD_WEIGHTS or not qn or not kn:
        raise FormatError("attention layer blob claims %d heads of %dx%d weights" % shape)
    entries = _entries(blob, encoding, stored)
    indices = tuple(h for h, _, _ in entries)
    if any(b <= a for a, b in zip(indices, indices[1:])) or any(h >= heads for h in indices):
        raise FormatError("attention layer blob lists heads that are not sorted, distinct layer heads")
    if any(part not in (PART_MAP, PART_SUMMARY) for _, part, _ in entries):
        raise FormatError("attention layer blob holds a part of a head of an unknown kind")
    if _entries_end(encoding, stored) + sum(n for _, _, n in entries) != len(blob):
        raise FormatError("attention layer blob's head frames do not fill it")
    held = tuple(h for h, part, _ in entries if part == PART_MAP)
    summarized = tuple(h for h, part, _ in entries if part == PART_SUMMARY)
    every = expected is not None and len(held) == heads
    return LayerInfo(encoding, 0, 0, (heads, qn, kn), None if every else held, held, summarized)


def _entries_end(encoding, count):
    return LAYER_HEADER.size + count * (HEAD_ENTRY if encoding == ENCODING_HEADS else PART_ENTRY).size


def _entries(blob, encoding, count):
    """[(head, part, frame length)] of a blob of heads."""
    end = _entries_end(encoding, count)
    if len(blob) < end:
        raise FormatError("attention layer blob is truncated")
    if encoding == ENCODING_HEADS:
        return [(h, PART_MAP, n) for h, n in HEAD_ENTRY.iter_unpack(blob[LAYER_HEADER.size : end])]
    return list(PART_ENTRY.iter_unpack(blob[LAYER_HEADER.size : end]))


def head_parts(blob, info, wanted=PART_MAP):
    """(head index, bytes) of each head's part `wanted` in a blob of heads (`info` from
    layer_blob_info): the zstd frames of its maps, or its summaries' bytes."""
    count = len(info.held) + len(info.summarized)
    offset = _entries_end(info.encoding, count)
    for head, part, size in _entries(blob, info.encoding, count):
        if part == wanted:
            yield head, blob[offset : offset + size]
        offset += size


def decompress(frame, size):
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


def decompress_prefix(frame, size):
    """The first `size` bytes of a zstd frame's content, decompressing no more than needed (a head
    summary's block means come before its top keys); FormatError when the content is shorter."""
    import zstandard

    try:
        raw = _decompressor().stream_reader(frame).read(size)
    except zstandard.ZstdError as e:
        raise FormatError(f"attention head summary does not decompress: {e}") from None
    if len(raw) != size:
        raise FormatError("attention head summary is shorter than its block means")
    return raw


def decode_layer(blob, reference=None, expected=None):
    """Layer blob -> uint8 [H, Q, K]. A delta blob needs its reference step's decoded bytes as
    `reference` (decode_layer_at follows a whole chain). `expected`: see layer_blob_info; readers
    pass `meta.layer_shape()`, so no blob makes them allocate more than the metadata says."""
    import numpy as np

    info = layer_blob_info(blob, expected)
    encoding, ref_step, ref_crc, shape = info[:4]
    if encoding in HEAD_ENCODINGS:
        return _decode_heads(blob, info)
    raw = decompress(blob[LAYER_HEADER.size :], shape[0] * shape[1] * shape[2])
    q = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    if encoding == ENCODING_KEYFRAME:
        return q
    if reference is None or reference.shape != q.shape or zlib.crc32(np.ascontiguousarray(reference)) != ref_crc:
        raise FormatError(f"reference snapshot at step {ref_step} is missing or was overwritten")
    return q + reference


def _decode_heads(blob, info):
    """An ENCODING_HEADS blob -> uint8 [H, Q, K] of the whole layer: the heads it does not hold are
    zeros (info.stored says which it holds). TooLarge beyond MAX_LAYER_WEIGHTS: read a head at a time."""
    import numpy as np

    heads, qn, kn = info.shape
    if heads * qn * kn > MAX_LAYER_WEIGHTS:
        raise TooLarge(
            f"a layer of {heads} heads x {qn} x {kn} tokens is more than is decoded at once "
            f"({MAX_LAYER_WEIGHTS} weights): read one head at a time"
        )
    out = np.zeros(info.shape, np.uint8)
    for head, frame in head_parts(blob, info):
        out[head] = np.frombuffer(decompress(frame, qn * kn), np.uint8).reshape(qn, kn)
    return out


class HeadsLayer:
    """A layer blob of heads (HEAD_ENCODINGS) read a head at a time: what a reader serves of a long
    probe's layer without decoding the layer (`head(h)`), which heads have a map (`stored`) and which a
    summary instead (`summarized`, `summary(h)`)."""

    def __init__(self, blob, expected):
        self.blob = blob
        self.info = layer_blob_info(blob, expected)
        self.shape = self.info.shape
        self.stored = self.info.stored
        self.summarized = self.info.summarized
        self._frames = dict(head_parts(blob, self.info))

    def head(self, h):
        """uint8 [Q, K] of head h: zeros when the blob does not hold it."""
        import numpy as np

        _, qn, kn = self.shape
        frame = self._frames.get(h)
        if frame is None:
            return np.zeros((qn, kn), np.uint8)
        return np.frombuffer(decompress(frame, qn * kn), np.uint8).reshape(qn, kn)

    def summary(self, h):
        """summaries.HeadSummary of head h, or None when the blob holds no summary of it."""
        from .summaries import decode_summary

        data = dict(head_parts(self.blob, self.info, PART_SUMMARY)).get(h)
        return None if data is None else decode_summary(data, *self.shape[1:], decompress)

    def summary_means(self, h):
        """uint16 block means of head h's summary (its top keys left compressed), or None."""
        from .summaries import decode_block_means

        data = dict(head_parts(self.blob, self.info, PART_SUMMARY)).get(h)
        return None if data is None else decode_block_means(data, *self.shape[1:], decompress_prefix)


def decode_or_heads(blob, expected, decode):
    """A HeadsLayer for a blob of heads, else `decode()` (the layer along its delta chain)."""
    if layer_blob_info(blob, expected).encoding in HEAD_ENCODINGS:
        return HeadsLayer(blob, expected)
    return decode()


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
    `read_run` (decode_layer_at) and the plugin (server/provider/snapshot.py).

    blob_of(step) -> that layer's blob at a step; it raises FormatError (with the reader's own words)
    when the step is not at hand. decoded_of(step) -> the layer already decoded at a step, or None:
    the walk stops there. `expected`: the (H, Q, K) of the probe's metadata (its layer_shape()),
    checked on every blob's header before anything is decompressed; `label` prefixes that check's errors.
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
        if info.encoding != ENCODING_DELTA:
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
        layer = decode_layer(link.blob, layer if link.info.encoding == ENCODING_DELTA else None, expected)
        if keep is not None:
            keep(link.step, layer)
    return layer


def decode_layer_at(step, layer_blob_of, decoded=None, expected=None):
    """Decode one layer at `step`, following its delta chain back to the keyframe.

    layer_blob_of(step) -> that layer's blob at another step (None if that step is not logged);
    `decoded` is an optional dict step -> uint8 layer that callers keep as a cache (filled here);
    `expected`: the (H, Q, K) of the probe's metadata (ProbeMetadata.layer_shape), checked on every blob.
    """
    decoded = {} if decoded is None else decoded

    def blob_of(at):
        blob = layer_blob_of(at)
        if blob is None:
            raise FormatError(f"reference snapshot at step {at} is missing")
        return blob

    chain = walk_chain(step, blob_of, decoded.get, expected)
    return decode_chain(chain, expected, decoded.__setitem__)
