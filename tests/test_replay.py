"""Replay: a Trainer run saving checkpoints every k steps WITH the callback logging at the same steps,
then its checkpoints replayed into another directory: the two logs hold the same attention (within
1/255) at every checkpoint step, for an encoder, a decoder (with the induction probe), an
encoder-decoder and a LoRA adapter; loss and metrics come from trainer_state.json; a second replay
adds nothing; bad folders are refused before anything is loaded."""

import json
import os
import warnings

import numpy as np
import pytest
import transformers

import model_zoo
from tb_attention_plugin import AttentionCallback, read_run
from tb_attention_plugin.callback.replay import replay

TOLERANCE = 1.0 / 255 + 1e-6
PROBES = ["the cat is very sad because it could not find food to eat .", ("the dog sat on the mat", "a cat was happy")]
EVERY = 2
STEPS = 6


def _lora(model):
    import peft

    config = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=["query", "value"])
    return peft.get_peft_model(model, config)


def train_with_callback(tmp_path, family, wrap=None):
    """-> (output dir, callback log dir, base model dir or None)."""
    model, tokenizer, task = model_zoo.build(family)
    base_dir = None
    if wrap is not None:
        base_dir = str(tmp_path / "base")
        model.save_pretrained(base_dir)
        model = wrap(model)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=STEPS,
        per_device_train_batch_size=4,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="steps",
        save_steps=EVERY,
        disable_tqdm=True,
        seed=0,
        learning_rate=5e-2,
    )
    callback = AttentionCallback(PROBES, every_n_steps=EVERY, log_dir=tmp_path / "callback", names=["sad", "pair"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers.Trainer(
            model=model,
            args=args,
            train_dataset=model_zoo.dataset(task, tokenizer),
            processing_class=tokenizer,
            data_collator=transformers.default_data_collator,
            callbacks=[callback],
        ).train()
    return tmp_path / "out", tmp_path / "callback", base_dir


@pytest.mark.parametrize(
    "family, wrap",
    [("bert", None), ("gpt2", None), ("t5", None), ("bert", _lora)],
    ids=["bert", "gpt2", "t5", "bert-lora"],
)
def test_replayed_checkpoints_hold_the_callbacks_attention(tmp_path, family, wrap):
    out, logged, base_dir = train_with_callback(tmp_path, family, wrap)
    steps = replay(out, PROBES, tmp_path / "replayed", names=["sad", "pair"], base_model=base_dir, progress=False)
    assert steps == list(range(EVERY, STEPS + 1, EVERY))
    original, replayed = read_run(str(logged)), read_run(str(tmp_path / "replayed"))
    assert replayed.probes == original.probes  # the induction probe too, for the causal model
    for name in original.probes:
        a, b = original.probe(name), replayed.probe(name)
        assert b.kinds == a.kinds and b.tokens == a.tokens
        for kind in a.kinds:
            assert b.steps_of(kind) == steps
            for step in steps:
                assert np.abs(b.attention(step, kind) - a.attention(step, kind)).max() <= TOLERANCE
    history = json.load(open(os.path.join(out, f"checkpoint-{STEPS}", "trainer_state.json")))["log_history"]
    losses = {e["step"]: e["loss"] for e in history if "loss" in e}
    loss_steps, values = replayed.scalars("train/loss")
    assert dict(zip(loss_steps.tolist(), values.tolist())) == pytest.approx(losses)


def test_a_second_replay_adds_nothing_and_warns_nothing(tmp_path):
    out, _, _ = train_with_callback(tmp_path, "bert")
    first = replay(out, PROBES[:1], progress=False)
    assert first == [2, 4, 6] and os.path.isdir(out / "runs" / "replay")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "already holds records" warning
        assert replay(out, PROBES[:1], progress=False) == []
    (out / "checkpoint-6").rename(out / "checkpoint-8")  # a later checkpoint appears: only it is replayed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert replay(out, PROBES[:1], progress=False) == [8]
    assert read_run(str(out / "runs" / "replay")).probe(read_run(str(out / "runs" / "replay")).probes[0]).steps == [
        2,
        4,
        6,
        8,
    ]


def test_bad_folders_are_refused_before_anything_is_loaded(tmp_path):
    with pytest.raises(ValueError, match="holds no checkpoint-N folders"):
        replay(tmp_path, PROBES, tmp_path / "logs")
    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(ValueError, match=r"checkpoint-3 \(step 3\) is not a model checkpoint"):
        replay(tmp_path, PROBES, tmp_path / "logs")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        replay(tmp_path / "missing", PROBES)
    with pytest.raises(ValueError, match="the step after ':' must be an integer"):
        replay([f"{tmp_path}:x"], PROBES, tmp_path / "logs")
    with pytest.raises(ValueError, match="log_dir is needed"):
        replay([(tmp_path / "checkpoint-3", 3)], PROBES)
    assert not (tmp_path / "logs").exists()
