"""When to take snapshots: every N optimizer steps, N chosen automatically unless given.

The automatic N keeps all probe passes of the run, the fixed ones at the start and the end included,
under 1% of training time (measured: the cost of one probe pass against the median time of a training
step; planned for 0.8% to leave room for noise in those measurements) and asks for no more than about
200 snapshots over the run. N is rounded up to 1, 2 or 5 x 10^k so snapshot steps are round numbers,
and it only grows.
"""

import math
import statistics

TARGET_OVERHEAD = 0.008
FIXED_PASSES = 2  # step 0 and the end of training, taken whatever N is
TARGET_SNAPSHOTS = 200
WARMUP_STEPS = 3  # steps measured before the automatic N is first chosen


def nice_ceiling(x):
    """Smallest of 1, 2, 5, 10, 20, 50, ... that is >= x."""
    if x <= 1:
        return 1
    exponent = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * exponent >= x:
            return m * exponent
    return 10 * exponent


class SnapshotSchedule:
    def __init__(self, every_n_steps=None):
        if every_n_steps is not None and (
            isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps <= 0
        ):
            raise ValueError(f"every_n_steps must be a positive integer or None (automatic), got {every_n_steps!r}")
        self.fixed = every_n_steps is not None
        self.every = every_n_steps
        self._step_times = []
        self._probe_costs = []
        self.max_steps = 0

    def record_step_time(self, seconds):
        if not self.fixed and seconds > 0:
            self._step_times.append(seconds)
            self._step_times = self._step_times[-50:]
            self._update()

    def record_probe_cost(self, seconds):
        if not self.fixed:
            self._probe_costs.append(seconds)
            self._probe_costs = self._probe_costs[-20:]
            self._update()

    def _update(self):
        if len(self._step_times) < WARMUP_STEPS or not self._probe_costs:
            return
        step = statistics.median(self._step_times)
        cost = min(self._probe_costs)  # the first pass includes one-off warm-up costs
        by_cost = cost / (TARGET_OVERHEAD * step)
        if self.max_steps > 0:
            # passes the whole run can afford, less the fixed ones -> the periodic ones
            periodic = TARGET_OVERHEAD * self.max_steps * step / cost - FIXED_PASSES
            by_cost = max(by_cost, self.max_steps / periodic if periodic > 1 else self.max_steps)
        by_count = self.max_steps / TARGET_SNAPSHOTS if self.max_steps > 0 else 1
        self.every = max(self.every or 1, nice_ceiling(max(by_cost, by_count)))

    def freeze(self, every):
        """Use `every` from now on (e.g. rank 0's choice, so that sharded ranks probe together)."""
        self.every, self.fixed = int(every), True

    def due(self, step):
        return self.every is not None and step > 0 and step % self.every == 0
