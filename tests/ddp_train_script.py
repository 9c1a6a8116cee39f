"""2-process CPU DDP training with AttentionCallback (run by tests/test_callback_ddp.py via torchrun).

Usage: torchrun --nproc_per_node 2 tests/ddp_train_script.py LOG_DIR OUTPUT_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tb_attention_plugin import AttentionCallback  # noqa: E402
from tiny_models import make_trainer  # noqa: E402


def main(log_dir, output_dir):
    import pathlib

    cb = AttentionCallback(["the cat sat on the mat .", ("the dog is happy", "a cat is sad")], every_n_steps=2,
                           log_dir=log_dir, names=["mat", "pair"])
    trainer = make_trainer("bert", pathlib.Path(output_dir), cb, max_steps=5, ddp_backend="gloo",
                           learning_rate=1e-2)
    trainer.train()
    print(f"rank {os.environ.get('RANK')} done at step {trainer.state.global_step}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
