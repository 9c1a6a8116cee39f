"""Attention weights <-> bytes: one byte per weight, row sums kept exact.

Rounding the running sum of each row (instead of each weight) keeps every weight within 1/255 of its
true value and makes every quantized row sum to round(255 * true row sum): heads' rows still sum to 1.
"""
import numpy as np

LEVELS = 255
SCALE = 1.0 / LEVELS


def quantize(weights):
    """float array [..., keys] with rows summing to ~1 -> uint8 array of the same shape."""
    x = np.asarray(weights, dtype=np.float64) * LEVELS
    np.clip(x, 0.0, LEVELS, out=x)
    running = np.rint(np.cumsum(x, axis=-1))
    np.clip(running, 0.0, LEVELS, out=running)
    q = np.diff(running, axis=-1, prepend=0.0)
    return q.astype(np.uint8)


def dequantize(q):
    """uint8 array -> float32 weights (q / 255)."""
    return np.asarray(q, dtype=np.float32) * np.float32(SCALE)
