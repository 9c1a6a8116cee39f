"""Bytes a writer keeps for later on disk instead of in memory: each (probe, kind)'s first snapshot in
float16, drift's reference, is as large as a whole snapshot (a 32 x 32-head model at 512 tokens: 0.5
GB), so it is kept and read back a head at a time (`put`, `SpilledHeads`): a long probe's
layer is never held in float16 whole besides its float32 weights. The file is unnamed (nothing is
left behind, even after a crash) and lives in the temporary directory (TMPDIR); drift_reference.py
copies a first snapshot's heads from it into the run directory, and reads them back from there."""

import os
import tempfile
import threading
import typing

import numpy as np

from ..analysis.parallel import map_spread
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

    @classmethod
    def existing(cls, path):
        """A file written before (drift_reference.py), opened to be read (get, read)."""
        scratch = cls()
        scratch._file = open(path, "rb")
        return scratch

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
        raw = decompress(self.read(spilled.offset, spilled.size), int(np.prod(spilled.shape)) * spilled.dtype.itemsize)
        return np.frombuffer(raw, spilled.dtype).reshape(spilled.shape)

    def read(self, offset, size):
        """`size` bytes at `offset`; ValueError when the file ends before."""
        data = os.pread(self._file.fileno(), size, offset)
        if len(data) != size:
            raise ValueError(f"the file ends before byte {offset + size}")
        return data

    def size(self):
        return os.fstat(self._file.fileno()).st_size

    def close(self):
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class SpilledHeads:
    """A layer kept a head at a time (`put` of each), read as a [1, heads, query, key] array a block of heads at a time:
    `spilled[l, h]` for any int or slice l (of the one layer) and h, and rows after them. Only the
    heads a read asks for are decompressed (the last one kept for the reads of its rows)."""

    def __init__(self, scratch, heads):
        self._scratch, self._heads = scratch, heads
        self.shape = (1, len(heads)) + tuple(heads[0].shape)
        self._last = None  # (head, its array)

    def _head(self, h):
        last = self._last  # read once: threads (analysis/parallel.py) read blocks of heads at once
        if last is None or last[0] != h:
            last = self._last = (h, self._scratch.get(self._heads[h]))
        return last[1]

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        layer, heads, rest = index[0], index[1] if len(index) > 1 else slice(None), index[2:]
        if isinstance(heads, int):
            picked = self._head(range(self.shape[1])[heads])[rest]
            return picked if isinstance(layer, int) else picked[None]
        # several heads at once: decompressed over the cores (zstd releases the GIL) where the reader
        # is not one of the threads already (a GPU layer's statistics read its reference block by block
        # on the caller's thread: 1 GB of float16 a layer at 4k tokens)
        picked = range(self.shape[1])[heads]
        out = np.stack(map_spread(lambda h: self._scratch.get(self._heads[h])[rest], picked))
        return out if isinstance(layer, int) else out[None]
