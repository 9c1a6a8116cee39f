"""Block means of attention maps, the `snapshot` route's `pool=B` answer (docs/http-api.md): the grid
paints each head in a cell of a few dozen pixels, so it asks for what it paints (a 128-token map in a
24-pixel cell: 6 x 6 blocks, 1/18 of the bytes) instead of every stored weight.

A value is the mean of the stored bytes of its block, rounded to steps of 1/65535 (uint16). As
65535 = 255 * 257, the stored weight byte / 255 is byte * 257 steps exactly, so a value is within
half a step (1/131070) of the block mean of the stored weights; re-rounding it to bytes would add up
to 1/510 on top of the stored weights' own 1/255.
"""

import numpy as np

LEVELS = 65535
PER_BYTE = LEVELS // 255  # 257 steps of 1/65535 make one step of 1/255
MAX_POOL = 4096  # the largest block: 255 * 4096^2 still fits a uint32 sum


def pooled_length(n, block):
    """Blocks along an axis of `n` cells (the last one partial when `block` does not divide `n`)."""
    return -(-n // block)


def _cells_per_block(n, block):
    """How many of the `n` cells each block along an axis holds (the last one its real cells only)."""
    cells = np.full(pooled_length(n, block), block, np.int64)
    cells[-1] = n - block * (len(cells) - 1)
    return cells


STRIDED_UP_TO = 8  # blocks up to this size are summed by adding strided views, larger ones by reshaping


def _along(axis, ndim, part):
    """An index taking `part` (a slice) along `axis` and everything along the other axes."""
    index = [slice(None)] * ndim
    index[axis] = part
    return tuple(index)


def _block_sums(maps, block, axis, wide):
    """Sums of each run of `block` cells along `axis` (a last run of the cells left), in the
    accumulator type `wide`. Small blocks add `block` strided views (numpy reduces a short inner axis
    slowly); large ones sum a reshaped view (a loop of `block` views would cost more)."""
    axis %= maps.ndim
    n = maps.shape[axis]
    if block <= STRIDED_UP_TO:
        sums = maps[_along(axis, maps.ndim, slice(0, None, block))].astype(wide)
        for first in range(1, min(block, n)):
            part = maps[_along(axis, maps.ndim, slice(first, None, block))]
            sums[_along(axis, maps.ndim, slice(0, part.shape[axis]))] += part
        return sums
    full = n // block
    blocks = maps[_along(axis, maps.ndim, slice(0, full * block))]
    blocks = blocks.reshape(maps.shape[:axis] + (full, block) + maps.shape[axis + 1 :])
    sums = [blocks.sum(axis=axis + 1, dtype=wide)]
    if full * block < n:
        sums.append(maps[_along(axis, maps.ndim, slice(full * block, n))].sum(axis=axis, keepdims=True, dtype=wide))
    return np.concatenate(sums, axis=axis) if len(sums) > 1 else sums[0]


def block_means(maps, block):
    """uint8 [..., query, key] (weight = byte / 255) -> uint16 [..., ceil(query / block), ceil(key /
    block)]: the mean of each block x block tile (a last partial tile over its real cells) in steps of
    1/65535, rounded half up exactly, so every source gives the same bytes."""
    queries, keys = maps.shape[-2:]
    wide = np.uint16 if 255 * block * block <= 0xFFFF else np.uint32
    sums = _block_sums(_block_sums(maps, block, -2, wide), block, -1, wide)
    cells = np.outer(_cells_per_block(queries, block), _cells_per_block(keys, block))
    # sum * 257 / cells rounded half up: float64 divides correctly rounded, so a tie stays a tie and
    # no other quotient (at least 1 / (2 cells) from a tie) crosses one: the integer answer, faster
    return np.floor(sums * float(PER_BYTE) / cells + 0.5).astype(np.uint16)
