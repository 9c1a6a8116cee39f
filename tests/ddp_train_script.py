"""2-process CPU DDP training with AttentionCallback (run by tests/test_callback_ddp.py via torchrun).

Usage: torchrun --nproc_per_node 2 tests/ddp_train_script.py LOG_DIR OUTPUT_DIR [--sharded-auto]

--sharded-auto: every rank runs the probes (as under FSDP / ZeRO-3) with the automatic interval,
and rank 1's steps are made slower, so each rank alone would choose a different interval.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tb_attention_plugin import AttentionCallback  # noqa: E402
from tiny_models import make_trainer  # noqa: E402


def main(log_dir, output_dir, sharded_auto=False):
    import pathlib
    import time

    from transformers import TrainerCallback

    probes = ["the cat sat on the mat .", ("the dog is happy", "a cat is sad")]
    if sharded_auto:
        AttentionCallback._forward_everywhere = lambda self, args: True
        cb = AttentionCallback(probes, log_dir=log_dir, names=["mat", "pair"])

        class SlowRank1(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                if os.environ.get("RANK") == "1":
                    time.sleep(0.3)

        trainer = make_trainer(
            "bert", pathlib.Path(output_dir), cb, max_steps=12, ddp_backend="gloo", learning_rate=1e-2
        )
        trainer.add_callback(SlowRank1())
    else:
        cb = AttentionCallback(probes, every_n_steps=2, log_dir=log_dir, names=["mat", "pair"])
        trainer = make_trainer(
            "bert", pathlib.Path(output_dir), cb, max_steps=5, ddp_backend="gloo", learning_rate=1e-2
        )
    trainer.train()
    print(
        f"rank {os.environ.get('RANK')} done at step {trainer.state.global_step} every {cb.every_n_steps}", flush=True
    )
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    # gloo's teardown on this torch sometimes aborts the interpreter at exit ("terminate called without
    # an active exception") or hangs in a destructor when the trainer's objects are freed: everything
    # is written and flushed by now, so leave without running destructors
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--sharded-auto" in sys.argv[3:])
