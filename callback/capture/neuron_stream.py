"""The neuron view's records taken from a streamed pass, a layer at a time.

A pass that captures query and key vectors used to ask for every layer's weights at once
(`output_attentions`), as large as the streamed pass avoids. Here the streamed pass runs under the
neuron view's capturing attention (neurons.py), which hands each layer's weights to the stream's
listener as the streaming attention does. For each layer, only what the records need stays: the
captured heads' query and key rows, mask, bias and value norms, and those heads' weights (to check
that the record explains them, and to decide whether float16 vectors keep within the bound). The
call itself (whole-batch query, key, value and output, but not its weights) is dropped when the next
layer hands its weights over, once its output projection has run (the value norms need it): at most
two layers' calls at a time.
"""

import torch

from . import neurons as neuron_capture


class StreamedNeurons:
    """Collects one streamed batch's neuron records: `on_layer` from the stream's listener, then
    `hand_to` a sink once the forward has returned."""

    def __init__(self, options, layer_map, batch, lengths, calls):
        """`options`: NeuronOptions; `batch`: the probes' indices; `lengths[b][kind]`: (query, key)
        tokens of the b-th probe; `calls`: the capturing context's list (neurons.capturing)."""
        self.calls, self.lengths, self.batch = calls, lengths, batch
        self.chosen = {}  # kind -> {layer: [heads]}
        for kind, layers in layer_map.layers.items():
            for layer, head in options.heads_for(layers, layer_map.heads[kind]):
                self.chosen.setdefault(kind, {}).setdefault(layer, []).append(head)
        self.parts = {}  # (b, kind) -> [layer_part]
        self.weights = {}  # (b, kind) -> {layer: {head: float32 [Q, K]}}
        self._pending = None  # (call, kind, layer): its output projection has not run yet

    def on_layer(self, kind, layer, weights):
        """Layer `layer` of `kind` has just been computed (`weights` [batch, heads, Q, K])."""
        call = self.calls[-1] if self.calls else None
        if call is None or call.weights is not weights:
            raise neuron_capture.NeuronViewUnavailableError(
                f"the {kind} attention of layer {layer} did not come from the capturing attention function, "
                f"so tb-attention cannot show its query and key: turn neurons= off"
            )
        heads = self.chosen.get(kind, {}).get(layer)
        for b in range(len(self.batch)):
            q, k = self.lengths[b][kind]
            kept = self.weights.setdefault((b, kind), {})
            if heads:
                # copies: a view would keep the whole layer's weights alive on the CPU
                kept[layer] = {h: weights[b, h, :q, :k].to("cpu", torch.float32, copy=True).numpy() for h in heads}
        call.weights = None  # the layer's weights are the stream's: the records need only these heads
        self._finish_pending()
        self._pending = (call, kind, layer) if heads else None
        self.calls[:] = [call] if heads else []  # calls of modules outside the probed kinds go too

    def hand_to(self, sink, names, model_name, strict):
        """Once the forward has returned: each probe's record to `sink.neurons(i, kind, record,
        attention)`, with its heads' weights ([layer][head]); `strict` (the first pass) checks first
        that the record explains them. `names`: the batch's probe names."""
        self._finish_pending()
        self.calls.clear()
        for (b, kind), parts in self.parts.items():
            record, attention = neuron_capture.join_parts(parts), self.weights[(b, kind)]
            if strict:
                neuron_capture.verify(record, attention, model_name, names[b], kind)
            sink.neurons(self.batch[b], kind, record, attention)

    def _finish_pending(self):
        if self._pending is None:
            return
        call, kind, layer = self._pending
        self._pending = None
        # within the forward: out of a mixed-precision wrapper's autocast (the value norms' products and
        # the output projection's check are float32, as after the forward)
        with torch.autocast(call.query.device.type, enabled=False):
            for b in range(len(self.batch)):
                q, k = self.lengths[b][kind]
                part = neuron_capture.layer_part(call, b, layer, self.chosen[kind][layer], q, k)
                self.parts.setdefault((b, kind), []).append(part)
