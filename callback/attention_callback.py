"""The Trainer callback: probe attention, statistics, loss and metrics into the run's event files."""

import logging
import os
import time
import warnings

from transformers import TrainerCallback
from transformers.integrations.integration_utils import rewrite_logs  # its tag names: train/..., eval/...

from tb_attention_plugin.format.metadata import BEST_CHECKPOINT_TAG_PREFIX
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

from . import log_dir as log_dirs
from .probe_options import ProbeOptions
from .probe_runner import resolve_tokenizer
from .probes.sentences import DEFAULT_MAX_TOKENS
from .schedule import SnapshotSchedule
from .snapshot_driver import SnapshotDriver

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
        probes: strings, (text, text_pair) tuples, or relation probes ({"text", "pair", "relations":
            [(source word, target word, relation name)]}: their attention and accuracy per head).
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
        relations: add relation probes: "english" (a small built-in set: coreference, determiner,
            modifier, object, possessive, passive auxiliary) or a JSON / JSONL file of relation probes.
        predictions: True (top 10) or a top-k: also store what the model predicts on each probe, from
            the same forward (next tokens of a causal or encoder-decoder LM, a masked LM's mask tokens,
            a classifier's labels); off by default.
        neurons: True, or {"heads": [(layer, head), ...] or "all", "every": k}: also store the query
            and key vectors of those heads (all heads of models up to 256 heads with True) at every
            k-th snapshot, for the neuron view (without "every": as often as keeps ~200 snapshots
            within 256 MB); off by default (its size per snapshot is logged).
        attention_budget: bytes the run's attention maps may take before compression (an integer or a
            size such as "500MB"; default 4 GB). When every head's map of every probe fits over the
            run's snapshots, all are stored; else the statistics of every head and the maps of as many
            heads per snapshot as fit. What is stored is logged before training; a budget too small
            for one head's map is refused then.
        attention_heads: which heads keep their map when not all fit: "changed" (those that changed
            most since the previous snapshot), "rotate" (each in turn) or [(layer, head), ...].
        trackers: "wandb", "mlflow" or both: log the run's HTML report and summary to the active W&B /
            MLflow run (report_to starts them) at the end of training; trackers_every=N also after
            every N-th snapshot (tools/trackers.py).
    """

    def __init__(
        self,
        probes,
        every_n_steps=None,
        *,
        log_dir=None,
        tokenizer=None,
        names=None,
        max_tokens=DEFAULT_MAX_TOKENS,
        induction_probe=None,
        relations=None,
        predictions=None,
        neurons=None,
        attention_budget=None,
        attention_heads="changed",
        trackers=None,
        trackers_every=None,
    ):
        schedule = SnapshotSchedule(every_n_steps)
        if tokenizer is not None and not callable(tokenizer):
            raise TypeError(f"tokenizer must be a Hugging Face tokenizer, got {type(tokenizer).__name__}")
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a path, got {type(log_dir).__name__}")
        # bad probes fail here, when the callback is made
        options = ProbeOptions(
            probes,
            names,
            max_tokens,
            induction_probe,
            relations,
            predictions,
            neurons,
            attention_budget,
            attention_heads,
            trackers,
            trackers_every,
        )
        self._driver = SnapshotDriver(options, schedule)
        self._explicit_log_dir = log_dir
        self._tokenizer = tokenizer
        self._write_scalars = True
        self._step_started = None
        self.log_dir = None

    # ------------------------------------------------------------------ set-up
    @property
    def every_n_steps(self):
        """The snapshot interval in use (None until the automatic one is chosen)."""
        return self._driver.every

    def _tokenizer_or(self, processing_class):
        return self._tokenizer if self._tokenizer is not None else processing_class

    def on_init_end(self, args, state, control, processing_class=None, **kwargs):
        resolve_tokenizer(self._tokenizer_or(processing_class))  # fail at Trainer(...), before any training

    def _forward_everywhere(self, args):
        """FSDP and DeepSpeed ZeRO-3 shard parameters: every rank must join the probe forward."""
        if getattr(args, "fsdp", None):
            return True
        try:
            from transformers.integrations import is_deepspeed_zero3_enabled

            return bool(is_deepspeed_zero3_enabled())
        except ImportError:
            return False

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        sharded = self._forward_everywhere(args)
        self._driver.begin(state.max_steps, broadcast=_broadcast_from_rank0 if sharded else None)
        if not (state.is_world_process_zero or sharded):
            return
        # tokenizes the probes and checks, before the first update, that the model returns attention;
        # a resumed run's step is not written twice
        self._driver.start(
            model,
            self._tokenizer_or(processing_class),
            state.global_step,
            (lambda runner: self._open_writer(args, state, model, runner)) if state.is_world_process_zero else None,
            skip_done=True,
        )
        if self._driver.writer is not None:
            probes = len(self._driver.runner.probes)
            logger.info("tb-attention: logging attention of %d probes to %s", probes, self.log_dir)

    def _open_writer(self, args, state, model, runner):
        self.log_dir, self._write_scalars = log_dirs.resolve(args, self._explicit_log_dir)
        writer = AttentionSummaryWriter(self.log_dir, background=True, keep_drift_reference=runner.plan.keeps_reference)
        step = state.global_step
        # A resume abandons what an earlier run logged after the checkpoint: the restart marker hides it
        # (only where there is something to hide, and never this session's curves, ours or others')
        writer.add_session_start(step + 1 if step > 0 else 0)
        runner.declare(writer)
        writer.add_hparams(self._hparams(args, model))
        return writer

    def _hparams(self, args, model):
        hp = dict(args.to_sanitized_dict())
        config = getattr(model, "config", None)
        for key in ("model_type", "num_hidden_layers", "num_attention_heads", "hidden_size", "n_layer", "n_head"):
            if config is not None and getattr(config, key, None) is not None:
                hp[f"model/{key}"] = getattr(config, key)
        return hp

    # ------------------------------------------------------------------ snapshots
    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        seconds = None
        if self._step_started is not None:
            seconds = time.perf_counter() - self._step_started
            self._step_started = None
        # The last step (DefaultFlowCallback, which runs first, has set should_training_stop) is taken
        # here: by on_train_end the Trainer may have loaded the best checkpoint's weights instead.
        self._driver.step_end(state.global_step, seconds, stop=control.should_training_stop)

    def on_epoch_end(self, args, state, control, **kwargs):
        # Stopped after on_step_end (early stopping decides in on_evaluate): the weights are still
        # those of the last step until the Trainer's _load_best_model after the loop.
        if control.should_training_stop:
            self._driver.snapshot(state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self._driver.pending(state.global_step):
            if args.load_best_model_at_end and state.best_model_checkpoint is not None:
                # the model now holds the best checkpoint's weights, not those of the last step
                warnings.warn(
                    f"tb-attention: no snapshot at the last step {state.global_step}: training "
                    f"ended in a way the callback did not see before the Trainer loaded the best "
                    f"checkpoint ({state.best_model_checkpoint})",
                    RuntimeWarning,
                    stacklevel=2,
                )
            else:
                self._driver.snapshot(state.global_step)
        if self._driver.writer is not None:
            self._mark_best_checkpoint(args, state)
            self._driver.close()

    def _mark_best_checkpoint(self, args, state):
        """The step whose weights load_best_model_at_end put back, for the tab's timeline."""
        step = state.best_global_step
        if not (args.load_best_model_at_end and step is not None and state.best_metric is not None):
            return
        metric = args.metric_for_best_model or "loss"
        metric = metric if metric.startswith("eval_") else f"eval_{metric}"
        tag = BEST_CHECKPOINT_TAG_PREFIX + next(iter(rewrite_logs({metric: 0})))
        self._driver.writer.add_scalar(tag, float(state.best_metric), int(step))

    # ------------------------------------------------------------------ scalars
    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._driver.writer is None or not self._write_scalars or not logs:
            return
        self._driver.writer.add_scalars(rewrite_logs(logs), state.global_step)
