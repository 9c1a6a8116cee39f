"""Where each probe's layers go as the probe pass hands them over (capture/probe_pass.stream_probes):
into the writer a layer at a time, or only through the checks (the first pass before training, ranks
that join a sharded forward without writing): never all of them into memory.

Every sink takes `layer(i, kind, layer, weights, max_logits=None)` (probe i's [heads, query, key]
weights, in layer order: float32 numpy, or on an accelerator the model's tensor, probe_pass.for_writer;
and each head's largest attention logit, float32 [heads], when measured),
`neurons(i, kind, record, attention)` (the neuron view's record of probe i, after its layers, and the
captured heads' float32 weights, [layer][head] -> [query, key]) and `predictions(i, prediction)`.
"""

from .capture.neurons import record_bytes


class DiscardingSink:
    """Keeps nothing: the pass only runs and checks (a sharded rank that does not write)."""

    def layer(self, i, kind, layer, weights, max_logits=None):
        pass

    def neurons(self, i, kind, record, attention):
        pass

    def predictions(self, i, prediction):
        pass


class FirstPassSink(DiscardingSink):
    """Keeps only whether the first probe's first token attends to later ones in any layer (then
    the model is not causal, whatever its modules declare), and each (probe, kind)'s size: `shapes`
    {(i, kind): (layers, heads, query, key)} (what the storage plan counts)."""

    def __init__(self):
        self.looks_ahead = False
        self.shapes = {}
        self.neuron_bytes = 0  # the neuron records' stored size (neurons.record_bytes)

    def neurons(self, i, kind, record, attention):
        self.neuron_bytes += record_bytes(record)

    def layer(self, i, kind, layer, weights, max_logits=None):
        self.shapes[(i, kind)] = (layer + 1,) + tuple(weights.shape)
        if i == 0 and kind == "self" and weights.shape[-1] > 1:
            self.looks_ahead = self.looks_ahead or bool((weights[:, 0, 1:] != 0).any())


class WritingSink:
    """Each probe's layers into its own writer stream (writer.open_snapshot), committed when the pass
    has finished; nothing of a pass that fails is written. A (probe, kind) whose layer the writer
    refuses (NaN of a diverged model) is left out of this snapshot and listed in `refused`; a (probe,
    kind) in `skip` is not written."""

    def __init__(self, writer, step, names, causal, skip=(), name_prediction=None, heads=None):
        self.writer, self.step, self.names, self.causal = writer, step, names, causal
        self.heads = heads  # the storage plan's HeadChoice, or None: every head's map
        self.skip = set(skip)
        self.name_prediction = name_prediction
        self.refused = []  # (probe, kind, error)
        self._streams = {}  # (i, kind) -> SnapshotStream, or None once refused
        self._predictions = {}
        self._neurons = {}  # (i, kind) -> (record, attention)

    def layer(self, i, kind, layer, weights, max_logits=None):
        key = (i, kind)
        if (self.names[i], kind) in self.skip:
            return
        if layer == 0:
            self._streams[key] = self.writer.open_snapshot(
                self.step, self.names[i], kind, causal=self.causal[kind], heads=self.heads
            )
        stream = self._streams.get(key)
        if stream is None:
            return
        try:
            stream.add_layer(weights, max_logits=max_logits)
        except ValueError as e:
            self._refuse(key, e)

    def neurons(self, i, kind, record, attention):
        self._neurons[(i, kind)] = (record, attention)

    def predictions(self, i, prediction):
        self._predictions[i] = prediction

    def commit(self):
        """Write every snapshot of the pass, then the neuron view's records and what the model
        predicted after its attention, for the snapshots written."""
        committed = set()
        for key, stream in self._streams.items():
            if stream is not None:
                try:
                    stream.commit()
                    committed.add(key)
                except ValueError as e:
                    self._refuse(key, e)
        for (i, kind), (record, attention) in self._neurons.items():
            if (i, kind) in committed:
                self.writer.add_neurons(self.step, self.names[i], record, kind=kind, attention=attention)
        for i, prediction in self._predictions.items():
            for kind in ("self", "decoder"):
                if prediction is not None and (i, kind) in committed:
                    self.writer.add_predictions(self.step, self.names[i], self.name_prediction(prediction), kind=kind)
        return committed

    def abort(self):
        for stream in self._streams.values():
            if stream is not None:
                stream.abort()

    def _refuse(self, key, error):
        stream = self._streams.get(key)
        if stream is not None:
            stream.abort()
        self._streams[key] = None
        # without its traceback, whose frames hold the layer (the model's tensor, on its GPU)
        self.refused.append((self.names[key[0]], key[1], error.with_traceback(None)))
