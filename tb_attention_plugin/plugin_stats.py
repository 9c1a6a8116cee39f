"""The `stats` route's data: every per-head statistic of a (run, probe, kind) at every logged step,
with the head types derived from them, read through the data provider and cached."""

import math
from typing import NamedTuple

import numpy as np

from tensorboard.data import provider

from . import format as fmt
from .head_types import classify_heads
from .plugin_cache import LRUCache
from .plugin_errors import DOWNSAMPLE_ALL, PROVIDER_DECODE_ERRORS, Unavailable
from .plugin_series import lookup

PLUGIN_NAME = fmt.PLUGIN_NAME


class Stats(NamedTuple):
    """One statistics tag, decoded: `fingerprint` is the (step, wall time) pairs it was read from."""

    fingerprint: tuple
    steps: list
    array: object  # float32 [stats, steps, layers, heads]
    head_types: list
    names: list


class StatsReader:
    def __init__(self, data_provider, warn, *, cache_bytes=32 << 20):
        self._provider = data_provider
        self._warn = warn
        self._cache = LRUCache(64, max_bytes=cache_bytes, sizeof=lambda s: s.array.nbytes + 16 * len(s.fingerprint))
        self._tag_of = LRUCache(1024)  # (eid, run, probe, kind) -> the Tag of a statistics tag

    def stats(self, ctx, eid, run, probe, kind):
        """-> (header dict, float32 [stats, steps, layers, heads]).

        A tag seen before is read without listing it first (on RustBoard a listing answer costs ~40
        ms, the tensors themselves a few): the answer is recomputed when the (step, wall time) pairs
        read differ from the cached ones, so new or rewritten steps show up at once."""
        known = self._tag_of.get((eid, run, probe, kind))
        if known is None:
            listing = self._provider.list_tensors(
                ctx, experiment_id=eid, plugin_name=PLUGIN_NAME, run_tag_filter=provider.RunTagFilter(runs=[run])
            )
            found = lookup(listing, self._warn, eid, run, probe, kind, "statistics")
            self._tag_of.put((eid, run, probe, kind), found)
        else:
            found = known
        tag, meta = found.tag, found.meta
        data = self._read_tensors(ctx, eid, run, tag)
        if not data and known is not None:  # the run or tag is gone (logdir changed): look again
            self._tag_of.pop((eid, run, probe, kind))
            return self.stats(ctx, eid, run, probe, kind)
        fingerprint = tuple((d.step, d.wall_time) for d in data)
        cached = self._cache.get((eid, run, tag))
        if cached is None or cached.fingerprint != fingerprint:
            cached = self._decode(fingerprint, data, eid, run, tag, meta)
            self._cache.put((eid, run, tag), cached)
        header = {
            "run": run,
            "probe": probe,
            "kind": kind,
            "steps": cached.steps,
            "stats": cached.names,
            "layers": meta["layers"],
            "heads": meta["heads"],
            "head_types": cached.head_types,
        }
        return header, cached.array

    def _read_tensors(self, ctx, eid, run, tag):
        try:
            data = self._provider.read_tensors(
                ctx,
                experiment_id=eid,
                plugin_name=PLUGIN_NAME,
                downsample=DOWNSAMPLE_ALL,
                run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
            )
        except PROVIDER_DECODE_ERRORS as e:
            self._warn(
                ("read", eid, run, tag),
                "TensorBoard cannot read statistics %r of run %r (a corrupted record?): %s",
                tag,
                run,
                e,
            )
            raise Unavailable(
                f"TensorBoard cannot read the statistics {tag!r} of run {run!r} (a corrupted record?): {e}"
            ) from None
        return data.get(run, {}).get(tag, [])

    def _decode(self, fingerprint, data, eid, run, tag, meta):
        """Stats of the records read (latest per step wins; a bad record is skipped, logged once)."""
        names = list(meta.get("stats", fmt.STAT_NAMES))
        by_step = {}
        for datum in data:
            try:
                arr = np.asarray(datum.numpy)
                if arr.dtype.kind != "f":
                    raise fmt.FormatError(f"statistics have dtype {arr.dtype}")
                by_step[datum.step] = fmt.decode_stats(np.ascontiguousarray(arr, dtype="<f4").tobytes(), meta)
            except (fmt.FormatError, ValueError, TypeError) as e:
                by_step.pop(datum.step, None)
                self._warn(
                    ("stats", eid, run, tag, datum.step),
                    "skipped statistics %r of run %r at step %d: %s",
                    tag,
                    run,
                    datum.step,
                    e,
                )
        steps = sorted(by_step)
        shape = (len(names), len(steps), meta["layers"], meta["heads"])
        array = np.stack([by_step[s] for s in steps], axis=1) if steps else np.zeros(shape, np.float32)
        head_types = classify_heads(steps, {n: array[i] for i, n in enumerate(names)})
        for entry in head_types:
            if not math.isfinite(entry["score"]):
                entry["score"] = None
        return Stats(fingerprint, steps, np.ascontiguousarray(array, dtype="<f4"), head_types, names)
