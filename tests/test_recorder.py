"""AttentionRecorder (custom loops) and the checks every probe pass makes before training starts."""

import numpy as np
import pytest
import torch

import model_zoo
from tb_attention_plugin import AttentionRecorder, read_run
from tb_attention_plugin.callback import AttentionUnavailableError
from test_compatibility import TOLERANCE, own_attention

PAIR = ("the dog sat on the mat", "a cat was happy")


def _loop(model, data, recorder, steps, every):
    """A plain PyTorch loop with dropout on: the probes must neither change it nor see dropout."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-2)
    kept = {0: {k: v.clone() for k, v in model.state_dict().items()}}
    if recorder is not None:
        recorder.snapshot(0)
    model.train()
    for step in range(1, steps + 1):
        batch = {k: torch.stack([data[i][k] for i in range(4)]) for k in data[0]}
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        kept[step] = {k: v.clone() for k, v in model.state_dict().items()}
        if recorder is not None and step % every == 0:
            recorder.snapshot(step)
    return kept


@pytest.mark.parametrize("family", ["bert", "llama-gqa", "bart"])
def test_custom_loop_logs_the_models_own_attention_and_leaves_training_alone(family, tmp_path):
    model, tok, task = model_zoo.build(family)
    data = model_zoo.dataset(task, tok)
    with AttentionRecorder(model, tok, ["the cat is very sad", PAIR], tmp_path / "run", names=["sad", "pair"]) as rec:
        torch.manual_seed(1)
        kept = _loop(model, data, rec, steps=4, every=2)
    plain, _, _ = model_zoo.build(family)
    torch.manual_seed(1)
    _loop(plain, data, None, steps=4, every=2)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values()))
    assert model.training  # the loop's mode is back
    run = read_run(str(tmp_path / "run"))
    reference, _, _ = model_zoo.build(family)
    for name, spec in (("sad", ("the cat is very sad", None)), ("pair", PAIR)):
        p = run.probe(name)
        assert p.steps == [0, 2, 4]
        for step in p.steps:
            reference.load_state_dict(kept[step])
            for kind in p.kinds:
                own = own_attention(reference, tok, spec, p, kind)
                assert np.abs(p.attention(step, kind) - own).max() <= TOLERANCE, (name, kind, step)


def test_a_compiled_model_in_a_custom_loop(tmp_path):
    model, tok, _ = model_zoo.build("bert")
    compiled = torch.compile(model, backend="aot_eager")
    rec = AttentionRecorder(compiled, tok, [PAIR], tmp_path / "run", names=["pair"])
    rec.snapshot(0)
    rec.close()
    p = read_run(str(tmp_path / "run")).probe("pair")
    assert np.abs(p.attention(0) - own_attention(model, tok, PAIR, p, "self")).max() <= TOLERANCE


def test_recorder_without_log_dir_runs_the_probes_and_writes_nothing(tmp_path):
    model, tok, _ = model_zoo.build("bert")
    rec = AttentionRecorder(model, tok, ["the cat is very sad"], None)
    assert rec.snapshot(3) is None  # the pass ran (a sharded rank joins it); nothing is kept
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match="step must be an integer"):
        rec.snapshot(1.5)


def test_peft_prompt_tuning_adds_virtual_tokens_and_is_refused_clearly():
    import peft

    model, tok, _ = model_zoo.build("bert")
    wrapped = peft.get_peft_model(model, peft.PromptTuningConfig(task_type=peft.TaskType.SEQ_CLS, num_virtual_tokens=3))
    with pytest.raises(AttentionUnavailableError, match="virtual tokens"):
        AttentionRecorder(wrapped, tok, ["the cat is very sad"], None)


def test_weights_that_are_not_probabilities_are_refused_before_training(monkeypatch):
    model, tok, _ = model_zoo.build("bert")
    forward = type(model).forward

    def doubled(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        if out.attentions:
            out.attentions = tuple(2 * a for a in out.attentions)
        return out

    monkeypatch.setattr(type(model), "forward", doubled)
    with pytest.raises(AttentionUnavailableError, match="not a probability distribution"):
        AttentionRecorder(model, tok, ["the cat is very sad"], None)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_single_weight_that_is_not_finite_is_refused_before_training(monkeypatch, bad):
    # one weight of the last layer: the check reduces the layer (its smallest and largest weight);
    # NaN passes every comparison of the row sums and the smallest weight, so only that check stops it
    model, tok, _ = model_zoo.build("bert")
    forward = type(model).forward

    def spoiled(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        if out.attentions:
            last = out.attentions[-1].clone()
            last[0, 1, 2, 3] = bad
            out.attentions = out.attentions[:-1] + (last,)
        return out

    monkeypatch.setattr(type(model), "forward", spoiled)
    with pytest.raises(AttentionUnavailableError, match="not a probability distribution"):
        AttentionRecorder(model, tok, ["the cat is very sad"], None)


def test_non_causal_weights_of_a_causal_model_are_refused(monkeypatch):
    model, tok, _ = model_zoo.build("llama-gqa")
    forward = type(model).forward

    def uniform(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        if out.attentions:
            out.attentions = tuple(torch.full_like(a, 1.0 / a.shape[-1]) for a in out.attentions)
        return out

    monkeypatch.setattr(type(model), "forward", uniform)
    with pytest.raises(AttentionUnavailableError, match="causal"):
        AttentionRecorder(model, tok, ["the cat is very sad"], None)


def test_everything_is_restored_when_the_probe_pass_fails(monkeypatch):
    model, tok, _ = model_zoo.build("bert", attn_implementation="sdpa")
    rec = AttentionRecorder(model, tok, ["the cat is very sad"], None)
    model.train()
    rng = torch.get_rng_state()

    def broken(self, *args, **kwargs):
        torch.rand(3)  # consumes RNG, then fails
        raise RuntimeError("boom")

    monkeypatch.setattr(type(model), "forward", broken)
    with pytest.raises(RuntimeError, match="boom"):
        rec.snapshot(1)
    assert model.training and all(m.training for m in model.modules())
    assert model.config._attn_implementation == "sdpa"
    assert torch.equal(torch.get_rng_state(), rng)
