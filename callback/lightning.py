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

from .probe_options import ProbeOptions
from .probes.sentences import DEFAULT_MAX_TOKENS
from .schedule import SnapshotSchedule
from .snapshot_driver import SnapshotDriver


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
        relations, predictions, neurons, attention_budget, attention_heads: as for AttentionCallback.
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
        attention_budget=None,
        attention_heads="changed",
        trackers=None,
        trackers_every=None,
    ):
        schedule = SnapshotSchedule(every_n_steps)
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
        self._tokenizer = tokenizer
        self._attribute = model
        self._explicit_log_dir = log_dir
        self._clock, self._clock_step = None, None
        self.log_dir = None

    @property
    def every_n_steps(self):
        return self._driver.every

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
        sharded = self._everyone_probes(trainer)
        broadcast = (lambda every: trainer.strategy.broadcast(every, src=0)) if sharded else None
        self._driver.begin(int(total) if total != float("inf") else 0, broadcast=broadcast)
        if not (trainer.is_global_zero or sharded):
            return
        model = _find_transformers_model(pl_module, self._attribute)
        self._driver.start(
            model,
            self._tokenizer,
            trainer.global_step,
            (lambda runner: self._open_writer(trainer, runner)) if trainer.is_global_zero else None,
        )
        self._clock, self._clock_step = time.perf_counter(), trainer.global_step

    def _open_writer(self, trainer, runner):
        self.log_dir = self._log_dir(trainer)
        writer = AttentionSummaryWriter(self.log_dir, background=True, keep_drift_reference=runner.plan.keeps_reference)
        runner.declare(writer)
        return writer

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step  # optimizer steps: unchanged while gradients accumulate
        if step == self._clock_step:
            return
        # time per optimizer step, probe passes left out
        seconds = (time.perf_counter() - self._clock) / (step - self._clock_step) if self._clock is not None else None
        self._driver.step_end(step, seconds)
        self._clock, self._clock_step = time.perf_counter(), step

    def on_train_end(self, trainer, pl_module):
        self._driver.snapshot(trainer.global_step)
        self._driver.close()
