"""Framework-agnostic writer: numpy attention in, TensorBoard event records out.

The Trainer callback uses it, and so can a plain PyTorch loop or a Lightning callback:

    w = AttentionSummaryWriter("logs/run1")
    w.add_probe("cat", tokens=["[CLS]", "the", "cat", "[SEP]"], special=[1, 0, 0, 1])
    w.add_attention(step, "cat", attentions)         # [layers, heads, query, key] per kind
    w.add_scalar("train/loss", loss, step)
    w.close()

A failing disk never stops training (run_file.py): the first I/O error is reported once as a
warning, the broken file is left as it was, and later writes go to a new file.

Nothing already in the run directory disappears without a word (run_history.py), and input that cannot
be stored as given is refused before anything is written (writer/input_checks.py).

One class, the writer's whole public API (probes, attention, restart markers, scalars, hparams,
predictions, neuron records); a snapshot's encoding is snapshot_stream.py's, the file run_file.py's,
what it checks and warns about input_checks.py's, run_history.py's and concurrent_writers.py's.
"""

import math
import numbers
import os
import time
import warnings

from tensorboard.compat.proto import event_pb2, summary_pb2

from ..analysis.neuron_math import vector_dtype
from ..format.metadata import FormatError, KIND_SIDES, neurons_tag, predictions_tag
from ..format.records import (
    check_predictions,
    neuron_header,
    neurons_value,
    predictions_value,
    relations_value,
    snapshot_value,
    stats_value,
)
from .restart_marker import write_marker
from .run_file import RunFile
from .drift_reference import DriftReferences
from .run_history import RunHistory
from ..format.plugin_metadata import check_relations
from .write_queue import WriteQueue
from .input_checks import as_mask, check_attention, check_model_size, check_snapshot_logits, check_step, inferred_causal
from .snapshot_stream import SnapshotStream, TagState


class AttentionSummaryWriter:
    """Writes attention snapshots, per-head statistics, scalars and hparams into one run directory."""

    def __init__(
        self,
        log_dir,
        *,
        filename_suffix=".attention",
        background=False,
        max_queued_bytes=64 << 20,
        keep_drift_reference=True,
    ):
        """background: encode and write on a thread of its own (write_queue.py), so that callers wait
        only for the input checks; at most `max_queued_bytes` of attention waits there (layers are
        queued one at a time: a layer of more than a quarter of that is encoded on the caller's
        thread once the queue is empty, so a long probe's pass holds one of its layers, not two).
        keep_drift_reference: each probe's first snapshot also goes to the run directory in float16
        (drift_reference.py, about one snapshot's size): a resumed run measures drift from it."""
        self.log_dir = str(log_dir)
        self._queue = WriteQueue(max_queued_bytes) if background else None
        self._file = RunFile(
            self.log_dir, filename_suffix, before_open=lambda: self._history.read(), on_abandon=self._forget_deltas
        )
        self._probes = {}
        self.keep_drift_reference = keep_drift_reference  # may change before a probe's first snapshot
        self._references = DriftReferences(self.log_dir)  # drift's references, read a head at a time
        self._tag_states = {}  # (probe, kind) -> snapshot_stream.TagState: delta and drift references
        self._streams = set()  # (probe, kind) of the snapshots being written
        self._closed = False
        self._history = RunHistory(self.log_dir, filename_suffix)
        self._sizes = {}  # (probe, kind) -> writer_input.FirstSize of this writer's snapshots
        self._metas = {}  # (probe, kind) -> the metadata of its latest snapshot (predictions reuse it)

    # ------------------------------------------------------------------ probes
    def add_probe(
        self,
        name,
        tokens,
        *,
        segments=None,
        special=None,
        decoder_tokens=None,
        decoder_special=None,
        word_of=None,
        relations=None,
    ):
        """Declare a probe once, before its first snapshot. Tokens are the strings shown to the user.

        word_of, relations: labelled relations between the probe's words (docs/format.md,
        "Relations"; the callback builds them from relation probes): {"tokens": [word index or -1 per
        token], "decoder_tokens": ...} and [{"relation", "source": [[side, word]], "target": [[side,
        word]], "source_text", "target_text"}]."""
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
        info = {
            "name": name,
            "index": len(self._probes),
            "tokens": tokens,
            "segments": segs,
            "special": as_mask(special, len(tokens), "special"),
            "decoder_tokens": None,
            "decoder_special": None,
        }
        if decoder_tokens is not None:
            info["decoder_tokens"] = [str(t) for t in decoder_tokens]
            info["decoder_special"] = as_mask(decoder_special, len(decoder_tokens), "decoder_special")
        if relations:
            info["word_of"] = {side: [int(w) for w in of] for side, of in (word_of or {}).items()}
            info["relations"] = [dict(r) for r in relations]
            try:
                check_relations(info["word_of"], info["relations"], info)
            except FormatError as e:
                raise ValueError(f"probe {name!r}: {e}") from None
        self._probes[name] = info

    @property
    def probes(self):
        return list(self._probes)

    # ------------------------------------------------------------------ attention
    def add_attention(
        self, step, probe, attention, *, kind="self", causal=None, wall_time=None, copy=True, max_logits=None
    ):
        """Write one probe's attention of one kind at `step`.

        attention: float array [layers, heads, query, key], or a sequence of per-layer [heads, query,
        key] arrays; real tokens only. A batch axis holding one sequence is taken as it comes:
        transformers' `outputs.attentions` ([1, heads, query, key] per layer) and TransformerLens'
        `cache.stack_activation("pattern")` ([layers, 1, heads, query, key]); a larger batch is refused
        with the indexing that picks one sequence.
        causal: None infers it (decoder kinds, or self-attention with nothing above the diagonal).
        max_logits: [layers, heads], each head's largest pre-softmax logit, q.k x scaling over the keys
        its rows may see (the statistic `max_logit`; NaN where not known).
        copy=False: the writer may read your arrays after this returns (with background=True, until
        they are written), so they must not change until then; it saves the caller a copy of the
        attention.

        Input that cannot be stored as given raises before anything is written: a step that is not a
        non-negative integer, no layers or heads, another model size than the probe's first snapshot,
        weights that are NaN, infinite or negative, or a query row that sums to more than
        1 + writer_input.ROW_SUM_TOLERANCE (rows that sum to less are kept as they are, within 1/255 per weight).
        A model too large to hold whole is written a layer at a time with `open_snapshot`.
        """
        step = check_step(step)
        self._check_open()
        info = self._probe_info(probe, kind)
        # A float32 copy of its own (the caller may reuse theirs), or their layers, read off their thread
        checked = check_attention(attention, info, kind, copy=copy)
        layers, heads = len(checked), checked[0].shape[0]
        check_model_size(self._sizes.get((probe, kind)), probe, kind, step, layers, heads)
        logits = check_snapshot_logits(max_logits, layers, heads, f"probe {probe!r} kind {kind!r}")
        causal = inferred_causal(kind, checked) if causal is None else causal
        stream = self.open_snapshot(step, probe, kind, causal=causal, wall_time=wall_time)
        for layer, largest in zip(checked, logits):
            stream.add_checked_layer(layer, largest)
        stream.commit()

    def open_snapshot(self, step, probe, kind="self", *, causal, wall_time=None, heads=None):
        """A snapshot written one layer at a time (writer/snapshot_stream.py): `add_layer` each layer's
        float [heads, query, key] in order, then `commit()` (or `abort()`). No whole snapshot is held:
        a model of any size is written within a few layers' memory.

        heads: None stores every head's map; a head_choice.HeadChoice stores the maps of the heads it
        chooses (a storage budget) and the statistics of every head. One probe and kind keeps one
        choice for the writer's life."""
        step = check_step(step)
        self._check_open()
        self._probe_info(probe, kind)
        if (probe, kind) in self._streams:
            raise RuntimeError(f"a snapshot of probe {probe!r} ({kind}) is being written already: commit it first")
        stream = SnapshotStream(self, step, probe, kind, causal, wall_time or time.time(), heads)
        self._streams.add((probe, kind))
        return stream

    def _probe_info(self, probe, kind):
        if probe not in self._probes:
            raise KeyError(f"unknown probe {probe!r}: call add_probe first (known: {self.probes})")
        if kind not in KIND_SIDES:
            raise ValueError(f"kind must be one of {sorted(KIND_SIDES)}, got {kind!r}")
        return self._probes[probe]

    def _tag_state(self, probe, kind):
        return self._tag_states.setdefault((probe, kind), TagState())

    def _write_snapshot(self, stream, meta, layer_blobs, stats, relations):
        """The record of a finished stream (on the writer's thread); False if it could not be written."""
        probe, kind = stream.probe, stream.kind
        first_in_file = (probe, kind) not in self._file.tags
        q, k = stream.shape
        values = [
            snapshot_value(meta, stream.step, layer_blobs, q, k, with_metadata=first_in_file),
            stats_value(meta, stats, with_metadata=first_in_file),
        ]
        if relations is not None:
            values.append(relations_value(meta, relations, with_metadata=first_in_file))
        event = event_pb2.Event(step=stream.step, wall_time=stream.wall_time, summary=summary_pb2.Summary(value=values))
        if self._write(event):
            self._file.tags.add((probe, kind))
            return True
        return False

    def _reference_on_disk(self, probe, kind, step, layer_shape):
        """An earlier writer's first snapshot of (probe, kind) when resuming (DriftReferences.earlier)."""
        past = self._history.past(probe, kind)
        return self._references.earlier(past, probe, kind, step, self._probes[probe]["tokens"], layer_shape)

    # ------------------------------------------------------------------ what the directory held before
    def logged_before(self, probe, kind):
        """Steps of (probe, kind) that the run directory held before this writer started (and that
        this writer's restart marker, if any, left visible)."""
        return self._history.logged_before(probe, kind)

    def add_session_start(self, step, *, wall_time=None):
        """Mark that training (re)starts at `step`, before this writer's first record.

        What earlier sessions logged at steps >= `step` (the continuation a resume abandons, or a
        whole earlier run) is hidden from every reader by TensorBoard's restart marker, written only
        then, in a file of its own named between their files and this session's (restart_marker.py):
        nothing this session's other writers log (a user's SummaryWriter, transformers'
        TensorBoardCallback) is hidden. What it hides is logged at INFO for a resume, and warned about
        (once, with probes, steps and files) when it hides a whole run. -> the marker's path, or None.
        """
        step = check_step(step)
        self._check_open()
        plan = self._history.before_session_start(step)
        if plan is None:
            return None
        name, hides = plan
        try:
            write_marker(self.log_dir, name, step, wall_time or time.time())
        except OSError as e:
            warnings.warn(
                f"tb-attention could not write its restart marker to {self.log_dir}: {e}. Readers show the "
                f"earlier run's records at steps >= {step} beside this run's.",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        self._history.after_session_start(step, hides)
        return os.path.join(self.log_dir, name)

    # ------------------------------------------------------------------ scalars and hparams
    def add_predictions(self, step, probe, prediction, *, kind="self", wall_time=None):
        """Write what the model predicted on a probe at `step` (after that step's attention of `kind`):
        {"mode": "next-token" | "masked" | "label", "positions", "top": [[[token, probability], ...]
        per position], "targets", "target_probs"} (docs/format.md, "Predictions")."""
        step = check_step(step)
        self._check_open()
        meta = self._metas.get((probe, kind))
        if meta is None:
            raise KeyError(f"probe {probe!r} has no {kind!r} attention logged yet: add_attention first")
        try:
            check_predictions(prediction)
        except FormatError as e:
            raise ValueError(f"probe {probe!r}: {e}") from None
        tag = predictions_tag(probe, kind)
        self._history.before_record([tag], step)
        self._history.after_record([tag], step)
        wall_time = wall_time or time.time()

        def write():
            first = (probe, kind, "predictions") not in self._file.tags
            value = predictions_value(meta, prediction, with_metadata=first)
            if self._write(event_pb2.Event(step=step, wall_time=wall_time, summary=summary_pb2.Summary(value=[value]))):
                self._file.tags.add((probe, kind, "predictions"))

        self._run(write)

    def add_neurons(self, step, probe, record, *, kind="self", attention=None, wall_time=None):
        """Write the neuron view's data of a probe at `step` (after that step's attention of `kind`):
        {"heads": [(layer, head)], "query" [n, Q, D], "key" [n, K, D], "scale" [n], "softcap" [n],
        "allowed" bool [n, Q, K], "bias" [n, Q, K] or None} (docs/format.md, "Neurons"). With the
        model's float `attention` of that step ([layer][head] -> [Q, K]), query and key are stored as
        float16 where that keeps the view within the bound (neuron_math.vector_dtype)."""
        step = check_step(step)
        self._check_open()
        meta = self._metas.get((probe, kind))
        if meta is None:
            raise KeyError(f"probe {probe!r} has no {kind!r} attention logged yet: add_attention first")
        tag = neurons_tag(probe, kind)
        try:
            header = neuron_header(meta, record)  # checked here; compressed on the writer's thread
        except FormatError as e:
            raise ValueError(f"probe {probe!r}: {e}") from None
        self._history.before_record([tag], step)
        self._history.after_record([tag], step)
        wall_time = wall_time or time.time()

        def write():
            first = (probe, kind, "neurons") not in self._file.tags
            stored = dict(header, dtype=vector_dtype(record, attention))
            # the tag's metadata names the captured heads, so that an index lists them without a read
            value = neurons_value(meta.with_neuron_heads(header["heads"]), record, stored, with_metadata=first)
            if self._write(event_pb2.Event(step=step, wall_time=wall_time, summary=summary_pb2.Summary(value=[value]))):
                self._file.tags.add((probe, kind, "neurons"))

        self._run(write)

    def add_scalar(self, tag, value, step, *, wall_time=None):
        step = check_step(step)
        self._check_open()
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"scalar tag must be a non-empty string, got {tag!r}")
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"scalar {tag!r} must be a real number, got {type(value).__name__}")
        self._history.before_record([tag], step)
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
        event = event_pb2.Event(step=step, wall_time=wall_time or time.time(), summary=summary)
        self._history.after_record([tag], step)
        self._run(lambda: self._write(event))

    def add_scalars(self, values, step, *, wall_time=None):
        """Write every finite real number of a dict (other values are skipped)."""
        step = check_step(step)
        self._check_open()
        kept = [
            summary_pb2.Summary.Value(tag=str(tag), simple_value=float(v))
            for tag, v in values.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
        ]
        if kept:
            self._history.before_record([v.tag for v in kept], step)
            summary = summary_pb2.Summary(value=kept)
            event = event_pb2.Event(step=step, wall_time=wall_time or time.time(), summary=summary)
            self._history.after_record([v.tag for v in kept], step)
            self._run(lambda: self._write(event))

    def add_hparams(self, hparams):
        """Hyperparameters for TensorBoard's HParams tab (bool, number or string values; others as str)."""
        self._check_open()
        from tensorboard.plugins.hparams import summary_v2 as hp

        clean = {}
        for k, v in hparams.items():
            if v is None:
                continue
            if isinstance(v, (bool, int, float, str)) and not (isinstance(v, float) and not math.isfinite(v)):
                clean[str(k)] = v
            else:
                clean[str(k)] = str(v)
        event = event_pb2.Event(wall_time=time.time(), summary=hp.hparams_pb(clean))
        self._run(lambda: self._write(event))

    # ------------------------------------------------------------------ file handling
    def _check_open(self):
        if self._closed:
            raise RuntimeError("AttentionSummaryWriter is closed")

    def _run(self, job, nbytes=0):
        """Run a write now, or queue it for the background thread (in order with every other write)."""
        self._history.read()  # on this thread: what the directory held, before the first record
        if self._queue is None:
            job()
        else:
            self._queue.submit(job, nbytes)

    def _write(self, event):
        return self._file.write(event)

    def _forget_deltas(self):
        """A file was abandoned: every layer's next blob is a keyframe (deltas need their reference)."""
        for state in self._tag_states.values():
            state.last.clear()

    def flush(self):
        """Everything written so far is on disk when this returns (queued writes included)."""
        if self._queue is not None:
            self._queue.drain()
        self._file.flush()

    def close(self):
        if self._queue is not None:
            self._queue.close()  # writes what is queued first
        self._file.close()
        self._references.close()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
