"""Sharded training for real: 2 processes with FSDP2 (`fully_shard`, gloo on CPU). Every rank joins each
probe forward, rank 0 writes one complete log, and at every logged step the stored attention equals
the gathered (full) model's own attention; nothing deadlocks."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import model_zoo
from tb_attention_plugin import read_run
from tb_attention_plugin.format.event_file import event_files
from test_compatibility import TOLERANCE, own_attention

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = {
    "sad": ("the cat is very sad because it could not find food to eat .", None),
    "pair": ("the dog sat on the mat", "a cat was happy"),
}


# FSDP2 on CPU streams needs torch.cpu.Stream.record_event (torch 2.6 lacks it: fully_shard fails
# inside torch before any of our code runs); the FSDP2 path itself is the same on GPUs
needs_fsdp2_on_cpu = pytest.mark.skipif(
    not hasattr(torch.cpu.Stream, "record_event"),
    reason="this torch cannot run FSDP2 (fully_shard) on CPU: torch.cpu.Stream has no record_event",
)


def _torchrun(mode, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        os.path.join(HERE, "fsdp_train_script.py"),
        mode,
        str(tmp_path / "run"),
        str(tmp_path / "out"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "rank 0 done" in proc.stdout and "rank 1 done" in proc.stdout
    return proc


@needs_fsdp2_on_cpu
@pytest.mark.parametrize("mode,steps", [("recorder", [0, 2, 4]), ("trainer", [0, 2, 4])])
def test_sharded_run_logs_the_gathered_models_attention(mode, steps, tmp_path):
    _torchrun(mode, tmp_path)
    files = event_files(str(tmp_path / "run"))
    assert len(files) == 1  # rank 0 only
    run = read_run(str(tmp_path / "run"))
    assert run.probes == ["sad", "pair"]
    model, tok, _ = model_zoo.build("llama-gqa")
    moved = 0.0
    for name in run.probes:
        p = run.probe(name)
        assert p.steps == steps
        for step in steps:
            model.load_state_dict(torch.load(tmp_path / "out" / f"step-{step}.pt"))
            own = own_attention(model, tok, SPECS[name], p, "self")
            assert np.abs(p.attention(step) - own).max() <= TOLERANCE, (name, step)
        moved = max(moved, float(np.abs(p.attention(steps[-1]) - p.attention(0)).max()))
    assert moved > 3 * TOLERANCE
