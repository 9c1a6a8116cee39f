"""What the plugin's routes read: the runs' own event files, or TensorBoard's data provider.

`AttentionData` answers each route from one of two sources:
- `FileData` (server/files.py), whenever the log directory is one the plugin can read (local, or a
  URL TensorBoard's filesystem layer reads): `index`, `snapshot` and `stats` come from the runs'
  event files, read by offset, and TensorBoard's loaders keep only one sample of the plugin's data
  (server/entry.py), so TensorBoard's memory does not grow with the attention logs; the provider
  only lists the runs;
- `ProviderData` (server/provider/data.py) otherwise (e.g. `gs://` without gcsfs, or `--logdir_spec`):
  everything through the data provider, whose loaders then keep every record;
- `scalars` always come from the provider (server/scalars.py).
Corrupted or inconsistent records raise `Unavailable` (-> 404) and are logged once (server/errors.py);
the steps that failed to decode are remembered (bounded) and left out of the index.
"""

from ..format.metadata import PLUGIN_NAME
from .answers import similarity_answer
from .errors import Unavailable, Unservable, WarnOnce
from .files import STATS_CACHE_BYTES, FileData
from .provider.data import ProviderData
from .scalars import read_scalars
from ..reading.storage import storage_for

__all__ = ["AttentionData", "Unavailable", "Unservable"]


class AttentionData:
    """One method per route; index, snapshot and stats from the runs' files (FileData) or the data
    provider (ProviderData), as the module doc says."""

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
        else:
            self.source = ProviderData(
                data_provider,
                warn,
                decoded_cache_bytes=decoded_cache_bytes,
                stats_cache_bytes=stats_cache_bytes or 32 << 20,
                **provider_options,
            )

    @property
    def reads_files(self):
        return isinstance(self.source, FileData)

    def index(self, ctx, eid):
        if self.reads_files:
            runs = self._provider.list_blob_sequences(ctx, experiment_id=eid, plugin_name=PLUGIN_NAME)
            return self.source.index(sorted(runs))
        return self.source.index(ctx, eid)

    def _listed(self, ctx, eid, run):
        """`run` if TensorBoard lists a run of exactly that name, else Unavailable (404): a name that only
        leads to a run's directory ("run1/", "run1\\x00") is not that run."""
        if run not in {r.run_name for r in self._provider.list_runs(ctx, experiment_id=eid)}:
            raise Unavailable(f"unknown run {run!r}; ./index lists the runs with attention logs")
        return run

    def stats(self, ctx, eid, run, probe, kind):
        """-> (header dict, float32 [stats, steps, layers, heads])."""
        run = self._listed(ctx, eid, run)
        if self.reads_files:
            return self.source.stats(run, probe, kind)
        return self.source.stats(ctx, eid, run, probe, kind)

    def _files(self, what):
        """The event-file source, for data only it reads; Unservable (400, what to do) otherwise."""
        if not self.reads_files:
            raise Unservable(
                f"{what} are read from the runs' event files, which the plugin cannot open here (a log "
                f"directory it cannot read, or --logdir_spec): start TensorBoard with a local --logdir"
            )
        return self.source

    def relations(self, ctx, eid, run):
        """-> (header, float32 [relations, 2, steps, layers, heads]): the run's labelled relations."""
        return self._files("relations").relations(self._listed(ctx, eid, run))

    def predictions(self, ctx, eid, run, probe, kind):
        """-> the model's predictions on a probe at every step (JSON)."""
        return self._files("predictions").predictions(self._listed(ctx, eid, run), probe, kind)

    def neurons(self, ctx, eid, run, probe, kind, step, layer, head):
        """-> (header, float32 data): one captured head's query and key vectors at a step."""
        run = self._listed(ctx, eid, run)
        return self._files("the neuron view's records").neurons(run, probe, kind, step, layer, head)

    def contributions(self, ctx, eid, run, probe, kind):
        """-> per neuron step and captured head, mass by attention weight and by contribution (JSON)."""
        return self._files("the neuron view's records").contributions(self._listed(ctx, eid, run), probe, kind)

    def similarity(self, ctx, eid, run, probe, kind, step):
        """-> (header, float32 [layers, heads, heads]): how alike the heads of each layer attend at a
        step (statistics.head_distances), from the snapshot as stored."""
        return similarity_answer(*self.snapshot(ctx, eid, run, probe, kind, step))

    def scalars(self, ctx, eid, run):
        """-> ({tag: {"steps", "values"}}, [marks]) of a run (server/scalars.py)."""
        return read_scalars(self._provider, ctx, eid, self._listed(ctx, eid, run))

    def snapshot(self, ctx, eid, run, probe, kind, step, layer=None):
        """-> (header dict, uint8 [layers, heads, query, key]) exactly as stored."""
        run = self._listed(ctx, eid, run)
        if self.reads_files:
            return self.source.snapshot(run, probe, kind, step, layer)
        return self.source.snapshot(ctx, eid, run, probe, kind, step, layer)
