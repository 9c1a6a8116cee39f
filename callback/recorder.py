"""Attention snapshots from any training loop: plain PyTorch, accelerate, or anything else.

    recorder = AttentionRecorder(model, tokenizer, ["The cat sat on the mat."], log_dir="logs/run")
    for step, batch in enumerate(loader):
        ...                                   # forward, backward, optimizer step
        if step % 100 == 0:
            recorder.snapshot(step)
    recorder.close()

The probes run exactly as under the Trainer callback: eager attention, eval mode, no_grad, the RNG
and every module's mode restored afterwards (also on error), so training is unchanged.
"""

from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

from .probe_options import ProbeOptions
from .probes.sentences import DEFAULT_MAX_TOKENS
from .snapshot_driver import SnapshotDriver


class AttentionRecorder:
    """Runs fixed probe sentences through `model` and writes their attention to `log_dir`.

    Args:
        model: a transformers model, also inside torch.compile / DDP / PEFT wrappers.
        tokenizer: the model's tokenizer.
        probes: strings or (text, text_pair) tuples.
        log_dir: run directory. None runs the probes and writes nothing: the other ranks of a sharded
            (FSDP / ZeRO-3) run, which must join every probe forward while rank 0 writes.
        names, max_tokens, induction_probe, relations, predictions, neurons, attention_budget,
            attention_heads: as for AttentionCallback.
        planned_snapshots: how many times you will call `snapshot` (default: 202, as the Trainer's
            automatic interval): the storage budget is shared among them.

    Construction runs the probes once to check that the model returns its attention (a clear error
    otherwise, before any training); `snapshot(step)` logs them at the model's current weights.
    """

    def __init__(
        self,
        model,
        tokenizer,
        probes,
        log_dir,
        *,
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
        planned_snapshots=None,
    ):
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
        self._driver = SnapshotDriver(options)
        open_writer = (lambda runner: _open_writer(log_dir, runner)) if log_dir is not None else None
        self._driver.start(model, tokenizer, None, open_writer, write_first=False, planned_snapshots=planned_snapshots)

    @property
    def runner(self):
        return self._driver.runner

    @property
    def writer(self):
        return self._driver.writer

    @property
    def probes(self):
        return self.runner.names

    def snapshot(self, step):
        """Run the probes at the current weights and log them at `step` (an integer)."""
        if isinstance(step, bool) or not hasattr(step, "__index__"):
            raise TypeError(f"step must be an integer, got {step!r}")
        self._driver.take(int(step))

    def close(self):
        """Write what is queued and close the log; then the report goes to the trackers= runs."""
        self._driver.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_writer(log_dir, runner):
    writer = AttentionSummaryWriter(log_dir, background=True, keep_drift_reference=runner.plan.keeps_reference)
    runner.declare(writer)
    return writer
