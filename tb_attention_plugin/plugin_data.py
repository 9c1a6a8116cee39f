"""What the plugin's routes read, through TensorBoard's data provider only (RustBoard or Python loader).

- Blob references of each snapshot tag are cached per (experiment, run, tag) and keyed on what the
  provider lists for the tag (max step, max wall time, max length): new steps of a live run show up
  at once, and an unchanged run costs one listing call.
- A snapshot's layers are read with `read_blob` (plugin_snapshot.py: concurrently, following delta
  chains, with a bounded cache of decoded uint8 layers). Every listed series is read ahead into a
  bounded cache of stored blobs (plugin_prefetch.py), the most recently requested step's neighbours
  first; the runs requested recently are re-listed in the background, so new and rewritten steps
  reach that cache without waiting for the tab's next ./index poll.
- Corrupted or inconsistent records raise `Unavailable` (-> 404) and are logged once; the steps that
  failed to decode are remembered (bounded) and left out of the index.
"""

import logging
import math

import numpy as np

from tensorboard import errors
from tensorboard.data import provider

from . import format as fmt
from .head_types import classify_heads
from . import plugin_prefetch
from .plugin_cache import LRUCache
from .plugin_files import RunFiles
from .plugin_snapshot import BlobKeyRefused, SnapshotReader

logger = logging.getLogger(__name__)

PLUGIN_NAME = fmt.PLUGIN_NAME
DOWNSAMPLE_ALL = 1_000_000  # "every point": the loaders keep everything for this plugin (plugin_entry)


class Unavailable(Exception):
    """The requested run/probe/kind/step/layer does not exist or cannot be decoded (HTTP 404)."""


class Unservable(Exception):
    """TensorBoard's loader cannot hand the plugin this data (HTTP 400); the message says what to do."""


# What a data provider raises on a record it cannot convert (e.g. a tensor whose content does not
# match its shape): the Python provider converts a whole tag at once, so one bad record fails it all.
_PROVIDER_DECODE_ERRORS = (ValueError, TypeError, IndexError)


class _Series:
    """Blob keys of one snapshot tag: step -> (wall time, (header key, layer 0 key, ...)), latest
    record wins. The wall time tells a record from its rewrite after a resume (same step, same keys)."""

    __slots__ = ("version", "refs", "steps")

    def __init__(self, version, refs):
        self.version = version
        self.refs = refs
        self.steps = sorted(refs)


class AttentionData:
    def __init__(
        self,
        data_provider,
        *,
        logdir=None,
        decoded_cache_bytes=64 << 20,
        stats_cache_bytes=32 << 20,
        blob_cache_bytes=plugin_prefetch.BLOB_CACHE_BYTES,
        prefetch_workers=plugin_prefetch.WORKERS,
        poll_s=plugin_prefetch.SERIES_POLL_S,
    ):
        self._provider = data_provider
        self._files = RunFiles(logdir)  # for the runs whose names the loader cannot carry
        self._series = LRUCache(256, sizeof=lambda s: 64 * len(s.refs))
        self._stats = LRUCache(64, max_bytes=stats_cache_bytes, sizeof=lambda s: s[2].nbytes + 16 * len(s[0]))
        blobs = plugin_prefetch.blob_cache(blob_cache_bytes)
        self._snapshots = SnapshotReader(data_provider, decoded_cache_bytes=decoded_cache_bytes, blobs=blobs)
        self.prefetch = plugin_prefetch.Prefetcher(
            self._snapshots.read_blob,
            blobs,
            workers=prefetch_workers if blob_cache_bytes > 0 else 0,
            refresh=self._refresh_run,
            poll_s=poll_s,
        )
        self._tag_of = LRUCache(1024)  # (eid, run, probe, kind) -> (tag, meta) of a snapshot tag
        self._stats_tag_of = LRUCache(1024)  # the same for statistics tags
        self._bad_steps = LRUCache(4096)  # (eid, run, tag, step) -> series version that failed
        self._warned = LRUCache(1024)  # log each problem once, not at every poll of the index

    # ------------------------------------------------------------ helpers
    def _warn_once(self, key, message, *args):
        if self._warned.get(key) is None:
            self._warned.put(key, True)
            logger.warning("tb-attention: " + message, *args)

    def _tags(self, listing, eid, run):
        """{(probe, kind): (tag, meta, time series)} of one run's listing; bad metadata skipped."""
        result = {}
        for tag, series in sorted(listing.items()):
            prefix = (
                fmt.SNAPSHOT_TAG_PREFIX if isinstance(series, provider.BlobSequenceTimeSeries) else fmt.STATS_TAG_PREFIX
            )
            if not tag.startswith(prefix):
                continue
            try:
                meta = fmt.parse_plugin_content(series.plugin_content)
            except (fmt.FormatError, KeyError, TypeError, ValueError) as e:
                self._warn_once(("meta", eid, run, tag), "skipped tag %r of run %r: %s", tag, run, e)
                continue
            key = (meta["probe"], meta["kind"])
            if key in result and tag not in (fmt.snapshot_tag(*key), fmt.stats_tag(*key)):
                continue  # the same probe under an older tag spelling as well: the current one wins
            result[key] = (tag, meta, series)
        return result

    @staticmethod
    def _version(series):
        return (series.max_step, series.max_wall_time, getattr(series, "max_length", None))

    def _read_series(self, ctx, eid, wanted):
        """wanted: {(run, tag): (meta, time series)} -> {(run, tag): _Series}, reading stale ones."""
        out, stale = {}, {}
        for (run, tag), (meta, ts) in wanted.items():
            cached = self._series.get((eid, run, tag))
            if cached is not None and cached.version == self._version(ts):
                out[(run, tag)] = cached
            else:
                stale[(run, tag)] = (meta, ts)
        if stale:
            data = self._read_blob_sequences(ctx, eid, stale)
            for (run, tag), (meta, ts) in stale.items():
                refs = {}
                for datum in data.get(run, {}).get(tag, []):
                    keys = tuple(ref.blob_key for ref in datum.values)
                    if len(keys) != meta["layers"] + 1:
                        self._warn_once(
                            ("len", eid, run, tag, datum.step),
                            "skipped snapshot %r of run %r at step %d: %d blobs for %d layers",
                            tag,
                            run,
                            datum.step,
                            len(keys),
                            meta["layers"],
                        )
                        refs.pop(datum.step, None)
                        continue
                    refs[datum.step] = (datum.wall_time, keys)  # in data order: the latest wins
                series = _Series(self._version(ts), refs)
                self._series.put((eid, run, tag), series)
                out[(run, tag)] = series
        for (run, tag), series in out.items():
            self.prefetch.watch((eid, run, tag), ctx, series)
        return out

    def _read_blob_sequences(self, ctx, eid, stale):
        """One provider call for every stale tag; tag by tag if one of them cannot be converted."""

        def read(runs, tags):
            return self._provider.read_blob_sequences(
                ctx,
                experiment_id=eid,
                plugin_name=PLUGIN_NAME,
                downsample=DOWNSAMPLE_ALL,
                run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags),
            )

        try:
            return read({r for r, _ in stale}, {t for _, t in stale})
        except _PROVIDER_DECODE_ERRORS:
            pass
        data = {}
        for run, tag in stale:
            try:
                data.setdefault(run, {}).update(read([run], [tag]).get(run, {}))
            except _PROVIDER_DECODE_ERRORS as e:
                self._warn_once(
                    ("read", eid, run, tag),
                    "TensorBoard cannot read snapshots %r of run %r (a corrupted record?): %s",
                    tag,
                    run,
                    e,
                )
        return data

    def _refresh_run(self, ctx, eid, run):
        """Re-list one run's snapshot series (the read-ahead's poll): new versions replace the cached
        ones (and are read ahead), a series gone from the listing is forgotten."""
        listing = self._provider.list_blob_sequences(
            ctx, experiment_id=eid, plugin_name=PLUGIN_NAME, run_tag_filter=provider.RunTagFilter(runs=[run])
        )
        tags = self._tags(listing.get(run, {}), eid, run)
        self._read_series(ctx, eid, {(run, tag): (meta, ts) for tag, meta, ts in tags.values()})
        listed = {tag for tag, _, _ in tags.values()}
        for probe_kind, (tag, _) in list(self._tag_of.items()):
            if probe_kind[:2] == (eid, run) and tag not in listed:
                self._tag_of.pop(probe_kind)
                self._series.pop((eid, run, tag))
                self.prefetch.forget((eid, run, tag))

    def _good_steps(self, eid, run, tag, series):
        return [s for s in series.steps if self._bad_steps.get((eid, run, tag, s, series.refs[s][0])) is None]

    # ------------------------------------------------------------ index
    def index(self, ctx, eid):
        listing = self._provider.list_blob_sequences(ctx, experiment_id=eid, plugin_name=PLUGIN_NAME)
        per_run = {run: self._tags(tags, eid, run) for run, tags in listing.items()}
        wanted = {(run, tag): (meta, ts) for run, tags in per_run.items() for tag, meta, ts in tags.values()}
        series = self._read_series(ctx, eid, wanted)
        runs = []
        for run in sorted(per_run):
            probes = {}
            for (probe, kind), (tag, meta, _) in per_run[run].items():
                steps = self._good_steps(eid, run, tag, series[(run, tag)])
                if steps:
                    probes.setdefault(probe, {})[kind] = (meta, steps)
            if probes:
                runs.append(
                    {
                        "run": run,
                        "probes": [
                            self._probe_entry(name, kinds) for name, kinds in sorted(probes.items(), key=_probe_order)
                        ],
                    }
                )
        return {"version": fmt.FORMAT_VERSION, "runs": runs}

    @staticmethod
    def _probe_entry(name, kinds):
        ordered = [k for k in fmt.KIND_SIDES if k in kinds]
        first = kinds[ordered[0]][0]
        return {
            "name": name,
            "tokens": first["tokens"],
            "segments": first["segments"],
            "special": first["special"],
            "decoder_tokens": first.get("decoder_tokens"),
            "decoder_special": first.get("decoder_special"),
            "kinds": [
                {
                    "kind": k,
                    "layers": kinds[k][0]["layers"],
                    "heads": kinds[k][0]["heads"],
                    "query": kinds[k][0]["query"],
                    "key": kinds[k][0]["key"],
                    "causal": bool(kinds[k][0].get("causal", False)),
                    "steps": kinds[k][1],
                }
                for k in ordered
            ],
        }

    # ------------------------------------------------------------ lookup
    def _lookup(self, listing, eid, run, probe, kind, what):
        if run not in listing:
            raise Unavailable(f"run {run!r} has no attention {what}; ./index lists the runs that do")
        tags = self._tags(listing[run], eid, run)
        if (probe, kind) in tags:
            return tags[(probe, kind)]
        probes = sorted({p for p, _ in tags})
        if probe not in probes:
            raise Unavailable(f"run {run!r} has no probe {probe!r} with attention {what} (probes: {probes})")
        kinds = [k for k in fmt.KIND_SIDES if (probe, k) in tags]
        raise Unavailable(f"probe {probe!r} of run {run!r} has no {kind!r} attention {what} (kinds: {kinds})")

    # ------------------------------------------------------------ snapshots
    def _snapshot_series(self, ctx, eid, run, probe, kind, step):
        """(tag, meta, series) of a snapshot tag. A step already known needs no listing call (one
        RustBoard round trip less): its blob keys name (run, tag, step, index), so reading them
        returns the current record even after a resume rewrote it; ./index refreshes the series."""
        known = self._tag_of.get((eid, run, probe, kind))
        if known is not None:
            series = self._series.get((eid, run, known[0]))
            if series is not None and step in series.refs:
                return known[0], known[1], series
        listing = self._provider.list_blob_sequences(
            ctx, experiment_id=eid, plugin_name=PLUGIN_NAME, run_tag_filter=provider.RunTagFilter(runs=[run])
        )
        tag, meta, ts = self._lookup(listing, eid, run, probe, kind, "snapshots")
        series = self._read_series(ctx, eid, {(run, tag): (meta, ts)})[(run, tag)]
        self._tag_of.put((eid, run, probe, kind), (tag, meta))
        return tag, meta, series

    def snapshot(self, ctx, eid, run, probe, kind, step, layer=None):
        """-> (header dict, uint8 [layers, heads, query, key]) exactly as stored."""
        tag, meta, series = self._snapshot_series(ctx, eid, run, probe, kind, step)
        self.prefetch.watch((eid, run, tag), ctx, series, focus=step, requested=True)
        record = series.refs.get(step)
        if record is None:
            raise Unavailable(
                f"no {kind!r} snapshot of probe {probe!r} in run {run!r} at step {step}; "
                f"logged steps are listed by ./index"
            )
        n_layers = meta["layers"]
        if layer is not None and layer >= n_layers:
            raise Unavailable(f"layer {layer} does not exist: the model has {n_layers} layers (0..{n_layers - 1})")
        layer_ids = list(range(n_layers)) if layer is None else [layer]
        try:
            decoded = self._snapshots.read(ctx, series, step, layer_ids, fmt.layer_shape(meta))
            shapes = {a.shape for a in decoded}
            if len(shapes) != 1:
                raise fmt.FormatError(f"layers have different shapes {sorted(shapes)}")
        except BlobKeyRefused as e:  # the loader's limit, not a bad record: read the run's own files
            decoded = self._read_files(eid, run, probe, kind, step, layer_ids, tag, e)
        except (fmt.FormatError, errors.NotFoundError, ValueError, TypeError, IndexError) as e:
            self._bad_steps.put((eid, run, tag, step, record[0]), True)
            self._warn_once(
                ("snap", eid, run, tag, step, record[0]),
                "skipped snapshot %r of run %r at step %d: %s",
                tag,
                run,
                step,
                e,
            )
            raise Unavailable(
                f"the {kind!r} snapshot of probe {probe!r} in run {run!r} at step {step} "
                f"cannot be decoded ({e}); it is skipped"
            ) from None
        heads, queries, keys_len = decoded[0].shape
        array = np.stack(decoded) if len(decoded) > 1 else decoded[0][None]
        header = {
            "run": run,
            "probe": probe,
            "kind": kind,
            "step": step,
            "layers": layer_ids,
            "heads": heads,
            "query_len": queries,
            "key_len": keys_len,
            "scale": 1.0 / 255,
        }
        return header, array

    def _read_files(self, eid, run, probe, kind, step, layer_ids, tag, refusal):
        """A snapshot whose blob key the loader refused, from the run's event files (plugin_files)."""
        try:
            array = self._files.quantized(run, probe, kind, step, layer_ids)
        except (KeyError, IndexError, fmt.FormatError) as e:
            raise Unavailable(
                f"the {kind!r} snapshot of probe {probe!r} in run {run!r} at step {step} "
                f"cannot be read from the run's event files: {e}"
            ) from None
        if array is None:  # a remote log directory: say what to do
            self._warn_once(
                ("key", eid, run, tag), "TensorBoard cannot read snapshots %r of run %r: %s", tag, run, refusal
            )
            raise Unservable(_refused_message(run, probe, kind, tag, refusal))
        return list(array)

    # ------------------------------------------------------------ statistics
    def stats(self, ctx, eid, run, probe, kind):
        """-> (header dict, float32 [stats, steps, layers, heads]).

        A tag seen before is read without listing it first (on RustBoard a listing answer costs ~40
        ms, the tensors themselves a few): the answer is recomputed when the (step, wall time) pairs
        read differ from the cached ones, so new or rewritten steps show up at once."""
        known = self._stats_tag_of.get((eid, run, probe, kind))
        if known is None:
            listing = self._provider.list_tensors(
                ctx, experiment_id=eid, plugin_name=PLUGIN_NAME, run_tag_filter=provider.RunTagFilter(runs=[run])
            )
            tag, meta, _ = self._lookup(listing, eid, run, probe, kind, "statistics")
            self._stats_tag_of.put((eid, run, probe, kind), (tag, meta))
        else:
            tag, meta = known
        data = self._read_tensors(ctx, eid, run, tag)
        if not data and known is not None:  # the run or tag is gone (logdir changed): look again
            self._stats_tag_of.pop((eid, run, probe, kind))
            return self.stats(ctx, eid, run, probe, kind)
        fingerprint = tuple((d.step, d.wall_time) for d in data)
        cached = self._stats.get((eid, run, tag))
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint,) + self._decode_stats(data, eid, run, tag, meta)
            self._stats.put((eid, run, tag), cached)
        _, steps, array, head_types, names = cached
        header = {
            "run": run,
            "probe": probe,
            "kind": kind,
            "steps": steps,
            "stats": names,
            "layers": meta["layers"],
            "heads": meta["heads"],
            "head_types": head_types,
        }
        return header, array

    def _read_tensors(self, ctx, eid, run, tag):
        try:
            data = self._provider.read_tensors(
                ctx,
                experiment_id=eid,
                plugin_name=PLUGIN_NAME,
                downsample=DOWNSAMPLE_ALL,
                run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
            )
        except _PROVIDER_DECODE_ERRORS as e:
            self._warn_once(
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

    def _decode_stats(self, data, eid, run, tag, meta):
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
                self._warn_once(
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
        return steps, np.ascontiguousarray(array, dtype="<f4"), head_types, names

    # ------------------------------------------------------------ scalars
    def scalars(self, ctx, eid, run):
        """({tag: {"steps": [...], "values": [...]}} of every scalar series of a run (latest wins),
        [marked steps]): series that mark a step (format.BEST_CHECKPOINT_TAG_PREFIX) are marks, not
        curves; the point written last wins."""
        if run not in {r.run_name for r in self._provider.list_runs(ctx, experiment_id=eid)}:
            raise Unavailable(f"unknown run {run!r}; ./index lists the runs with attention logs")
        # Scalars written as `simple_value` are migrated to the scalars plugin by both loaders.
        rtf = provider.RunTagFilter(runs=[run])
        listing = self._provider.list_scalars(ctx, experiment_id=eid, plugin_name="scalars", run_tag_filter=rtf)
        tags, marks = {}, []
        if listing.get(run):
            try:
                data = self._provider.read_scalars(
                    ctx, experiment_id=eid, plugin_name="scalars", downsample=DOWNSAMPLE_ALL, run_tag_filter=rtf
                )
            except _PROVIDER_DECODE_ERRORS as e:
                raise Unavailable(f"TensorBoard cannot read the scalars of run {run!r}: {e}") from None
            for tag, points in sorted(data.get(run, {}).items()):
                if tag.startswith(fmt.BEST_CHECKPOINT_TAG_PREFIX):
                    last = max(points, key=lambda p: p.wall_time, default=None)
                    if last is not None and math.isfinite(last.value):
                        marks.append(
                            {
                                "kind": "best_checkpoint",
                                "step": last.step,
                                "value": float(last.value),
                                "metric": tag[len(fmt.BEST_CHECKPOINT_TAG_PREFIX) :],
                            }
                        )
                    continue
                by_step = {p.step: float(p.value) for p in points}
                steps = sorted(by_step)
                tags[tag] = {"steps": steps, "values": [by_step[s] for s in steps]}
        return tags, marks


def _refused_message(run, probe, kind, tag, error):
    """What to tell the user when the data provider refuses a blob key (RustBoard's keys are JSON
    that cannot carry `"`, `\\` or control characters, escaped or not)."""
    if fmt.needs_json_escape(run):
        renamed = "".join("_" if fmt.needs_json_escape(c) else c for c in run)
        return (
            f"TensorBoard's default data loader (RustBoard) cannot read the snapshots of run {run!r}: "
            f"its directory name holds a character it cannot carry ('\"', '\\', a tab or another "
            f"control character), and the log directory is not local, so the plugin cannot read the "
            f"run's files itself. Rename the run directory (e.g. to {renamed!r}) or start TensorBoard "
            f"with --load_fast=false; its statistics and scalars are shown either way"
        )
    if fmt.needs_json_escape(tag):
        return (
            f"TensorBoard's default data loader (RustBoard) cannot read the snapshots of probe {probe!r} "
            f"in run {run!r}: they were written by an older tb-attention under the tag {tag!r}, which "
            f"it cannot carry (logs written now use {fmt.snapshot_tag(probe, kind)!r}). "
            f"Start TensorBoard with --load_fast=false to see them; statistics are shown either way"
        )
    return f"TensorBoard's data loader refused to read this snapshot: {error}"


def _probe_order(item):
    name, kinds = item
    first = next(iter(kinds.values()))[0]
    index = first.get("probe_index", 0)
    return (index if isinstance(index, int) else 0, name)
