"""Giving freed memory back to the operating system after a large layer is written.

glibc keeps the memory of freed arrays in its heaps for reuse. A long probe's pass frees arrays the
size of a layer's attention (tens to hundreds of MB: the model's weights, the statistics' chunks,
the quantized bytes) layer after layer, and without a trim the process keeps several layers' worth:
at 32 x 32 heads and 512 tokens, a snapshot's peak memory was 5.8-6.6x one layer's attention, 4.3x
with a trim after each large layer (bench/bench_capture_memory.py). Elsewhere (macOS, musl) nothing
is done.
"""

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_freed_memory():
    """Return the C heaps' free pages to the operating system, where the C library can (glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
