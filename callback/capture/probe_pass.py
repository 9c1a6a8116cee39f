"""Run the probes through the model without changing training in any way, and check what comes out.

The pass switches to eager attention (sdpa/flash return no weights), eval mode and no_grad, and
restores afterwards the attention implementation, every module's train/eval flag and the CPU and
CUDA RNG states, so a run with the callback trains bit-identically to one without it.

What it returns must be the model's own attention, or an error: the switch to eager must have taken
effect (some models only log a warning and stay on sdpa), every layer must have the shape of the
batch that went in (a wrapper adding virtual tokens would shift every column), the weights must be
probabilities, and causal where the model's attention modules say they are.
"""

import contextlib

import numpy as np

import torch

from . import neurons as neuron_capture
from . import streaming
from .attention_logits import LogitInputs, row_max_logits
from .neuron_stream import StreamedNeurons
from .predictions import batch_predictions
from .model_access import accepted_inputs, base_model, causal_self_attention, forward_target, is_encoder_decoder
from .model_checks import AttentionUnavailableError, check_layer_weights, implementations, load_eager_hint, no_attention

# Probes run together while one layer's float32 weights of the batch stay within this (a long probe runs
# alone): what the model holds of attention at a time, besides its own temporaries.
BATCH_BYTES = 64 << 20


@contextlib.contextmanager
def probing_mode(model, implementation="eager"):
    """eval + no_grad + eager attention (or the neuron view's capturing attention, which calls the
    model's eager function) + RNG untouched, restored on exit (also on error)."""
    base = base_model(model)
    modes = [(m, m.training) for m in model.modules()]
    previous = implementations(model)
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    switched = False

    def cannot_switch(current, why=""):
        """The error for a model that refuses the switch (raises) or ignores it (stays on `current`)."""
        if implementation != "eager":
            return neuron_capture.NeuronViewUnavailableError(
                f"{type(base).__name__} cannot switch its attention to the neuron view's capturing function "
                f"(it stays on {current!r}{why}): turn neurons= off"
            )
        return AttentionUnavailableError(load_eager_hint(model, current) + why)

    try:
        if any(impl not in (None, implementation) for impl in previous):
            if not hasattr(base, "set_attn_implementation"):
                raise cannot_switch(previous[0])
            try:
                base.set_attn_implementation(implementation)
            except Exception as e:
                raise cannot_switch(previous[0], f" ({e})") from e
            switched = True
            still = [impl for impl in implementations(model) if impl not in (None, implementation)]
            if still:
                raise cannot_switch(still[0])
        forward_target(model).eval()
        with torch.no_grad():
            yield
    finally:
        if switched:
            base.set_attn_implementation(previous[0])
        for module, training in modes:
            module.training = training
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def _device_of(model):
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _pad(rows, pad_id):
    """Right-pad lists of ids -> (ids [B, T], mask [B, T]) tensors; real rows/columns stay exact."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[b, : len(r)] = 1
    return ids, mask


def _inputs_key(probe):
    """Probes batched together must take the same kinds of inputs: a probe's inputs never depend on
    its batch-mates (a probe without token_type_ids must not take those of another, nor lose its own)."""
    return probe.token_type_ids is not None


class Layers(tuple):
    """One probe's attention of one kind as the model returned it: a float32 [heads, query, key] array
    per layer (views of the model's outputs on CPU, so nothing is copied while training waits);
    `np.asarray(layers)` stacks them into [layers, heads, query, key]."""

    @property
    def shape(self):
        return (len(self),) + self[0].shape

    def __array__(self, dtype=None, copy=None):
        stacked = np.stack(self)
        return stacked if dtype is None else stacked.astype(dtype)


class ProbeOutputs(dict):
    """{kind: Layers} of one probe, and (when asked for) what the model predicted on it from the same
    forward pass (predictions.py; ids, not yet text) and the neuron view's query and key vectors
    ({kind: record}, neurons.py)."""

    predictions = None
    neurons = None
    max_logits = None  # {kind: float32 [layers, heads]} when measured (attention_logits.py)


def run_probes(model, probes, pad_id=0, *, strict=False, top_k=0, mask_id=None, neurons=None, logits=False):
    """Probes -> [ProbeOutputs {kind: Layers}] (one per probe, in order), every layer of every probe
    held at once (the model's `output_attentions`); with top_k, their predictions too; with `neurons`
    (neurons.NeuronOptions), the captured heads' query and key, and with `logits` as well (the layers'
    calls explain their weights: streaming.LayerMap.logits) each head's largest logit.
    `stream_probes` is the pass that holds one layer at a time; this one serves the neuron view and
    models whose attention cannot be streamed.

    One batched forward per group of probes with the same kinds of inputs. `strict` also checks that
    every weight is a probability (the first pass, before training, uses it: a model that gives no
    attention must stop before the first update, not be skipped silently later).
    """
    result = [None] * len(probes)
    for indices in _groups(probes):
        batch = [probes[i] for i in indices]
        for i, kinds in zip(indices, _run_batch(model, batch, pad_id, strict, top_k, mask_id, neurons, logits)):
            result[i] = kinds
    return result


def _groups(probes):
    groups = {}
    for i, probe in enumerate(probes):
        groups.setdefault(_inputs_key(probe), []).append(i)
    return list(groups.values())


def batch_inputs(model, probes, pad_id):
    """The keyword arguments of one batched forward of `probes` (without output_attentions), and per
    kind (output field, padded query length, padded key length)."""
    accepted = accepted_inputs(model) or set()
    device = _device_of(model)
    ids, mask = _pad([p.input_ids for p in probes], pad_id)
    kwargs = dict(input_ids=ids.to(device), attention_mask=mask.to(device), return_dict=True)
    if probes[0].token_type_ids is not None and "token_type_ids" in accepted:
        kwargs["token_type_ids"] = _pad([p.token_type_ids for p in probes], 0)[0].to(device)
    width = ids.shape[1]
    if is_encoder_decoder(model):
        dec_ids, dec_mask = _pad([p.decoder_input_ids for p in probes], pad_id)
        kwargs.update(decoder_input_ids=dec_ids.to(device), decoder_attention_mask=dec_mask.to(device))
        dec_width = dec_ids.shape[1]
        fields = {
            "encoder": ("encoder_attentions", width, width),
            "decoder": ("decoder_attentions", dec_width, dec_width),
            "cross": ("cross_attentions", dec_width, width),
        }
    else:
        fields = {"self": ("attentions", width, width)}
    if "use_cache" in accepted or is_encoder_decoder(model):
        kwargs["use_cache"] = False
    return kwargs, fields


def probe_lengths(probe, encoder_decoder):
    """(query, key) tokens of each kind of one probe."""
    n = len(probe.input_ids)
    m = len(probe.decoder_input_ids) if encoder_decoder else n
    return {"self": (n, n), "encoder": (n, n), "decoder": (m, m), "cross": (m, n)}


def causal_kinds(model):
    return {"self": causal_self_attention(model), "encoder": False, "decoder": True, "cross": False}


def _run_batch(model, probes, pad_id, strict, top_k=0, mask_id=None, neurons=None, logits=False):
    encoder_decoder = is_encoder_decoder(model)
    kwargs, fields = batch_inputs(model, probes, pad_id)
    kwargs["output_attentions"] = True
    if neurons is not None:
        neuron_capture.register()
    implementation = "eager" if neurons is None else neuron_capture.CAPTURE_IMPLEMENTATION
    with probing_mode(model, implementation), neuron_capture.capturing(enabled=neurons is not None) as capture:
        out = forward_target(model)(**kwargs)
    layers = {kind: _layers(out, field, model, len(probes), q, k) for kind, (field, q, k) in fields.items()}
    causal = causal_kinds(model)
    predicted = batch_predictions(out, model, probes, top_k, mask_id) if top_k else [None] * len(probes)
    calls = (
        {
            kind: neuron_capture.layer_calls(capture.calls, layers[kind], type(base_model(model)).__name__, field)
            for kind, (field, _, _) in fields.items()
        }
        if neurons is not None
        else None
    )
    result = []
    for b, p in enumerate(probes):
        lengths = probe_lengths(p, encoder_decoder)
        kinds = ProbeOutputs()
        kinds.predictions = predicted[b]
        for kind, stack in layers.items():
            q, k = lengths[kind]
            last = len(stack) - 1
            for index, layer in enumerate(stack):
                if strict or index == last:
                    check_layer_weights(layer[b, :, :q, :k], model, p.name, kind, causal[kind], strict)
            # The model's own outputs (views; copies from an accelerator)
            kinds[kind] = Layers(layer[b, :, :q, :k].cpu().float().numpy() for layer in stack)
        if calls is not None:
            kinds.neurons = _neuron_records(calls, b, kinds, neurons, lengths, model, p.name, strict)
            if logits:
                kinds.max_logits = {kind: _largest_logits(calls[kind], b, lengths[kind][0]) for kind in calls}
        result.append(kinds)
    return result


def _largest_logits(layer_calls, b, queries):
    """float32 [layers, heads]: probe b's largest logit per head, from the captured calls."""
    rows = []
    for call in layer_calls:
        inputs = LogitInputs(call.query, call.key, call.mask, call.scaling, call.softcap)
        rows.append(_probe_maxima(row_max_logits(inputs, call.weights), b, queries))
    return np.stack(rows)


def _probe_maxima(logits, b, queries):
    """[batch, heads, rows] of a batch -> float32 [heads]: probe b's largest over its real rows."""
    return logits[b, :, :queries].amax(dim=-1).cpu().numpy().astype(np.float32)


def discover_layers(model, probe, pad_id):
    """Which attention call is which layer (streaming.LayerMap), learnt from a pass over the first
    few tokens of `probe`: through transformers' attention interface, else from the modules that
    return the weights; None when the model's attention cannot be streamed."""
    streaming.register()
    kwargs, fields = batch_inputs(model, [streaming.short_probe(probe)], pad_id)
    kwargs["output_attentions"] = True

    def short_pass(implementation):
        with probing_mode(model, implementation):
            return forward_target(model)(**kwargs)

    fields = {kind: field for kind, (field, _, _) in fields.items()}
    through_interface = streaming.discover(lambda: short_pass(streaming.STREAM_IMPLEMENTATION), fields)
    return through_interface or streaming.discover_returned(model, lambda: short_pass("eager"), fields)


def stream_probes(model, probes, pad_id, layer_map, sink, *, strict=False, top_k=0, mask_id=None, neurons=None):
    """Run the probes holding one layer at a time: `sink.layer(i, kind, layer, weights, max_logits)`
    gets probe i's float32 [heads, query, key] weights of each layer as the model computes it (checked
    as run_probes checks them) and each head's largest logit (float32 [heads], or None where not
    measured), `sink.predictions(i, prediction)` what the model predicted (top_k), and with `neurons`
    (NeuronOptions; the layer map's calls go through the attention interface) `sink.neurons(i, kind,
    record, attention)` the neuron view's record (neuron_stream.py; the first, strict, pass checks
    that it explains the weights).

    Probes with the same kinds of inputs run together while their layer's weights stay within
    BATCH_BYTES (a long probe runs alone)."""
    encoder_decoder = is_encoder_decoder(model)
    causal = causal_kinds(model)
    heads = max(layer_map.heads.values())
    implementation = layer_map.implementation
    if neurons is not None:
        neuron_capture.register()
        implementation = neuron_capture.CAPTURE_IMPLEMENTATION
    for indices in _groups(probes):
        for batch in _batches(indices, probes, heads):
            chosen = [probes[i] for i in batch]
            kwargs, fields = batch_inputs(model, chosen, pad_id)
            lengths = [probe_lengths(p, encoder_decoder) for p in chosen]

            with probing_mode(model, implementation), neuron_capture.capturing(neurons is not None) as capture:
                taken = None if neurons is None else StreamedNeurons(neurons, layer_map, batch, lengths, capture.calls)

                def on_layer(kind, layer, weights, logits, batch=batch, chosen=chosen, lengths=lengths, fields=fields):
                    _check_shape(weights, model, fields[kind][0], len(chosen), *fields[kind][1:])
                    for b, (i, p) in enumerate(zip(batch, chosen)):
                        q, k = lengths[b][kind]
                        w = weights[b, :, :q, :k]
                        if strict or layer == layer_map.layers[kind] - 1:
                            check_layer_weights(w, model, p.name, kind, causal[kind], strict)
                        largest = None if logits is None else _probe_maxima(logits, b, q)
                        sink.layer(i, kind, layer, for_writer(w), largest)
                    if taken is not None:
                        taken.on_layer(kind, layer, weights)

                out = streaming.stream_forward(model, kwargs, layer_map, on_layer)
            if taken is not None:
                taken.hand_to(sink, [p.name for p in chosen], type(base_model(model)).__name__, strict)
            if top_k:
                for i, prediction in zip(batch, batch_predictions(out, model, chosen, top_k, mask_id)):
                    sink.predictions(i, prediction)
            del out


def for_writer(w):
    """A probe's layer as the sinks take it: on a CUDA GPU the tensor itself, in the model's dtype (the
    writer measures a large layer there and copies a small one to the host: writer/snapshot_stream.py);
    anywhere else float32 numpy, copied to the host in the model's dtype and widened there (no float32
    copy on an accelerator; on the CPU a view)."""
    return w if w.device.type == "cuda" else w.cpu().float().numpy()


def _batches(indices, probes, heads):
    """Consecutive probes whose padded layer of float32 weights fits BATCH_BYTES together."""
    batches, current, width = [], [], 0
    for i in indices:
        n = max(len(probes[i].input_ids), len(getattr(probes[i], "decoder_input_ids", None) or ()))
        grown = max(width, n)
        if current and (len(current) + 1) * heads * grown * grown * 4 > BATCH_BYTES:
            batches.append(current)
            current, grown = [], n
        current.append(i)
        width = grown
    return batches + [current] if current else batches


def _neuron_records(calls, b, kinds, options, lengths, model, probe, strict):
    """{kind: neuron record} of probe b (neurons.head_vectors); the first pass checks that each record
    explains the weights the model returned."""
    records = {}
    for kind, layer_calls in calls.items():
        layers, heads = kinds[kind].shape[:2]
        chosen = {}
        for layer, head in options.heads_for(layers, heads):
            chosen.setdefault(layer, []).append(head)
        records[kind] = neuron_capture.head_vectors(layer_calls, b, chosen, *lengths[kind])
        if strict:
            neuron_capture.verify(records[kind], kinds[kind], type(base_model(model)).__name__, probe, kind)
    return records


def _layers(out, field, model, batch, queries, keys):
    value = getattr(out, field, None)
    if not value or any(v is None for v in value):
        raise no_attention(out, field, model)
    for layer in value:
        _check_shape(layer, model, field, batch, queries, keys)
    return value


def _check_shape(layer, model, field, batch, queries, keys):
    if layer.dim() != 4 or layer.shape[0] != batch or tuple(layer.shape[2:]) != (queries, keys):
        raise AttentionUnavailableError(
            f"{type(model).__name__} returned {field} of shape {tuple(layer.shape)} for a batch of "
            f"{batch} x {queries} x {keys} tokens: its attention covers positions that are not the "
            f"probe's tokens (e.g. virtual tokens of PEFT prompt or prefix tuning), so tb-attention "
            f"cannot tell which weight belongs to which token"
        )
