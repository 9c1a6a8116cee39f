"""The snapshot schedule: fixed N, the automatic N (<= 1% overhead, <= ~200 snapshots, round numbers)."""

import pytest

from tb_attention_plugin.callback.schedule import SnapshotSchedule, nice_ceiling


@pytest.mark.parametrize(
    "x, want", [(0.3, 1), (1, 1), (1.2, 2), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (499, 500), (501, 1000)]
)
def test_nice_ceiling(x, want):
    assert nice_ceiling(x) == want


def test_fixed_interval():
    s = SnapshotSchedule(5)
    s.record_step_time(1.0)
    s.record_probe_cost(100.0)
    assert s.every == 5
    assert [t for t in range(0, 21) if s.due(t)] == [5, 10, 15, 20]  # step 0 is taken at train begin


def test_automatic_interval_keeps_overhead_under_one_percent():
    s = SnapshotSchedule()
    s.max_steps = 10_000
    s.record_probe_cost(0.5)  # one-off warm-up of the first pass
    s.record_probe_cost(0.02)
    assert s.every is None and not s.due(1)  # not chosen before a few steps were measured
    for _ in range(3):
        s.record_step_time(0.1)
    # 0.02 s per pass / (0.8% of 0.1 s per step) = 25 steps -> 50
    assert s.every == 50
    assert s.due(100) and not s.due(30)
    passes = 10_000 // s.every + 2
    assert passes * 0.02 <= 0.01 * 10_000 * 0.1


@pytest.mark.parametrize("max_steps", [60, 100, 300, 1000])
def test_short_runs_count_the_first_and_last_pass_in_the_budget(max_steps):
    s = SnapshotSchedule()
    s.max_steps = max_steps
    s.record_probe_cost(0.045)  # MiniLM, 8 probes, on a 2-core CPU
    for _ in range(3):
        s.record_step_time(0.33)
    passes = len([t for t in range(1, max_steps + 1) if s.due(t)]) + 2
    assert passes * 0.045 <= 0.01 * max_steps * 0.33


def test_automatic_interval_caps_the_number_of_snapshots_and_only_grows():
    s = SnapshotSchedule()
    s.max_steps = 100_000
    s.record_probe_cost(1e-4)
    for _ in range(3):
        s.record_step_time(1.0)
    assert s.every == 500  # 100000 / 200 snapshots
    s.max_steps = 10
    s.record_step_time(1.0)
    assert s.every == 500  # never shrinks: steps already logged stay on the grid
