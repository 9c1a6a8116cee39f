"""Probes made ready for one model, run through it and written: the part every loop shares.

The Trainer callback, the custom-loop recorder, the Lightning callback and replay all use this class
(through SnapshotDriver), so a probe sees the same inputs and the same checks whatever runs the training.
"""

import logging
import warnings

from .capture.model_access import base_model, causal_self_attention, is_encoder_decoder, token_limit
from .capture.model_checks import check_drivable
from .capture.probe_pass import discover_layers, run_probes, stream_probes
from .capture.neurons import log_size
from .capture.predictions import named
from .probes.sentences import induction_probe, tokenize
from .layer_sinks import DiscardingSink, FirstPassSink, WritingSink
from .storage_plan import log_plan, plan_storage

logger = logging.getLogger("tb_attention")
HELD_WARNING_BYTES = 1 << 30  # a pass that holds more than this of attention at once is said loudly


def resolve_tokenizer(tokenizer):
    tok = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps its tokenizer
    if tok is None or not hasattr(tok, "convert_ids_to_tokens") or not callable(tok):
        raise ValueError(
            "tb-attention needs a Hugging Face tokenizer to tokenize the probes: pass "
            "processing_class=tokenizer to the Trainer, or tokenizer=tok"
        )
    return tok


class ProbeRunner:
    """Tokenized probes for `model`, checked by a first pass before any training.

    The first pass stops with a clear error when the model cannot return its attention; it keeps
    nothing (the snapshot at the first step is a pass of its own, written a layer at a time). The
    built-in induction probe is added for models with causal self-attention (or when asked for).
    """

    def __init__(self, model, tokenizer, options, *, capture_neurons=True, depth=0):
        """`options`: a ProbeOptions (checked when it was made); `capture_neurons=False` leaves its
        neuron view out of this runner (replay: only every k-th checkpoint); `depth`: the frames
        between the runner and the entry point that makes it (its warnings name the entry point's
        caller)."""
        self.options = options
        self._depth = depth
        self.top_k = options.top_k
        self.neurons = options.neuron_options if capture_neurons else None
        self._written = 0  # snapshots written so far: the neuron view captures every `neuron_every`-th
        self.neuron_every = 1
        self.neuron_bytes = 0
        self.held_at_once = 0  # bytes of attention a pass from the model's outputs holds (not streamed)
        check_drivable(model)  # a model that takes no input_ids is told so, and what to do instead
        self.tokenizer = tok = resolve_tokenizer(tokenizer)
        self.model = model
        limit = token_limit(model)
        # a probe longer than the model's position table would crash its forward pass
        self.max_tokens = min(options.max_tokens, limit) if limit is not None else options.max_tokens
        encoder_decoder = is_encoder_decoder(model)
        self.probes = [self._tokenized(*spec) for spec in options.specs]
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        # which attention call is which layer: then every pass holds one layer at a time
        self.layer_map = discover_layers(model, self.probes[0], self.pad_id)
        self.shapes = {}  # (probe name, kind) -> (layers, heads, query, key), from the first pass
        self.plan = None  # the StoragePlan (plan_storage): every head's map until one is made
        looks_ahead = self._first_pass(self.probes)
        inferred_causal = not encoder_decoder and len(self.probes[0].input_ids) > 1 and not looks_ahead
        induction_probe = options.induction_probe
        if induction_probe or (induction_probe is None and inferred_causal):
            extra = self._induction_probe(tok, explicit=bool(induction_probe))
            if extra is not None:
                self.probes.append(extra)
                self._first_pass([extra])
        self._say_what_is_held()
        if self.neuron_bytes:
            self.neuron_every = self.neurons.every_for(self.neuron_bytes)
            log_size(self.neuron_bytes, self.neuron_every, self.neurons.every is None)
        # causal where the model declares it (every pass checks) or where its weights show it
        self.causal = {
            "self": bool(causal_self_attention(model)) or inferred_causal,
            "decoder": True,
            "encoder": False,
            "cross": False,
        }
        self._skipped = set()

    def _tokenized(self, name, text, pair, relations, masked):
        return tokenize(
            self.tokenizer,
            name,
            text,
            pair,
            self.max_tokens,
            encoder_decoder=is_encoder_decoder(self.model),
            model=self.model,
            relations=relations,
            masked=masked,
        )

    def _first_pass(self, probes):
        """The strict pass before training: every weight checked (a model that gives no attention
        stops here, before the first update); whether the first probe's first token looks ahead."""
        sink = FirstPassSink()
        if self._streams(self.neurons):
            self._pass(probes, sink, strict=True, neurons=self.neurons)
        else:
            outputs = self._outputs(probes, strict=True, neurons=self.neurons)
            held = sum(layer.nbytes for o in outputs for layers in o.values() for layer in layers)
            self.held_at_once = max(self.held_at_once, held)
            _replay(outputs, sink)
        self.neuron_bytes += sink.neuron_bytes  # the neuron view checked that it explains the weights
        self._keep_shapes(probes, sink)
        return sink.looks_ahead

    def _streams(self, neurons):
        """Whether a pass (with the neuron view's capture when `neurons`) holds one layer at a time:
        the neuron view captures through the attention interface, so not from returned weights."""
        return self.layer_map is not None and (neurons is None or self.layer_map.returned_at is None)

    def _keep_shapes(self, probes, sink):
        self.shapes.update(((probes[i].name, kind), shape) for (i, kind), shape in sink.shapes.items())

    def plan_storage(self, snapshots):
        """Fix what each snapshot stores within the options' budget, for a run of `snapshots`
        snapshots, and say it (storage_plan.py); ValueError, before training, when it cannot fit."""
        self.plan = plan_storage(self.shapes, snapshots, self.options.budget, self.options.heads)
        log_plan(self.plan)

    def _say_what_is_held(self):
        """A model whose attention cannot stream holds every layer of a pass at once: say how much
        before training, loudly when it is large."""
        if self.layer_map is not None:
            return
        name = type(base_model(self.model)).__name__
        message = (
            "tb-attention: %s's attention cannot be taken a layer at a time (it does not go through "
            "transformers' attention interface, and the model uses the weights its attention modules return), "
            "so each snapshot holds every layer's attention of its probes at once: %.0f MiB (the first pass's)"
        )
        level = logging.WARNING if self.held_at_once > HELD_WARNING_BYTES else logging.INFO
        logger.log(level, message, name, self.held_at_once / 2**20)

    def _induction_probe(self, tok, explicit):
        """The built-in induction probe; when only added automatically, a too-small budget skips it."""
        try:
            extra = induction_probe(tok, self.max_tokens)
        except ValueError as e:
            if explicit:
                raise
            warnings.warn(f"tb-attention: no built-in induction probe: {e}", UserWarning, stacklevel=4 + self._depth)
            return None
        if extra.name in {p.name for p in self.probes}:
            extra.name = extra.name + " (built-in)"
        return extra

    @property
    def names(self):
        return [p.name for p in self.probes]

    def snapshot(self, writer, step, skip=(), stacklevel=3):
        """One snapshot of every probe at the current weights, written by `writer` a layer at a time
        (None: the pass only runs, a sharded rank that does not write); (probe, kind) pairs in `skip`
        are left out; a snapshot the writer refuses warns at `stacklevel` (as warnings.warn counts,
        from here)."""
        name_prediction = lambda p: named(p, self.tokenizer, self.model)  # noqa: E731
        heads = None if self.plan is None else self.plan.choice
        sink = (
            DiscardingSink()
            if writer is None
            else WritingSink(writer, step, self.names, self.causal, skip, name_prediction, heads)
        )
        self._beyond_plan(stacklevel)
        neurons = self.neurons if self._neurons_due() else None
        self._written += 1
        try:
            self._pass(self.probes, sink, neurons=neurons)
        except BaseException:
            if writer is not None:
                sink.abort()
            raise
        if writer is None:
            return
        sink.commit()
        for probe, kind, error in sink.refused:  # e.g. NaN attention of a diverged model: skip, keep training
            if (probe, kind) not in self._skipped:
                warnings.warn(
                    f"tb-attention: snapshot of {probe!r} ({kind}) at step {step} skipped: {error}",
                    RuntimeWarning,
                    stacklevel=stacklevel,
                )
                self._skipped.add((probe, kind))

    def _beyond_plan(self, stacklevel):
        """Once, when a run takes more snapshots than its storage plan assumed: nothing is dropped,
        the log grows past the budget, and the user is told."""
        plan = self.plan
        if plan is not None and self._written == plan.snapshots:
            warnings.warn(
                f"tb-attention: this run takes more snapshots than the {plan.snapshots} its storage plan "
                f"assumed: each stores up to {plan.stored_bytes / 1e6:.1f} MB, so the log grows past "
                f"attention_budget={plan.budget / 1e9:.2f} GB; give AttentionRecorder(planned_snapshots=) "
                f"or a larger attention_budget=",
                UserWarning,
                stacklevel=stacklevel + 1,
            )

    def _neurons_due(self):
        return self.neurons is not None and self._written % self.neuron_every == 0

    def _pass(self, probes, sink, strict=False, neurons=None):
        """One pass of `probes` into `sink` (with the neuron view's records when `neurons`): a layer at
        a time where the model streams, else from its outputs (indices in `sink` count from probes[0])."""
        mask_id = getattr(self.tokenizer, "mask_token_id", None)
        if not self._streams(neurons):
            _replay(self._outputs(probes, strict=strict, neurons=neurons), sink)
            return
        stream_probes(
            self.model,
            probes,
            self.pad_id,
            self.layer_map,
            sink,
            strict=strict,
            top_k=self.top_k,
            mask_id=mask_id,
            neurons=neurons,
        )

    def _outputs(self, probes, strict=False, neurons=None):
        """Every layer of `probes` at once (the model's outputs): the neuron view, and models that
        cannot stream."""
        mask_id = getattr(self.tokenizer, "mask_token_id", None)
        logits = self.layer_map is not None and self.layer_map.logits
        return run_probes(
            self.model,
            probes,
            self.pad_id,
            strict=strict,
            top_k=self.top_k,
            mask_id=mask_id,
            neurons=neurons,
            logits=logits,
        )

    def declare(self, writer):
        for p in self.probes:
            writer.add_probe(p.name, **p.writer_kwargs())


def _replay(outputs, sink):
    """Outputs that hold every layer, handed to a sink as a streamed pass would."""
    for i, kinds in enumerate(outputs):
        for kind, layers in kinds.items():
            largest = (kinds.max_logits or {}).get(kind)
            for index, layer in enumerate(layers):
                sink.layer(i, kind, index, layer, None if largest is None else largest[index])
        for kind, record in (kinds.neurons or {}).items():
            sink.neurons(i, kind, record, kinds[kind])
        sink.predictions(i, kinds.predictions)
