"""The `stats` route's data: every per-head statistic of a (run, probe, kind) at every logged step,
with the head types derived from them, read through the data provider and cached."""

import numpy as np

from tensorboard.data import provider

from ...format.metadata import FormatError, PLUGIN_NAME
from ...format.records import decode_stats
from ..answers import stats_answer, stats_of
from ...reading.lru_cache import LRUCache
from ..errors import DOWNSAMPLE_ALL, PROVIDER_DECODE_ERRORS, Unavailable
from .series import lookup


class StatsReader:
    def __init__(self, data_provider, warn, *, cache_bytes=32 << 20):
        self._provider = data_provider
        self._warn = warn
        self._cache = LRUCache(64, max_bytes=cache_bytes, sizeof=lambda s: s.array.nbytes + 16 * len(s.fingerprint))
        self._tag_of = LRUCache(1024)  # (eid, run, probe, kind) -> the Tag of a statistics tag

    def stats(self, ctx, eid, series):
        """-> (header dict, float32 [stats, steps, layers, heads]) of a series (answers.Series).

        A tag seen before is read without listing it first (on RustBoard a listing answer costs ~40
        ms, the tensors themselves a few): the answer is recomputed when the (step, wall time) pairs
        read differ from the cached ones, so new or rewritten steps show up at once."""
        run = series.run
        known = self._tag_of.get((eid, *series))
        if known is None:
            listing = self._provider.list_tensors(
                ctx, experiment_id=eid, plugin_name=PLUGIN_NAME, run_tag_filter=provider.RunTagFilter(runs=[run])
            )
            found = lookup(listing, self._warn, eid, series, "statistics")
            self._tag_of.put((eid, *series), found)
        else:
            found = known
        tag, meta = found.tag, found.meta
        data = self._read_tensors(ctx, eid, run, tag)
        if not data and known is not None:  # the run or tag is gone (logdir changed): look again
            self._tag_of.pop((eid, *series))
            return self.stats(ctx, eid, series)
        fingerprint = tuple((d.step, d.wall_time) for d in data)
        cached = self._cache.get((eid, run, tag))
        if cached is None or cached.fingerprint != fingerprint:
            cached = self._decode(fingerprint, data, eid, run, tag, meta)
            self._cache.put((eid, run, tag), cached)
        return stats_answer(series, meta, cached)

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
        by_step = {}
        for datum in data:
            try:
                arr = np.asarray(datum.numpy)
                if arr.dtype.kind != "f":
                    raise FormatError(f"statistics have dtype {arr.dtype}")
                by_step[datum.step] = decode_stats(np.ascontiguousarray(arr, dtype="<f4").tobytes(), meta)
            except (FormatError, ValueError, TypeError) as e:
                by_step.pop(datum.step, None)
                self._warn(
                    ("stats", eid, run, tag, datum.step),
                    "skipped statistics %r of run %r at step %d: %s",
                    tag,
                    run,
                    datum.step,
                    e,
                )
        return stats_of(fingerprint, by_step, meta)
