"""The writer's event file: opened at its first record, abandoned on an I/O error.

A failing disk never stops training: the first I/O error is reported once as a warning, the broken
file is left as it was (everything written before stays readable), and the next record opens a new
file, which needs each tag's metadata and keyframes again: `tags` is what the current file holds
metadata for, and `generation` counts the abandoned files (a delta must be written to the file of
its reference).
"""

import os
import warnings

from ..format.event_file import EventFileWriter
from .concurrent_writers import file_closed, file_opened


class RunFile:
    def __init__(self, log_dir, suffix, *, before_open, on_abandon):
        """`before_open()` runs before a file is first opened; `on_abandon()` when one is abandoned."""
        self.log_dir, self._suffix = log_dir, suffix
        self._before_open, self._on_abandon = before_open, on_abandon
        self._file = None
        self._warned = False
        self.tags = set()  # what the current file holds metadata for
        self.generation = 0

    @property
    def path(self):
        return None if self._file is None else self._file.path

    def write(self, event):
        """Append and flush one event; False if it could not be written."""
        try:
            if self._file is None:
                self._before_open()
                self._file = EventFileWriter(self.log_dir, self._suffix)
                self.tags.clear()
                file_opened(self._file)
            self._file.write(event)
            self._file.flush()
            return True
        except OSError as e:
            self.abandon(e)
            return False

    def check_removed(self):
        """A run directory removed under us: open writes would vanish silently. Report it now, before
        the next event is encoded, so that it starts a fresh file (keyframes and metadata included)."""
        if self._file is not None and not os.path.exists(self._file.path):
            self.abandon(FileNotFoundError(f"{self._file.path} was removed"))

    def abandon(self, error):
        if not self._warned:
            warnings.warn(
                f"tb-attention could not write to {self.log_dir}: {error}. Training goes on; "
                f"what was written before stays readable, and writing resumes in a new file "
                f"if the problem goes away.",
                RuntimeWarning,
                stacklevel=3,
            )
            self._warned = True
        broken, self._file = self._file, None
        if broken is not None:
            file_closed(broken)
            try:
                broken.close()
            except OSError:
                pass
        # Later keyframes must be in the new file: a delta against a lost record is unreadable; and
        # the new file needs each tag's metadata again (decided before the file is opened).
        self.generation += 1
        self.tags.clear()
        self._on_abandon()

    def flush(self):
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as e:
                self.abandon(e)

    def close(self):
        if self._file is not None:
            file_closed(self._file)
            try:
                self._file.close()
            except OSError as e:
                self.abandon(e)
            self._file = None
