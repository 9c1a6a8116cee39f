"""A 2-process CPU DDP Trainer (torchrun, gloo): one complete attention log, written by rank 0 only."""

import os
import re
import subprocess
import sys

import numpy as np

from tb_attention_plugin import read_run
from tb_attention_plugin.format.event_file import event_files

HERE = os.path.dirname(os.path.abspath(__file__))


def _torchrun(tmp_path, *extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.pop("TENSORBOARD_LOGGING_DIR", None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        os.path.join(HERE, "ddp_train_script.py"),
        str(tmp_path / "run"),
        str(tmp_path / "out"),
        *extra,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def test_ddp_two_processes_write_one_complete_log(tmp_path):
    log_dir = tmp_path / "run"
    proc = _torchrun(tmp_path)
    assert "rank 0 done at step 5" in proc.stdout and "rank 1 done at step 5" in proc.stdout
    assert "every 2" in proc.stdout
    files = event_files(str(log_dir))
    assert len(files) == 1 and files[0].endswith(".attention")
    # nothing anywhere else: rank 1 wrote no log of its own
    others = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs if "tfevents" in f]
    assert others == files
    run = read_run(str(log_dir))
    assert run.probes == ["mat", "pair"]
    for name in run.probes:
        p = run.probe(name)
        assert p.steps == [0, 2, 4, 5] and p.stats_steps() == [0, 2, 4, 5]
        for step in p.steps:
            assert np.abs(p.attention(step).sum(-1) - 1).max() <= 1 / 255
    assert run.scalars("train/loss")[0].tolist() == [1, 2, 3, 4, 5]


def test_ranks_that_all_probe_share_rank0s_automatic_interval(tmp_path):
    """Under FSDP / ZeRO-3 every rank joins each probe forward, so all must pick the same steps even
    though their own timings differ (rank 1 is made slower here)."""
    proc = _torchrun(tmp_path, "--sharded-auto")
    chosen = dict(re.findall(r"rank (\d) done at step 12 every (\d+)", proc.stdout))
    assert set(chosen) == {"0", "1"}, proc.stdout[-2000:]
    assert chosen["0"] == chosen["1"]
    steps = read_run(str(tmp_path / "run")).probe("mat").steps
    every = int(chosen["0"])
    assert steps == sorted({0, 12} | {s for s in range(1, 13) if s % every == 0})
