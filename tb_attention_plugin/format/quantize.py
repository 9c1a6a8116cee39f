"""Attention weights <-> bytes: one byte per weight, row sums kept exact.

Rounding the running sum of each row (instead of each weight) keeps every weight within 1/255 of its
true value and makes every quantized row sum to round(255 * true row sum): heads' rows still sum to 1,
and a row that sums to less (attention sinks, a mass on dropped keys) keeps its smaller sum. Nothing is
clipped but single weights above 1 (the writer refuses rows that sum to more than 1 + 1/255), so any
weight in [0, 1] is stored within 1/255 whatever its row sums to.
"""

import numpy as np

from . import arrays

LEVELS = 255
SCALE = 1.0 / LEVELS
BLOCK = 1 << 17  # weights quantized at a time: the float64 temporaries stay in the CPU's cache


def quantize(weights):
    """float array [..., keys] of weights in [0, 1] -> uint8 array of the same shape, every weight
    within 1/255 (for a weight above 1: within its excess over 1). An array on an accelerator is
    quantized there: only its bytes come to the host."""
    if arrays.is_foreign(weights):
        return _quantize_there(weights)
    weights = np.asarray(weights)
    keys = weights.shape[-1]
    rows = weights.reshape(-1, keys)
    out = np.empty(rows.shape, np.uint8)
    block = max(1, BLOCK // max(keys, 1))
    # float64 running sums (float32 would round sums of thousands of keys), a block of rows at a time
    running = np.empty((min(block, len(rows)), keys), np.float64)
    steps = np.empty_like(running)
    for start in range(0, len(rows), block):
        x, q = running[: len(rows) - start], steps[: len(rows) - start]
        np.multiply(rows[start : start + block], LEVELS, out=x, dtype=np.float64)
        np.cumsum(x, axis=-1, out=x)
        np.rint(x, out=x)
        q[:, :1] = x[:, :1]
        np.subtract(x[:, 1:], x[:, :-1], out=q[:, 1:])
        # Each difference is within one level of its weight. Clipping it into [0, 255] only moves it
        # closer to a weight in [0, 1]; the running sum itself is never clipped (that shifted a row
        # summing to more than 1 onto its last keys: [0.4] * 5 was stored as [0.4, 0.4, 0.2, 0, 0]).
        np.clip(q, 0, LEVELS, out=q)
        out[start : start + block] = q
    return out.reshape(weights.shape)


def _quantize_there(weights):
    """quantize of an array of another library (a GPU tensor), in its own namespace, a few rows at a
    time: the same running sums in float64, the bytes to the host."""
    xp = arrays.namespace(weights)
    keys = weights.shape[-1]
    rows = xp.reshape(weights, (-1, keys))
    out = np.empty((rows.shape[0], keys), np.uint8)
    block = max(1, (BLOCK << 5) // max(keys, 1))  # 4M weights: a few float64 temporaries of 32 MB
    for start in range(0, rows.shape[0], block):
        x = xp.round(xp.cumulative_sum(xp.astype(rows[start : start + block], xp.float64) * LEVELS, axis=-1))
        q = xp.concat([x[:, :1], x[:, 1:] - x[:, :-1]], axis=-1)
        out[start : start + block] = arrays.to_host(xp.astype(xp.clip(q, 0.0, float(LEVELS)), xp.uint8))
    return out.reshape(tuple(weights.shape))


def dequantize(q):
    """uint8 array -> float32 weights (q / 255)."""
    return np.asarray(q, dtype=np.float32) * np.float32(SCALE)
