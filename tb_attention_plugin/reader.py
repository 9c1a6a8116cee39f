"""Read a run's attention logs back into numpy, without TensorBoard.

    run = read_run("logs/run1")
    p = run.probe(run.probes[0])
    p.attention(p.steps[-1])     # float32 [layers, heads, query, key]
    p.stats()                    # {stat: float32 [steps, layers, heads]}

Records are kept compressed; a snapshot is decoded when asked for. After a resume the latest record
of a step wins, and a restart (a SessionLog START after the run's first one) drops what was logged
before it at steps >= its step, as TensorBoard does. Corrupted or truncated records are skipped with a
log line.
"""
import logging
import os

import numpy as np

from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

from . import format as fmt
from .event_file import event_files, iter_events
from .head_types import classify_heads
from .quantize import dequantize

logger = logging.getLogger(__name__)


class ProbeLog:
    """One probe of a run: its tokens, logged steps, attention snapshots and statistics."""

    def __init__(self, name):
        self.name = name
        self.meta = {}          # kind -> metadata dict (first seen)
        self._snapshots = {}    # kind -> {step: list of blobs}
        self._stats = {}        # kind -> {step: float32 [stats, L, H]}
        self._order = 0

    # -- filled by read_run
    def _add(self, kind, meta, step, snapshot=None, stats=None):
        self.meta.setdefault(kind, meta)
        if snapshot is not None:
            self._snapshots.setdefault(kind, {})[step] = snapshot
        if stats is not None:
            self._stats.setdefault(kind, {})[step] = stats

    # -- public API
    @property
    def kinds(self):
        return [k for k in fmt.KIND_SIDES if k in self.meta]

    @property
    def _first_meta(self):
        return self.meta[self.kinds[0]]

    @property
    def tokens(self):
        return list(self._first_meta["tokens"])

    @property
    def segments(self):
        return list(self._first_meta["segments"])

    @property
    def special(self):
        return list(self._first_meta["special"])

    @property
    def decoder_tokens(self):
        return self._first_meta.get("decoder_tokens")

    @property
    def decoder_special(self):
        return self._first_meta.get("decoder_special")

    def _kind(self, kind):
        if kind is None:
            return self.kinds[0]
        if kind not in self.meta:
            raise KeyError(f"probe {self.name!r} has no {kind!r} attention (it has {self.kinds})")
        return kind

    @property
    def steps(self):
        return self.steps_of(None)

    def steps_of(self, kind=None):
        """Sorted logged steps of one kind (default: the first kind)."""
        return sorted(self._snapshots.get(self._kind(kind), {}))

    def layers(self, kind=None):
        return int(self.meta[self._kind(kind)]["layers"])

    def heads(self, kind=None):
        return int(self.meta[self._kind(kind)]["heads"])

    def causal(self, kind=None):
        return bool(self.meta[self._kind(kind)].get("causal", False))

    def quantized(self, step, kind=None, layer=None):
        """uint8 [layers, heads, query, key] (or [heads, query, key] for one layer) as stored."""
        kind = self._kind(kind)
        blobs = self._snapshots[kind].get(step)
        if blobs is None:
            raise KeyError(f"probe {self.name!r} has no {kind!r} snapshot at step {step} "
                           f"(logged steps: {self.steps_of(kind)})")
        n_layers = len(blobs) - 1
        if layer is not None and not 0 <= layer < n_layers:
            raise IndexError(f"layer {layer} out of range: the model has {n_layers} layers")
        layer_ids = range(n_layers) if layer is None else [layer]
        series = self._snapshots[kind]

        def blob_at(at, l):
            record = series.get(at)
            return None if record is None or len(record) != n_layers + 1 else record[1 + l]

        shape = fmt.layer_shape(self.meta[kind])  # every blob is checked against it before decoding
        out = [fmt.decode_layer_at(step, lambda at, l=l: blob_at(at, l), expected=shape) for l in layer_ids]
        return out[0] if layer is not None else np.stack(out)

    def attention(self, step, kind=None, layer=None):
        """float32 [layers, heads, query, key] at a logged step (real tokens only; error <= 1/255)."""
        return dequantize(self.quantized(step, kind, layer))

    def stats(self, kind=None):
        """{stat name: float32 [len(steps), layers, heads]} over every step that has statistics."""
        kind = self._kind(kind)
        by_step = self._stats.get(kind, {})
        steps = sorted(by_step)
        names = self.meta[kind].get("stats", fmt.STAT_NAMES)
        if not steps:
            shape = (0, self.layers(kind), self.heads(kind))
            return {n: np.zeros(shape, np.float32) for n in names}
        stacked = np.stack([by_step[s] for s in steps], axis=1)  # [stats, S, L, H]
        return {n: stacked[i] for i, n in enumerate(names)}

    def stats_steps(self, kind=None):
        return sorted(self._stats.get(self._kind(kind), {}))

    def head_types(self, kind=None):
        """[{layer, head, type, score, formed_step}] for the types each head has at the last step."""
        kind = self._kind(kind)
        return classify_heads(self.stats_steps(kind), self.stats(kind))


class RunLog:
    """All attention logs and scalars of one run directory."""

    def __init__(self, path):
        self.path = path
        self._probes = {}
        self._scalars = {}  # tag -> {step: value}

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
            for by_step in list(probe._snapshots.values()) + list(probe._stats.values()):
                for s in [s for s in by_step if s >= step]:
                    del by_step[s]
        for series in self._scalars.values():
            for s in [s for s in series if s >= step]:
                del series[s]

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
        file_metadata = {}  # tag -> plugin content: written with a tag's first value in each file
        for event in iter_events(file_path):
            if event.HasField("summary"):
                _add_summary(run, event.step, event.summary, file_metadata)
            elif event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
                if started:  # a restart, as TensorBoard reads it: what came later is abandoned
                    run._purge(event.step)
                started = True
    return run


def _add_summary(run, step, summary, file_metadata):
    for value in summary.value:
        if value.HasField("simple_value"):
            run._scalars.setdefault(value.tag, {})[step] = value.simple_value
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
        except (fmt.FormatError, ValueError, TypeError, KeyError) as e:
            logger.warning("tb-attention: skipped record %r at step %d: %s", value.tag, step, e)
