"""A 2-process CPU DDP Trainer (torchrun, gloo): one complete attention log, written by rank 0 only."""
import os
import subprocess
import sys

import numpy as np

from tb_attention_plugin import read_run
from tb_attention_plugin.event_file import event_files

HERE = os.path.dirname(os.path.abspath(__file__))


def test_ddp_two_processes_write_one_complete_log(tmp_path):
    log_dir = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.pop("TENSORBOARD_LOGGING_DIR", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(HERE, "ddp_train_script.py"), str(log_dir), str(tmp_path / "out")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "rank 0 done at step 5" in proc.stdout and "rank 1 done at step 5" in proc.stdout
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
