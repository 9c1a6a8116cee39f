"""AttentionCallback in real Trainer runs on tiny models (CPU): values, schedule, run directory,
scalars, hyperparameters, no effect on training, errors, I/O failures and resumes."""

import errno
import os
import warnings

import numpy as np
import pytest
import torch

from tb_attention_plugin import AttentionCallback, read_run
from tb_attention_plugin.format import event_file
from tb_attention_plugin.callback import AttentionUnavailableError
from tb_attention_plugin.format.event_file import event_files
from tiny_models import (
    make_trainer,
    own_attention,
    tensorboard_python_read,
    tiny_model,
    toy_dataset,
    word_tokenizer,
)

STEP = 1.0 / 255
PROBES = ["the cat sat on the mat .", ("the dog is happy", "a cat is sad"), "it could not find food"]
KINDS = {
    "bert": ["self"],
    "distilbert": ["self"],
    "gpt2": ["self"],
    "llama": ["self"],
    "t5": ["encoder", "decoder", "cross"],
    "bart": ["encoder", "decoder", "cross"],
}


@pytest.mark.parametrize("family", ["bert", "distilbert", "gpt2", "llama", "t5", "bart"])
def test_every_family_logs_the_models_own_attention(family, tmp_path):
    cb = AttentionCallback(PROBES, every_n_steps=2, log_dir=tmp_path / "run", names=["mat", "pair", "food"])
    trainer = make_trainer(family, tmp_path, cb, max_steps=3, learning_rate=1e-2)
    model = trainer.model
    model.set_attn_implementation("sdpa")  # where this transformers has it for the family: no weights
    before = model.config._attn_implementation
    trainer.train()
    # the probe pass switched to eager and back
    assert model.config._attn_implementation == before
    assert cb.log_dir == str(tmp_path / "run")
    run = read_run(cb.log_dir)
    causal_lm = family in ("gpt2", "llama")
    assert run.probes == ["mat", "pair", "food"] + (["repeated random tokens"] if causal_lm else [])
    tb = tensorboard_python_read(str(tmp_path / "run"))["."]
    tok = trainer.processing_class
    lengths = set()
    for name in run.probes:
        p = run.probe(name)
        assert p.kinds == KINDS[family]
        assert p.steps == [0, 2, 3]  # step 0, every 2 optimizer steps, the end
        for kind in p.kinds:
            assert p.steps_of(kind) == [0, 2, 3]
            stored = p.attention(3, kind)
            own = own_attention(model, tok, p, kind)
            # real length: no padded rows or columns, whatever the other probes' lengths
            assert stored.shape == own.shape
            assert stored.shape[-1] == len(p.decoder_tokens if kind == "decoder" else p.tokens)
            assert np.abs(stored - own).max() <= STEP + 1e-5, (name, kind)
            assert np.abs(stored.sum(-1) - 1).max() <= STEP + 1e-5
            np.testing.assert_array_equal(tb["attention"][f"attention/{name}/{kind}"][3], stored)
            assert p.causal(kind) == (causal_lm or kind == "decoder")
            lengths.add(stored.shape[-1])
        if name == "pair" and family in ("bert", "distilbert"):
            assert p.segments == [0] * 6 + [1] * 5 and p.special[0] and p.special[5] and p.special[-1]
    assert len(lengths) > 1
    # the attention changed during training: the stored values are those of the last step
    p = run.probe("mat")
    assert np.abs(p.attention(0, p.kinds[0]) - p.attention(3, p.kinds[0])).max() > 0


def test_scalars_metrics_and_hparams_go_to_the_attention_run(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def accuracy(pred):
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    cb = AttentionCallback(PROBES[:1], every_n_steps=2, log_dir=tmp_path / "run")
    trainer = make_trainer(
        "bert",
        tmp_path,
        cb,
        max_steps=4,
        eval_strategy="steps",
        eval_steps=2,
        learning_rate=1e-3,
        evaluate=True,
        compute_metrics=accuracy,
    )
    trainer.train()
    run = read_run(str(tmp_path / "run"))
    steps, loss = run.scalars("train/loss")
    assert steps.tolist() == [1, 2, 3, 4] and np.isfinite(loss).all()
    lr_steps, lr = run.scalars("train/learning_rate")
    assert lr_steps.tolist() == [1, 2, 3, 4] and lr[0] == pytest.approx(1e-3) and lr[-1] < lr[0]
    assert run.scalars("eval/loss")[0].tolist() == [2, 4]
    acc = run.scalars("eval/accuracy")[1]
    assert ((acc >= 0) & (acc <= 1)).all()
    assert not any(t.startswith("train/eval") for t in run.scalar_tags)
    acc = EventAccumulator(str(tmp_path / "run"))
    acc.Reload()
    assert acc.PluginTagToContent("hparams"), "no hyperparameters for the HParams tab"
    assert {"train/loss", "eval/loss"} <= set(acc.Tags()["scalars"])


def test_report_to_tensorboard_shares_its_run_dir_without_duplicate_curves(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    cb = AttentionCallback(PROBES[:1], every_n_steps=2)
    trainer = make_trainer("bert", tmp_path, cb, max_steps=3, report_to="tensorboard")
    trainer.train()
    runs = tmp_path / "out" / "runs"
    attention_dirs = {os.path.dirname(f) for f in event_files_under(runs) if f.endswith(".attention")}
    loss_dirs = {
        d for d in {os.path.dirname(f) for f in event_files_under(runs)} if "train/loss" in read_run(d).scalar_tags
    }
    assert attention_dirs == loss_dirs == {cb.log_dir}
    assert os.path.dirname(cb.log_dir) == str(runs)
    # train/loss is logged once per step in that directory (by transformers), never by us too
    acc = EventAccumulator(cb.log_dir, size_guidance={"scalars": 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3]
    ours = [f for f in event_files(cb.log_dir) if f.endswith(".attention")]
    assert len(ours) == 1
    from tb_attention_plugin.format.event_file import iter_events

    assert not any(v.HasField("simple_value") for e in iter_events(ours[0]) for v in e.summary.value)
    assert read_run(cb.log_dir).probe(read_run(cb.log_dir).probes[0]).steps == [0, 2, 3]


def event_files_under(root):
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if "tfevents" in f]


def test_default_run_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "from_env"))
    cb = AttentionCallback(PROBES[:1], every_n_steps=5)
    make_trainer("distilbert", tmp_path, cb, max_steps=1).train()
    assert cb.log_dir == str(tmp_path / "from_env")
    assert read_run(cb.log_dir).probe(PROBES[0]).steps == [0, 1]
    assert "train/loss" in read_run(cb.log_dir).scalar_tags
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR")
    cb = AttentionCallback(PROBES[:1], every_n_steps=5)
    make_trainer("distilbert", tmp_path, cb, max_steps=1).train()
    # transformers' own default: output_dir/runs/<date>_<host>
    assert os.path.dirname(cb.log_dir) == str(tmp_path / "out" / "runs")
    assert read_run(cb.log_dir).probe(PROBES[0]).steps == [0, 1]


@pytest.mark.parametrize("family", ["gpt2", "bert"])
def test_probing_does_not_change_training(family, tmp_path):
    def train(with_callback):
        cb = (
            AttentionCallback(PROBES, every_n_steps=1, log_dir=tmp_path / f"run{with_callback}")
            if with_callback
            else None
        )
        trainer = make_trainer(family, tmp_path / str(with_callback), cb, max_steps=4, seed=3)
        assert (
            trainer.model.config.to_dict().get(
                "attention_probs_dropout_prob", trainer.model.config.to_dict().get("attn_pdrop")
            )
            > 0
        )
        trainer.train()
        return {k: v.clone() for k, v in trainer.model.state_dict().items()}, cb

    without, _ = train(False)
    with_probes, cb = train(True)
    assert read_run(cb.log_dir).probe(cb_names(cb)[0]).steps == [0, 1, 2, 3, 4]
    assert without.keys() == with_probes.keys()
    for k in without:
        assert torch.equal(without[k], with_probes[k]), f"{k} differs: the probe pass changed training"


def cb_names(cb):
    return read_run(cb.log_dir).probes


def test_probes_are_truncated_with_a_warning(tmp_path):
    long = " ".join(["the cat sat on the mat"] * 6)
    cb = AttentionCallback(
        [long, "the cat"], every_n_steps=5, log_dir=tmp_path / "run", max_tokens=8, names=["long", "short"]
    )
    trainer = make_trainer("bert", tmp_path, cb, max_steps=1)
    with pytest.warns(UserWarning, match="truncated to 8"):
        trainer.train()
    run = read_run(cb.log_dir)
    assert len(run.probe("long").tokens) == 8 and run.probe("long").tokens[-1] == "[SEP]"
    assert run.probe("long").attention(1).shape[-2:] == (8, 8)
    assert run.probe("short").attention(1).shape[-2:] == (4, 4)


def test_probes_never_exceed_the_models_positions(tmp_path):
    """A 12-position GPT-2: a longer probe is cut to 12 tokens (its forward would crash otherwise), and the
    automatic induction probe, which needs more room, is skipped with a warning instead."""
    import transformers

    tok = word_tokenizer("gpt2")
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=12, bos_token_id=5, eos_token_id=6
        )
    )
    long = " ".join(["the cat sat on the mat"] * 4)
    cb = AttentionCallback([long], every_n_steps=5, log_dir=tmp_path / "run", names=["long"])
    trainer = make_trainer("gpt2", tmp_path, cb, max_steps=1, model=model, tokenizer=tok)
    trainer.train_dataset = toy_dataset("gpt2", tok, n=8, length=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    messages = [str(w.message) for w in caught]
    assert any("truncated to 12" in m for m in messages), messages
    assert any("no built-in induction probe" in m for m in messages), messages
    run = read_run(cb.log_dir)
    assert run.probes == ["long"]
    assert run.probe("long").attention(1).shape[-2:] == (12, 12)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ("the cat", {}, TypeError, "list of strings"),
        ([], {}, ValueError, "empty"),
        (["  "], {}, ValueError, "empty"),
        ([("a", "")], {}, ValueError, "empty"),
        ([3], {}, TypeError, "probes\\[0\\]"),
        ([("a", "b", "c")], {}, TypeError, "text_pair"),
        (["a", "b"], {"every_n_steps": 0}, ValueError, "every_n_steps"),
        (["a", "b"], {"every_n_steps": -5}, ValueError, "every_n_steps"),
        (["a", "b"], {"every_n_steps": 2.5}, ValueError, "every_n_steps"),
        (["a", "b"], {"every_n_steps": True}, ValueError, "every_n_steps"),
        (["a", "b"], {"names": ["x", "x"]}, ValueError, "unique"),
        (["a", "b"], {"names": ["x"]}, ValueError, "names"),
        (["a", "b"], {"names": ["x", "y/z"]}, ValueError, "without '/'"),
        (["a"], {"max_tokens": 1}, ValueError, "max_tokens"),
        (["a"], {"tokenizer": "bert-base"}, TypeError, "tokenizer"),
    ],
)
def test_bad_arguments_fail_at_construction(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        AttentionCallback(args, **kwargs)


def test_missing_tokenizer_fails_when_the_trainer_is_made(tmp_path):
    import transformers

    tok = word_tokenizer("bert")
    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=1, report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match="processing_class"):
        transformers.Trainer(model=tiny_model("bert", len(tok)), args=args, callbacks=[AttentionCallback(["a"])])
    # an explicit tokenizer is enough
    transformers.Trainer(
        model=tiny_model("bert", len(tok)), args=args, callbacks=[AttentionCallback(["a"], tokenizer=tok)]
    )


class _NoAttention(torch.nn.Module):
    """A model whose forward ignores output_attentions."""


def test_model_without_attention_fails_before_the_first_step(tmp_path, monkeypatch):
    cb = AttentionCallback(PROBES[:1], every_n_steps=1, log_dir=tmp_path / "run")
    trainer = make_trainer("bert", tmp_path, cb, max_steps=2)
    model = trainer.model
    model.set_attn_implementation("sdpa")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    forward = type(model).forward

    def no_attentions(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        out.attentions = None
        return out

    monkeypatch.setattr(type(model), "forward", no_attentions)
    with pytest.raises(AttentionUnavailableError, match="attention"):
        trainer.train()
    assert trainer.state.global_step == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.config._attn_implementation == "sdpa"


def test_custom_model_without_attention_weights(tmp_path):
    import transformers

    class Config(transformers.PreTrainedConfig):
        model_type = "no-attention-test"

    class Model(transformers.PreTrainedModel):
        config_class = Config

        def __init__(self, config):
            super().__init__(config)
            self.emb = torch.nn.Embedding(64, 8)
            self.head = torch.nn.Linear(8, 2)
            self.post_init()

        def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
            logits = self.head(self.emb(input_ids).mean(1))
            loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
            return transformers.modeling_outputs.SequenceClassifierOutput(loss=loss, logits=logits)

    cb = AttentionCallback(PROBES[:1], every_n_steps=1, log_dir=tmp_path / "run")
    trainer = make_trainer("bert", tmp_path, cb, max_steps=2, model=Model(Config()))
    with pytest.raises(AttentionUnavailableError, match="Model returned no attentions"):
        trainer.train()
    assert trainer.state.global_step == 0


def test_disk_full_during_training_warns_once_and_training_finishes(tmp_path, monkeypatch):
    original = event_file.EventFileWriter.write
    state = {"full": False}

    def write(writer, event):
        # the disk fills up after step 1's records (whenever the background writer gets to them)
        state["full"] = state["full"] or event.step >= 2
        if state["full"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(writer, event)

    monkeypatch.setattr(event_file.EventFileWriter, "write", write)
    cb = AttentionCallback(PROBES[:2], every_n_steps=1, log_dir=tmp_path / "run", names=["a", "b"])
    trainer = make_trainer("gpt2", tmp_path, cb, max_steps=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    assert trainer.state.global_step == 4
    ours = [c for c in caught if "could not write" in str(c.message)]
    assert len(ours) == 1, [str(c.message) for c in ours]
    run = read_run(str(tmp_path / "run"))
    assert run.probe("a").steps == [0, 1] and run.probe("b").steps == [0, 1]
    assert np.abs(run.probe("a").attention(1).sum(-1) - 1).max() <= STEP
    assert run.scalars("train/loss")[0].tolist() == [1]


@pytest.mark.parametrize("resume_at", [3, 4])  # between snapshots, and at a snapshot step
def test_resume_from_checkpoint_into_the_same_log_dir(tmp_path, resume_at):
    log_dir = tmp_path / "run"
    cb = AttentionCallback(PROBES[:1], every_n_steps=2, log_dir=log_dir, names=["mat"])
    trainer = make_trainer(
        "gpt2", tmp_path, cb, max_steps=6, save_strategy="steps", save_steps=resume_at, learning_rate=0.05
    )
    trainer.train()
    first = read_run(str(log_dir)).probe("mat")
    assert first.steps == [0, 2, 4, 6]
    # resume, stopping at 5 with tiny clipped updates: later steps differ from the first run, and its
    # step 6 is abandoned
    cb2 = AttentionCallback(PROBES[:1], every_n_steps=2, log_dir=log_dir, names=["mat"])
    trainer2 = make_trainer(
        "gpt2", tmp_path, cb2, max_steps=5, save_strategy="no", learning_rate=0.05, max_grad_norm=1e-9
    )
    run = read_run(str(log_dir))
    at_step_0 = own_attention(trainer2.model, trainer2.processing_class, run.probe("mat"), "self")  # same seed
    trainer2.train(resume_from_checkpoint=str(tmp_path / "out" / f"checkpoint-{resume_at}"))
    run = read_run(str(log_dir))
    p = run.probe("mat")
    assert p.steps == sorted({0, 2, resume_at, 4, 5})  # one snapshot per step, sorted, the latest written
    at_step_5 = own_attention(trainer2.model, trainer2.processing_class, p, "self")
    np.testing.assert_allclose(p.attention(5), at_step_5, atol=STEP + 1e-5)
    np.testing.assert_allclose(at_step_0, first.attention(0), atol=STEP + 1e-5)
    assert np.abs(p.attention(5) - first.attention(4)).max() > 0
    if resume_at == 4:  # the checkpoint's step is not logged twice (it is the same model)
        assert len(layer_steps(log_dir, "attention/mat/self")) == len(set(layer_steps(log_dir, "attention/mat/self")))
    else:
        assert np.abs(p.attention(4) - first.attention(4)).max() > 0
    assert np.abs(p.attention(0) - first.attention(0)).max() == 0
    # drift after the resume is still measured against step 0 of the first run
    from tb_attention_plugin.format.metadata import STAT_NAMES
    from tb_attention_plugin.analysis.statistics import head_statistics

    stats = p.stats()
    assert p.stats_steps() == p.steps
    for k, step in enumerate(p.steps):
        want = head_statistics(
            p.attention(step),
            causal=True,
            self_attention=True,
            query_tokens=p.tokens,
            key_tokens=p.tokens,
            key_special=p.special,
            reference=None if step == 0 else p.attention(0),
        )
        np.testing.assert_allclose(stats["drift"][k], want[STAT_NAMES.index("drift")], atol=0.02)
    assert (stats["drift"][-1] > 0).any()
    # exactly: from the first run's float16 copy of step 0, kept in the log (writer/drift_reference.py)
    exact = head_statistics(
        at_step_5,
        causal=True,
        self_attention=True,
        query_tokens=p.tokens,
        key_tokens=p.tokens,
        key_special=p.special,
        reference=at_step_0.astype(np.float16),
    )[STAT_NAMES.index("drift")]
    np.testing.assert_allclose(stats["drift"][-1], exact, rtol=2e-3, atol=1e-4)
    assert run.scalars("train/loss")[0].tolist() == [1, 2, 3, 4, 5]
    # TensorBoard's Python loader agrees, step by step
    tb = tensorboard_python_read(str(log_dir))["."]
    assert sorted(tb["attention"]["attention/mat/self"]) == p.steps
    for step in p.steps:
        np.testing.assert_array_equal(tb["attention"]["attention/mat/self"][step], p.attention(step))
    assert sorted(tb["scalars"]["train/loss"]) == [1, 2, 3, 4, 5]


def layer_steps(run_dir, tag):
    """Every step at which `tag` was written, duplicates included, over all event files."""
    from tb_attention_plugin.format.event_file import iter_events

    return [e.step for f in event_files(str(run_dir)) for e in iter_events(f) for v in e.summary.value if v.tag == tag]
