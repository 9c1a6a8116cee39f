"""The routes' data read through TensorBoard's data provider, for log directories the plugin cannot
read itself (server/data.py decides): the loaders then keep every record of the plugin in memory.

- `index`: the runs, probes and logged steps (server/provider/series.py: tags and cached blob references);
- `snapshot`: a snapshot's layers, read with `read_blob` (server/provider/snapshot.py: concurrently, following
  delta chains, with a bounded cache of decoded uint8 layers). Every listed series is read ahead
  into a bounded cache of stored blobs (prefetch.py), because RustBoard answers a lone
  `read_blob` slowly; the runs requested recently are re-listed in the background;
- `stats`: server/provider/stats.py;
- relations, predictions and the neuron view's records: Unservable (400), saying to start
  TensorBoard with a local --logdir (the plugin reads them from the event files only).
`ProviderData` holds the readers and caches; `ProviderData.bound(ctx, eid)` is the `ProviderSource`
answering one request, with the methods and signatures of server/files.py's `FileData`.
"""

from tensorboard import errors

from ...format.metadata import FormatError, TooLarge, needs_json_escape, snapshot_tag
from . import prefetch
from ..answers import requested_layers, snapshot_answer, undecodable
from ..errors import Unavailable, Unservable
from .series import SeriesListing
from .snapshot import BlobKeyRefused, SnapshotReader
from .stats import StatsReader


class ProviderData:
    """The provider's readers and caches, shared by every request; `bound(ctx, eid)` is the source
    that answers one request (ProviderSource)."""

    def __init__(
        self,
        data_provider,
        warn,
        *,
        decoded_cache_bytes,
        stats_cache_bytes,
        blob_cache_bytes=prefetch.BLOB_CACHE_BYTES,
        prefetch_workers=prefetch.WORKERS,
        poll_s=prefetch.SERIES_POLL_S,
    ):
        self._warn_once = warn
        self._listing = SeriesListing(data_provider, warn)
        self._series = self._listing.series  # (eid, run, tag) -> series.BlobSeries
        self._stats = StatsReader(data_provider, warn, cache_bytes=stats_cache_bytes)
        blobs = prefetch.blob_cache(blob_cache_bytes)
        self._snapshots = SnapshotReader(data_provider, decoded_cache_bytes=decoded_cache_bytes, blobs=blobs)
        self.prefetch = prefetch.Prefetcher(
            self._snapshots.read_blob,
            blobs,
            workers=prefetch_workers if blob_cache_bytes > 0 else 0,
            refresh=self._listing.refresh_run,  # the poll re-lists a run; the listing never calls back
            poll_s=poll_s,
        )

    def bound(self, ctx, eid):
        """The source answering a request of TensorBoard's request context `ctx` and experiment `eid`."""
        return ProviderSource(self, ctx, eid)


def _files_only(what):
    """What the provider source answers for data only the runs' event files hold (400, what to do)."""
    return Unservable(
        f"{what} are read from the runs' event files, which the plugin cannot open here (a log "
        f"directory it cannot read, or --logdir_spec): start TensorBoard with a local --logdir"
    )


class ProviderSource:
    """The source interface of server/files.py's `FileData`, with the same signatures, through the
    data provider for one request (`ctx`, `eid`); the data only the event files hold (relations,
    predictions, neuron records) raises Unservable."""

    def __init__(self, data, ctx, eid):
        self._data, self._ctx, self._eid = data, ctx, eid

    def index(self, runs):
        """The `index` route's answer of `runs`: TensorBoard's listing of the plugin's blob sequences
        {run: {tag: time series}}; every listed series is read ahead, after the requested ones."""
        data, ctx = self._data, self._ctx
        answer, listed = data._listing.index(ctx, self._eid, runs)
        for key, series in listed.items():
            data.prefetch.watch(key, ctx, series)
        return answer

    def snapshot(self, series, step, layer=None, pool=None, head=None, part=None):
        """(header, uint8 [layers, heads, query, key]) exactly as stored, or with `pool` the block
        means of each map; `head` (with `layer`): that head only, or its summary with `part`;
        `part="summary_means"`: the block means of every summarized head (answers.snapshot_answer)."""
        data, ctx, eid, run = self._data, self._ctx, self._eid, series.run
        tag, meta, blobs = data._listing.snapshot_series(ctx, eid, series, step)
        data.prefetch.watch((eid, run, tag), ctx, blobs, focus=step, requested=True)
        record = blobs.refs.get(step)
        layer_ids = requested_layers(record is not None, series, step, meta, layer)
        try:
            layers = data._snapshots.read(ctx, blobs, step, layer_ids, meta.layer_shape())
            return snapshot_answer(series, step, layer_ids, layers, meta, pool, head, part)
        except TooLarge:  # a request for too much at once, not a bad record
            raise
        except BlobKeyRefused as e:  # the loader's limit (RustBoard's blob keys), not a bad record
            data._warn_once(("key", eid, run, tag), "TensorBoard cannot read snapshots %r of run %r: %s", tag, run, e)
            raise Unservable(_refused_message(series, tag, e)) from None
        except (FormatError, errors.NotFoundError, ValueError, TypeError, IndexError) as e:
            data._listing.mark_bad(eid, run, tag, step, record)
            data._warn_once(
                ("snap", eid, run, tag, step, record.wall_time),
                "skipped snapshot %r of run %r at step %d: %s",
                tag,
                run,
                step,
                e,
            )
            raise Unavailable(undecodable(series, step, e)) from None

    def stats(self, series):
        """(header, float32 [stats, steps, layers, heads]), with the head types (server/provider/stats.py)."""
        return self._data._stats.stats(self._ctx, self._eid, series)

    def relations(self, run):
        raise _files_only("relations")

    def predictions(self, series):
        raise _files_only("predictions")

    def neurons(self, series, step, layer, head):
        raise _files_only("the neuron view's records")

    def contributions(self, series):
        raise _files_only("the neuron view's records")


def _refused_message(series, tag, error):
    """What to tell the user when the data provider refuses a blob key (RustBoard's keys are JSON
    that cannot carry `"`, `\\` or control characters, escaped or not)."""
    run, probe, kind = series
    if needs_json_escape(run):
        renamed = "".join("_" if needs_json_escape(c) else c for c in run)
        return (
            f"TensorBoard's default data loader (RustBoard) cannot read the snapshots of run {run!r}: "
            f"its directory name holds a character it cannot carry ('\"', '\\', a tab or another "
            f"control character), and the plugin cannot read the run's files itself here (a log "
            f"directory it cannot open, or --logdir_spec). Rename the run directory (e.g. to "
            f"{renamed!r}) or start TensorBoard with --load_fast=false; its statistics and scalars are shown either way"
        )
    if needs_json_escape(tag):
        return (
            f"TensorBoard's default data loader (RustBoard) cannot read the snapshots of probe {probe!r} "
            f"in run {run!r}: they were written by an older tb-attention under the tag {tag!r}, which "
            f"it cannot carry (logs written now use {snapshot_tag(probe, kind)!r}). "
            f"Start TensorBoard with --load_fast=false to see them; statistics are shown either way"
        )
    return f"TensorBoard's data loader refused to read this snapshot: {error}"
