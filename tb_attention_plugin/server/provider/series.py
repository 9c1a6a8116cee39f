"""The plugin's listing of attention tags and of the blob references of each snapshot series.

- A run's tags are read from the provider's listing; metadata that is not ours is skipped (logged
  once), and a probe listed under both an older tag spelling and the current one is shown under the
  current one (`run_tags`, `lookup`: also used for statistics tags).
- Blob references of each snapshot tag are cached per (experiment, run, tag) and keyed on what the
  provider lists for the tag (max step, max wall time, max length): new steps of a live run show up
  at once, and an unchanged run costs one listing call. The steps that failed to decode are
  remembered (bounded) and left out of the index.
This module knows nothing of the read-ahead: server/provider/data.py hands it the series read here,
and the read-ahead's poll calls `refresh_run`, which only answers what changed.
"""

from typing import NamedTuple

from tensorboard.data import provider

from ...format.metadata import FORMAT_VERSION, PLUGIN_NAME, SNAPSHOT_TAG_PREFIX, STATS_TAG_PREFIX
from ...format.plugin_metadata import ProbeMetadata
from ...reading.lru_cache import LRUCache
from ..answers import Kind, choose_tags, index_runs, missing
from ..errors import DOWNSAMPLE_ALL, PROVIDER_DECODE_ERRORS, Unavailable


class BlobEntry(NamedTuple):
    """What a stored or decoded layer is cached under: a record rewritten after a resume keeps its
    blob key (run, tag, step, index) but has another wall time, so it is another entry."""

    key: str
    wall_time: float


class Record(NamedTuple):
    """The latest record of a snapshot tag at one step: its wall time and blob keys (header, layers)."""

    wall_time: float
    keys: tuple

    def entry(self, layer):
        return BlobEntry(self.keys[1 + layer], self.wall_time)

    def layer_entries(self):
        return [BlobEntry(key, self.wall_time) for key in self.keys[1:]]


class BlobSeries:
    """Blob keys of one snapshot tag: step -> Record, latest record wins; `version` is what the
    provider listed for the tag when it was read."""

    __slots__ = ("version", "refs", "steps")

    def __init__(self, version, refs):
        self.version = version
        self.refs = refs
        self.steps = sorted(refs)


class Tag(NamedTuple):
    """One (probe, kind) of a run: its tag, its parsed metadata, and a series (the provider's time
    series in a listing; a BlobSeries of blob references from `snapshot_series`)."""

    tag: str
    meta: ProbeMetadata
    series: object


def run_tags(listing, warn, eid, run):
    """{(probe, kind): Tag} of one run's listing (snapshot or statistics tags); bad metadata skipped."""
    tagged = []
    for tag, series in listing.items():
        blobs = isinstance(series, provider.BlobSequenceTimeSeries)
        if tag.startswith(SNAPSHOT_TAG_PREFIX if blobs else STATS_TAG_PREFIX):
            tagged.append((tag, series.plugin_content, series))
    return {key: Tag(*found) for key, found in choose_tags(tagged, warn, (eid, run)).items()}


def lookup(listing, warn, eid, series, what):
    """The Tag of a series (answers.Series) in a listing {run: {tag: time series}}; Unavailable naming
    what exists."""
    run = series.run
    if run not in listing:
        raise Unavailable(f"run {run!r} has no attention {what}; ./index lists the runs that do")
    tags = run_tags(listing[run], warn, eid, run)
    if series[1:] in tags:
        return tags[series[1:]]
    raise Unavailable(missing(series, tags, what))


class SeriesListing:
    """Snapshot series of the runs, read through the data provider and cached (see the module doc)."""

    def __init__(self, data_provider, warn):
        self._provider = data_provider
        self._warn = warn
        self.series = LRUCache(256, sizeof=lambda s: 64 * len(s.refs))  # (eid, run, tag) -> BlobSeries
        self._tag_of = LRUCache(1024)  # (eid, run, probe, kind) -> the Tag of a snapshot tag
        self._bad_steps = LRUCache(4096)  # (eid, run, tag, step, wall time) of records that failed

    def list_run(self, ctx, eid, run):
        """The provider's snapshot listing of one run: {run: {tag: time series}}."""
        return self._provider.list_blob_sequences(
            ctx, experiment_id=eid, plugin_name=PLUGIN_NAME, run_tag_filter=provider.RunTagFilter(runs=[run])
        )

    @staticmethod
    def _version(ts):
        return (ts.max_step, ts.max_wall_time, getattr(ts, "max_length", None))

    def read(self, ctx, eid, wanted):
        """wanted: {(run, tag): (meta, time series)} -> {(run, tag): BlobSeries}, reading stale ones."""
        out, stale = {}, {}
        for (run, tag), (meta, ts) in wanted.items():
            cached = self.series.get((eid, run, tag))
            if cached is not None and cached.version == self._version(ts):
                out[(run, tag)] = cached
            else:
                stale[(run, tag)] = (meta, ts)
        if stale:
            data = self._read_blob_sequences(ctx, eid, stale)
            for (run, tag), (meta, ts) in stale.items():
                records = self._records(data.get(run, {}).get(tag, []), eid, run, tag, meta)
                series = BlobSeries(self._version(ts), records)
                self.series.put((eid, run, tag), series)
                out[(run, tag)] = series
        return out

    def _records(self, data, eid, run, tag, meta):
        """{step: Record} of a tag's blob sequences, in data order (the latest wins); a record whose
        number of blobs does not match the metadata's layers is skipped (and hides the earlier one)."""
        refs = {}
        for datum in data:
            keys = tuple(ref.blob_key for ref in datum.values)
            if len(keys) != meta.layers + 1:
                self._warn(
                    ("len", eid, run, tag, datum.step),
                    "skipped snapshot %r of run %r at step %d: %d blobs for %d layers",
                    tag,
                    run,
                    datum.step,
                    len(keys),
                    meta.layers,
                )
                refs.pop(datum.step, None)
                continue
            refs[datum.step] = Record(datum.wall_time, keys)
        return refs

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
        except PROVIDER_DECODE_ERRORS:
            pass
        data = {}
        for run, tag in stale:
            try:
                data.setdefault(run, {}).update(read([run], [tag]).get(run, {}))
            except PROVIDER_DECODE_ERRORS as e:
                self._warn(
                    ("read", eid, run, tag),
                    "TensorBoard cannot read snapshots %r of run %r (a corrupted record?): %s",
                    tag,
                    run,
                    e,
                )
        return data

    def refresh_run(self, ctx, eid, run):
        """Re-list one run's snapshot series: new versions replace the cached ones. -> ({(eid, run,
        tag): BlobSeries} listed now, [(eid, run, tag) of the series gone from the listing, forgotten])."""
        tags = run_tags(self.list_run(ctx, eid, run).get(run, {}), self._warn, eid, run)
        found = self.read(ctx, eid, {(run, t.tag): (t.meta, t.series) for t in tags.values()})
        listed = {t.tag for t in tags.values()}
        gone = []
        for probe_kind, known in list(self._tag_of.items()):
            if probe_kind[:2] == (eid, run) and known.tag not in listed:
                self._tag_of.pop(probe_kind)
                self.series.pop((eid, run, known.tag))
                gone.append((eid, run, known.tag))
        return {(eid, run, tag): series for (run, tag), series in found.items()}, gone

    def good_steps(self, eid, run, tag, series):
        """The steps of a series, less those whose record failed to decode."""
        return [s for s in series.steps if self._bad_steps.get((eid, run, tag, s, series.refs[s].wall_time)) is None]

    def mark_bad(self, eid, run, tag, step, record):
        self._bad_steps.put((eid, run, tag, step, record.wall_time), True)

    def snapshot_series(self, ctx, eid, series, step):
        """Tag(tag, meta, BlobSeries) of the snapshot tag of a series (answers.Series). A step already
        known needs no listing call (one RustBoard round trip less): its blob keys name (run, tag,
        step, index), so reading them returns the current record even after a resume rewrote it;
        ./index refreshes the series."""
        run = series.run
        known = self._tag_of.get((eid, *series))
        if known is not None:
            blobs = self.series.get((eid, run, known.tag))
            if blobs is not None and step in blobs.refs:
                return Tag(known.tag, known.meta, blobs)
        found = lookup(self.list_run(ctx, eid, run), self._warn, eid, series, "snapshots")
        blobs = self.read(ctx, eid, {(run, found.tag): (found.meta, found.series)})[(run, found.tag)]
        self._tag_of.put((eid, *series), found)
        return Tag(found.tag, found.meta, blobs)

    def index(self, ctx, eid, listing):
        """-> (the `index` route's answer: every run with a probe that has good steps (docs/http-api.md),
        {(eid, run, tag): BlobSeries} of every snapshot series listed), from `listing`: the provider's
        listing of the plugin's blob sequences {run: {tag: time series}}."""
        per_run = {run: run_tags(tags, self._warn, eid, run) for run, tags in listing.items()}
        wanted = {(run, t.tag): (t.meta, t.series) for run, tags in per_run.items() for t in tags.values()}
        series = self.read(ctx, eid, wanted)
        found = {}
        for run, tags in per_run.items():
            probes = found.setdefault(run, {})
            for (probe, kind), t in tags.items():
                steps = self.good_steps(eid, run, t.tag, series[(run, t.tag)])
                if steps:
                    probes.setdefault(probe, {})[kind] = Kind(t.meta, steps)
        runs = index_runs(found)
        listed = {(eid, run, tag): s for (run, tag), s in series.items()}
        return {"version": FORMAT_VERSION, "runs": runs}, listed
