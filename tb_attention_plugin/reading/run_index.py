"""A run directory's records as readers see them: the one home of the rules that decide which record
is shown at each step, used by `read_run` (reader.py) and by the plugin (server/files.py).

- Files are read in name order (event file names start with the time they were created).
- A tag's metadata comes with its first value in each file; a value whose file has not given the
  tag our metadata yet is not ours.
- The latest record of a (tag, step) wins (a resume rewrites steps).
- A restart (a SessionLog START after the run's first one) drops what was logged before it at steps
  >= its step, as TensorBoard does.
The index is incremental: `refresh` scans only what was appended to each file (event_scan.py) and
rebuilds the view when something changed.
"""

import logging
from typing import NamedTuple

from ..format.metadata import FormatError
from ..format.plugin_metadata import ProbeMetadata
from .event_scan import FileScan, SessionStart

logger = logging.getLogger(__name__)


class Entry(NamedTuple):
    """The record shown for one (tag, step)."""

    ref: object  # event_scan.ValueRef
    path: str  # its event file
    generation: int  # the FileScan generation it was scanned in (a rewritten file voids it)
    meta: ProbeMetadata  # the metadata in force for it (its file's, for its tag)

    @property
    def key(self):
        """What a cache of this record's contents is keyed by."""
        return (self.path, self.generation, self.ref.offset, self.ref.index)


class RunView(NamedTuple):
    files: list  # event file paths, in read order
    tags: dict  # attention tag -> {step: Entry}
    scalars: dict  # scalar tag -> {step: value}
    where: dict  # tag (attention or scalar) -> {step: index in files}
    session_starts: list  # steps of the SessionLog START events, in read order


def build_view(files, scans, accept=None, warn=None):
    """The view of scanned files (paths in read order, FileScan each). accept(entry) -> bool may
    refuse a record (then the earlier one stays shown); warn(key, message, *args) logs once."""
    warn = warn or (lambda _key, message, *args: logger.warning("tb-attention: " + message, *args))
    view = RunView(list(files), {}, {}, {}, [])
    parsed = {}  # metadata content -> parsed metadata (or the error)
    started = False
    for i, path in enumerate(files):
        scan = scans[path]
        file_meta = {}
        for item in scan.items:
            if isinstance(item, SessionStart):
                if started:
                    _purge(view, item.step)
                started = True
                view.session_starts.append(item.step)
                continue
            if item.simple_value is not None:
                view.scalars.setdefault(item.tag, {})[item.step] = item.simple_value
                view.where.setdefault(item.tag, {})[item.step] = i
                continue
            if item.content is not None:
                file_meta[item.tag] = item.content
            content = file_meta.get(item.tag)
            if content is None:
                continue
            meta = parsed.get(content)
            if meta is None:
                try:
                    meta = ProbeMetadata.from_json(content)
                except (FormatError, KeyError, TypeError, ValueError) as e:
                    meta = e
                parsed[content] = meta
            if isinstance(meta, Exception):
                warn(("meta", path, item.tag), "skipped record %r at step %d: %s", item.tag, item.step, meta)
                continue
            entry = Entry(item, path, scan.generation, meta)
            if accept is not None and not accept(entry):
                continue
            view.tags.setdefault(item.tag, {})[item.step] = entry
            view.where.setdefault(item.tag, {})[item.step] = i
    return view


def _purge(view, step):
    for series in list(view.tags.values()) + list(view.scalars.values()) + list(view.where.values()):
        for s in [s for s in series if s >= step]:
            del series[s]


class RunIndex:
    """The incremental index of one run directory's event files (see the module doc)."""

    def __init__(self, storage, run_dir, *, accept=None, warn=None, scalars=True):
        self.storage, self.run_dir, self._scalars = storage, run_dir, scalars
        self._accept, self._warn = accept, warn
        self._scans = {}  # path -> FileScan
        self.view = None

    def refresh(self):
        """Scan what changed; -> whether the view changed."""
        try:
            files = self.storage.event_files(self.run_dir)
        except OSError as e:
            logger.warning("tb-attention: cannot list %s: %s", self.run_dir, e)
            files = list(self._scans)
        changed = set(files) != set(self._scans)
        self._scans = {path: self._scans.get(path) or FileScan(self.storage, path, self._scalars) for path in files}
        for path in files:
            changed = self._scans[path].update() or changed
        if changed or self.view is None:
            self.view = build_view(files, self._scans, self._accept, self._warn)
        return changed
