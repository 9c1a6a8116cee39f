"""Snapshots read straight from a run's event files, for the runs TensorBoard's loader cannot serve.

RustBoard's blob keys cannot carry `"`, `\\` or control characters (docs/http-api.md, "Names"): a run
directory named so, or a probe tag an older tb-attention spelled so, answers every `read_blob` with an
error whatever the escaping. When the log directory is local, the plugin then reads that run's event
files itself with `read_run`, which applies the same checks and the same latest-record rules as the
rest of the plugin. A run is read again when one of its files changed; what is kept is bounded by the
files' bytes.
"""

import os
from typing import NamedTuple

import numpy as np

from .event_file import event_files
from .plugin_cache import LRUCache
from .reader import read_run

CACHE_BYTES = 256 << 20  # event-file bytes of the runs kept read


class _ReadRun(NamedTuple):
    files: tuple  # (path, size, mtime_ns) of each event file when it was read
    nbytes: int  # their bytes: what the cache counts
    run: object  # reader.RunLog


class RunFiles:
    def __init__(self, logdir, *, cache_bytes=CACHE_BYTES):
        local = isinstance(logdir, str) and "://" not in logdir and os.path.isdir(logdir)
        self._root = os.path.realpath(logdir) if local else None
        self._runs = LRUCache(64, max_bytes=cache_bytes, sizeof=lambda entry: entry.nbytes)

    def _directory(self, run):
        """The run's directory under the log directory (never outside it), or None."""
        if self._root is None:
            return None
        path = os.path.realpath(os.path.join(self._root, run))
        if path != self._root and not path.startswith(self._root + os.sep):
            return None
        return path if os.path.isdir(path) else None

    def quantized(self, run, probe, kind, step, layer_ids):
        """uint8 [len(layer_ids), H, Q, K] as stored, or None when this run's files are not at hand
        (a remote log directory). Raises KeyError (no such probe or step) or FormatError."""
        path = self._directory(run)
        if path is None:
            return None
        files = []
        for name in event_files(path):
            try:
                st = os.stat(name)
            except OSError:
                continue
            files.append((name, st.st_size, st.st_mtime_ns))
        files = tuple(files)
        cached = self._runs.get(path)
        if cached is None or cached.files != files:
            cached = _ReadRun(files, sum(size for _, size, _ in files), read_run(path))
            self._runs.put(path, cached)
        p = cached.run.probe(probe)
        return np.stack([p.quantized(step, kind, layer) for layer in layer_ids])
