"""What the run directory held before a writer, so that nothing in it disappears without a word.

Before its first record the writer reads the directory once, and warns (once) when what it is about to
write would hide or replace what an earlier run logged there, or when another live writer is logging
to the same directory. A resume (a restart marker or a first record after steps that stay visible)
only logs what it replaces.
"""

import logging
import os
import sys
import typing
import urllib.parse
import warnings


from ..format.metadata import SNAPSHOT_TAG_PREFIX, STATS_TAG_PREFIX, snapshot_tag
from .concurrent_writers import concurrent_writers, this_session_files
from .restart_marker import marker_name

# The writer's log lines keep the logger name that users (and tests) configure.
logger = logging.getLogger(f"{__package__}.summary_writer")

_WRITER_MODULES = {__name__, f"{__package__}.summary_writer"}  # frames a warning is not attributed to


class _Past(typing.NamedTuple):
    """A (probe, kind) as the run directory held it before this writer's first record."""

    first_step: typing.Optional[int]  # its first visible step (None once a restart hid it)
    # layer -> float32 [heads, query, key] at first_step, read from its file when asked (the drift
    # reference of a resumed run; never the whole snapshot in memory)
    first: typing.Optional[typing.Callable]
    tokens: list
    sizes: dict  # step -> (layers, heads)


class RunHistory:
    """One writer's view of its run directory: what earlier writers left visible there, and what this
    writer's records hide of it. The writer calls it before its first record, before each record, around
    a session start, and after each record it wrote."""

    def __init__(self, log_dir, suffix):
        self.log_dir = log_dir
        self._suffix = suffix
        self._previous = None  # read(): (probe, kind) -> _Past, read before the first record
        self._visible = {}  # tag -> {step: event file name, or None for this writer's own records}
        self._history_last = {}  # tag -> last step of an earlier writer's visible records
        self._files = []  # the directory's event file names, in read order
        self._current = set()  # this session's files: written by live writers of this process (concurrent_writers)
        self._hidden_warned = False
        self._resume_logged = set()  # tags whose replaced continuation was logged
        self._size_warned = set()

    def read(self):
        """What the run directory held before this writer's first record, read once (before that record
        is written): per (probe, kind) its first snapshot (a resume continues drift from there), tokens
        and model sizes; per tag the steps and files of its visible records; whether it holds a restart
        marker. Another live writer of the directory is reported here, once."""
        if self._previous is None:
            from ..reading.reader import read_run  # local: the directory is read once per writer

            self._previous = {}
            self._warn_concurrent_writers()
            try:
                run = read_run(self.log_dir) if os.path.isdir(self.log_dir) else None
            except (OSError, ValueError):
                run = None
            if run is None:
                return self._previous
            self._files = [os.path.basename(f) for f in run.files]
            self._current = this_session_files(self.log_dir, self._files)
            for tag, by_step in run.tag_steps().items():
                if by_step and not tag.startswith(STATS_TAG_PREFIX):
                    self._visible[tag] = {s: os.path.basename(path) for s, path in by_step.items()}
                    self._history_last[tag] = max(by_step)
            for name in run.probes:
                p = run.probe(name)
                for kind in p.kinds:
                    steps = p.steps_of(kind)
                    first = _first_layers(p, kind, steps[0]) if steps else None
                    sizes = {s: size for size, at in p.sizes(kind).items() for s in at}
                    self._previous[(name, kind)] = _Past(steps[0] if steps else None, first, p.tokens, sizes)
        return self._previous

    def past(self, probe, kind):
        """The _Past of (probe, kind), or None when the directory did not hold it."""
        return self.read().get((probe, kind))

    def logged_before(self, probe, kind):
        """Steps of (probe, kind) that the run directory held before this writer started (and that
        this writer's restart marker, if any, left visible)."""
        self.read()
        by_step = self._visible.get(snapshot_tag(probe, kind), {})
        return sorted(s for s, source in by_step.items() if source is not None)

    def before_snapshot(self, probe, kind, layers, heads, tokens):
        """Before a snapshot of (probe, kind) is written: warn (once per probe and kind) when the directory
        holds the probe at another model size, and (once per probe) when it holds it with other tokens."""
        past = self.past(probe, kind)
        if past is None or (probe, kind) in self._size_warned:
            return
        from ..reading.probe_log import describe_steps

        other = {}
        for s, size in past.sizes.items():
            if size != (layers, heads):
                other.setdefault(size, []).append(s)
        if other:
            self._size_warned.add((probe, kind))
            held = "; ".join(
                f"{l} layers x {h} heads at {describe_steps(sorted(at))}" for (l, h), at in sorted(other.items())
            )
            _warn(
                f"tb-attention: {self.log_dir} already holds probe {probe!r} ({kind}) at another model size "
                f"({held}); this writer logs it at {layers} layers x {heads} heads. While both sizes are "
                f"there, read_run(...).probe({probe!r}).stats() needs size=(layers, heads). Log each model to "
                f"its own log_dir."
            )
        if past.sizes and past.tokens != tokens and (probe, "tokens") not in self._size_warned:
            self._size_warned.add((probe, "tokens"))
            _warn(
                f"tb-attention: {self.log_dir} already holds probe {probe!r} with other tokens "
                f"({_short(past.tokens)} at {describe_steps(sorted(past.sizes))}); this writer logs it with "
                f"{_short(tokens)}. TensorBoard and read_run keep a probe's first tokens, so its new snapshots "
                f"would be shown with the old ones: use another probe name or its own log_dir."
            )

    def before_record(self, tags, step):
        """Before records of `tags` at `step` are written: warn (once) when they replace or hide an
        earlier writer's records, unless they continue those series (a resume: logged only)."""
        if self._hidden_warned:
            return
        self.read()
        hit = [t for t in tags if self._history_last.get(t, -1) >= step and t not in self._resume_logged]
        if not hit:
            return
        if all(min(self._visible[t]) < step for t in hit):  # later steps of a continued series
            from ..reading.probe_log import describe_steps

            for t in hit:
                self._resume_logged.add(t)
                later = sorted(s for s, source in self._visible[t].items() if s >= step and source)
                logger.info(
                    "tb-attention: %s in %s continues from step %d and replaces what an earlier run "
                    "logged there from that step on (%s), as a resume from a checkpoint does",
                    _series_name(t),
                    self.log_dir,
                    step,
                    describe_steps(later),
                )
            return
        series, files = self._describe_hidden(step)
        self._hidden_warned = True
        _warn(
            f"tb-attention: {self.log_dir} already holds records at the steps this writer now logs, from "
            f"step {step} on: {series} (in {files}). A step's latest record wins, and TensorBoard's "
            f"scalar charts hide a tag's later steps once an earlier step is logged again, so the earlier "
            f"run's records are replaced or hidden. To keep both runs, give each run its own log_dir (e.g. "
            f"a sub-directory per run), or move the old event files away first."
        )

    def after_record(self, tags, step):
        """Records of `tags` at `step` were written: they are this writer's now."""
        for tag in tags:
            self._visible.setdefault(tag, {})[step] = None

    def before_session_start(self, step):
        """Where a restart marker at `step` goes (restart_marker.py): -> (file name, names of the files
        whose records it hides), or None when no earlier session left a record at steps >= step (nothing
        to hide: no marker, so no reader drops anything of this session). Logs what a resume replaces;
        warns (once) when the marker hides everything an earlier run left visible, and when an earlier
        file cannot be hidden. Raises ValueError after this writer's own records at steps >= step."""
        self.read()
        own = sorted({s for s, source in self._records() if source is None})
        if own and own[-1] >= step:
            from ..reading.probe_log import describe_steps

            raise ValueError(
                f"add_session_start({step}) comes after this writer's records at "
                f"{describe_steps([s for s in own if s >= step])}: mark a restart before the first record "
                f"of the writer that resumes (a new AttentionSummaryWriter)"
            )
        earlier = [n for n in self._files if n not in self._current]
        if not any(s >= step and source in earlier for s, source in self._records()):
            return None
        name, stays = marker_name(self._files, self._current, step)
        hides = set() if name is None else set(earlier) - set(stays)
        self._report_restart(step, hides, stays)
        return None if name is None else (name, hides)

    def _report_restart(self, step, hides, stays):
        """The log line of a resume, or the warning of a restart that hides a whole run or leaves some of it."""
        hidden = any(s >= step and source in hides for s, source in self._records())
        kept = any(s < step and source in hides for s, source in self._records())
        if hidden and kept:
            series, files = self._describe_hidden(step, hides)
            logger.info(
                "tb-attention: restart at step %d in %s: an earlier run's continuation from that "
                "step on is replaced (%s; in %s), as a resume from a checkpoint does",
                step,
                self.log_dir,
                series,
                files,
            )
        elif hidden and not self._hidden_warned:
            series, files = self._describe_hidden(step, hides)
            self._hidden_warned = True
            _warn(
                f"tb-attention: {self.log_dir} already holds a run, and this run's start at step {step} "
                f"hides everything it logged, in TensorBoard and read_run alike: {series} (in {files}). "
                f"To keep both runs, give each run its own log_dir (e.g. a sub-directory per run), or "
                f"move the old event files away first."
            )
        series, files = self._describe_hidden(step, set(stays))
        if series:
            _warn(
                f"tb-attention: the restart at step {step} in {self.log_dir} cannot hide what {files} logged "
                f"from that step on ({series}): {'its name sorts' if len(stays) == 1 else 'their names sort'} "
                f"after this session's {min(self._current)}, whose records a restart marker would hide too. "
                f"Readers show both runs' records at those steps; move those files away to see this run alone."
            )

    def _records(self):
        """(step, file name or None for this writer's) of every visible record."""
        return ((s, source) for by_step in self._visible.values() for s, source in by_step.items())

    def after_session_start(self, step, hides):
        """A marker at `step` was written: the records of files `hides` at steps >= step are gone."""
        for tag, by_step in self._visible.items():
            for s in [s for s, source in by_step.items() if s >= step and source in hides]:
                del by_step[s]
            earlier = [s for s, source in by_step.items() if source is not None]
            if earlier:
                self._history_last[tag] = max(earlier)
            else:
                self._history_last.pop(tag, None)
        for key, past in self._previous.items():
            sizes = {s: size for s, size in past.sizes.items() if s < step}
            if past.first_step is not None and past.first_step >= step:
                past = past._replace(first_step=None, first=None)
            self._previous[key] = past._replace(sizes=sizes)

    def _describe_hidden(self, from_step, files=None):
        """'probe 'p' (self): steps 0..40 (5 steps); ...' and the files they are in, for records
        visible at steps >= from_step: earlier writers' records, or those of `files` (names)."""
        from ..reading.probe_log import describe_steps

        def counted(source):
            return source is not None if files is None else source in files

        series, names = [], set()
        for tag in sorted(self._visible):
            steps = sorted(s for s, source in self._visible[tag].items() if s >= from_step and counted(source))
            if steps:
                series.append(f"{_series_name(tag)}: {describe_steps(steps)}")
                names.update(self._visible[tag][s] for s in steps)
        if len(series) > 8:
            series = series[:8] + [f"and {len(series) - 8} more series"]
        return "; ".join(series), ", ".join(sorted(names))

    def _warn_concurrent_writers(self):
        """Warn when another writer logs attention to this directory right now (concurrent_writers.py)."""
        found = concurrent_writers(self.log_dir, self._suffix)
        if found:
            _warn(
                f"tb-attention: another writer is logging attention to {self.log_dir} right now: "
                f"{'; '.join(found)}. Two writers in one run directory replace and hide each other's records "
                f"at the same steps. Give each process or run its own log_dir (e.g. a sub-directory per run); "
                f"under distributed training only rank 0 should write."
            )


def _warn(message):
    """A UserWarning attributed to the first caller outside the writer's modules (user code or the
    callback)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__") in _WRITER_MODULES:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _short(tokens, n=8):
    return repr(tokens) if len(tokens) <= n else repr(tokens[:n])[:-1] + f", ... ({len(tokens)} tokens)]"


def _series_name(tag):
    if tag.startswith(SNAPSHOT_TAG_PREFIX):
        probe, _, kind = tag[len(SNAPSHOT_TAG_PREFIX) :].rpartition("/")
        return f"probe {urllib.parse.unquote(probe, errors='surrogatepass')!r} ({kind})"  # tag_name
    return f"scalar {tag!r}"


def _first_layers(probe_log, kind, step):
    """layer -> the layer's float attention at `step` (read then), or None when its first layer
    cannot be read."""
    try:
        probe_log.attention(step, kind=kind, layer=0)
    except (KeyError, IndexError, ValueError):  # FormatError is a ValueError
        return None
    return lambda layer: probe_log.attention(step, kind=kind, layer=layer)
