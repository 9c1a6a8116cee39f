"""A Lightning callback: attention snapshots of the transformers model inside a LightningModule.

    from .lightning import AttentionLightningCallback
    trainer = lightning.Trainer(callbacks=[AttentionLightningCallback(probes, tokenizer=tok)])

Lightning is an optional dependency (`pip install tb-attention[lightning]`), imported only here. The
probes run exactly as under the Hugging Face Trainer callback (ProbeRunner). The run directory is the
TensorBoardLogger's, so Lightning's own curves and the attention are one run in TensorBoard.
"""

import os
import time

try:
    from lightning.pytorch import Callback
except ImportError:  # the older package name
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise ImportError("AttentionLightningCallback needs Lightning: pip install lightning") from None

from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

from .probe_runner import ProbeRunner, probe_arguments
from .probes.sentences import DEFAULT_MAX_TOKENS
from .schedule import SnapshotSchedule


def _find_transformers_model(pl_module, attribute):
    if attribute is not None:
        model = getattr(pl_module, attribute, None)
        if model is None:
            raise ValueError(f"{type(pl_module).__name__} has no attribute {attribute!r} (model=...)")
        return model
    from transformers import PreTrainedModel

    for module in pl_module.modules():  # outermost first
        if isinstance(module, PreTrainedModel):
            return module
    raise ValueError(
        f"{type(pl_module).__name__} holds no transformers model: pass model='<attribute name>' "
        f"to AttentionLightningCallback"
    )


class AttentionLightningCallback(Callback):
    """Every N optimizer steps (and at the start and the end), log the probes' attention.

    Args:
        probes, every_n_steps, names, max_tokens, induction_probe: as for AttentionCallback
            (every_n_steps=None picks the interval automatically, under 1% of training time).
        tokenizer: the model's tokenizer (required).
        model: name of the LightningModule's attribute that holds the transformers model; default:
            the first transformers model found in the module.
        log_dir: default: the TensorBoardLogger's log_dir, else `<default_root_dir>/attention`.
    """

    def __init__(
        self,
        probes,
        every_n_steps=None,
        *,
        tokenizer,
        model=None,
        log_dir=None,
        names=None,
        max_tokens=DEFAULT_MAX_TOKENS,
        induction_probe=None,
        relations=None,
        predictions=None,
        neurons=None,
    ):
        self._schedule = SnapshotSchedule(every_n_steps)
        self._probe_args = probe_arguments(probes, names, max_tokens, induction_probe, relations, predictions, neurons)
        self._tokenizer = tokenizer
        self._attribute = model
        self._explicit_log_dir = log_dir
        self._runner = None
        self._writer = None
        self._last_step = None
        self._clock, self._clock_step = None, None
        self.log_dir = None

    @property
    def every_n_steps(self):
        return self._schedule.every

    def _log_dir(self, trainer):
        if self._explicit_log_dir is not None:
            return os.fspath(self._explicit_log_dir)
        logger = trainer.logger
        if logger is not None and type(logger).__name__ == "TensorBoardLogger":
            return logger.log_dir
        return os.path.join(trainer.default_root_dir, "attention")

    @staticmethod
    def _everyone_probes(trainer):
        """Sharded strategies: every rank must join the probe forward."""
        return type(trainer.strategy).__name__ in ("FSDPStrategy", "ModelParallelStrategy", "DeepSpeedStrategy")

    def on_train_start(self, trainer, pl_module):
        total = trainer.estimated_stepping_batches
        self._schedule.max_steps = int(total) if total != float("inf") else 0
        if not (trainer.is_global_zero or self._everyone_probes(trainer)):
            return
        started = time.perf_counter()
        model = _find_transformers_model(pl_module, self._attribute)
        self._runner = ProbeRunner(model, self._tokenizer, **self._probe_args)
        if trainer.is_global_zero:
            self.log_dir = self._log_dir(trainer)
            self._writer = AttentionSummaryWriter(self.log_dir, background=True)
            self._runner.declare(self._writer)
            self._runner.write(self._writer, trainer.global_step, self._runner.first_outputs)
        self._schedule.record_probe_cost(time.perf_counter() - started)
        self._last_step = trainer.global_step
        self._clock, self._clock_step = time.perf_counter(), trainer.global_step

    def _snapshot(self, step):
        if self._runner is None or step == self._last_step:
            return
        started = time.perf_counter()
        outputs = self._runner.run()
        if self._writer is not None:
            self._runner.write(self._writer, step, outputs)
        self._schedule.record_probe_cost(time.perf_counter() - started)
        self._last_step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step  # optimizer steps: unchanged while gradients accumulate
        if step == self._clock_step:
            return
        if self._clock is not None:  # time per optimizer step, probe passes left out
            self._schedule.record_step_time((time.perf_counter() - self._clock) / (step - self._clock_step))
        if not self._schedule.fixed and self._schedule.every is not None and self._everyone_probes(trainer):
            # sharded ranks run every probe forward together: all take rank 0's interval
            self._schedule.freeze(trainer.strategy.broadcast(self._schedule.every, src=0))
        if self._schedule.due(step):
            self._snapshot(step)
        self._clock, self._clock_step = time.perf_counter(), step

    def on_train_end(self, trainer, pl_module):
        self._snapshot(trainer.global_step)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
