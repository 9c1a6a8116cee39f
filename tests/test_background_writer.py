"""The writer's background mode: the caller waits only for the input checks, memory stays bounded by
back-pressure, what is stored is the same as without it, and nothing queued is lost: not on close,
not when training raises, not at interpreter exit without close()."""

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from tb_attention_plugin import read_run
from tb_attention_plugin.writer.snapshot_stream import SnapshotStream
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter
from tb_attention_plugin.devtools.synthetic import DriftingMaps, plain_tokens

STEPS = range(0, 60, 5)


def _write(log_dir, background, steps=STEPS):
    maps = DriftingMaps(2, 3, 6, seed=1)
    tokens = plain_tokens(6)
    with AttentionSummaryWriter(str(log_dir), background=background) as w:
        w.add_probe("p", tokens)
        for step in steps:
            w.add_attention(step, "p", maps.next())
            w.add_scalar("train/loss", 1.0 / (step + 1), step)
    return read_run(str(log_dir))


def test_background_stores_exactly_what_the_synchronous_writer_stores(tmp_path):
    sync, background = _write(tmp_path / "sync", False), _write(tmp_path / "bg", True)
    a, b = sync.probe("p"), background.probe("p")
    assert a.steps == b.steps == list(STEPS)
    for step in STEPS:
        np.testing.assert_array_equal(a.quantized(step), b.quantized(step))
    for name, values in a.stats().items():
        np.testing.assert_array_equal(values, b.stats()[name])
    assert sync.scalars("train/loss")[1].tolist() == background.scalars("train/loss")[1].tolist()


class _Gate:
    """Holds the background thread inside the encoding of every layer until opened."""

    def __init__(self, monkeypatch):
        self.open = threading.Event()
        self.entered = threading.Semaphore(0)
        original = SnapshotStream._encode

        def gated(stream, *args):
            self.entered.release()
            assert self.open.wait(30), "the test never opened the gate"
            return original(stream, *args)

        monkeypatch.setattr(SnapshotStream, "_encode", gated)


def test_the_caller_may_reuse_its_array_unless_it_hands_it_over_with_copy_false(tmp_path):
    """copy=True (the default): what was given at the call is stored even if the caller overwrites
    its array at once. copy=False (the callback's own model outputs, as a list of layers): nothing is
    copied on the caller's thread, the same values are stored."""
    maps = DriftingMaps(2, 3, 6, seed=1)
    first, second = maps.next(), maps.next()
    with AttentionSummaryWriter(str(tmp_path / "copy"), background=True) as w:
        w.add_probe("p", plain_tokens(6))
        reused = first.copy()
        w.add_attention(0, "p", reused)
        reused[:] = second  # the caller's buffer, reused for the next step
        w.add_attention(1, "p", reused)
        handed_over = [layer.copy() for layer in second]
        w.add_attention(2, "p", handed_over, copy=False)
    stored = read_run(str(tmp_path / "copy")).probe("p")
    for step, expected in ((0, first), (1, second), (2, second)):
        assert np.abs(stored.attention(step) - expected).max() <= 1 / 255 + 1e-6
    np.testing.assert_array_equal(stored.quantized(1), stored.quantized(2))


def test_the_caller_does_not_wait_for_encoding_and_checks_come_first(tmp_path, monkeypatch):
    gate = _Gate(monkeypatch)
    maps = DriftingMaps(2, 3, 6, seed=1)
    w = AttentionSummaryWriter(str(tmp_path), background=True)
    w.add_probe("p", plain_tokens(6))
    w.add_attention(0, "p", maps.next())  # returns although its encoding is held
    assert gate.entered.acquire(timeout=30)
    with pytest.raises(ValueError, match="sums to"):  # bad input is still refused on the caller's thread
        w.add_attention(5, "p", np.full((2, 3, 6, 6), 0.4, np.float32))
    w.add_attention(10, "p", maps.next())
    gate.open.set()
    w.close()
    assert read_run(str(tmp_path)).probe("p").steps == [0, 10]


def test_back_pressure_bounds_what_waits_in_memory(tmp_path, monkeypatch):
    gate = _Gate(monkeypatch)
    one = np.full((2, 3, 6, 6), 1 / 6, np.float32).nbytes
    w = AttentionSummaryWriter(str(tmp_path), background=True, max_queued_bytes=2 * one)
    w.add_probe("p", plain_tokens(6))
    maps = DriftingMaps(2, 3, 6, seed=1)
    w.add_attention(0, "p", maps.next())  # taken by the thread (held in the gate)
    assert gate.entered.acquire(timeout=30)
    w.add_attention(5, "p", maps.next())
    third = threading.Thread(target=w.add_attention, args=(10, "p", maps.next()))
    third.start()
    third.join(1.0)
    assert third.is_alive(), "a third snapshot was queued beyond max_queued_bytes"
    assert w._queue._queued_bytes <= 2 * one
    gate.open.set()
    third.join(30)
    assert not third.is_alive()
    w.close()
    assert read_run(str(tmp_path)).probe("p").steps == [0, 5, 10]


def test_a_large_layer_is_encoded_on_the_callers_thread_once_the_queue_is_empty(tmp_path, monkeypatch):
    """A layer of more than a quarter of the queue's bound is never held while the pass makes the
    next one: the caller encodes it itself, after what was queued before it (order kept)."""
    original = SnapshotStream._encode
    seen = []

    def record(stream, index, layer, *rest):
        seen.append((stream.step, index, threading.current_thread() is threading.main_thread(), layer.nbytes))
        return original(stream, index, layer, *rest)

    monkeypatch.setattr(SnapshotStream, "_encode", record)
    small, large = DriftingMaps(2, 2, 8, seed=1), DriftingMaps(2, 8, 64, seed=2)
    with AttentionSummaryWriter(str(tmp_path), background=True, max_queued_bytes=4 * 8 * 64 * 64 * 4 - 4) as w:
        w.add_probe("s", plain_tokens(8))
        w.add_probe("l", plain_tokens(64))
        w.add_attention(0, "s", small.next())
        w.add_attention(0, "l", large.next())  # 128 KiB a layer: over a quarter of 512 KiB
        w.add_attention(1, "s", small.next())
    by_size = {nbytes: on_main for _, _, on_main, nbytes in seen}
    assert by_size == {2 * 8 * 8 * 4: False, 8 * 64 * 64 * 4: True}
    assert [(step, index) for step, index, _, _ in seen] == [(0, 0), (0, 1), (0, 0), (0, 1), (1, 0), (1, 1)]
    run = read_run(str(tmp_path))
    assert run.probe("l").steps == [0] and run.probe("s").steps == [0, 1]


def test_a_failing_background_write_warns_and_later_snapshots_are_written(tmp_path, monkeypatch):
    original = SnapshotStream._encode

    def fail_at_5(stream, *args):
        if stream.step == 5:
            raise MemoryError("test: no memory for step 5")
        return original(stream, *args)

    monkeypatch.setattr(SnapshotStream, "_encode", fail_at_5)
    with pytest.warns(RuntimeWarning, match="could not be written in the background.*step 5"):
        run = _write(tmp_path, True, steps=[0, 5, 10])
    assert run.probe("p").steps == [0, 10]


SCRIPT = textwrap.dedent(
    """
    import sys
    from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter
    from tb_attention_plugin.devtools.synthetic import DriftingMaps, plain_tokens

    maps = DriftingMaps(4, 8, 64, seed=1)  # big enough to still be queued at the end
    w = AttentionSummaryWriter(sys.argv[1], background=True)
    w.add_probe("p", plain_tokens(64))
    for step in range(0, 200, 10):
        w.add_attention(step, "p", maps.next())
    if sys.argv[2] == "raise":
        raise RuntimeError("training failed")
    # "exit": leave without close()
    """
)


@pytest.mark.parametrize("how", ["exit", "raise"])
def test_nothing_queued_is_lost_at_interpreter_exit(tmp_path, how):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), how], capture_output=True, text=True, timeout=120
    )
    assert (proc.returncode != 0) == (how == "raise"), proc.stderr[-2000:]
    assert read_run(str(tmp_path)).probe("p").steps == list(range(0, 200, 10))
