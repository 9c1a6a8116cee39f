"""2-process FSDP2 (`fully_shard`, gloo on CPU) training with attention snapshots (tests/test_fsdp.py).

Usage: torchrun --nproc_per_node 2 tests/fsdp_train_script.py recorder LOG_DIR OUT_DIR
       torchrun --nproc_per_node 2 tests/fsdp_train_script.py trainer LOG_DIR OUT_DIR

recorder: a custom loop over a fully_shard-ed model; every rank joins each probe forward, rank 0
writes. At each snapshot step the full (gathered) state dict goes to OUT_DIR/step-N.pt, for the test
to compare the stored attention with the gathered model's own.
trainer: the same through transformers' Trainer with an FSDP2 config. On CPU, accelerate (1.x) only
enables FSDP for accelerator devices and runs this as DDP (the script prints whether parameters were
sharded); the callback still has every rank join the probe pass, as it must under real FSDP.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import model_zoo  # noqa: E402
from tb_attention_plugin import AttentionCallback, AttentionRecorder  # noqa: E402

PROBES = ["the cat is very sad because it could not find food to eat .", ("the dog sat on the mat", "a cat was happy")]
NAMES = ["sad", "pair"]


def _leave():
    """Everything is written and flushed: exit now. gloo's teardown on this torch sometimes aborts the
    interpreter ("terminate called without an active exception") or hangs in a destructor once the
    trainer's objects are freed, so no frame is left to unwind."""
    dist.destroy_process_group()
    sys.stdout.flush()
    os._exit(0)


def _full_state_dict(model):
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().clone() for k, v in state.items()}  # unsharded, these would be the live tensors


def recorder_loop(log_dir, out_dir):
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    model, tok, task = model_zoo.build("llama-gqa")
    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    data = model_zoo.dataset(task, tok, n=16)
    recorder = AttentionRecorder(model, tok, PROBES, log_dir if rank == 0 else None, names=NAMES, induction_probe=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-2)

    def snapshot(step):
        recorder.snapshot(step)
        state = _full_state_dict(model)  # collective: every rank
        if rank == 0:
            torch.save(state, os.path.join(out_dir, f"step-{step}.pt"))

    snapshot(0)
    model.train()
    for step in range(1, 5):
        items = [data[(4 * step + 2 * rank + i) % len(data)] for i in range(2)]
        batch = {k: torch.stack([item[k] for item in items]) for k in items[0]}
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 2 == 0:
            snapshot(step)
    recorder.close()
    print(f"rank {rank} done", flush=True)
    _leave()


def trainer_run(log_dir, out_dir):
    import transformers

    model, tok, task = model_zoo.build("llama-gqa")
    saved = {}

    class SaveFullWeights(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            saved[state.global_step] = _full_state_dict(model)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            from torch.distributed.tensor import DTensor

            if state.global_step == 1:
                print(f"rank {dist.get_rank()} sharded {isinstance(next(model.parameters()), DTensor)}", flush=True)
            saved[state.global_step] = _full_state_dict(model)

    cb = AttentionCallback(PROBES, every_n_steps=2, log_dir=log_dir, names=NAMES, induction_probe=False)
    args = transformers.TrainingArguments(
        output_dir=out_dir,
        max_steps=4,
        per_device_train_batch_size=2,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        learning_rate=5e-2,
        seed=0,
        logging_steps=1,
        fsdp=True,
        fsdp_config={"fsdp_version": 2, "transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]},
    )
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=model_zoo.dataset(task, tok, n=16),
        processing_class=tok,
        data_collator=transformers.default_data_collator,
        callbacks=[cb, SaveFullWeights()],
    )
    trainer.train()
    if trainer.is_world_process_zero():
        for step, state in saved.items():
            torch.save(state, os.path.join(out_dir, f"step-{step}.pt"))
    print(f"rank {dist.get_rank()} done", flush=True)
    _leave()


if __name__ == "__main__":
    mode, log_dir, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    {"recorder": recorder_loop, "trainer": trainer_run}[mode](log_dir, out_dir)
