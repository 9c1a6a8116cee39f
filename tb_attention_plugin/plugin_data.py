"""What the plugin's routes read, through TensorBoard's data provider only (RustBoard or Python loader).

`AttentionData` answers each route from the module that does that job:
- `index`: the runs, probes and logged steps (plugin_series.py: tags and cached blob references);
- `snapshot`: a snapshot's layers, read with `read_blob` (plugin_snapshot.py: concurrently, following
  delta chains, with a bounded cache of decoded uint8 layers), or from the run's own event files when
  the loader cannot carry its name (plugin_files.py). Every listed series is read ahead into a
  bounded cache of stored blobs (plugin_prefetch.py), the most recently requested step's neighbours
  first; the runs requested recently are re-listed in the background, so new and rewritten steps
  reach that cache without waiting for the tab's next ./index poll;
- `stats`: plugin_stats.py; `scalars`: plugin_scalars.py.
Corrupted or inconsistent records raise `Unavailable` (-> 404) and are logged once (plugin_errors.py);
the steps that failed to decode are remembered (bounded) and left out of the index.
"""

import numpy as np

from tensorboard import errors

from . import format as fmt
from . import plugin_prefetch
from .plugin_errors import Unavailable, Unservable, WarnOnce
from .plugin_files import RunFiles
from .plugin_scalars import read_scalars
from .plugin_series import SeriesListing
from .plugin_snapshot import BlobKeyRefused, SnapshotReader
from .plugin_stats import StatsReader

__all__ = ["AttentionData", "Unavailable", "Unservable"]


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
        self._warn_once = WarnOnce()  # log each problem once, not at every poll of the index
        self._files = RunFiles(logdir)  # for the runs whose names the loader cannot carry
        self._listing = SeriesListing(data_provider, self._warn_once)
        self._series = self._listing.series  # (eid, run, tag) -> plugin_series.Series
        self._stats = StatsReader(data_provider, self._warn_once, cache_bytes=stats_cache_bytes)
        blobs = plugin_prefetch.blob_cache(blob_cache_bytes)
        self._snapshots = SnapshotReader(data_provider, decoded_cache_bytes=decoded_cache_bytes, blobs=blobs)
        self.prefetch = plugin_prefetch.Prefetcher(
            self._snapshots.read_blob,
            blobs,
            workers=prefetch_workers if blob_cache_bytes > 0 else 0,
            refresh=self._listing.refresh_run,  # the poll re-lists a run; the listing never calls back
            poll_s=poll_s,
        )

    def index(self, ctx, eid):
        answer, listed = self._listing.index(ctx, eid)
        for key, series in listed.items():  # every listed series is read ahead, after the requested ones
            self.prefetch.watch(key, ctx, series)
        return answer

    def stats(self, ctx, eid, run, probe, kind):
        """-> (header dict, float32 [stats, steps, layers, heads]) (plugin_stats.py)."""
        return self._stats.stats(ctx, eid, run, probe, kind)

    def scalars(self, ctx, eid, run):
        """-> ({tag: {"steps", "values"}}, [marks]) of a run (plugin_scalars.py)."""
        return read_scalars(self._provider, ctx, eid, run)

    def snapshot(self, ctx, eid, run, probe, kind, step, layer=None):
        """-> (header dict, uint8 [layers, heads, query, key]) exactly as stored."""
        tag, meta, series = self._listing.snapshot_series(ctx, eid, run, probe, kind, step)
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
            self._listing.mark_bad(eid, run, tag, step, record)
            self._warn_once(
                ("snap", eid, run, tag, step, record.wall_time),
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
