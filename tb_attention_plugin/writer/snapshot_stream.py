"""One snapshot of one (probe, kind), written a layer at a time, so that no whole snapshot is ever held.

A model of 80 layers x 64 heads at 1024 tokens holds 21 GB of float attention per probe: the probe
pass hands each layer over as the model computes it (callback/capture/streaming.py), and each layer
is checked, quantized, measured (statistics, relations) and compressed on its own, then dropped. What
stays until the record is written is what goes into it (the compressed layer blobs and the per-head
numbers) and, for the next snapshot, each layer as stored (compressed: the reference of the next
delta); the first snapshot, drift's reference, is kept in float16 in a scratch file (scratch_file.py).

    stream = writer.open_snapshot(step, "cat", "self", causal=True)
    for layer in model_layers:
        stream.add_layer(layer)            # float [heads, query, key], real tokens only (max_logits= [heads])
    stream.commit()                        # the record; stream.abort() writes nothing

A layer that cannot be stored raises on the caller's thread and aborts the stream: nothing of the
snapshot is written.
"""

import typing

import numpy as np

from ..analysis.relations import features as relation_features
from ..analysis.statistics import ProbeTemplates, head_statistics, row_plogp, zero_above_diagonal
from ..format import arrays
from ..format.arrays import on_accelerator
from ..format.blobs import LAYER_HEADER, MAX_CHAIN, HEADS_BLOB_WEIGHTS, compressor, decompress, encode_layer
from ..format.metadata import KIND_SIDES, STAT_NAMES, snapshot_tag
from ..format.plugin_metadata import probe_metadata
from ..format.quantize import quantize
from .head_choice import ChoiceState, every_head
from .memory_release import release_freed_memory
from .scratch_file import SpilledHeads
from .input_checks import check_layer, check_max_logits, check_model_size, FirstSize

# A new keyframe is written once a delta is this large relative to the chain's keyframe (the head
# moved a lot since the last snapshot), or when the chain reaches blobs.MAX_CHAIN blobs.
KEYFRAME_WHEN_DELTA_EXCEEDS = 0.7
_UNSET = object()
_NO_DRIFT = object()  # a layer whose drift is left out (NaN): its reference could not be kept or read
# A CUDA layer at least this large (in float32) is measured on its device; a smaller one on the host
# (a BERT-size layer: a few kernels per statistic would cost more than the copy).
DEVICE_LAYER_BYTES = 16 << 20
_DRIFT = STAT_NAMES.index("drift")  # measured from the first snapshot: not a change since the last one
_MAX_LOGIT = STAT_NAMES.index("max_logit")  # not a weight: in logit units, given by the probe pass
_HALF_MAX = float(np.finfo(np.float16).max)  # statistics are stored in float16: larger logits read as this


def _float32_bytes(layer):
    """The size of a layer in float32 (whatever array it is): what the write queue counts."""
    return 4 * int(np.prod(tuple(layer.shape)))


class PackedLayer(typing.NamedTuple):
    """A layer [heads, query, key] kept compressed between snapshots."""

    shape: tuple
    dtype: np.dtype
    data: bytes

    @classmethod
    def pack(cls, a):
        # a copy of its own: zstandard's result keeps the memory of its worst case (the input's size)
        data = memoryview(compressor().compress(np.ascontiguousarray(a))).tobytes()
        return cls(a.shape, a.dtype, data)

    @classmethod
    def from_keyframe(cls, blob, q):
        """A keyframe's payload is this layer compressed: kept as it is (one compression, not two)."""
        return cls(q.shape, q.dtype, blob[LAYER_HEADER.size :])

    def unpack(self):
        size = int(np.prod(self.shape)) * self.dtype.itemsize
        return np.frombuffer(decompress(self.data, size), self.dtype).reshape(self.shape)


class LastLayer(typing.NamedTuple):
    """The latest stored snapshot of a layer: the reference of its next delta."""

    step: int
    q: PackedLayer
    chain: int  # blobs in its chain, keyframe included
    keyframe_size: int  # compressed size of the chain's keyframe


class TagState:
    """What the next snapshot of a (probe, kind) needs from the earlier ones."""

    def __init__(self):
        self.last = {}  # layer -> LastLayer (cleared when a file is abandoned: deltas need their reference)
        self.reference = None  # a callable: layer -> [heads, query, key] weights of the first snapshot
        self.reference_looked_up = False  # whether an earlier writer's first snapshot was looked for
        # layer -> (statistics.row_plogp of the reference: drift's fixed term, whether it is zero above
        # the diagonal)
        self.reference_plogp = {}
        self.templates = {}  # causal -> ProbeTemplates
        self.choice = _UNSET  # its first snapshot's heads=: None (every head) or a HeadChoice
        self.chosen = ChoiceState()  # what the choice keeps between snapshots


class SnapshotStream:
    """A snapshot being written layer by layer (see the module doc); made by
    AttentionSummaryWriter.open_snapshot."""

    def __init__(self, writer, step, probe, kind, causal, wall_time, choice=None):
        self._writer, self.step, self.probe, self.kind = writer, step, probe, kind
        self.causal = bool(causal)
        self.wall_time = wall_time
        info = writer._probes[probe]
        query_side, key_side = KIND_SIDES[kind]
        if info[query_side] is None or info[key_side] is None:
            raise ValueError(f"kind {kind!r} needs decoder_tokens: pass them to add_probe({probe!r}, ...)")
        self.shape = (len(info[query_side]), len(info[key_side]))
        self._info, self._sides = info, (query_side, key_side)
        self._state = writer._tag_state(probe, kind)
        if self._state.choice is _UNSET:
            self._state.choice = choice
        elif self._state.choice != choice:
            raise ValueError(f"probe {probe!r} ({kind}) keeps the heads= of its first snapshot in this writer")
        self._selection = None if choice is None else choice.selection(self._state.chosen)
        self._heads = None
        self._submitted = 0  # layers handed over
        # per layer, filled by the writer's jobs: (blob, LastLayer, stats [S, 1, H], relations or None,
        # the scratch file's float16 copy when this is the first snapshot, else None)
        self._layers = []
        self._failed = None
        self._open = True
        self._generation = None  # the writer's file generation when the first layer was encoded
        self._words = None
        self._inline = False  # whether a layer ran on the caller's thread (write_queue.py: a large one)

    # ---------------------------------------------------------------- the caller's side
    def add_layer(self, weights, max_logits=None):
        """The next layer's float weights [heads, query, key] (the writer may read them until they are
        written: they must not change), and each head's largest attention logit [heads] when known
        (the statistic `max_logit`). Raises ValueError (and aborts) for a layer that cannot be stored."""
        if not self._open:
            raise RuntimeError("this snapshot stream was committed or aborted")
        try:
            weights, kept = self._placed(weights)
            layer = check_layer(weights, self._info, self.kind, self._submitted, self.shape, self._heads, kept)
            max_logits = check_max_logits(max_logits, layer.shape[0], f"layer {self._submitted}")
        except (TypeError, ValueError):
            self.abort()
            raise
        self.add_checked_layer(layer, max_logits)

    def _placed(self, weights):
        """-> (weights, whether they stay on their device). A large layer on a CUDA GPU stays there and
        is measured there while the caller waits (as any large layer is: write_queue.py), on the
        caller's thread and CUDA stream, so only what is stored crosses to the host; a small one is
        copied to the host in float32 and measured beside training. Anything else is read as numpy."""
        if not on_accelerator(weights):
            return weights, False
        nbytes, queue = _float32_bytes(weights), self._writer._queue
        if nbytes >= DEVICE_LAYER_BYTES and (queue is None or queue.runs_inline(nbytes)):
            return weights, True
        return arrays.to_host(weights, np.float32), False

    def add_checked_layer(self, layer, max_logits=None):
        """A float32 numpy layer, or one `_placed` kept on its device (and float32 [heads] logits or
        None) that passed input_checks already (add_attention checks the whole snapshot before anything
        of it is written)."""
        index, nbytes, queue = self._submitted, _float32_bytes(layer), self._writer._queue
        self._heads = layer.shape[0]
        self._submitted += 1
        self._inline = self._inline or (queue is not None and queue.runs_inline(nbytes))
        self._writer._run(lambda: self._encode(index, layer, max_logits), nbytes)

    def commit(self):
        """Write the snapshot (every layer added so far); its metadata, model size and history are
        recorded here, so an aborted stream leaves no trace."""
        if not self._open:
            raise RuntimeError("this snapshot stream was committed or aborted")
        self._open = False
        self._writer._streams.discard((self.probe, self.kind))
        layers = self._submitted
        w = self._writer
        try:
            if not layers:
                raise ValueError(f"probe {self.probe!r} kind {self.kind!r}: a snapshot needs at least one layer")
            check_model_size(
                w._sizes.get((self.probe, self.kind)), self.probe, self.kind, self.step, layers, self._heads
            )
        except ValueError:
            self._failed = "refused"
            raise
        w._history.before_snapshot(self.probe, self.kind, layers, self._heads, self._info["tokens"])
        tag_record = [snapshot_tag(self.probe, self.kind)]
        w._history.before_record(tag_record, self.step)
        meta = probe_metadata(
            self._info, self.kind, causal=self.causal, layers=layers, heads=self._heads, storage=self._storage()
        )
        w._metas[(self.probe, self.kind)] = meta
        w._sizes.setdefault((self.probe, self.kind), FirstSize(layers, self._heads, self.step))
        w._history.after_record(tag_record, self.step)
        w._run(lambda: self._write(meta))

    def _storage(self):
        return None if self._selection is None else self._selection.choice.describe()

    def abort(self):
        """Write nothing of this snapshot."""
        if self._open:
            self._open = False
            self._failed = self._failed or "aborted"
            self._writer._streams.discard((self.probe, self.kind))

    # ---------------------------------------------------------------- the writer's thread
    def _encode(self, index, layer, max_logits=None):
        """Quantize, measure and compress one layer (maybe in the background)."""
        if self._failed is not None:
            return
        try:
            if self._generation is None:
                self._writer._file.check_removed()
                self._generation = self._writer._file.generation
            stats = self._statistics(index, layer)
            if max_logits is not None:
                stats[_MAX_LOGIT, 0] = np.clip(max_logits, -_HALF_MAX, _HALF_MAX)
            if self._words is None:  # the relation words of this kind, from the metadata
                self._words = probe_metadata(self._info, self.kind, causal=self.causal, layers=1, heads=layer.shape[0])
            relations = relation_features(layer[None], self._words)
            if self._selection is not None:  # some heads: chosen once every layer was seen (_write)
                self._selection.offer(index, layer, np.delete(stats[:, 0], [_DRIFT, _MAX_LOGIT], axis=0))
                blob = last = None
            elif _float32_bytes(layer) > 4 * HEADS_BLOB_WEIGHTS:  # a head at a time: read so, never held whole
                blob, last = every_head(layer), None
            else:
                blob, last = self._blob(index, quantize(layer))
            # the drift reference, should this be the first snapshot: float16 keeps drift within 1e-4 of
            # float32's (the stored bytes' 1/255 steps are too coarse for it: 0.25 for 0.004 at 512 tokens)
            first = self._state.reference is None
            reference = self._first_snapshot_heads(index, layer) if first else None
            self._layers.append((blob, last, stats, relations, reference))
        except BaseException as e:
            self._failed = type(e).__name__  # not the error: its frames hold the layer (a GPU's memory)
            raise

    def _first_snapshot_heads(self, index, layer):
        """Keep a layer of the first snapshot in float16 (drift's reference) -> where its heads lie.
        Its rows' sum x ln x and whether it is zero above the diagonal, which drift reads at every
        later snapshot, are measured now from the float16 heads at hand, not read back from the file."""
        references = self._writer._references
        if index == 0:
            references.starting(self.probe, self.kind, self.step)
        kept, plogp, causal = [], [], self.causal
        for head in layer:
            half = arrays.to_host(head, np.float16)
            try:
                kept.append(references.scratch.put(half))
            except OSError as e:  # the temporary directory's disk is full: the snapshot is kept all the same
                references.unwritable(self.probe, self.kind, e)
                return None
            plogp.append(row_plogp(half[None, None])[0, 0])
            causal = causal and not np.triu(half, 1).any()
        self._state.reference_plogp[index] = (np.stack(plogp)[None], causal)
        return kept

    def _statistics(self, index, layer):
        query_side, key_side = self._sides
        args = dict(
            causal=self.causal,
            self_attention=self.kind != "cross",
            query_tokens=self._info[query_side],
            key_tokens=self._info[key_side],
            key_special=self._info["special" if key_side == "tokens" else "decoder_special"],
        )
        templates = self._state.templates.get(self.causal)
        if templates is None:
            templates = self._state.templates[self.causal] = ProbeTemplates(**args)
        reference = self._reference_layer(index, layer.shape)
        if reference is _NO_DRIFT:
            return _without_drift(layer, templates, args)
        try:
            plogp, causal = None, False
            if reference is not None:  # drift's terms of the first snapshot: the same at every snapshot
                plogp, causal = self._state.reference_plogp.get(index, (None, False))
                if plogp is None or plogp.shape != reference.shape[:-1]:
                    plogp = row_plogp(reference, like=layer)
                    causal = self.causal and zero_above_diagonal(reference)
                    self._state.reference_plogp[index] = (plogp, causal)
            drift = dict(reference=reference, reference_plogp=plogp, reference_causal=causal)
            return head_statistics(layer[None], templates=templates, **drift, **args)
        except (ValueError, OSError) as e:  # a kept reference that no longer reads (a damaged frame)
            if not isinstance(reference, SpilledHeads):
                raise
            self._writer._references.unreadable(self.probe, self.kind, e)
            return _without_drift(layer, templates, args)

    def _reference_layer(self, index, shape):
        """The drift reference of this layer (the first snapshot as stored), None when this is it, or
        _NO_DRIFT."""
        state = self._state
        if not state.reference_looked_up:
            state.reference_looked_up = True  # once, even if it fails
            state.reference = self._writer._reference_on_disk(self.probe, self.kind, self.step, shape)
        reference = state.reference
        if reference is None or reference is _NO_DRIFT:
            return reference
        try:
            first = reference(index)
        except (IndexError, KeyError, ValueError, OSError):
            first = None  # unreadable since: drift left out (NaN) for this layer
        if first is None or tuple(first.shape[-3:]) != tuple(shape):
            return _NO_DRIFT
        return first if isinstance(first, SpilledHeads) else first[None]

    def _blob(self, index, q):
        """A delta to the previous snapshot while deltas pay and the chain is short, else a keyframe."""
        previous = self._state.last.get(index)
        fits = previous is not None and previous.q.shape == q.shape
        if fits and previous.step < self.step and previous.chain < MAX_CHAIN:
            delta = encode_layer(q, reference=previous.q.unpack(), ref_step=previous.step)
            if len(delta) < KEYFRAME_WHEN_DELTA_EXCEEDS * previous.keyframe_size:
                return delta, LastLayer(self.step, PackedLayer.pack(q), previous.chain + 1, previous.keyframe_size)
        keyframe = encode_layer(q)
        return keyframe, LastLayer(self.step, PackedLayer.from_keyframe(keyframe, q), 1, len(keyframe))

    def _write(self, meta):
        """The record, once every layer is encoded (see `_write_record`)."""
        if self._failed is not None:
            return
        try:
            self._write_record(meta)
        finally:
            self._layers, self._selection = [], None  # written: what the record held is freed now
            if self._inline:  # as after each large layer, it goes back to the system
                release_freed_memory()

    def _write_record(self, meta):
        """Deltas made before a file was abandoned are written as keyframes (their reference is lost
        with that file)."""
        w = self._writer
        w._file.check_removed()
        layers = self._layers
        if self._selection is not None:
            blobs = self._selection.blobs(len(layers), *self.shape)
            layers = [(blob,) + entry[1:] for blob, entry in zip(blobs, layers)]
        elif self._generation != w._file.generation:
            layers = [self._as_keyframe(entry) for entry in layers]
        stats = np.concatenate([entry[2] for entry in layers], axis=1)
        relations = [entry[3] for entry in layers]
        relations = None if relations[0] is None else np.concatenate(relations, axis=-2)
        first_snapshot = self._state.reference is None
        written = w._write_snapshot(self, meta, [entry[0] for entry in layers], stats, relations)
        if written:
            for index, entry in enumerate(layers):
                if entry[1] is not None:
                    self._state.last[index] = entry[1]
            if first_snapshot:
                kept, references = [entry[4] for entry in layers], w._references
                if any(heads is None for heads in kept):  # not all in the scratch file: no drift this run
                    self._state.reference = _NO_DRIFT
                    return
                references.written(self.probe, self.kind, self.step, self._info["tokens"], kept, w.keep_drift_reference)
                self._state.reference = lambda index: SpilledHeads(references.scratch, kept[index])  # float16

    @staticmethod
    def _as_keyframe(entry):
        blob, last, *measured = entry
        if last is None:  # a blob of heads: a keyframe already
            return entry
        keyframe = encode_layer(last.q.unpack())
        return (keyframe, LastLayer(last.step, last.q, 1, len(keyframe)), *measured)


def _without_drift(layer, templates, args):
    """The statistics of a layer whose drift is left out (NaN); the snapshot is kept."""
    stats = head_statistics(layer[None], templates=templates, **args)
    stats[_DRIFT] = np.nan
    return stats
