"""One probe of a run read by `read_run` (reader.py): its tokens, steps, snapshots and statistics.

Snapshots are kept as stored (the blob sequence [header, layer 0, ...] of each step) and decoded
when asked for, following each layer's delta chain (blobs.decode_layer_at). Every record is kept
with its model size (layers, heads): a probe name reused for a model of another size in the same run
directory is never stacked silently (`sizes()`; statistics are read per size).
"""

from typing import NamedTuple

import numpy as np

from ..format.blobs import HEAD_ENCODINGS, HeadsLayer, decode_layer_at, decode_or_heads, layer_blob_info
from ..format.metadata import KIND_SIDES, MAX_SNAPSHOT_WEIGHTS, TooLarge
from ..analysis.head_types import classify_heads
from ..analysis.neuron_math import weight_and_contribution
from ..format.quantize import dequantize


class Size(NamedTuple):
    """A model size as a probe's records state it."""

    layers: int
    heads: int


def describe_steps(steps):
    """'step 5', 'steps 0, 10, 20' or 'steps 0..200 (21 steps)' for a sorted list of steps."""
    steps = list(steps)
    if len(steps) == 1:
        return f"step {steps[0]}"
    if len(steps) <= 4:
        return "steps " + ", ".join(str(s) for s in steps)
    return f"steps {steps[0]}..{steps[-1]} ({len(steps)} steps)"


class ProbeLog:
    """One probe of a run: its tokens, logged steps, attention snapshots and statistics."""

    def __init__(self, name):
        self.name = name
        self.meta = {}  # kind -> its ProbeMetadata (first seen)
        self._snapshots = {}  # kind -> {step: list of blobs}
        self._stats = {}  # kind -> {step: float32 [stats, L, H]}
        self._snapshot_sizes = {}  # kind -> {step: (layers, heads)} of the record read for that step
        self._stats_sizes = {}  # kind -> {step: (layers, heads)}
        self._size_meta = {}  # kind -> {(layers, heads): the first metadata of that size}
        self._relations = {}  # kind -> {step: float32 [instances, key words, L, H]}
        self._relation_meta = {}  # kind -> the metadata the relations records were read with
        self._predictions = {}  # kind -> {step: the model's predictions (records.check_predictions)}
        self._neurons = {}  # kind -> {step: a loader of the neuron view's record (records.parse_neurons)}
        self._order = 0

    # -- filled by read_run
    def _add(self, kind, meta, step, snapshot=None, stats=None, relations=None, predictions=None, neurons=None):
        self.meta.setdefault(kind, meta)
        size = Size(meta.layers, meta.heads)
        self._size_meta.setdefault(kind, {}).setdefault(size, meta)
        if snapshot is not None:
            self._snapshots.setdefault(kind, {})[step] = snapshot
            self._snapshot_sizes.setdefault(kind, {})[step] = size
        if stats is not None:
            self._stats.setdefault(kind, {})[step] = stats
            self._stats_sizes.setdefault(kind, {})[step] = size
        if predictions is not None:
            self._predictions.setdefault(kind, {})[step] = predictions
        if neurons is not None:
            self._neurons.setdefault(kind, {})[step] = neurons
        if relations is not None:
            previous = self._relation_meta.setdefault(kind, meta)
            if relations.shape == (len(previous.relation_instances()), len(previous.relation_key_words()), *size):
                self._relations.setdefault(kind, {})[step] = relations  # one set of relations per kind

    # -- public API
    @property
    def kinds(self):
        return [k for k in KIND_SIDES if k in self.meta]

    @property
    def _first_meta(self):
        return self.meta[self.kinds[0]]

    @property
    def tokens(self):
        return list(self._first_meta.tokens)

    @property
    def segments(self):
        return list(self._first_meta.segments)

    @property
    def special(self):
        return list(self._first_meta.special)

    @property
    def decoder_tokens(self):
        return self._first_meta.decoder_tokens

    @property
    def decoder_special(self):
        return self._first_meta.decoder_special

    def _kind(self, kind):
        if kind is None:
            return self.kinds[0]
        if kind not in self.meta:
            raise KeyError(f"probe {self.name!r} has no {kind!r} attention (it has {self.kinds})")
        return kind

    @property
    def steps(self):
        return self.steps_of(None)

    def steps_of(self, kind=None, size=None):
        """Sorted logged steps of one kind (default: the first kind); with size=(layers, heads), only
        the steps logged at that model size."""
        kind = self._kind(kind)
        by_step = self._snapshots.get(kind, {})
        if size is None:
            return sorted(by_step)
        size = self._one_size(kind, size)
        sizes = self._snapshot_sizes.get(kind, {})
        return sorted(s for s in by_step if sizes.get(s) == size)

    def sizes(self, kind=None):
        """{(layers, heads): sorted steps} of one kind, snapshots and statistics together: one entry,
        unless the probe's name was reused for a model of another size in the same run directory."""
        kind = self._kind(kind)
        out = {}
        for by_step in (self._snapshot_sizes.get(kind, {}), self._stats_sizes.get(kind, {})):
            for step, size in by_step.items():
                out.setdefault(size, set()).add(step)
        return {size: sorted(steps) for size, steps in sorted(out.items(), key=lambda item: min(item[1]))}

    def _one_size(self, kind, size=None):
        """The (layers, heads) asked for, or the probe's only one; a clear error when it has several."""
        sizes = self.sizes(kind)
        if size is not None:
            size = tuple(int(n) for n in size)
            if size not in sizes:
                raise KeyError(
                    f"probe {self.name!r} ({kind}) has no records at {size[0]} layers x "
                    f"{size[1]} heads{self._sizes_text(sizes)}"
                )
            return Size(*size)
        if len(sizes) > 1:
            raise ValueError(
                f"probe {self.name!r} ({kind}) was logged at {len(sizes)} model sizes in this run "
                f"directory{self._sizes_text(sizes)}. Its statistics do not stack across sizes: "
                f"pass size=(layers, heads) to stats(), stats_steps(), head_types(), "
                f"layers() or heads(), read one step's attention(step), or log each model to "
                f"its own run directory"
            )
        if sizes:
            return next(iter(sizes))
        meta = self.meta[kind]
        return Size(meta.layers, meta.heads)

    @staticmethod
    def _sizes_text(sizes):
        return "".join(
            (": " if i == 0 else "; ") + f"{l} layers x {h} heads at {describe_steps(steps)}"
            for i, ((l, h), steps) in enumerate(sizes.items())
        )

    def _meta_at(self, kind, step):
        """The metadata of the snapshot read for `step` (its model size's first metadata)."""
        size = self._snapshot_sizes.get(kind, {}).get(step)
        return self._size_meta.get(kind, {}).get(size, self.meta[kind])

    def _size_at(self, kind, step):
        for sizes in (self._snapshot_sizes.get(kind, {}), self._stats_sizes.get(kind, {})):
            if step in sizes:
                return sizes[step]
        raise KeyError(
            f"probe {self.name!r} has no {kind!r} record at step {step} (logged steps: {self.steps_of(kind)})"
        )

    def layers(self, kind=None, step=None, size=None):
        """Layers of the model (at a step; a probe logged at several sizes needs step= or size=)."""
        kind = self._kind(kind)
        return (self._size_at(kind, step) if step is not None else self._one_size(kind, size)).layers

    def heads(self, kind=None, step=None, size=None):
        kind = self._kind(kind)
        return (self._size_at(kind, step) if step is not None else self._one_size(kind, size)).heads

    def causal(self, kind=None):
        return self.meta[self._kind(kind)].causal

    def quantized(self, step, kind=None, layer=None, head=None):
        """uint8 [layers, heads, query, key] as stored (one layer: [heads, query, key]; one head of
        it: [query, key]); a head whose map a storage budget left out is zeros (`stored_heads`). A
        snapshot or layer larger than is decoded at once (long probes) is TooLarge: ask for less."""
        kind = self._kind(kind)
        blobs = self._blobs_at(kind, step)
        n_layers = len(blobs) - 1
        if (layer is not None and not 0 <= layer < n_layers) or (head is not None and layer is None):
            raise IndexError(f"layer {layer} out of range (a head needs its layer): the model has {n_layers} layers")
        shape = self._meta_at(kind, step).layer_shape()  # every blob is checked against it before decoding
        if head is not None:
            return self._head(blobs[1 + layer], lambda: self._layer(kind, step, layer, n_layers, shape), head, shape)
        if layer is None and n_layers * int(np.prod(shape)) > MAX_SNAPSHOT_WEIGHTS:
            raise TooLarge(
                f"a snapshot of {n_layers} layers x {shape} is more than is decoded at once: ask for a layer"
            )
        out = [self._layer(kind, step, l, n_layers, shape) for l in ([layer] if layer is not None else range(n_layers))]
        return out[0] if layer is not None else np.stack(out)

    def _blobs_at(self, kind, step):
        blobs = self._snapshots[kind].get(step)
        if blobs is None:
            raise KeyError(
                f"probe {self.name!r} has no {kind!r} snapshot at step {step} (logged steps: {self.steps_of(kind)})"
            )
        return blobs

    def _layer(self, kind, step, layer, n_layers, shape):
        """uint8 [H, Q, K] of one layer, along its delta chain."""
        series = self._snapshots[kind]

        def blob_at(at):  # the layer's blob at another step, from its blob sequence [header, layers...]
            sequence = series.get(at)
            return None if sequence is None or len(sequence) != n_layers + 1 else sequence[1 + layer]

        return decode_layer_at(step, blob_at, expected=shape)

    @staticmethod
    def _head(blob, whole_layer, head, shape):
        if not 0 <= head < shape[0]:
            raise IndexError(f"head {head} out of range: the model has {shape[0]} heads")
        layer = decode_or_heads(blob, shape, whole_layer)
        return layer[head] if isinstance(layer, np.ndarray) else layer.head(head)

    def attention(self, step, kind=None, layer=None, head=None):
        """float32 [layers, heads, query, key] at a logged step (real tokens only; error <= 1/255);
        `layer` and `head` as for `quantized`. NaN for the heads whose maps a storage budget left out
        (`stored_heads`)."""
        a = dequantize(self.quantized(step, kind, layer, head))
        for l, heads in self.stored_heads(step, kind).items():
            if heads is None or (layer is not None and l != layer):
                continue
            if head is not None:
                a[...] = a if head in heads else np.nan
            else:
                (a[l] if layer is None else a)[np.setdiff1d(np.arange(a.shape[-3]), heads)] = np.nan
        return a

    def bertviz(self, step):
        """What BertViz's head_view / model_view take for this probe at `step`, as keyword arguments:
        `head_view(**probe.bertviz(step))` (reading/bertviz_inputs.py; imports torch)."""
        from .bertviz_inputs import bertviz_inputs

        return bertviz_inputs(self, step)

    def stored_heads(self, step, kind=None):
        """{layer: sorted head indices with a map at `step`, or None for every head}: a run with a
        storage budget (the callback's attention_budget=) keeps the maps of some heads only."""
        kind = self._kind(kind)
        blobs = self._blobs_at(kind, step)
        shape = self._meta_at(kind, step).layer_shape()
        return {l: layer_blob_info(blob, shape).stored for l, blob in enumerate(blobs[1:])}

    def summarized_heads(self, step, kind=None):
        """{layer: sorted head indices with a summary (block means and each row's top-k keys) instead
        of a map at `step`}: what a storage budget kept of some heads it left without a map."""
        kind = self._kind(kind)
        blobs = self._blobs_at(kind, step)
        shape = self._meta_at(kind, step).layer_shape()
        return {l: layer_blob_info(blob, shape).summarized for l, blob in enumerate(blobs[1:])}

    def summary(self, step, layer, head, kind=None):
        """format.summaries.HeadSummary of one head at `step` (`block_means()`, `keys`,
        `top_weights()`, `sparse()`), or None when that head has its map or nothing at that step."""
        kind = self._kind(kind)
        blobs = self._blobs_at(kind, step)
        shape = self._meta_at(kind, step).layer_shape()
        if not 0 <= layer < len(blobs) - 1 or not 0 <= head < shape[0]:
            raise IndexError(
                f"layer {layer} head {head} out of range: the model has {len(blobs) - 1} x {shape[0]} heads"
            )
        blob = blobs[1 + layer]
        if layer_blob_info(blob, shape).encoding not in HEAD_ENCODINGS:
            return None
        return HeadsLayer(blob, shape).summary(head)

    def stats(self, kind=None, size=None):
        """{stat name: float32 [len(steps), layers, heads]} over every step that has statistics (of
        one model size: size=(layers, heads) when the probe was logged at several, see sizes())."""
        kind = self._kind(kind)
        by_step = self._stats.get(kind, {})
        steps = self.stats_steps(kind, size)
        names = self.meta[kind].stats
        if not steps:
            shape = (0,) + self._one_size(kind, size)
            return {n: np.zeros(shape, np.float32) for n in names}
        stacked = np.stack([by_step[s] for s in steps], axis=1)  # [stats, S, L, H]
        return {n: stacked[i] for i, n in enumerate(names)}

    def stats_steps(self, kind=None, size=None):
        kind = self._kind(kind)
        size = self._one_size(kind, size)
        sizes = self._stats_sizes.get(kind, {})
        return sorted(s for s in self._stats.get(kind, {}) if sizes.get(s) == size)

    def relation_features(self, kind=None):
        """(steps, float32 [steps, instances, key words, layers, heads]): each labelled relation's word
        attention at every logged step (relations.py); ([], None) when the probe has none."""
        kind = self._kind(kind)
        by_step = self._relations.get(kind, {})
        steps = sorted(by_step)
        return (steps, np.stack([by_step[s] for s in steps])) if steps else ([], None)

    def predictions(self, kind=None):
        """{step: {"mode", "positions", "top", "targets", "target_probs"}}: what the model predicted on
        the probe (the callback's predictions=); {} when not logged. `kind` as elsewhere, except that
        encoder-decoder probes keep theirs under "decoder"."""
        kinds = [k for k in ([kind] if kind else self.kinds) if k in self._predictions]
        return dict(sorted(self._predictions[kinds[0]].items())) if kinds else {}

    def neuron_steps(self, kind=None):
        """Steps at which the neuron view's query and key vectors were stored (the callback's neurons=)."""
        return sorted(self._neurons.get(self._kind(kind), {}))

    def neurons(self, step, kind=None):
        """The neuron view's record at `step`: {"heads": [(layer, head)], "query" float32 [n, Q, D],
        "key" [n, K, D], "scale" [n], "softcap" [n], "allowed" bool [n, Q, K], "bias" [n, Q, K] or
        None, "value_norm" [n, K] (||W_O^h v_j||) or None} (read from its file now); KeyError when none
        was stored at that step."""
        kind = self._kind(kind)
        by_step = self._neurons.get(kind, {})
        if step not in by_step:
            raise KeyError(
                f"probe {self.name!r} ({kind}) has no neuron record at step {step} "
                f"(stored at: {describe_steps(sorted(by_step)) if by_step else 'none'})"
            )
        return by_step[step]()

    def contributions(self, kind=None):
        """{step: {"first": [[weight, contribution] per captured head], "sep": ...}}: the mass on the
        first key and on the other special keys by attention weight and by Kobayashi et al.'s
        norm-based contribution (neuron_math.weight_and_contribution; contribution None where the
        value norms were not captured)."""
        kind = self._kind(kind)
        meta = self.meta[kind]
        special, causal = meta.key_special(), meta.causal
        return {s: weight_and_contribution(self.neurons(s, kind), special, causal) for s in self.neuron_steps(kind)}

    def relation_meta(self, kind=None):
        """The metadata that describes this kind's relation records (instances, words)."""
        return self._relation_meta.get(self._kind(kind))

    def head_types(self, kind=None, size=None):
        """[{layer, head, type, score, formed_step}] for the types each head has at the last step."""
        kind = self._kind(kind)
        return classify_heads(self.stats_steps(kind, size), self.stats(kind, size))
