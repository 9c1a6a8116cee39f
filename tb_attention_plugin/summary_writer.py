"""Framework-agnostic writer: numpy attention in, TensorBoard event records out.

The Trainer callback uses it, and so can a plain PyTorch loop or a Lightning callback:

    w = AttentionSummaryWriter("logs/run1")
    w.add_probe("cat", tokens=["[CLS]", "the", "cat", "[SEP]"], special=[1, 0, 0, 1])
    w.add_attention(step, "cat", attentions)         # [layers, heads, query, key] per kind
    w.add_scalar("train/loss", loss, step)
    w.close()

A failing disk never stops training: the first I/O error is reported once as a warning, the broken
file is left as it was (everything written before stays readable), and later writes go to a new file.

Nothing already in the run directory disappears without a word: before its first record the writer
reads the directory once, and warns (once) when what it is about to write would hide or replace what an
earlier run logged there, or when another live writer is logging to the same directory. A resume (a
restart marker or a first record after steps that stay visible) only logs what it replaces.
"""
import logging
import math
import numbers
import operator
import os
import re
import socket
import sys
import time
import typing
import urllib.parse
import warnings
import weakref

import numpy as np

from tensorboard.compat.proto import event_pb2, summary_pb2

from . import format as fmt
from .event_file import EventFileWriter
from .quantize import quantize
from .statistics import ProbeTemplates, head_statistics

logger = logging.getLogger(__name__)

# A new keyframe is written once a delta is this large relative to the chain's keyframe (the head
# moved a lot since the last snapshot), or when the chain reaches format.MAX_CHAIN blobs.
KEYFRAME_WHEN_DELTA_EXCEEDS = 0.7

# A query row may sum to at most 1 + this (one quantization level; a softmax row rounded to bfloat16
# stays within 2**-8 of 1, measured up to 0.0031). Then every weight is stored within 1/255; a larger
# sum is not a row of attention weights (a transposed [key, query] map, heads or layers summed up) and
# is refused.
ROW_SUM_TOLERANCE = 1.0 / 255

# Another host's .attention file in the run directory modified this recently counts as being written
# now (on this host the writing process is looked up by its pid).
RECENT_WRITE_SECONDS = 30.0

_INT64_MAX = (1 << 63) - 1
# event_file.new_event_file_name: events.out.tfevents.<time>.<host>.<pid>.<n><suffix> (host may hold dots)
_EVENT_FILE_NAME = re.compile(r"^events\.out\.tfevents\.\d+\.(?P<host>.+)\.(?P<pid>\d+)\.\d{6}(?P<suffix>.*)$")
_OPEN_WRITERS = weakref.WeakSet()  # writers of this process that hold a file open


class _Past(typing.NamedTuple):
    """A (probe, kind) as the run directory held it before this writer's first record."""
    first_step: typing.Optional[int]     # its first visible step (None once a restart hid it)
    first: typing.Optional[np.ndarray]   # float32 [L, H, Q, K] at first_step, the drift reference
    tokens: list
    sizes: dict                          # step -> (layers, heads)


class _LastLayer(typing.NamedTuple):
    step: int
    q: np.ndarray          # uint8 [H, Q, K] as stored
    chain: int             # blobs in its chain, keyframe included
    keyframe_size: int     # compressed size of the chain's keyframe


def _warn(message):
    """A UserWarning attributed to the first caller outside this module (user code or the callback)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _check_step(step):
    """A Python or numpy integer (anything with __index__, bools excepted) in [0, 2**63 - 1]."""
    if isinstance(step, (bool, np.bool_)):
        raise TypeError(f"step must be an integer, got the bool {step!r}")
    try:
        value = operator.index(step)
    except TypeError:
        raise TypeError(f"step must be an integer (a Python or numpy int), got {type(step).__name__} "
                        f"{step!r}") from None
    if not 0 <= value <= _INT64_MAX:
        raise ValueError(f"step must be between 0 and 2**63 - 1, got {value}")
    return value


def _where(info, kind, layer, head, row):
    side = info[fmt.KIND_SIDES[kind][0]]
    return f"layer {layer}, head {head}, query row {row} ({side[row]!r})"


def _pid_holds_open(pid, path):
    """True / False whether process `pid` of this host has `path` open; None when it cannot be told."""
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except FileNotFoundError:
        return False if os.path.isdir("/proc/self/fd") else None  # no such process (or no /proc)
    except OSError:
        return None  # another user's process
    target = os.path.realpath(path)
    for fd in fds:
        try:
            if os.path.realpath(os.path.join(fd_dir, fd)) == target:
                return True
        except OSError:
            continue
    return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _short(tokens, n=8):
    return repr(tokens) if len(tokens) <= n else repr(tokens[:n])[:-1] + f", ... ({len(tokens)} tokens)]"


def _series_name(tag):
    if tag.startswith(fmt.SNAPSHOT_TAG_PREFIX):
        probe, _, kind = tag[len(fmt.SNAPSHOT_TAG_PREFIX):].rpartition("/")
        return f"probe {urllib.parse.unquote(probe, errors='surrogatepass')!r} ({kind})"  # fmt.tag_name
    return f"scalar {tag!r}"


def _as_mask(values, n, what):
    if values is None:
        return [False] * n
    values = [bool(v) for v in values]
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries but the probe has {n} tokens")
    return values


class AttentionSummaryWriter:
    """Writes attention snapshots, per-head statistics, scalars and hparams into one run directory."""

    def __init__(self, log_dir, *, filename_suffix=".attention"):
        self.log_dir = str(log_dir)
        self._suffix = filename_suffix
        self._file = None
        self._io_warned = False
        self._probes = {}
        self._last_layers = {}  # (probe, kind, layer) -> _LastLayer: the reference of the next delta
        self._references = {}  # (probe, kind) -> float [L, H, Q, K] of the first snapshot, for drift
        self._templates = {}   # (probe, kind, causal) -> ProbeTemplates
        self._tags_in_file = set()  # (probe, kind) whose metadata the current file already holds
        self._closed = False
        self._previous = None  # _history(): (probe, kind) -> _Past, read before the first record
        self._visible = {}     # tag -> {step: event file name, or None for this writer's own records}
        self._history_last = {}  # tag -> last step of an earlier writer's visible records
        self._has_start = False  # the directory (or this writer) holds a SessionLog START
        self._sizes = {}       # (probe, kind) -> (layers, heads, first step) of this writer's snapshots
        self._hidden_warned = False
        self._resume_logged = set()  # tags whose replaced continuation was logged
        self._size_warned = set()

    # ------------------------------------------------------------------ probes
    def add_probe(self, name, tokens, *, segments=None, special=None, decoder_tokens=None,
                  decoder_special=None):
        """Declare a probe once, before its first snapshot. Tokens are the strings shown to the user."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"probe name must be a non-empty string without '/', got {name!r}")
        if name in self._probes:
            raise ValueError(f"probe {name!r} was already added; probe names must be unique")
        tokens = [str(t) for t in tokens]
        if not tokens:
            raise ValueError(f"probe {name!r} has no tokens")
        segs = [0] * len(tokens) if segments is None else [int(s) for s in segments]
        if len(segs) != len(tokens):
            raise ValueError(f"segments has {len(segs)} entries but probe {name!r} has {len(tokens)} tokens")
        info = {"name": name, "index": len(self._probes), "tokens": tokens, "segments": segs,
                "special": _as_mask(special, len(tokens), "special"), "decoder_tokens": None,
                "decoder_special": None}
        if decoder_tokens is not None:
            info["decoder_tokens"] = [str(t) for t in decoder_tokens]
            info["decoder_special"] = _as_mask(decoder_special, len(decoder_tokens), "decoder_special")
        self._probes[name] = info

    @property
    def probes(self):
        return list(self._probes)

    # ------------------------------------------------------------------ attention
    def add_attention(self, step, probe, attention, *, kind="self", causal=None, wall_time=None):
        """Write one probe's attention of one kind at `step`.

        attention: float array [layers, heads, query, key] (or a sequence of per-layer [heads, query,
        key] arrays, e.g. a model's `outputs.attentions` for batch item 0), real tokens only.
        causal: None infers it (decoder kinds, or self-attention with nothing above the diagonal).

        Input that cannot be stored as given raises before anything is written: a step that is not a
        non-negative integer, no layers or heads, another model size than the probe's first snapshot,
        weights that are NaN, infinite or negative, or a query row that sums to more than
        1 + ROW_SUM_TOLERANCE (rows that sum to less are kept as they are, within 1/255 per weight).
        """
        step = _check_step(step)
        self._check_file()
        if probe not in self._probes:
            raise KeyError(f"unknown probe {probe!r}: call add_probe first (known: {self.probes})")
        if kind not in fmt.KIND_SIDES:
            raise ValueError(f"kind must be one of {sorted(fmt.KIND_SIDES)}, got {kind!r}")
        info = self._probes[probe]
        a = self._check_attention(attention, info, kind)
        layers, heads, q, k = a.shape
        first = self._sizes.get((probe, kind))
        if first is not None and first[:2] != (layers, heads):
            raise ValueError(f"probe {probe!r} kind {kind!r}: attention at step {step} has {layers} layers x "
                             f"{heads} heads, but the probe's first snapshot (step {first[2]}) had {first[0]} "
                             f"x {first[1]}; a probe keeps one model size: log another model under other "
                             f"probe names or to its own log_dir")
        tag = fmt.snapshot_tag(probe, kind)
        self._check_size_on_disk(probe, kind, layers, heads)
        self._check_overwrite([tag], step)
        if causal is None:
            causal = kind == "decoder" or (kind == "self" and q == k and q > 1
                                            and not np.triu(a, 1).any())
        meta = fmt.probe_metadata(info, kind, causal=causal, layers=layers, heads=heads)
        query_side, key_side = fmt.KIND_SIDES[kind]

        quantized = quantize(a)
        reference = self._reference(probe, kind, step, a)
        stat_args = dict(causal=causal, self_attention=kind != "cross", query_tokens=info[query_side],
                         key_tokens=info[key_side],
                         key_special=info["special" if key_side == "tokens" else "decoder_special"])
        templates = self._templates.get((probe, kind, causal))
        if templates is None:
            templates = self._templates[(probe, kind, causal)] = ProbeTemplates(**stat_args)
        stats = head_statistics(a, reference=reference, templates=templates, **stat_args)
        layer_blobs = [self._encode_layer(probe, kind, layer, step, quantized[layer]) for layer in range(layers)]
        first_in_file = (probe, kind) not in self._tags_in_file
        summary = summary_pb2.Summary(value=[
            fmt.snapshot_value(meta, step, layer_blobs, q, k, with_metadata=first_in_file),
            fmt.stats_value(meta, stats, with_metadata=first_in_file)])
        if self._write(event_pb2.Event(step=step, wall_time=wall_time or time.time(), summary=summary)):
            self._tags_in_file.add((probe, kind))
            self._sizes.setdefault((probe, kind), (layers, heads, step))
            self._visible.setdefault(tag, {})[step] = None

    @staticmethod
    def _as_array(x, what):
        try:
            raw = np.asarray(x)
        except (TypeError, ValueError, RuntimeError) as e:  # e.g. a CUDA or bfloat16 torch tensor
            raise TypeError(f"{what} must be a float array (numpy, or a CPU tensor: .float().cpu().numpy()), "
                            f"got {type(x).__name__}: {e}") from None
        if raw.dtype.kind == "b":
            raise TypeError(f"{what} is a boolean array (an attention mask?); attention weights are floats")
        if raw.dtype.kind not in "fiu":
            raise TypeError(f"{what} must hold real numbers, got dtype {raw.dtype} ({type(x).__name__})")
        return raw.astype(np.float32)

    def _check_attention(self, attention, info, kind):
        what = f"probe {info['name']!r} kind {kind!r}: attention"
        if isinstance(attention, (list, tuple)):
            if not attention:
                raise ValueError(f"{what} has 0 layers (an empty list)")
            per_layer = [self._as_array(x, f"{what} layer {i}") for i, x in enumerate(attention)]
            shapes = sorted({x.shape for x in per_layer})
            if len(shapes) > 1:
                raise ValueError(f"{what}: the per-layer arrays differ in shape: {shapes}")
            if per_layer[0].ndim != 3:
                raise ValueError(f"{what} layers must be [heads, query, key], got shape {per_layer[0].shape}")
            a = np.stack(per_layer)
        else:
            a = self._as_array(attention, what)
        if a.ndim != 4:
            raise ValueError(f"attention must be [layers, heads, query, key], got shape {a.shape}")
        if a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(f"{what} has {a.shape[0]} layers and {a.shape[1]} heads (shape {a.shape}); "
                             f"it needs at least one of each")
        query_side, key_side = fmt.KIND_SIDES[kind]
        if info[query_side] is None or info[key_side] is None:
            raise ValueError(f"kind {kind!r} needs decoder_tokens: pass them to add_probe({info['name']!r}, ...)")
        want = (len(info[query_side]), len(info[key_side]))
        if a.shape[2:] != want:
            raise ValueError(f"probe {info['name']!r} kind {kind!r}: attention is {a.shape[2]}x{a.shape[3]} "
                             f"(query x key) but the probe has {want[0]}x{want[1]} tokens; pass real "
                             f"tokens only (drop padding)")
        bad = ~np.isfinite(a) | (a < 0)
        if bad.any():
            at = _where(info, kind, *np.argwhere(bad)[0][:3])
            raise ValueError(f"{what} has NaN, inf or negative weights ({int(bad.sum())} of them; the first "
                             f"at {at})")
        sums = a.sum(axis=-1, dtype=np.float64)
        over = sums > 1.0 + ROW_SUM_TOLERANCE
        if over.any():
            layer, head, row = np.argwhere(over)[0]
            raise ValueError(f"{what}: the row of {_where(info, kind, layer, head, row)} sums to "
                             f"{sums[layer, head, row]:.6g} ({int(over.sum())} rows sum to more than "
                             f"1 + 1/255). Each query row holds one softmax over the keys: pass "
                             f"[layers, heads, query, key] weights, not transposed, summed or "
                             f"unnormalized ones")
        return a

    def _encode_layer(self, probe, kind, layer, step, q):
        """A delta to the previous snapshot while deltas pay and the chain is short, else a keyframe."""
        key = (probe, kind, layer)
        previous = self._last_layers.get(key)
        if previous is not None and previous.q.shape == q.shape and previous.step < step \
                and previous.chain < fmt.MAX_CHAIN:
            delta = fmt.encode_layer(q, reference=previous.q, ref_step=previous.step)
            if len(delta) < KEYFRAME_WHEN_DELTA_EXCEEDS * previous.keyframe_size:
                self._last_layers[key] = _LastLayer(int(step), q, previous.chain + 1, previous.keyframe_size)
                return delta
        keyframe = fmt.encode_layer(q)
        self._last_layers[key] = _LastLayer(int(step), q, 1, len(keyframe))
        return keyframe

    def _reference(self, probe, kind, step, attention):
        """The first snapshot of this (probe, kind): this one, or an earlier one on disk after a resume."""
        key = (probe, kind)
        if key not in self._references:
            self._references[key] = self._reference_on_disk(probe, kind, step, attention.shape)
            if self._references[key] is None:
                self._references[key] = attention
                return None
        return self._references[key]

    def _reference_on_disk(self, probe, kind, step, shape):
        past = self._history().get((probe, kind))
        if past is not None and past.first is not None and past.first_step < step \
                and past.tokens == self._probes[probe]["tokens"] and past.first.shape == shape:
            return past.first
        return None

    # ------------------------------------------------------------------ what the directory held before
    def _history(self):
        """What the run directory held before this writer's first record, read once (before that record
        is written): per (probe, kind) its first snapshot (a resume continues drift from there), tokens
        and model sizes; per tag the steps and files of its visible records; whether it holds a restart
        marker. Another live writer of the directory is reported here, once."""
        if self._previous is None:
            from .reader import read_run  # local: the directory is read once per writer

            self._previous = {}
            self._warn_concurrent_writers()
            try:
                run = read_run(self.log_dir) if os.path.isdir(self.log_dir) else None
            except (OSError, ValueError):
                run = None
            if run is None:
                return self._previous
            self._has_start = bool(run.session_starts)
            for tag, by_step in run.tag_steps().items():
                if by_step and not tag.startswith(fmt.STATS_TAG_PREFIX):
                    self._visible[tag] = {s: os.path.basename(path) for s, path in by_step.items()}
                    self._history_last[tag] = max(by_step)
            for name in run.probes:
                p = run.probe(name)
                for kind in p.kinds:
                    steps = p.steps_of(kind)
                    try:
                        first = p.attention(steps[0], kind=kind) if steps else None
                    except (KeyError, IndexError, ValueError):  # FormatError is a ValueError
                        first = None
                    sizes = {s: size for size, at in p.sizes(kind).items() for s in at}
                    self._previous[(name, kind)] = _Past(steps[0] if steps else None, first, p.tokens, sizes)
        return self._previous

    def logged_before(self, probe, kind):
        """Steps of (probe, kind) that the run directory held before this writer started (and that
        this writer's restart marker, if any, left visible)."""
        self._history()
        by_step = self._visible.get(fmt.snapshot_tag(probe, kind), {})
        return sorted(s for s, source in by_step.items() if source is not None)

    def _warn_concurrent_writers(self):
        """Warn when another writer logs attention to this directory right now: an `.attention` file
        held open by another live process of this host, or by another open writer of this process, or
        another host's file modified in the last RECENT_WRITE_SECONDS."""
        try:
            entries = list(os.scandir(self.log_dir))
        except OSError:
            return
        host, now, found = socket.gethostname(), time.time(), []
        mine = {os.path.realpath(w._file.path) for w in list(_OPEN_WRITERS)
                if w is not self and w._file is not None and not w._closed}
        for entry in sorted(entries, key=lambda e: e.name):
            match = _EVENT_FILE_NAME.match(entry.name)
            if match is None or match["suffix"] not in (".attention", self._suffix):
                continue
            try:
                age = now - entry.stat().st_mtime
            except OSError:
                continue
            file_host, pid = match["host"], int(match["pid"])
            if file_host == host and pid == os.getpid():
                if os.path.realpath(entry.path) in mine:
                    found.append(f"{entry.name} (another AttentionSummaryWriter of this process, still open)")
            elif file_host == host:
                holds = _pid_holds_open(pid, entry.path)
                if holds or (holds is None and _pid_alive(pid) and age < RECENT_WRITE_SECONDS):
                    found.append(f"{entry.name} (process {pid} on this host, still writing it; last "
                                 f"written {age:.0f} s ago)")
            elif age < RECENT_WRITE_SECONDS:
                found.append(f"{entry.name} (host {file_host!r}, process {pid}; last written {age:.0f} s ago)")
        if found:
            _warn(
                f"tb-attention: another writer is logging attention to {self.log_dir} right now: "
                f"{'; '.join(found)}. Two writers in one run directory replace and hide each other's records "
                f"at the same steps. Give each process or run its own log_dir (e.g. a sub-directory per run); "
                f"under distributed training only rank 0 should write.")

    def _describe_hidden(self, from_step, include_own=False):
        """'probe 'p' (self): steps 0..40 (5 steps); ...' and the files they are in, for records
        visible at steps >= from_step."""
        from .reader import describe_steps

        series, files = [], set()
        for tag in sorted(self._visible):
            steps = sorted(s for s, source in self._visible[tag].items()
                           if s >= from_step and (include_own or source is not None))
            if steps:
                series.append(f"{_series_name(tag)}: {describe_steps(steps)}")
                files.update(self._visible[tag][s] or "this writer's file" for s in steps)
        if len(series) > 8:
            series = series[:8] + [f"and {len(series) - 8} more series"]
        return "; ".join(series), ", ".join(sorted(files))

    def _check_overwrite(self, tags, step):
        """Before records of `tags` at `step` are written: warn (once) when they replace or hide an
        earlier writer's records, unless they continue those series (a resume: logged only)."""
        if self._hidden_warned:
            return
        self._history()
        hit = [t for t in tags if self._history_last.get(t, -1) >= step and t not in self._resume_logged]
        if not hit:
            return
        if all(min(self._visible[t]) < step for t in hit):  # later steps of a continued series
            from .reader import describe_steps

            for t in hit:
                self._resume_logged.add(t)
                later = sorted(s for s, source in self._visible[t].items() if s >= step and source)
                logger.info("tb-attention: %s in %s continues from step %d and replaces what an earlier run "
                            "logged there from that step on (%s), as a resume from a checkpoint does",
                            _series_name(t), self.log_dir, step, describe_steps(later))
            return
        series, files = self._describe_hidden(step)
        self._hidden_warned = True
        _warn(
            f"tb-attention: {self.log_dir} already holds records at the steps this writer now logs, from "
            f"step {step} on: {series} (in {files}). A step's latest record wins, and TensorBoard hides a "
            f"tag's later steps once an earlier step is logged again, so the earlier run's records are "
            f"replaced or hidden. To keep both runs, give each run its own log_dir (e.g. a sub-directory "
            f"per run), or move the old event files away first.")

    def _check_size_on_disk(self, probe, kind, layers, heads):
        """Warn (once per probe and kind) when the directory holds the probe at another model size, and
        (once per probe) when it holds it with other tokens."""
        past = self._history().get((probe, kind))
        if past is None or (probe, kind) in self._size_warned:
            return
        other = {}
        for s, size in past.sizes.items():
            if size != (layers, heads):
                other.setdefault(size, []).append(s)
        if other:
            from .reader import describe_steps

            self._size_warned.add((probe, kind))
            held = "; ".join(f"{l} layers x {h} heads at {describe_steps(sorted(at))}"
                             for (l, h), at in sorted(other.items()))
            _warn(
                f"tb-attention: {self.log_dir} already holds probe {probe!r} ({kind}) at another model size "
                f"({held}); this writer logs it at {layers} layers x {heads} heads. While both sizes are "
                f"there, read_run(...).probe({probe!r}).stats() needs size=(layers, heads). Log each model to "
                f"its own log_dir.")
        tokens = self._probes[probe]["tokens"]
        if past.sizes and past.tokens != tokens and (probe, "tokens") not in self._size_warned:
            from .reader import describe_steps

            self._size_warned.add((probe, "tokens"))
            _warn(
                f"tb-attention: {self.log_dir} already holds probe {probe!r} with other tokens "
                f"({_short(past.tokens)} at {describe_steps(sorted(past.sizes))}); this writer logs it with "
                f"{_short(tokens)}. TensorBoard and read_run keep a probe's first tokens, so its new snapshots "
                f"would be shown with the old ones: use another probe name or its own log_dir.")

    def add_session_start(self, step, *, wall_time=None):
        """Mark that training (re)starts at `step`; write it before the run's first record.

        TensorBoard's convention for restarts: from the second START of a run on, readers (its Python
        loader and read_run) drop what was logged earlier at steps >= `step`, i.e. the records of the
        continuation that a resume from a checkpoint abandons. Without it TensorBoard's Python loader
        would keep the FIRST record of a step logged twice: the stale one.

        What the marker hides is never hidden silently: when records stay visible before `step` (a
        resume from a checkpoint) it is logged at INFO; when it hides everything the directory held (a
        new run at step 0 into a used log_dir) it warns, once, with the probes, steps and files.
        """
        step = _check_step(step)
        self._check_file()
        self._history()
        if self._has_start:  # a restart: records at steps >= step disappear in every reader
            hidden = any(s >= step for by_step in self._visible.values() for s in by_step)
            kept = any(s < step for by_step in self._visible.values() for s in by_step)
            if hidden and kept:
                series, files = self._describe_hidden(step, include_own=True)
                logger.info("tb-attention: restart at step %d in %s: an earlier run's continuation from that "
                            "step on is replaced (%s; in %s), as a resume from a checkpoint does",
                            step, self.log_dir, series, files)
            elif hidden and not self._hidden_warned:
                series, files = self._describe_hidden(step, include_own=True)
                self._hidden_warned = True
                _warn(
                    f"tb-attention: {self.log_dir} already holds a run, and this run's start at step {step} "
                    f"hides everything it logged, in TensorBoard and read_run alike: {series} (in {files}). "
                    f"To keep both runs, give each run its own log_dir (e.g. a sub-directory per run), or "
                    f"move the old event files away first.")
        if self._write(event_pb2.Event(step=step, wall_time=wall_time or time.time(),
                                       session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))):
            if self._has_start:
                self._forget_from(step)
            self._has_start = True

    def _forget_from(self, step):
        """What the readers show after a restart at `step`: nothing at steps >= step."""
        for tag, by_step in self._visible.items():
            for s in [s for s in by_step if s >= step]:
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

    # ------------------------------------------------------------------ scalars and hparams
    def add_scalar(self, tag, value, step, *, wall_time=None):
        step = _check_step(step)
        self._check_file()
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"scalar tag must be a non-empty string, got {tag!r}")
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"scalar {tag!r} must be a real number, got {type(value).__name__}")
        self._check_overwrite([tag], step)
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
        if self._write(event_pb2.Event(step=step, wall_time=wall_time or time.time(), summary=summary)):
            self._visible.setdefault(tag, {})[step] = None

    def add_scalars(self, values, step, *, wall_time=None):
        """Write every finite real number of a dict (other values are skipped)."""
        step = _check_step(step)
        self._check_file()
        kept = [summary_pb2.Summary.Value(tag=str(tag), simple_value=float(v)) for tag, v in values.items()
                if isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)]
        if kept:
            self._check_overwrite([v.tag for v in kept], step)
            if self._write(event_pb2.Event(step=step, wall_time=wall_time or time.time(),
                                           summary=summary_pb2.Summary(value=kept))):
                for v in kept:
                    self._visible.setdefault(v.tag, {})[step] = None

    def add_hparams(self, hparams):
        """Hyperparameters for TensorBoard's HParams tab (bool, number or string values; others as str)."""
        self._check_file()
        from tensorboard.plugins.hparams import summary_v2 as hp

        clean = {}
        for k, v in hparams.items():
            if v is None:
                continue
            if isinstance(v, (bool, int, float, str)) and not (isinstance(v, float) and not math.isfinite(v)):
                clean[str(k)] = v
            else:
                clean[str(k)] = str(v)
        self._write(event_pb2.Event(wall_time=time.time(), summary=hp.hparams_pb(clean)))

    # ------------------------------------------------------------------ file handling
    def _check_file(self):
        """A run directory removed under us: open writes would vanish silently. Report it now, before
        the next event is encoded, so that it starts a fresh file (keyframes and metadata included)."""
        if self._closed:
            raise RuntimeError("AttentionSummaryWriter is closed")
        if self._file is not None and not os.path.exists(self._file.path):
            self._on_io_error(FileNotFoundError(f"{self._file.path} was removed"))

    def _write(self, event):
        """Append and flush one event; False if it could not be written."""
        if self._closed:
            raise RuntimeError("AttentionSummaryWriter is closed")
        try:
            if self._file is None:
                self._history()  # what the directory held before this writer, read before its first record
                self._file = EventFileWriter(self.log_dir, self._suffix)
                self._tags_in_file.clear()
                _OPEN_WRITERS.add(self)
            self._file.write(event)
            self._file.flush()
            return True
        except OSError as e:
            self._on_io_error(e)
            return False

    def _on_io_error(self, error):
        if not self._io_warned:
            warnings.warn(f"tb-attention could not write to {self.log_dir}: {error}. Training goes on; "
                          f"what was written before stays readable, and writing resumes in a new file "
                          f"if the problem goes away.", RuntimeWarning, stacklevel=3)
            self._io_warned = True
        broken, self._file = self._file, None
        if broken is not None:
            try:
                broken.close()
            except OSError:
                pass
        # Later keyframes must be in the new file: a delta against a lost record is unreadable; and
        # the new file needs each tag's metadata again (decided before the file is opened).
        self._last_layers.clear()
        self._tags_in_file.clear()

    def flush(self):
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as e:
                self._on_io_error(e)

    def close(self):
        _OPEN_WRITERS.discard(self)
        if self._file is not None:
            try:
                self._file.close()
            except OSError as e:
                self._on_io_error(e)
            self._file = None
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
