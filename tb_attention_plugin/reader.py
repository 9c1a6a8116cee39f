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

import logging
import os

import numpy as np

from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

from . import format as fmt
from .event_file import event_files, iter_events
from .probe_log import ProbeLog

__all__ = ["read_run", "RunLog", "ProbeLog"]

logger = logging.getLogger(__name__)


class RunLog:
    """All attention logs and scalars of one run directory."""

    def __init__(self, path):
        self.path = path
        self._probes = {}
        self._scalars = {}  # tag -> {step: value}
        self.files = []  # the event files read, in read order
        self.session_starts = []  # steps of the SessionLog START events read, in read order
        self._where = {}  # tag -> {step: index in files} of the record shown for that step
        self._file_index = -1  # the file being read

    @property
    def probes(self):
        """Probe names in the order they were given to the callback/writer."""
        return sorted(self._probes, key=lambda n: (self._probes[n]._order, n))

    def probe(self, name):
        if name not in self._probes:
            raise KeyError(f"no probe {name!r} in {self.path} (probes: {self.probes})")
        return self._probes[name]

    def _purge(self, step):
        """Forget every record at steps >= step (a restart from a checkpoint at `step`)."""
        for probe in self._probes.values():
            for by_step in (
                list(probe._snapshots.values())
                + list(probe._stats.values())
                + list(probe._snapshot_sizes.values())
                + list(probe._stats_sizes.values())
            ):
                for s in [s for s in by_step if s >= step]:
                    del by_step[s]
        for series in list(self._scalars.values()) + list(self._where.values()):
            for s in [s for s in series if s >= step]:
                del series[s]

    def tag_steps(self):
        """{tag: {step: event file path}}: for every attention, statistics and scalar tag, which file
        holds the record shown at each step (after restarts and later records took effect)."""
        return {tag: {s: self.files[i] for s, i in by_step.items()} for tag, by_step in self._where.items() if by_step}

    @property
    def scalar_tags(self):
        return sorted(self._scalars)

    def scalars(self, tag):
        """(steps int64 [n], values float64 [n]) of a scalar tag such as 'train/loss'."""
        series = self._scalars[tag]
        steps = sorted(series)
        return np.array(steps, dtype=np.int64), np.array([series[s] for s in steps], dtype=np.float64)


def read_run(path):
    """Read every event file of a run directory (not its sub-directories)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} is not a directory: pass a run directory holding event files")
    run = RunLog(path)
    started = False
    for file_path in event_files(path):
        run.files.append(file_path)
        run._file_index = len(run.files) - 1
        file_metadata = {}  # tag -> plugin content: written with a tag's first value in each file
        for event in iter_events(file_path):
            if event.HasField("summary"):
                _add_summary(run, event.step, event.summary, file_metadata)
            elif event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
                if started:  # a restart, as TensorBoard reads it: what came later is abandoned
                    run._purge(event.step)
                started = True
                run.session_starts.append(event.step)
    return run


def _add_summary(run, step, summary, file_metadata):
    for value in summary.value:
        if value.HasField("simple_value"):
            run._scalars.setdefault(value.tag, {})[step] = value.simple_value
            run._where.setdefault(value.tag, {})[step] = run._file_index
            continue
        if value.HasField("metadata"):
            if value.metadata.plugin_data.plugin_name != fmt.PLUGIN_NAME:
                continue
            file_metadata[value.tag] = value.metadata.plugin_data.content
        content = file_metadata.get(value.tag)
        if content is None:
            continue
        try:
            meta = fmt.parse_plugin_content(content)
            if value.tag.startswith(fmt.SNAPSHOT_TAG_PREFIX):
                blobs = list(value.tensor.string_val)
                header = fmt.parse_snapshot_header(blobs[0]) if blobs else None
                if header is None or len(blobs) != int(meta["layers"]) + 1:
                    raise fmt.FormatError("snapshot has the wrong number of layers")
                record = dict(snapshot=blobs)
            elif value.tag.startswith(fmt.STATS_TAG_PREFIX):
                record = dict(stats=fmt.decode_stats(tensor_util.make_ndarray(value.tensor), meta))
            else:
                continue
            # only now: a probe whose every record is unreadable must not be listed
            probe = run._probes.get(meta["probe"])
            if probe is None:
                probe = run._probes[meta["probe"]] = ProbeLog(meta["probe"])
                probe._order = int(meta.get("probe_index", 0))
            probe._add(meta["kind"], meta, step, **record)
            run._where.setdefault(value.tag, {})[step] = run._file_index
        except (fmt.FormatError, ValueError, TypeError, KeyError) as e:
            logger.warning("tb-attention: skipped record %r at step %d: %s", value.tag, step, e)
