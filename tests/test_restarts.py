"""Re-used run directories: nothing an earlier run logged disappears without a warning, a resume only
logs what it replaces, and a second writer of the same directory at the same time is reported."""

import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

from tb_attention_plugin import AttentionSummaryWriter, read_run
from tb_attention_plugin.format.event_file import event_files
from tiny_models import tensorboard_python_read

TOKENS = ["[CLS]", "a", "b", "[SEP]"]
STEP = 1.0 / 255


def attention(seed, shape=(2, 2, 4, 4)):
    rng = np.random.default_rng(seed)
    e = np.exp(rng.normal(size=shape) * 2)
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def callback_like_run(log_dir, steps, seed=0, start=0):
    """What AttentionCallback does: session start, probes, then a snapshot and a loss per step."""
    w = AttentionSummaryWriter(log_dir)
    w.add_session_start(start)
    w.add_probe("p", TOKENS)
    for step in steps:
        w.add_attention(step, "p", attention(seed + step))
        w.add_scalar("train/loss", 1.0 / (1 + step), step)
    return w


def ours(caught):
    return [c for c in caught if str(c.message).startswith("tb-attention")]


def test_a_new_run_at_step_0_into_a_used_log_dir_warns_once_before_hiding_anything(tmp_path):
    callback_like_run(tmp_path, [0, 10, 20, 30, 40]).close()
    (old_file,) = [os.path.basename(f) for f in event_files(str(tmp_path))]
    w = AttentionSummaryWriter(tmp_path)
    with pytest.warns(UserWarning) as caught:
        w.add_session_start(0)
    (warning,) = ours(caught)
    message = str(warning.message)
    assert warning.filename == __file__  # attributed to the caller
    assert message.startswith(
        f"tb-attention: {tmp_path} already holds a run, and this run's start at step 0 "
        f"hides everything it logged, in TensorBoard and read_run alike: "
    )
    assert "probe 'p' (self): steps 0..40 (5 steps)" in message
    assert "scalar 'train/loss': steps 0..40 (5 steps)" in message
    assert f"(in {old_file})" in message and "its own log_dir" in message
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w.add_probe("p", TOKENS)
        for step in (0, 10):
            w.add_attention(step, "p", attention(100 + step))
            w.add_scalar("train/loss", 5.0, step)
        w.close()
    assert not ours(caught)  # once
    # what the warning said: every reader now shows the new run only
    run = read_run(str(tmp_path))
    p = run.probe("p")
    assert p.steps == [0, 10] and run.scalars("train/loss")[0].tolist() == [0, 10]
    assert np.abs(p.attention(10) - attention(110)).max() <= STEP + 1e-6
    assert (p.stats()["drift"][0] == 0).all()  # the new run's drift starts from its own step 0
    tb = tensorboard_python_read(str(tmp_path))["."]
    assert sorted(tb["attention"]["attention/p/self"]) == [0, 10]
    assert sorted(tb["scalars"]["train/loss"]) == [0, 10]


def test_a_plain_writer_rerun_warns_once_when_it_replaces_earlier_steps(tmp_path):
    with AttentionSummaryWriter(tmp_path) as w:
        w.add_probe("p", TOKENS)
        for step in range(6):
            w.add_attention(step, "p", attention(step))
        w.add_scalar("eval/acc", 0.5, 5)
    (old_file,) = [os.path.basename(f) for f in event_files(str(tmp_path))]
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", TOKENS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w.add_scalar("train/loss", 1.0, 0)  # a new tag: replaces nothing
        assert not ours(caught)
        w.add_attention(0, "p", attention(50))
        (warning,) = ours(caught)
        for step in range(1, 4):
            w.add_attention(step, "p", attention(50 + step))
        w.add_scalar("eval/acc", 0.9, 5)
        w.close()
    assert len(ours(caught)) == 1 and issubclass(warning.category, UserWarning)
    message = str(warning.message)
    assert f"{tmp_path} already holds records at the steps this writer now logs, from step 0 on: " in message
    assert "probe 'p' (self): steps 0..5 (6 steps); scalar 'eval/acc': step 5" in message
    assert f"(in {old_file})" in message and "replaced or hidden" in message and "its own log_dir" in message


def test_a_resume_only_logs_what_it_replaces(tmp_path, caplog):
    callback_like_run(tmp_path, [0, 2, 4, 6, 8]).close()
    caplog.set_level(logging.INFO, logger="tb_attention_plugin.writer.summary_writer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the callback resuming from the checkpoint of step 4: a START at 5, step 4 is not written again
        w = AttentionSummaryWriter(tmp_path)
        w.add_session_start(5)
        w.add_probe("p", TOKENS)
        assert w.logged_before("p", "self") == [0, 2, 4]
        for step in (5, 6):
            w.add_attention(step, "p", attention(200 + step))
            w.add_scalar("train/loss", 9.0, step)
        w.close()
    assert not ours(caught)
    assert f"restart at step 5 in {tmp_path}" in caplog.text
    assert "probe 'p' (self): steps 6, 8" in caplog.text
    p = read_run(str(tmp_path)).probe("p")
    assert p.steps == [0, 2, 4, 5, 6]
    assert np.abs(p.attention(6) - attention(206)).max() <= STEP + 1e-6


def test_a_resume_without_restart_markers_only_logs_what_it_replaces(tmp_path, caplog):
    """A writer that marks no restart (the plain writer) continuing a series."""
    with AttentionSummaryWriter(tmp_path) as w:
        w.add_probe("p", TOKENS)
        for step in (0, 2, 4, 6, 8):
            w.add_attention(step, "p", attention(step))
    caplog.set_level(logging.INFO, logger="tb_attention_plugin.writer.summary_writer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = AttentionSummaryWriter(tmp_path)
        w.add_probe("p", TOKENS)
        for step in (6, 8, 10):
            w.add_attention(step, "p", attention(300 + step))
        w.close()
    assert not ours(caught)
    assert "probe 'p' (self) in" in caplog.text and "continues from step 6" in caplog.text
    assert "(steps 6, 8)" in caplog.text


def test_a_restart_that_leaves_nothing_of_the_earlier_run_warns_even_above_step_0(tmp_path):
    callback_like_run(tmp_path, [100, 110], start=100).close()
    w = AttentionSummaryWriter(tmp_path)
    with pytest.warns(UserWarning, match=r"start at step 50 hides everything .* steps 100, 110"):
        w.add_session_start(50)
    w.close()


def test_no_marker_is_written_where_nothing_would_be_hidden(tmp_path):
    callback_like_run(tmp_path, [0, 1]).close()
    w = AttentionSummaryWriter(tmp_path / "fresh")
    assert w.add_session_start(0) is None  # a fresh directory
    w.close()
    w = AttentionSummaryWriter(tmp_path)
    assert w.add_session_start(2) is None  # a later start hides nothing of the steps 0 and 1 logged
    w.close()
    assert not [f for f in os.listdir(tmp_path) if "restart" in f]


def test_a_restart_after_this_writers_own_records_is_refused(tmp_path):
    w = callback_like_run(tmp_path, [0, 4])
    with pytest.raises(ValueError, match=r"add_session_start\(3\) comes after this writer's records at step 4"):
        w.add_session_start(3)
    w.close()


def test_an_earlier_file_named_after_this_sessions_cannot_be_hidden_and_is_named(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    callback_like_run(tmp_path, [0, 2]).close()
    (old,) = event_files(str(tmp_path))
    late = os.path.join(tmp_path, "events.out.tfevents.9999999999.elsewhere.1.000000.attention")
    os.rename(old, late)  # an earlier run's file that sorts after this session's (a clock set wrong)
    user = SummaryWriter(str(tmp_path))  # this session's, opened first
    user.add_scalar("mine", 1.0, 0)
    user.flush()
    w = AttentionSummaryWriter(tmp_path)
    with pytest.warns(UserWarning, match=r"cannot hide what events\.out\.tfevents\.9999999999\.elsewhere.* logged"):
        assert w.add_session_start(0) is None
    w.close()
    user.close()


def test_another_live_process_writing_the_directory_is_reported(tmp_path):
    script = textwrap.dedent(f"""
        import sys, numpy as np
        from tb_attention_plugin import AttentionSummaryWriter
        w = AttentionSummaryWriter({str(tmp_path)!r})
        w.add_probe("p", {TOKENS!r})
        w.add_attention(0, "p", np.full((2, 2, 4, 4), 0.25, np.float32))
        print(w._file.path, flush=True)
        sys.stdin.readline()
        w.close()
    """)
    other = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        their_file = os.path.basename(other.stdout.readline().strip())
        assert their_file.endswith(f".{other.pid}.000000.attention")
        with pytest.warns(UserWarning) as caught:
            w = AttentionSummaryWriter(tmp_path)
            w.add_probe("p", TOKENS)
            w.add_attention(100, "p", attention(1))  # later steps: nothing replaced, only the other writer
        (warning,) = ours(caught)
        message = str(warning.message)
        assert message.startswith(
            f"tb-attention: another writer is logging attention to {tmp_path} right now: "
            f"{their_file} (process {other.pid} on this host, still writing it; "
        )
        assert "its own log_dir" in message and "only rank 0 should write" in message
        w.close()
    finally:
        other.stdin.write("\n")
        other.stdin.flush()
        other.wait(timeout=60)
    # the other process has finished: its file is just an earlier run's now
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = AttentionSummaryWriter(tmp_path)
        w.add_probe("p", TOKENS)
        w.add_attention(200, "p", attention(2))
        w.close()
    assert not ours(caught)


def test_two_open_writers_of_one_process_and_another_hosts_recent_file_are_reported(tmp_path):
    first = AttentionSummaryWriter(tmp_path)
    first.add_probe("p", TOKENS)
    first.add_attention(0, "p", attention(0))
    with pytest.warns(UserWarning, match="another AttentionSummaryWriter of this process, still open"):
        second = AttentionSummaryWriter(tmp_path)
        second.add_scalar("train/loss", 1.0, 100)
    second.close()
    first.close()
    with warnings.catch_warnings(record=True) as caught:  # both closed: nobody writes any more
        warnings.simplefilter("always")
        third = AttentionSummaryWriter(tmp_path)
        third.add_scalar("train/loss", 1.0, 200)
        third.close()
    assert not ours(caught)
    # a file of another machine (a shared file system) written a moment ago, then one written long ago
    other_dir = tmp_path / "shared"
    other_dir.mkdir()
    host = "other-node.cluster" if socket.gethostname() != "other-node.cluster" else "node-2"
    name = f"events.out.tfevents.{int(time.time()):010d}.{host}.4242.000003.attention"
    shutil.copy(event_files(str(tmp_path))[0], other_dir / name)
    with pytest.warns(UserWarning, match=f"{name} \\(host '{host}', process 4242; last written 0 s ago\\)"):
        with AttentionSummaryWriter(other_dir) as w:
            w.add_scalar("train/loss", 1.0, 300)
    long_ago = time.time() - 3600
    os.utime(other_dir / name, (long_ago, long_ago))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with AttentionSummaryWriter(other_dir) as w:
            w.add_scalar("train/loss", 1.0, 400)
    assert not ours(caught)


def test_the_directory_is_read_once_before_the_first_record(tmp_path, monkeypatch):
    callback_like_run(tmp_path, [0, 1]).close()
    from tb_attention_plugin.reading import reader

    calls = []
    original = reader.read_run
    monkeypatch.setattr(reader, "read_run", lambda path: calls.append(path) or original(path))
    w = AttentionSummaryWriter(tmp_path)
    with pytest.warns(UserWarning, match="already holds a run"):
        w.add_session_start(0)
    w.add_probe("p", TOKENS)
    w.add_attention(0, "p", attention(9))
    w.logged_before("p", "self")
    w.add_scalar("train/loss", 1.0, 1)
    w.close()
    assert calls == [str(tmp_path)]


def test_the_callback_rerun_into_its_log_dir_warns_and_says_what_it_hides(tmp_path):
    """The user's case: the same training script run twice with the same log_dir (no change to the
    callback: its add_session_start(0) is what warns)."""
    from tb_attention_plugin import AttentionCallback
    from tiny_models import make_trainer

    def train():
        cb = AttentionCallback(
            ["the cat sat on the mat ."],
            every_n_steps=2,
            log_dir=tmp_path / "run",
            names=["mat"],
            induction_probe=False,
        )
        make_trainer("gpt2", tmp_path, cb, max_steps=4).train()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train()
    assert not ours(caught)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train()
    (warning,) = [c for c in ours(caught) if "already holds" in str(c.message)]
    message = str(warning.message)
    assert "start at step 0 hides everything it logged" in message
    assert "probe 'mat' (self): steps 0, 2, 4" in message and "scalar 'train/loss': steps 1, 2, 3, 4" in message


def test_a_probe_logged_again_with_other_tokens_warns_unless_a_restart_hid_the_old_ones(tmp_path):
    callback_like_run(tmp_path, [0, 1]).close()
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["[CLS]", "x", "[SEP]"])
    with pytest.warns(UserWarning) as caught:
        w.add_attention(5, "p", attention(0, (2, 2, 3, 3)))
    (warning,) = [c for c in ours(caught) if "other tokens" in str(c.message)]
    assert (
        f"{tmp_path} already holds probe 'p' with other tokens (['[CLS]', 'a', 'b', '[SEP]'] at steps 0, 1); "
        f"this writer logs it with ['[CLS]', 'x', '[SEP]']"
    ) in str(warning.message)
    w.close()
    other = tmp_path / "other"
    callback_like_run(other, [0, 1]).close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = AttentionSummaryWriter(other)
        with pytest.warns(UserWarning, match="already holds a run"):
            w.add_session_start(0)  # hides steps 0 and 1: nothing left to mislabel
        w.add_probe("p", ["[CLS]", "x", "[SEP]"])
        w.add_attention(0, "p", attention(0, (2, 2, 3, 3)))
        w.close()
    assert not [c for c in ours(caught) if "other tokens" in str(c.message)]


def test_the_warning_names_probes_as_the_user_spelled_them(tmp_path):
    name = 'cat "50%"'  # percent-encoded in its tags
    for k in range(2):
        with (
            AttentionSummaryWriter(tmp_path) as w,
            pytest.warns(UserWarning, match="already holds") if k else warnings.catch_warnings() as caught,
        ):
            w.add_probe(name, TOKENS)
            w.add_attention(0, name, attention(k))
    assert f"probe {name!r} (self): step 0" in str(ours(caught)[0].message)
