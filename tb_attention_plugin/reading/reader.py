"""Read a run's attention logs back into numpy, without TensorBoard.

    run = read_run("logs/run1")
    p = run.probe(run.probes[0])
    p.attention(p.steps[-1])     # float32 [layers, heads, query, key]
    p.stats()                    # {stat: float32 [steps, layers, heads]}

Records are kept compressed; a snapshot is decoded when asked for. After a resume the latest record
of a step wins, and a restart (a SessionLog START after the run's first one) drops what was logged
before it at steps >= its step, as TensorBoard does. Corrupted or truncated records are skipped with a
log line. A probe name reused for a model of another size in the same directory is never stacked
silently: `sizes()` lists each size's steps, and statistics are read per size. One probe's records
and their decoding: `ProbeLog` (probe_log.py).
"""

import functools
import logging
import os

import numpy as np

from tensorboard.util import tensor_util

from ..format.records import check_snapshot_blobs
from ..format.metadata import (
    FormatError,
    NEURONS_TAG_PREFIX,
    PREDICTIONS_TAG_PREFIX,
    RELATIONS_TAG_PREFIX,
    SNAPSHOT_TAG_PREFIX,
    STATS_TAG_PREFIX,
)
from ..format.records import decode_relations, decode_stats, parse_neurons, parse_predictions
from .event_scan import read_value
from .lru_cache import LRUCache
from .probe_log import ProbeLog
from ..analysis.relations import measure
from .run_index import RunIndex
from .storage import LocalStorage

__all__ = ["read_run", "RunLog", "ProbeLog"]

logger = logging.getLogger(__name__)

RECORD_CACHE_BYTES = 64 << 20  # snapshot records kept read by one RunLog (they are read again when evicted)


class RunLog:
    """All attention logs and scalars of one run directory."""

    def __init__(self, path, view):
        self.path = path
        self._probes = {}
        self._scalars = view.scalars  # tag -> {step: value}
        self.files = view.files  # the event files read, in read order
        self.session_starts = view.session_starts  # steps of the SessionLog START events read, in read order
        self._where = view.where  # tag -> {step: index in files} of the record shown for that step

    @property
    def probes(self):
        """Probe names in the order they were given to the callback/writer."""
        return sorted(self._probes, key=lambda n: (self._probes[n]._order, n))

    def probe(self, name):
        if name not in self._probes:
            raise KeyError(f"no probe {name!r} in {self.path} (probes: {self.probes})")
        return self._probes[name]

    def tag_steps(self):
        """{tag: {step: event file path}}: for every attention, statistics and scalar tag, which file
        holds the record shown at each step (after restarts and later records took effect)."""
        return {tag: {s: self.files[i] for s, i in by_step.items()} for tag, by_step in self._where.items() if by_step}

    def relations(self):
        """Each labelled relation across the run's probes (relations.Measured: mass and accuracy per
        head and step, the probing classifier's held-out accuracy, "formed at step"), per model size."""
        series = {}
        for name in self.probes:
            probe = self._probes[name]
            for kind in probe.kinds:
                steps, feats = probe.relation_features(kind)
                if steps:
                    meta = probe.meta[kind]
                    key = (meta.layers, meta.heads)
                    series.setdefault(key, []).append((name, kind, probe.relation_meta(kind), steps, feats))
        return [m for group in series.values() for m in measure(group)]

    @property
    def scalar_tags(self):
        return sorted(self._scalars)

    def scalars(self, tag):
        """(steps int64 [n], values float64 [n]) of a scalar tag such as 'train/loss'."""
        series = self._scalars[tag]
        steps = sorted(series)
        return np.array(steps, dtype=np.int64), np.array([series[s] for s in steps], dtype=np.float64)


class StoredSnapshot:
    """One snapshot record's blob sequence [header, layer 0, ...], read from its file when needed
    (kept in the RunLog's bounded cache): a run of any size is read in bounded memory."""

    __slots__ = ("_entry", "_records", "_length")

    def __init__(self, entry, records, length):
        self._entry, self._records, self._length = entry, records, length

    def __len__(self):
        return self._length

    def __getitem__(self, i):
        blobs = self._records.get(self._entry.key)
        if blobs is None:
            blobs = _snapshot_blobs(self._entry)
            self._records.put(self._entry.key, blobs)
        return blobs[i]


def _read(entry):
    with LocalStorage().open(entry.path) as reader:
        return read_value(reader, entry.ref)


def _snapshot_blobs(entry):
    """The checked blob sequence of a snapshot record; FormatError when it is not one."""
    return check_snapshot_blobs(list(_read(entry).tensor.string_val), entry.meta)


def _neurons(entry):
    return parse_neurons(list(_read(entry).tensor.string_val), entry.meta)


def read_run(path):
    """Read every event file of a run directory (not its sub-directories). Every record is checked
    here (a damaged one is skipped, the earlier record of its step stays shown); snapshots are read
    again from the files when asked for."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} is not a directory: pass a run directory holding event files")
    records = LRUCache(1 << 14, max_bytes=RECORD_CACHE_BYTES, sizeof=lambda blobs: sum(len(b) for b in blobs))
    stats = {}

    def accept(entry):
        try:
            if entry.ref.tag.startswith(SNAPSHOT_TAG_PREFIX):
                records.put(entry.key, _snapshot_blobs(entry))
            elif entry.ref.tag.startswith(STATS_TAG_PREFIX):
                stats[entry.key] = decode_stats(tensor_util.make_ndarray(_read(entry).tensor), entry.meta)
            elif entry.ref.tag.startswith(PREDICTIONS_TAG_PREFIX):
                stats[entry.key] = parse_predictions(_read(entry).tensor.string_val[0])
            elif entry.ref.tag.startswith(RELATIONS_TAG_PREFIX):
                stats[entry.key] = decode_relations(tensor_util.make_ndarray(_read(entry).tensor), entry.meta)
            elif entry.ref.tag.startswith(NEURONS_TAG_PREFIX):
                _neurons(entry)  # checked now, read again when asked for
            return True
        except (FormatError, ValueError, TypeError, KeyError, IndexError, OSError) as e:
            logger.warning("tb-attention: skipped record %r at step %d: %s", entry.ref.tag, entry.ref.step, e)
            return False

    index = RunIndex(LocalStorage(), path, accept=accept)
    index.refresh()
    run = RunLog(path, index.view)
    for tag, by_step in index.view.tags.items():
        for step, entry in by_step.items():
            meta = entry.meta
            probe = run._probes.get(meta.probe)
            if probe is None:
                probe = run._probes[meta.probe] = ProbeLog(meta.probe)
                probe._order = meta.probe_index
            if tag.startswith(SNAPSHOT_TAG_PREFIX):
                probe._add(meta.kind, meta, step, snapshot=StoredSnapshot(entry, records, meta.layers + 1))
            elif tag.startswith(RELATIONS_TAG_PREFIX):
                probe._add(meta.kind, meta, step, relations=stats[entry.key])
            elif tag.startswith(PREDICTIONS_TAG_PREFIX):
                probe._add(meta.kind, meta, step, predictions=stats[entry.key])
            elif tag.startswith(NEURONS_TAG_PREFIX):
                probe._add(meta.kind, meta, step, neurons=functools.partial(_neurons, entry))
            else:
                probe._add(meta.kind, meta, step, stats=stats[entry.key])
    return run
