"""What the plugin's routes read: the runs' own event files, or TensorBoard's data provider.

`AttentionData` hands each route one of two sources, which implement the same methods with the same
signatures over a `Series` (run, probe, kind) (answers.py): `index(runs)`, `snapshot(series, step,
layer, pool)`, `stats(series)`, `relations(run)`, `predictions(series)`, `neurons(series, step, layer, head)`,
`contributions(series)`:
- `FileData` (server/files.py), whenever the log directory is one the plugin can read (local, or a
  URL TensorBoard's filesystem layer reads): every route's data but the scalars comes from the
  runs' event files, read by offset, and TensorBoard's loaders keep only one sample of the plugin's data
  (server/entry.py), so TensorBoard's memory does not grow with the attention logs; the provider
  only lists the runs;
- `ProviderData` (server/provider/data.py) otherwise (e.g. `gs://` without gcsfs, or `--logdir_spec`):
  index, snapshots and statistics through the data provider, whose loaders then keep every record,
  bound to each request's context (`ProviderData.bound(ctx, eid)`); the data only the event files
  hold (relations, predictions, the neuron view's records) answer Unservable (400, what to do);
- `scalars` always come from the provider (server/scalars.py).
Corrupted or inconsistent records raise `Unavailable` (-> 404) and are logged once (server/errors.py);
the steps that failed to decode are remembered (bounded) and left out of the index.
"""

from ..format.metadata import PLUGIN_NAME
from .answers import Series
from .errors import Unavailable, Unservable, WarnOnce
from .files import STATS_CACHE_BYTES, FileData
from .provider.data import ProviderData
from .scalars import read_scalars
from ..reading.storage import storage_for

__all__ = ["AttentionData", "Series", "Unavailable", "Unservable"]


class AttentionData:
    """Chooses the source (as the module doc says) and hands it to the routes: `source_for(ctx, eid,
    run)` checks the run and returns the source of that request; both sources answer the same
    methods with the same signatures over a `Series` (run, probe, kind)."""

    def __init__(
        self,
        data_provider,
        *,
        logdir=None,
        read_files=None,
        decoded_cache_bytes=64 << 20,
        stats_cache_bytes=None,
        **provider_options,
    ):
        """read_files: True/False, or None = whether `logdir` is a directory the plugin can read.
        provider_options: ProviderData's read-ahead options (blob_cache_bytes, prefetch_workers, poll_s)."""
        self._provider = data_provider
        warn = WarnOnce()  # log each problem once, not at every poll of the index
        storage = storage_for(logdir) if read_files is not False else None
        if storage is not None and (read_files or storage.is_dir(logdir)):
            self.source = FileData(
                storage,
                logdir,
                warn,
                decoded_cache_bytes=decoded_cache_bytes,
                stats_cache_bytes=stats_cache_bytes or STATS_CACHE_BYTES,
            )
            self._bound = lambda ctx, eid: self.source  # the files need no request context
        else:
            self.source = ProviderData(
                data_provider,
                warn,
                decoded_cache_bytes=decoded_cache_bytes,
                stats_cache_bytes=stats_cache_bytes or 32 << 20,
                **provider_options,
            )
            self._bound = self.source.bound

    @property
    def reads_files(self):
        return isinstance(self.source, FileData)

    def index(self, ctx, eid):
        """The `index` route's answer: the runs TensorBoard lists with the plugin's data, by the source."""
        runs = self._provider.list_blob_sequences(ctx, experiment_id=eid, plugin_name=PLUGIN_NAME)
        return self._bound(ctx, eid).index(runs)

    def source_for(self, ctx, eid, run):
        """The source answering a request about `run` (FileData, or ProviderData bound to `ctx` and
        `eid`), once `run` is a run TensorBoard lists (Unavailable, 404, otherwise)."""
        self._listed(ctx, eid, run)
        return self._bound(ctx, eid)

    def _listed(self, ctx, eid, run):
        """`run` if TensorBoard lists a run of exactly that name, else Unavailable (404): a name that only
        leads to a run's directory ("run1/", "run1\\x00") is not that run."""
        if run not in {r.run_name for r in self._provider.list_runs(ctx, experiment_id=eid)}:
            raise Unavailable(f"unknown run {run!r}; ./index lists the runs with attention logs")
        return run

    def scalars(self, ctx, eid, run):
        """-> ({tag: {"steps", "values"}}, [marks]) of a run (server/scalars.py), always from the provider."""
        return read_scalars(self._provider, ctx, eid, self._listed(ctx, eid, run))
