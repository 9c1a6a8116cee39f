"""No reader loses another writer's records: a user's own SummaryWriter logging into our run directory
keeps every scalar under TensorBoard's EventAccumulator, tbparse, RustBoard, TensorBoard's Python
loader and read_run, in a fresh run (no restart marker is written) and across a resume (the marker
hides only the earlier session's abandoned continuation)."""

import os
import subprocess
import sys
import time
import urllib.parse

import numpy as np
import pytest

from tb_attention_plugin import AttentionCallback, AttentionSummaryWriter, read_run
from plugin_fixtures import tensorboard  # noqa: F401 (fixture)
from tiny_models import make_trainer, tensorboard_python_read

TOKENS = ["[CLS]", "a", "b", "[SEP]"]
MINE = "data/my_metric"


def attention(seed):
    rng = np.random.default_rng(seed)
    e = np.exp(rng.normal(size=(2, 2, 4, 4)))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def session(log_dir, user_steps_before, steps, user_steps_after, start, value):
    """One training session as a user runs it: their own SummaryWriter opened first (logging `value`),
    then our writer as the callback drives it (a restart mark at `start`, a snapshot and a loss per step)."""
    from torch.utils.tensorboard import SummaryWriter

    user = SummaryWriter(str(log_dir))
    for s in user_steps_before:
        user.add_scalar(MINE, value, s)
    user.flush()
    after_this_second()  # the user's file sorts before ours, whatever the two writers' counters
    w = AttentionSummaryWriter(log_dir)
    marker = w.add_session_start(start)
    w.add_probe("p", TOKENS)
    for s in steps:
        w.add_attention(s, "p", attention(s + int(10 * value)))
        w.add_scalar("train/loss", value, s)
    for s in user_steps_after:
        user.add_scalar(MINE, value, s)
    user.close()
    w.close()
    return marker


def in_another_process(log_dir, *args):
    """A session of a process that has ended (an earlier run, or the one a resume continues)."""
    script = f"import sys; sys.path[:0] = {sys.path!r}\nfrom test_other_writers import session\n"
    script += f"session({str(log_dir)!r}, *{args!r})"
    subprocess.run([sys.executable, "-c", script], check=True, cwd=os.path.dirname(__file__))
    after_this_second()  # this session's files are named with a later second


def after_this_second():
    """Event file names start with the second they were made in: wait for the next one."""
    now = int(time.time())
    while int(time.time()) <= now:
        time.sleep(0.02)


def python_readers(run_dir, tag):
    """{reader: sorted [(step, value)]} of `tag` as each reader in this process shows it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    import tbparse

    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    frame = tbparse.SummaryReader(str(run_dir)).scalars
    frame = frame[frame.tag == tag]
    steps, values = read_run(str(run_dir)).scalars(tag)
    return {
        "EventAccumulator": sorted((e.step, e.value) for e in accumulator.Scalars(tag)),
        "tbparse": sorted(zip(frame.step.tolist(), frame.value.tolist())),
        "TensorBoard's Python loader": sorted(tensorboard_python_read(str(run_dir))["."]["scalars"][tag].items()),
        "read_run": sorted(zip(steps.tolist(), values.tolist())),
    }


def rustboard_scalars(tb, run, tag):
    query = urllib.parse.urlencode({"run": run, "tag": tag})
    return sorted((step, value) for _, step, value in tb.json(f"data/plugin/scalars/scalars?{query}"))


def test_a_users_own_summary_writer_keeps_every_scalar_in_every_reader(tmp_path, tensorboard):  # noqa: F811
    fresh, resumed = tmp_path / "logs" / "fresh", tmp_path / "logs" / "resumed"
    # a fresh run: the user's writer, opened first, logs before and after ours starts
    assert session(fresh, range(3), [0, 2, 4], range(3, 6), 0, 1.0) is None  # nothing to hide: no marker
    assert not [f for f in os.listdir(fresh) if "restart" in f]
    # a run that stopped at step 8, resumed from its checkpoint at step 4 (the callback marks step 5)
    in_another_process(resumed, range(3), [0, 2, 4, 6, 8], range(3, 9), 0, 1.0)
    marker = session(resumed, [], [6], [5, 6, 7], 5, 2.0)
    assert os.path.basename(marker).endswith(".restart-5")

    want_fresh = [(s, 1.0) for s in range(6)]
    want_resumed = [(s, 1.0) for s in range(5)] + [(s, 2.0) for s in (5, 6, 7)]  # 8 was abandoned
    for name, shown in python_readers(fresh, MINE).items():
        assert shown == want_fresh, name
    for name, shown in python_readers(resumed, MINE).items():
        if name == "tbparse":  # keeps every record it reads, the abandoned ones too: nothing lost
            assert set(want_resumed) <= set(shown), shown
        else:
            assert shown == want_resumed, name
    assert read_run(str(resumed)).probe("p").steps == [0, 2, 4, 6]
    assert read_run(str(resumed)).scalars("train/loss")[0].tolist() == [0, 2, 4, 6]

    tb = tensorboard(str(tmp_path / "logs"), "--load_fast=true")  # RustBoard
    tb.wait_for_steps(3)
    assert rustboard_scalars(tb, "fresh", MINE) == want_fresh
    assert rustboard_scalars(tb, "resumed", MINE) == want_resumed
    assert sorted(map(sorted, tb.index_steps())) == [[0, 2, 4], [0, 2, 4, 6]]


def test_the_callback_with_a_users_summary_writer_opened_first(tmp_path):
    """The case that lost the user's scalars: report_to="none", the user's SummaryWriter in log_dir."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    run_dir = tmp_path / "run"
    user = SummaryWriter(str(run_dir))
    user.add_scalar(MINE, 0.5, 0)
    user.flush()
    after_this_second()  # the user's file sorts before ours
    cb = AttentionCallback(["the cat sat on the mat ."], every_n_steps=2, log_dir=str(run_dir))
    make_trainer("bert", tmp_path, cb, max_steps=3).train()
    user.add_scalar(MINE, 0.7, 3)
    user.close()
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    assert [(e.step, e.value) for e in accumulator.Scalars(MINE)] == [(0, 0.5), (3, pytest.approx(0.7))]
    assert [e.step for e in accumulator.Scalars("train/loss")] == [1, 2, 3]
    assert not [f for f in os.listdir(run_dir) if "restart" in f]
