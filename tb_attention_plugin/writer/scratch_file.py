"""Bytes a writer keeps for later on disk instead of in memory: each (probe, kind)'s first snapshot in
float16, drift's reference, is as large as a whole snapshot (a 32 x 32-head model at 512 tokens: 0.5
GB), so it is read back a layer at a time. The file is unnamed (nothing is left behind, even after a
crash) and lives in the temporary directory (TMPDIR)."""

import os
import tempfile
import threading
import typing

import numpy as np

from ..format.blobs import compressor, decompress


class SpilledLayer(typing.NamedTuple):
    """Where a layer lies in a ScratchFile."""

    shape: tuple
    dtype: np.dtype
    offset: int
    size: int


class ScratchFile:
    def __init__(self):
        self._file = None
        self._end = 0
        self._lock = threading.Lock()

    def put(self, array):
        """Keep `array` (compressed) on disk -> a SpilledLayer to read it back."""
        data = compressor().compress(np.ascontiguousarray(array))
        with self._lock:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="tb-attention-")
            offset = self._end
            os.pwrite(self._file.fileno(), data, offset)
            self._end += len(data)
        return SpilledLayer(array.shape, array.dtype, offset, len(data))

    def get(self, spilled):
        data = os.pread(self._file.fileno(), spilled.size, spilled.offset)
        raw = decompress(data, int(np.prod(spilled.shape)) * spilled.dtype.itemsize)
        return np.frombuffer(raw, spilled.dtype).reshape(spilled.shape)

    def close(self):
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
