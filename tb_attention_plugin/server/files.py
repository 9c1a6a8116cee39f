"""The routes' data read from the runs' own event files: how the plugin reads whenever it can.

TensorBoard's loaders keep in memory every sample they are asked to keep, blobs included, so keeping
every snapshot made TensorBoard's memory grow with the attention logs. Instead the loaders keep one
sample of the plugin's data (server/entry.py), enough to list the runs and open the tab, and this
module reads the records itself by offset: each run directory has an incremental index of its event
files (run_index.py: the same rules as `read_run`), and the records a request needs are read whole,
checksum-verified, from the file. What stays in memory is bounded: the indexes (a few dozen bytes per
record), and byte-bounded caches of records read, decoded layers and statistics.

A record that fails its checksum or cannot be decoded is never served: the request answers 404 and
the step leaves the index (logged once).
"""

import threading
import time

import numpy as np

from tensorboard.util import tensor_util

from ..format.blobs import decode_chain, decode_or_heads, walk_chain
from ..format.records import check_snapshot_blobs
from ..format.metadata import (
    FORMAT_VERSION,
    FormatError,
    NEURONS_TAG_PREFIX,
    PREDICTIONS_TAG_PREFIX,
    RELATIONS_TAG_PREFIX,
    SNAPSHOT_TAG_PREFIX,
    STATS_TAG_PREFIX,
    TooLarge,
)
from ..format.records import decode_relations, decode_stats, parse_neurons, parse_predictions
from ..reading.event_scan import read_value
from .answers import (
    Kind,
    Series,
    choose_tags,
    index_runs,
    missing,
    neuron_answer,
    relations_answer,
    requested_layers,
    snapshot_answer,
    stats_answer,
    stats_of,
    undecodable,
)
from ..analysis.neuron_math import weight_and_contribution
from ..reading.lru_cache import LRUCache
from .errors import Unavailable
from ..reading.run_index import RunIndex

REFRESH_S = 1.0  # a run's files are looked at again at most this often, except by ./index
RECORD_CACHE_BYTES = 128 << 20  # snapshot records read (stored bytes)
STAT_ARRAYS_BYTES = 64 << 20  # one step's statistics each, so a new step reads only its own record
STATS_CACHE_BYTES = 128 << 20  # the stats answers (all steps of a tag)
NEURON_CACHE_BYTES = 64 << 20  # neuron records decoded
MAX_RUNS = 1024
DECODE_ERRORS = (FormatError, ValueError, TypeError, IndexError, KeyError, OSError)


class _Run:
    __slots__ = ("index", "lock", "checked")

    def __init__(self, index):
        self.index, self.lock, self.checked = index, threading.Lock(), 0.0


def _neuron_bytes(record):
    return sum(record[k].nbytes for k in ("query", "key", "allowed", "bias", "value_norm") if record.get(k) is not None)


def _neuron_listing(found):
    """(steps, captured heads) of a (probe, kind)'s neuron tag, from its index entries and metadata."""
    if found is None or not found[2]:
        return [], []
    return sorted(found[2]), found[1].neuron_heads or []


def _shape(meta):
    return (meta.layers,) + tuple(meta.layer_shape())


class FileData:
    """Every route's data of the runs under `logdir` (a storage.py storage): the source interface
    (`index(runs)`, `snapshot(series, step, layer, pool)`, `stats(series)`, `relations(run)`,
    `predictions(series)`, `neurons(series, step, layer, head)`, `contributions(series)`) that
    server/provider/data.py's `ProviderSource` implements with the same signatures."""

    def __init__(
        self,
        storage,
        logdir,
        warn,
        *,
        decoded_cache_bytes=64 << 20,
        stats_cache_bytes=STATS_CACHE_BYTES,
        record_cache_bytes=RECORD_CACHE_BYTES,
    ):
        self._storage, self._root, self._warn = storage, logdir, warn
        self._runs = LRUCache(MAX_RUNS)  # run -> _Run
        self._records = LRUCache(1 << 16, max_bytes=record_cache_bytes, sizeof=lambda b: sum(map(len, b)) + 64 * len(b))
        self._decoded = LRUCache(1 << 16, max_bytes=decoded_cache_bytes, sizeof=lambda a: a.nbytes)
        self._stats = LRUCache(64, max_bytes=stats_cache_bytes, sizeof=lambda s: s.array.nbytes + 64 * len(s.steps))
        self._stat_arrays = LRUCache(1 << 16, max_bytes=STAT_ARRAYS_BYTES, sizeof=lambda a: a.nbytes)
        self._relations = LRUCache(64)  # run -> (fingerprint, answer)
        self._neuron_records = LRUCache(256, max_bytes=NEURON_CACHE_BYTES, sizeof=_neuron_bytes)
        self._bad = LRUCache(4096)  # Entry.key of the records that failed
        self._lock = threading.Lock()

    # ------------------------------------------------------------ runs
    def _view(self, run, fresh):
        """The RunView of a run, its files looked at again when `fresh` or REFRESH_S old."""
        directory = self._storage.join(self._root, run)
        if not self._storage.inside(self._root, directory):
            raise Unavailable(f"run {run!r} is not under the log directory")
        with self._lock:
            item = self._runs.get(run)
            if item is None:
                item = _Run(RunIndex(self._storage, directory, warn=self._warn, scalars=False))
                self._runs.put(run, item)
        with item.lock:
            now = time.monotonic()
            if fresh or item.index.view is None or now - item.checked >= REFRESH_S:
                item.index.refresh()
                item.checked = now
            return item.index.view

    def _tags(self, run, view, prefix, skip_bad=True):
        """{(probe, kind): (tag, meta, {step: Entry} of good records)} of one kind of tag; with
        skip_bad=False the records that failed stay (a damaged layer leaves the others readable)."""
        tagged = [(t, next(iter(e.values())).meta, e) for t, e in view.tags.items() if t.startswith(prefix) and e]
        return {
            key: (tag, meta, self._good(run, tag, meta, entries, skip_bad))
            for key, (tag, meta, entries) in choose_tags(tagged, self._warn, (run,)).items()
        }

    def _good(self, run, tag, meta, entries, skip_bad=True):
        """The records of a tag that can be served: not failed, of the tag's model size."""
        shape, good = _shape(meta), {}
        for step, entry in entries.items():
            if skip_bad and self._bad.get(entry.key) is not None:
                continue
            if _shape(entry.meta) != shape:
                self._warn(
                    ("size", run, tag, step),
                    "skipped record %r of run %r at step %d: logged for another model size (%s, not %s)",
                    tag,
                    run,
                    step,
                    _shape(entry.meta),
                    shape,
                )
                continue
            good[step] = entry
        return good

    def _lookup(self, series, prefix, what, step=None):
        """(tag, meta, good entries) of a series; the files are looked at again when `step` is not
        among them (a new step of a live run)."""
        run = series.run
        for fresh in (False, True):
            tags = self._tags(run, self._view(run, fresh), prefix, skip_bad=step is None)
            found = tags.get(series[1:])
            if found is not None and (step is None or step in found[2]):
                return found
        if found is None:
            raise Unavailable(missing(series, tags, what) if tags else f"run {run!r} has no attention {what}")
        return found

    def _fail(self, entry, key, message, *args):
        self._bad.put(entry.key, True)
        self._warn(key, message, *args)

    # ------------------------------------------------------------ routes
    def index(self, runs):
        """The `index` route's answer of `runs` (their names: the keys of TensorBoard's listing)."""
        per_run = {}
        for run in sorted(runs):
            probes = per_run.setdefault(run, {})
            view = self._view(run, True)
            neurons = self._tags(run, view, NEURONS_TAG_PREFIX)
            for key, (_, meta, good) in self._tags(run, view, SNAPSHOT_TAG_PREFIX).items():
                if good:
                    steps, heads = _neuron_listing(neurons.get(key))
                    probes.setdefault(key[0], {})[key[1]] = Kind(meta, sorted(good), steps, heads)
        return {"version": FORMAT_VERSION, "runs": index_runs(per_run)}

    def snapshot(self, series, step, layer=None, pool=None, head=None, part=None):
        """(header, uint8 [layers, heads, query, key]) exactly as stored, or with `pool` the block
        means of each map; `head` (with `layer`): that head only, or its summary with `part`;
        `part="summary_means"`: the block means of every summarized head (answers.snapshot_answer)."""
        run = series.run
        tag, meta, good = self._lookup(series, SNAPSHOT_TAG_PREFIX, "snapshots", step)
        entry = good.get(step)
        layer_ids = requested_layers(entry is not None, series, step, meta, layer)
        shape = meta.layer_shape()
        try:
            layers = [self._layer(good, step, l, shape) for l in layer_ids]
            return snapshot_answer(series, step, layer_ids, layers, meta, pool, head, part)
        except TooLarge:  # a request for too much at once, not a bad record
            raise
        except DECODE_ERRORS as e:
            self._fail(
                entry,
                ("snap", run, tag, step, entry.key),
                "skipped snapshot %r of run %r at step %d: %s",
                tag,
                run,
                step,
                e,
            )
            raise Unavailable(undecodable(series, step, e)) from None

    def stats(self, series):
        """(header, float32 [stats, steps, layers, heads]), with the head types."""
        run = series.run
        tag, meta, good = self._lookup(series, STATS_TAG_PREFIX, "statistics")
        fingerprint = tuple((step, entry.key) for step, entry in sorted(good.items()))
        cached = self._stats.get((run, tag))
        if cached is None or cached.fingerprint != fingerprint:
            cached = stats_of(fingerprint, self._arrays(run, tag, good, decode_stats, "statistics"), meta)
            self._stats.put((run, tag), cached)
        return stats_answer(series, meta, cached)

    def relations(self, run):
        """(header, float32 [relations, 2 (mass, accuracy), steps, layers, heads]) of a run."""
        tags = self._tags(run, self._view(run, False), RELATIONS_TAG_PREFIX)
        fingerprint = tuple(sorted((tag, tuple(good.items())) for tag, _, good in tags.values()))
        cached = self._relations.get(run)
        if cached is None or cached[0] != fingerprint:
            series = {}
            for (probe, kind), (tag, meta, good) in tags.items():
                arrays = self._arrays(run, tag, good, decode_relations, "relations")
                if arrays:
                    steps = sorted(arrays)
                    size = (meta.layers, meta.heads)
                    series.setdefault(size, []).append((probe, kind, meta, steps, np.stack([arrays[s] for s in steps])))
            cached = (fingerprint, relations_answer(run, series, self._warn))
            self._relations.put(run, cached)
        return cached[1]

    def predictions(self, series):
        """{"run", "probe", "kind", "mode", "steps", "predictions": [per step]} of a probe."""
        run = series.run
        tag, meta, good = self._lookup(series, PREDICTIONS_TAG_PREFIX, "predictions")
        by_step = {}
        for step, entry in sorted(good.items()):
            try:
                by_step[step] = parse_predictions(self._read(entry).tensor.string_val[0])
            except DECODE_ERRORS as e:
                self._fail(
                    entry,
                    ("pred", run, tag, step, entry.key),
                    "skipped predictions %r of run %r at step %d: %s",
                    tag,
                    run,
                    step,
                    e,
                )
        steps = sorted(by_step)
        mode = by_step[steps[-1]]["mode"] if steps else None
        return {
            **series._asdict(),  # "run", "probe", "kind"
            "mode": mode,
            "steps": steps,
            "predictions": [by_step[s] for s in steps],
        }

    def neurons(self, series, step, layer, head):
        """(header, float32 data) of one captured head at a step (neuron_answer)."""
        run, probe, kind = series
        tag, meta, good = self._lookup(series, NEURONS_TAG_PREFIX, "neuron records", step)
        entry = good.get(step)
        if entry is None:
            raise Unavailable(
                f"probe {probe!r} ({kind}) of run {run!r} has no neuron record at step {step}; it has them at "
                f"steps {sorted(good)[:20]}"
            )
        return neuron_answer(series, step, sorted(good), self._neuron_record(run, tag, step, entry), layer, head)

    def contributions(self, series):
        """Per neuron step and captured head, the first-token and [SEP] mass by weight and by
        contribution (neuron_math.weight_and_contribution)."""
        run = series.run
        tag, meta, good = self._lookup(series, NEURONS_TAG_PREFIX, "neuron records")
        steps, shares, heads = [], [], []
        special, causal = meta.key_special(), meta.causal
        for step, entry in sorted(good.items()):
            try:
                record = self._neuron_record(run, tag, step, entry)
            except Unavailable:
                continue
            steps.append(step)
            heads = [list(h) for h in record["heads"]]
            shares.append(weight_and_contribution(record, special, causal))
        return {
            **series._asdict(),  # "run", "probe", "kind"
            "steps": steps,
            "heads": heads,
            "first": [s["first"] for s in shares],
            "sep": [s["sep"] for s in shares],
        }

    def _neuron_record(self, run, tag, step, entry):
        record = self._neuron_records.get(entry.key)
        if record is None:
            try:
                record = parse_neurons(list(self._read(entry).tensor.string_val), entry.meta)
            except DECODE_ERRORS as e:
                self._fail(
                    entry,
                    ("neurons", run, tag, step, entry.key),
                    "skipped neurons %r of run %r at step %d: %s",
                    tag,
                    run,
                    step,
                    e,
                )
                series = Series(run, entry.meta.probe, entry.meta.kind)
                raise Unavailable(undecodable(series, step, e)) from None
            self._neuron_records.put(entry.key, record)
        return record

    def _arrays(self, run, tag, good, decode, what):
        """{step: decode(tensor, metadata)} of a tensor tag's good records (one open file each); a
        record that fails is left out (and out of the index), logged once."""
        out, readers = {}, {}
        try:
            for step, entry in sorted(good.items()):
                try:
                    out[step] = self._tensor(entry, readers, decode)
                except DECODE_ERRORS as e:
                    key = (what, run, tag, step, entry.key)
                    self._fail(entry, key, "skipped %s %r of run %r at step %d: %s", what, tag, run, step, e)
        finally:
            for reader in readers.values():
                reader.close()
        return out

    # ------------------------------------------------------------ records
    def _read(self, entry):
        with self._storage.open(entry.path) as reader:
            return read_value(reader, entry.ref)

    def _blobs(self, entry):
        blobs = self._records.get(entry.key)
        if blobs is None:
            blobs = check_snapshot_blobs(list(self._read(entry).tensor.string_val), entry.meta)
            self._records.put(entry.key, blobs)
        return blobs

    def _tensor(self, entry, readers, decode):
        """One record's decoded tensor; `readers` {path: open reader} is kept open across records."""
        array = self._stat_arrays.get(entry.key)
        if array is None:
            if entry.path not in readers:
                readers[entry.path] = self._storage.open(entry.path)
            raw = tensor_util.make_ndarray(read_value(readers[entry.path], entry.ref).tensor)
            if raw.dtype.kind != "f":
                raise FormatError(f"the tensor has dtype {raw.dtype}")
            array = decode(raw, entry.meta)
            self._stat_arrays.put(entry.key, array)
        return array

    def _layer(self, entries, step, layer, shape):
        """uint8 [H, Q, K] of one layer: its delta chain walked back to a keyframe or a decoded layer;
        a blob of heads as a HeadsLayer (read a head at a time)."""
        blob = self._blobs(entries[step])[1 + layer]
        return decode_or_heads(blob, shape, lambda: self._chain(entries, step, layer, shape))

    def _chain(self, entries, step, layer, shape):

        def entry_at(at):
            entry = entries.get(at)
            if entry is None:
                raise FormatError(f"its reference snapshot at step {at} is missing")
            return entry

        def decoded_of(at):
            entry = entries.get(at)
            found = None if entry is None else self._decoded.get((entry.key, layer))
            return found if found is not None and found.shape == tuple(shape) else None

        chain = walk_chain(step, lambda at: self._blobs(entry_at(at))[1 + layer], decoded_of, shape, f"layer {layer}: ")
        return decode_chain(chain, shape, lambda at, decoded: self._decoded.put((entry_at(at).key, layer), decoded))
