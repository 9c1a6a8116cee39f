"""The snapshot loop every entry point shares: runner, writer, schedule, timing, steps already done.

    driver = SnapshotDriver(ProbeOptions(probes, ...), SnapshotSchedule(every_n_steps))
    driver.begin(max_steps, broadcast=...)              # training starts (every rank)
    driver.start(model, tokenizer, step, open_writer)   # the ranks that run probes: first pass, step 0
    driver.step_end(step, seconds, stop=...)            # after each optimizer step: a snapshot when due
    driver.snapshot(step); driver.close()               # the end of training

The Trainer callback, the Lightning callback, AttentionRecorder and replay only map their
framework's events onto these calls. Under sharded training (FSDP, DeepSpeed ZeRO-3) every rank runs
the probe forward (the parameters are spread over the ranks) and only rank 0 writes: `begin` takes
how the framework broadcasts rank 0's value, so that all ranks use one automatic interval.
"""

import time

from tb_attention_plugin.format.metadata import KIND_SIDES

from tb_attention_plugin.tools.trackers import TrackerRuns

from .probe_runner import ProbeRunner
from .schedule import SnapshotSchedule
from .storage_plan import planned_snapshots as planned

# runner.write's warnings name the code that called the driver (as each entry point's own call did):
# write, the driver's method, the entry point's
_WRITE_STACKLEVEL = 4


class SnapshotDriver:
    """Snapshots of `options`' probes at the steps `schedule` picks (default: the automatic interval).

    `runner` is None on a rank that runs no probes (non-zero ranks of unsharded data parallelism),
    `writer` None on a rank that only joins the forward (sharded training) or when nothing is written.
    """

    def __init__(self, options, schedule=None):
        self.options = options
        self.schedule = schedule if schedule is not None else SnapshotSchedule()
        self.runner = None
        self.writer = None
        self.last_step = None  # the step of the latest snapshot: never taken twice by `snapshot`
        self._broadcast = None
        self._trackers = TrackerRuns(options.tracker_names) if options.tracker_names else None
        self._taken = 0  # snapshots taken: the trackers get the report every `tracker_every`

    @property
    def every(self):
        """The snapshot interval in use (None until the automatic one is chosen)."""
        return self.schedule.every

    def begin(self, max_steps, broadcast=None):
        """Training starts, `max_steps` long (0: unknown). Sharded ranks pass `broadcast` (rank 0's
        value -> every rank's): they must run every probe forward together."""
        self.schedule.max_steps = max_steps
        self._broadcast = broadcast

    def start(
        self,
        model,
        tokenizer,
        step,
        open_writer=None,
        *,
        skip_done=False,
        write_first=True,
        planned_snapshots=None,
        **runner,
    ):
        """Make the runner (its first pass checks the model, before any update) and its storage plan
        for `planned_snapshots` (default: what the schedule takes over max_steps); on the writing rank,
        `open_writer(runner)` opens the writer and declares the probes, and the first pass is the
        snapshot at `step` (`skip_done`: leave out what the resumed run logged there already)."""
        started = time.perf_counter()
        self.runner = ProbeRunner(model, tokenizer, self.options, depth=1, **runner)
        schedule = self.schedule
        every = schedule.every if schedule.fixed else None
        self.runner.plan_storage(planned_snapshots or planned(schedule.max_steps, every))
        if open_writer is not None:
            self.writer = open_writer(self.runner)
            if self._trackers is not None:
                self._trackers.find()  # the runs a Trainer's report_to started (one may end before us)
        if write_first:  # every rank that runs probes: a sharded forward needs them all
            skip = self.logged_at(step) if skip_done and step > 0 and self.writer is not None else ()
            self.runner.snapshot(self.writer, step, skip=skip, stacklevel=_WRITE_STACKLEVEL)
        self.schedule.record_probe_cost(time.perf_counter() - started)
        self.last_step = step

    def logged_at(self, step):
        """(probe, kind) already logged at `step` by the run we resume: the checkpoint's weights, so
        not written twice (a step logged twice is read differently by TensorBoard's two loaders)."""
        return {
            (name, kind)
            for name in self.runner.names
            for kind in KIND_SIDES
            if step in self.writer.logged_before(name, kind)
        }

    def step_end(self, step, seconds=None, *, stop=False):
        """An optimizer step ended, `seconds` of training (None: not measured); a snapshot when the
        schedule says so or when training stops after it (`stop`)."""
        if seconds is not None:
            self.schedule.record_step_time(seconds)
        if self._broadcast is not None and not self.schedule.fixed and self.schedule.every is not None:
            # Sharded ranks must run every probe forward together: all take rank 0's interval, at the
            # same step (the automatic interval is first chosen after the same number of steps).
            self.schedule.freeze(self._broadcast(self.schedule.every))
        if (self.schedule.due(step) or stop) and self.pending(step):
            self._take(step, _WRITE_STACKLEVEL)

    def pending(self, step):
        """Whether this rank runs probes and has no snapshot at `step` yet."""
        return self.runner is not None and step != self.last_step

    def snapshot(self, step):
        """A snapshot at `step`, unless this rank runs no probes or one was taken there already."""
        if self.pending(step):
            self._take(step, _WRITE_STACKLEVEL)

    def take(self, step):
        """A snapshot at the current weights, written at `step` (even a step written before)."""
        self._take(step, _WRITE_STACKLEVEL + 1)

    def _take(self, step, stacklevel):
        started = time.perf_counter()
        self.runner.snapshot(self.writer, step, stacklevel=stacklevel)
        self.schedule.record_probe_cost(time.perf_counter() - started)
        self.last_step = step
        self._taken += 1
        every = self.options.tracker_every
        if self._trackers is not None and self.writer is not None and every and self._taken % every == 0:
            self.writer.flush()
            self._trackers.log(self.writer.log_dir)

    def close(self):
        """The end of training: the writer closed, then the report logged to the trackers asked for."""
        if self.writer is not None:
            log_dir = self.writer.log_dir
            self.writer.close()
            self.writer = None
            if self._trackers is not None:
                self._trackers.log(log_dir)
