"""Probes made ready for one model, run through it and written: the part every loop shares.

The Trainer callback, the custom-loop recorder, the Lightning callback and replay all use this class
(through SnapshotDriver), so a probe sees the same inputs and the same checks whatever runs the training.
"""

import warnings

from .capture.model_access import causal_self_attention, is_encoder_decoder, token_limit
from .capture.probe_pass import run_probes
from .capture.neurons import log_size, record_bytes
from .capture.predictions import named
from .probes.sentences import induction_probe, tokenize


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

    The first pass (kept as `first_outputs`, the snapshot before the first update) stops with a clear
    error when the model cannot return its attention. The built-in induction probe is added for
    models with causal self-attention (or when asked for).
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
        self.tokenizer = resolve_tokenizer(tokenizer)
        specs = options.specs
        tok = resolve_tokenizer(tokenizer)
        max_tokens, induction_probe = options.max_tokens, options.induction_probe
        self.model = model
        limit = token_limit(model)
        # a probe longer than the model's position table would crash its forward pass
        self.max_tokens = min(max_tokens, limit) if limit is not None else max_tokens
        encoder_decoder = is_encoder_decoder(model)
        self.probes = [
            tokenize(
                tok,
                name,
                text,
                pair,
                self.max_tokens,
                encoder_decoder=encoder_decoder,
                model=model,
                relations=relations,
                masked=masked,
            )
            for name, text, pair, relations, masked in specs
        ]
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        outputs = self._run(strict=True)
        causal = (
            not encoder_decoder
            and len(self.probes[0].input_ids) > 1
            and not any((layer[:, 0, 1:] != 0).any() for layer in outputs[0]["self"])
        )
        if induction_probe or (induction_probe is None and causal):
            extra = self._induction_probe(tok, explicit=bool(induction_probe))
            if extra is not None:
                self.probes.append(extra)
                outputs += self._run([extra], strict=True)
        self.first_outputs = outputs
        self.neuron_bytes = sum(record_bytes(r) for o in outputs for r in (o.neurons or {}).values())
        if self.neuron_bytes:
            self.neuron_every = self.neurons.every_for(self.neuron_bytes)
            log_size(self.neuron_bytes, self.neuron_every, self.neurons.every is None)
        # causal where the model declares it (every pass checks): the writer then need not look for
        # weights above the diagonal; None lets it infer that from the weights (a causal model whose
        # attention modules do not say so)
        self.causal = {"self": True if causal_self_attention(model) else None, "decoder": True}
        self._skipped = set()

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

    def run(self):
        """[probe_pass.ProbeOutputs {kind: Layers (float32 [H, Q, K] per layer)}] of every probe at the
        current weights, with `.predictions` (text) and `.neurons` when asked for."""
        return self._run()

    def _run(self, probes=None, strict=False):
        mask_id = getattr(self.tokenizer, "mask_token_id", None)
        # the first pass always captures (it checks that the neuron view can explain this model)
        due = strict or self._written % self.neuron_every == 0 if self.neurons is not None else False
        capture = self.neurons if due else None
        outputs = run_probes(
            self.model,
            probes or self.probes,
            self.pad_id,
            strict=strict,
            top_k=self.top_k,
            mask_id=mask_id,
            neurons=capture,
        )
        for kinds in outputs:
            kinds.predictions = named(kinds.predictions, self.tokenizer, self.model)
        return outputs

    def declare(self, writer):
        for p in self.probes:
            writer.add_probe(p.name, **p.writer_kwargs())

    def write(self, writer, step, outputs, skip=(), stacklevel=3):
        """Write one snapshot of every probe; (probe, kind) pairs in `skip` are left out; a snapshot
        the writer refuses warns at `stacklevel` (as warnings.warn counts, from here)."""
        self._written += 1
        for probe, kinds in zip(self.probes, outputs):
            for kind, attention in kinds.items():
                if (probe.name, kind) in skip:
                    continue
                try:
                    writer.add_attention(
                        step, probe.name, attention, kind=kind, causal=self.causal.get(kind), copy=False
                    )
                    if kinds.predictions is not None and kind in ("self", "decoder"):
                        writer.add_predictions(step, probe.name, kinds.predictions, kind=kind)
                    if kinds.neurons is not None and kind in kinds.neurons:
                        writer.add_neurons(step, probe.name, kinds.neurons[kind], kind=kind, attention=attention)
                except ValueError as e:  # e.g. NaN attention of a diverged model: skip, keep training
                    if (probe.name, kind) not in self._skipped:
                        warnings.warn(
                            f"tb-attention: snapshot of {probe.name!r} ({kind}) at step {step} skipped: {e}",
                            RuntimeWarning,
                            stacklevel=stacklevel,
                        )
                        self._skipped.add((probe.name, kind))
