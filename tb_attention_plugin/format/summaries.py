"""A head's summary: what a storage budget keeps of a head whose full map it leaves out (docs/format.md,
"Storage budget"). Two parts, each exact where it claims to be:

- block means: the mean of the exact weights over `block` x `block` tiles (the last tile of an axis over
  its real cells), in steps of 1/65535 (uint16), so within 1/131070 of the block means of the model's
  map; a map of at most SUMMARY_SIDE x SUMMARY_SIDE values, whatever the probe's length;
- each query row's `top_k` strongest keys (uint16 indices, strongest first, ties to the lower key) with
  their weights quantized as maps are (byte / 255, within 1/255 of the model's weight).

A summary is stored as SUMMARY_HEADER (block, top_k) then one zstd frame of the block means [R, C],
the keys [Q, k] and the weights [Q, k], so its size is known before it is decompressed.
"""

import struct
from typing import NamedTuple

import numpy as np

from .metadata import FormatError
from .quantize import quantize

SUMMARY_SIDE = 32  # block means per side at most: 2 KB a head
TOP_K = 8  # keys per query row
MAX_TOP_K = 64
SUMMARY_HEADER = struct.Struct("<HH")
MEAN_LEVELS = 65535
# weights ranked at a time: few enough Python-level steps that threads over heads run in parallel
# (64-row blocks held the GIL for most of a head: no speedup from two cores), a 1 MB copy
TOP_KEYS_BLOCK = 1 << 18


def summary_block(queries, keys):
    """The tile side that makes a map of at most SUMMARY_SIDE values per side."""
    return max(1, -(-max(queries, keys) // SUMMARY_SIDE))


def summary_bytes(queries, keys, top_k=TOP_K):
    """A summary's size before compression: what a storage plan counts."""
    block = summary_block(queries, keys)
    k = min(top_k, keys)
    return SUMMARY_HEADER.size + 2 * -(-queries // block) * -(-keys // block) + 3 * queries * k


class HeadSummary(NamedTuple):
    """One head's summary as stored: `means` uint16 [ceil(Q / block), ceil(K / block)] (value / 65535),
    `keys` uint16 [Q, k] and `weights` uint8 [Q, k] (value / 255), strongest first."""

    block: int
    key_len: int
    means: np.ndarray
    keys: np.ndarray
    weights: np.ndarray

    def block_means(self):
        """float32 block means (within 1/131070 of the exact map's)."""
        return self.means.astype(np.float32) / np.float32(MEAN_LEVELS)

    def top_weights(self):
        """float32 [Q, k] weights of `keys` (within 1/255 of the model's)."""
        return self.weights.astype(np.float32) / np.float32(255)

    def sparse(self):
        """float32 [Q, K]: the top-k weights where they are, NaN where the summary does not say."""
        out = np.full((self.keys.shape[0], self.key_len), np.nan, np.float32)
        np.put_along_axis(out, self.keys.astype(np.int64), self.top_weights(), axis=1)
        return out


def _tile_means(weights, block):
    """float [Q, K] -> float64 [ceil(Q / block), ceil(K / block)]: each tile's mean over its real cells."""
    queries, keys = weights.shape
    rows, cols = -(-queries // block), -(-keys // block)
    starts_q, starts_k = np.arange(0, queries, block), np.arange(0, keys, block)
    sums = np.add.reduceat(np.add.reduceat(weights, starts_k, axis=1, dtype=np.float64), starts_q, axis=0)
    cells_q = np.minimum(block, queries - starts_q)
    cells_k = np.minimum(block, keys - starts_k)
    return sums.reshape(rows, cols) / np.outer(cells_q, cells_k)


def top_keys(weights, top_k=TOP_K):
    """float [Q, K] -> (int64 keys [Q, k], float weights [Q, k]): each row's k strongest keys, strongest
    first, ties to the lower key. A few rows at a time (the index temporaries stay small), over the keys
    they can see when every later key is zero (causal attention): zeros after them only tie, and lose."""
    queries, keys = weights.shape
    k = min(top_k, keys)
    chosen = np.empty((queries, k), np.int64)
    rows = max(8, TOP_KEYS_BLOCK // max(keys, 1))
    for r0 in range(0, queries, rows):
        r1 = min(queries, r0 + rows)
        seen = r1 if k <= r1 < keys and not weights[r0:r1, r1:].any() else keys
        chosen[r0:r1] = _top_rows(weights[r0:r1, :seen], k)
    return chosen, np.take_along_axis(weights, chosen, axis=1)


def _top_rows(part, k):
    """Each row's k strongest keys of float [rows, K], strongest first, ties to the lower key: k passes
    of argmax (the first of equals), each taking the key it found out. Several times faster than a
    partition for k much smaller than K, and exact about ties, which a partition picks among freely."""
    work = np.array(part, dtype=np.result_type(part.dtype, np.float32))
    out = np.empty((part.shape[0], k), np.int64)
    rows = np.arange(part.shape[0])
    for j in range(k):
        out[:, j] = work.argmax(axis=1)
        work[rows, out[:, j]] = -np.inf
    return out


def encode_summary(weights, compress, top_k=TOP_K):
    """float [Q, K] weights of one head -> its summary's bytes; `compress` makes one zstd frame."""
    queries, keys = weights.shape
    block = summary_block(queries, keys)
    means = np.floor(_tile_means(weights, block) * MEAN_LEVELS + 0.5)
    chosen, strongest = top_keys(weights, top_k)
    # a key's weight quantized alone: within 1/255 (quantize rounds running sums, which a row's top
    # keys are not; a row of one weight is its own sum)
    payload = b"".join(
        (
            np.clip(means, 0, MEAN_LEVELS).astype("<u2").tobytes(),
            chosen.astype("<u2").tobytes(),
            quantize(strongest.reshape(-1, 1)).reshape(strongest.shape).tobytes(),
        )
    )
    return SUMMARY_HEADER.pack(block, chosen.shape[1]) + compress(payload)


def _layout(data, queries, keys):
    """(block, k, rows, cols) of a summary's header, checked against the layer's (Q, K)."""
    if len(data) < SUMMARY_HEADER.size:
        raise FormatError("attention head summary is truncated")
    block, k = SUMMARY_HEADER.unpack_from(data)
    if block != summary_block(queries, keys) or not 1 <= k <= min(MAX_TOP_K, keys):
        raise FormatError(f"attention head summary of blocks of {block} and top {k} does not fit {queries}x{keys}")
    return block, k, -(-queries // block), -(-keys // block)


def decode_block_means(data, queries, keys, decompress_prefix):
    """A summary's bytes -> its uint16 block means [R, C] only (what the grid paints); the top keys
    after them are not decompressed. `decompress_prefix(frame, size)`: the frame's first `size` bytes."""
    _, _, rows, cols = _layout(data, queries, keys)
    raw = decompress_prefix(data[SUMMARY_HEADER.size :], 2 * rows * cols)
    return np.frombuffer(raw, "<u2", rows * cols).reshape(rows, cols)


def decode_summary(data, queries, keys, decompress):
    """A summary's bytes -> HeadSummary, its sizes checked against the layer's (Q, K) before anything
    is decompressed; `decompress(frame, size)` gives exactly `size` bytes or raises FormatError."""
    block, k, rows, cols = _layout(data, queries, keys)
    sizes = (2 * rows * cols, 2 * queries * k, queries * k)
    raw = decompress(data[SUMMARY_HEADER.size :], sum(sizes))
    means = np.frombuffer(raw, "<u2", rows * cols).reshape(rows, cols)
    chosen = np.frombuffer(raw, "<u2", queries * k, sizes[0]).reshape(queries, k)
    weights = np.frombuffer(raw, np.uint8, queries * k, sizes[0] + sizes[1]).reshape(queries, k)
    if chosen.size and int(chosen.max()) >= keys:
        raise FormatError(f"attention head summary names a key beyond the {keys} keys")
    return HeadSummary(block, keys, means, chosen, weights)
