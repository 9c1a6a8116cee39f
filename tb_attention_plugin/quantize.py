"""Attention weights <-> bytes: one byte per weight, row sums kept exact.

Rounding the running sum of each row (instead of each weight) keeps every weight within 1/255 of its
true value and makes every quantized row sum to round(255 * true row sum): heads' rows still sum to 1,
and a row that sums to less (attention sinks, a mass on dropped keys) keeps its smaller sum. Nothing is
clipped but single weights above 1 (the writer refuses rows that sum to more than 1 + 1/255), so any
weight in [0, 1] is stored within 1/255 whatever its row sums to.
"""

import numpy as np

LEVELS = 255
SCALE = 1.0 / LEVELS


def quantize(weights):
    """float array [..., keys] of weights in [0, 1] -> uint8 array of the same shape, every weight
    within 1/255 (for a weight above 1: within its excess over 1)."""
    # In place where it can: one float64 array for the running sum (float32 would round sums of
    # thousands of keys), int32 for its rounded steps; ~17 bytes and ~6 ns per weight.
    x = np.multiply(weights, LEVELS, dtype=np.float64)
    np.cumsum(x, axis=-1, out=x)
    running = np.rint(x, out=x).astype(np.int32)
    q = np.empty_like(running)
    q[..., :1] = running[..., :1]
    np.subtract(running[..., 1:], running[..., :-1], out=q[..., 1:])
    # Each difference is within one level of its weight. Clipping it into [0, 255] only moves it closer
    # to a weight in [0, 1]; the running sum itself is never clipped (that shifted a row summing to more
    # than 1 onto its last keys: [0.4] * 5 was stored as [0.4, 0.4, 0.2, 0, 0]).
    np.clip(q, 0, LEVELS, out=q)
    return q.astype(np.uint8)


def dequantize(q):
    """uint8 array -> float32 weights (q / 255)."""
    return np.asarray(q, dtype=np.float32) * np.float32(SCALE)
