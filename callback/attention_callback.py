"""The Trainer callback: probe attention, statistics, loss and metrics into the run's event files."""
import logging
import os
import time
import warnings

from transformers import TrainerCallback
from transformers.integrations.integration_utils import rewrite_logs  # its tag names: train/..., eval/...

from tb_attention_plugin.format import KIND_SIDES
from tb_attention_plugin.summary_writer import AttentionSummaryWriter

from . import log_dir as log_dirs
from .probe_pass import AttentionUnavailableError, run_probes
from .probes import DEFAULT_MAX_TOKENS, induction_probe, model_token_limit, tokenize, validate_probes
from .schedule import SnapshotSchedule

logger = logging.getLogger(__name__)


def _broadcast_from_rank0(value):
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class AttentionCallback(TrainerCallback):
    """Every N optimizer steps, run fixed probe sentences through the model and log their attention.

    Args:
        probes: strings or (text, text_pair) tuples.
        every_n_steps: snapshot interval; None (default) picks one that keeps the probe passes under 1%
            of training time and gives at most ~200 snapshots. Snapshots are also taken at step 0
            (before the first update) and at the end of training.
        log_dir: run directory; default: where transformers' TensorBoardCallback writes if it is
            active, else $TENSORBOARD_LOGGING_DIR, else output_dir/runs/<date>_<host>.
        tokenizer: defaults to the Trainer's processing_class.
        names: probe names (default: the start of each probe's text).
        max_tokens: per-probe token limit (longer probes are truncated with a warning).
        induction_probe: add a repeated-random-token probe (for induction scores); None adds it for
            causal language models only.
    """

    def __init__(self, probes, every_n_steps=None, *, log_dir=None, tokenizer=None, names=None,
                 max_tokens=DEFAULT_MAX_TOKENS, induction_probe=None):
        if every_n_steps is not None and (isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int)
                                          or every_n_steps <= 0):
            raise ValueError(f"every_n_steps must be a positive integer or None (automatic), got {every_n_steps!r}")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 2:
            raise ValueError(f"max_tokens must be an integer >= 2, got {max_tokens!r}")
        if tokenizer is not None and not callable(tokenizer):
            raise TypeError(f"tokenizer must be a Hugging Face tokenizer, got {type(tokenizer).__name__}")
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a path, got {type(log_dir).__name__}")
        if induction_probe not in (None, True, False):
            raise TypeError("induction_probe must be True, False or None (automatic)")
        self._specs = validate_probes(probes, names)
        self._schedule = SnapshotSchedule(every_n_steps)
        self._explicit_log_dir = log_dir
        self._tokenizer = tokenizer
        self._max_tokens = max_tokens
        self._induction = induction_probe
        self._probes = None
        self._writer = None
        self._write_scalars = True
        self._last_snapshot_step = None
        self._step_started = None
        self._skipped = set()
        self.log_dir = None

    # ------------------------------------------------------------------ set-up
    @property
    def every_n_steps(self):
        """The snapshot interval in use (None until the automatic one is chosen)."""
        return self._schedule.every

    def _resolve_tokenizer(self, processing_class):
        tok = self._tokenizer if self._tokenizer is not None else processing_class
        tok = getattr(tok, "tokenizer", tok)  # a processor wraps its tokenizer
        if tok is None or not hasattr(tok, "convert_ids_to_tokens"):
            raise ValueError("AttentionCallback needs a tokenizer to tokenize the probes: pass "
                             "processing_class=tokenizer to the Trainer, or AttentionCallback(..., tokenizer=tok)")
        return tok

    def on_init_end(self, args, state, control, processing_class=None, **kwargs):
        self._resolve_tokenizer(processing_class)  # fail at Trainer(...), before any training

    def _forward_everywhere(self, args):
        """FSDP and DeepSpeed ZeRO-3 shard parameters: every rank must join the probe forward."""
        if getattr(args, "fsdp", None):
            return True
        try:
            from transformers.integrations import is_deepspeed_zero3_enabled
            return bool(is_deepspeed_zero3_enabled())
        except ImportError:
            return False

    def _runs_probes(self, args, state):
        return state.is_world_process_zero or self._forward_everywhere(args)

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        tok = self._resolve_tokenizer(processing_class)
        self._schedule.max_steps = state.max_steps
        encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        positions = model_token_limit(model)
        if positions is not None and positions < self._max_tokens:
            # A probe longer than the model's position table would crash its forward pass.
            self._max_tokens = positions
        self._probes = [tokenize(tok, name, text, pair, self._max_tokens, encoder_decoder=encoder_decoder,
                                 model=model) for name, text, pair in self._specs]
        self._pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        if not self._runs_probes(args, state):
            return
        # The first pass checks that the model returns attention, before the first update.
        started = time.perf_counter()
        outputs = run_probes(model, self._probes, self._pad_id)
        causal = (not encoder_decoder and len(self._probes[0].input_ids) > 1
                  and not (outputs[0]["self"][..., 0, 1:] != 0).any())
        if self._induction or (self._induction is None and causal):
            extra = self._induction_probe(tok)
            if extra is not None:
                self._probes.append(extra)
                outputs += run_probes(model, [extra], self._pad_id)
        if state.is_world_process_zero:
            self.log_dir, self._write_scalars = log_dirs.resolve(args, self._explicit_log_dir)
            self._writer = AttentionSummaryWriter(self.log_dir)
            step = state.global_step
            if self._write_scalars:
                # A resume abandons what an earlier run logged after the checkpoint (TensorBoard's restart
                # convention). Not in transformers' TensorBoardCallback's directory: its new file may
                # sort before ours, and TensorBoard would then drop its fresh curves.
                self._writer.add_session_start(step + 1 if step > 0 else 0)
            for p in self._probes:
                self._writer.add_probe(p.name, **p.writer_kwargs())
            self._writer.add_hparams(self._hparams(args, model))
            self._write(step, outputs, skip=self._logged_at(step) if step > 0 else ())
            logger.info("tb-attention: logging attention of %d probes to %s", len(self._probes), self.log_dir)
        self._schedule.record_probe_cost(time.perf_counter() - started)
        self._last_snapshot_step = state.global_step

    def _induction_probe(self, tok):
        """The built-in induction probe; when only added automatically, a too-small budget skips it."""
        try:
            extra = induction_probe(tok, self._max_tokens)
        except ValueError as e:
            if self._induction:
                raise
            warnings.warn(f"tb-attention: no built-in induction probe: {e}", UserWarning, stacklevel=3)
            return None
        if extra.name in {p.name for p in self._probes}:
            extra.name = extra.name + " (built-in)"
        return extra

    def _hparams(self, args, model):
        hp = dict(args.to_sanitized_dict())
        config = getattr(model, "config", None)
        for key in ("model_type", "num_hidden_layers", "num_attention_heads", "hidden_size", "n_layer", "n_head"):
            if config is not None and getattr(config, key, None) is not None:
                hp[f"model/{key}"] = getattr(config, key)
        return hp

    # ------------------------------------------------------------------ snapshots
    def _logged_at(self, step):
        """(probe, kind) already logged at `step` by the run we resume: the checkpoint's weights, so
        not written twice (a step logged twice is read differently by TensorBoard's two loaders)."""
        return {(p.name, kind) for p in self._probes for kind in KIND_SIDES
                if step in self._writer.logged_before(p.name, kind)}

    def _write(self, step, outputs, skip=()):
        for probe, kinds in zip(self._probes, outputs):
            for kind, attention in kinds.items():
                if (probe.name, kind) in skip:
                    continue
                try:
                    self._writer.add_attention(step, probe.name, attention, kind=kind)
                except ValueError as e:  # e.g. NaN attention of a diverged model: skip, keep training
                    if (probe.name, kind) not in self._skipped:
                        warnings.warn(f"tb-attention: snapshot of {probe.name!r} ({kind}) at step {step} "
                                      f"skipped: {e}", RuntimeWarning, stacklevel=2)
                        self._skipped.add((probe.name, kind))

    def _snapshot(self, args, state, model):
        if self._probes is None or not self._runs_probes(args, state):
            return
        started = time.perf_counter()
        outputs = run_probes(model, self._probes, self._pad_id)
        if self._writer is not None:
            self._write(state.global_step, outputs)
        self._schedule.record_probe_cost(time.perf_counter() - started)
        self._last_snapshot_step = state.global_step

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self._step_started is not None:
            self._schedule.record_step_time(time.perf_counter() - self._step_started)
            self._step_started = None
        if not self._schedule.fixed and self._schedule.every is not None and self._forward_everywhere(args):
            # Sharded ranks must run every probe forward together: all take rank 0's interval, at the
            # same step (the automatic interval is first chosen after the same number of steps).
            self._schedule.freeze(_broadcast_from_rank0(self._schedule.every))
        if self._schedule.due(state.global_step) and state.global_step != self._last_snapshot_step:
            self._snapshot(args, state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self._probes is not None and state.global_step != self._last_snapshot_step:
            self._snapshot(args, state, model)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ------------------------------------------------------------------ scalars
    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._writer is None or not self._write_scalars or not logs:
            return
        self._writer.add_scalars(rewrite_logs(logs), state.global_step)
