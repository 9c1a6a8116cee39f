"""Compatibility: on many model families and real Trainer setups, at EVERY logged step the stored
attention equals the model's own eager attention at that step's weights (within 1/255), and training
is bit-identical with and without the callback.

"The model's own attention" is computed here as a user would, independently of the callback: a copy
of the model taken at that step, eval mode, eager attention, one probe alone,
`model(**tokenizer(text, pair))` with the inputs the Trainer would pass (the base model's signature).
"""

import copy
import inspect
import os
import warnings

import numpy as np
import pytest
import torch
import transformers
from transformers import TrainerCallback

import model_zoo
from tb_attention_plugin import AttentionCallback, AttentionRecorder, read_run
from tb_attention_plugin.callback import AttentionUnavailableError

TOLERANCE = 1.0 / 255 + 1e-5
LONG = " ".join(["the cat sat on the mat and the dog was happy"] * 3)  # longer than RoBERTa's 19 here
PROBES = [
    "the cat is very sad because it could not find food to eat .",
    ("the dog sat on the mat", "a cat was happy"),
    LONG,
]
NAMES = ["sad", "pair", "long"]
FIELDS = {
    "self": "attentions",
    "encoder": "encoder_attentions",
    "decoder": "decoder_attentions",
    "cross": "cross_attentions",
}


class KeepModels(TrainerCallback):
    """A copy of the model at the start and at every step end: the weights each snapshot must show."""

    def __init__(self, module):
        self.module = module
        self.at = {}

    def on_train_begin(self, args, state, control, **kwargs):
        self.at[state.global_step] = copy.deepcopy(self.module)

    def on_step_end(self, args, state, control, **kwargs):
        self.at[state.global_step] = copy.deepcopy(self.module)


def _base(model):
    model = getattr(model, "_orig_mod", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def own_attention(model, tokenizer, spec, probe_log, kind):
    """[L, H, Q, K] of one probe through a copy of the model, alone, as a user would compute it."""
    base = _base(model)
    encoder_decoder = base.config.is_encoder_decoder
    text, pair = spec
    if text is None:  # the built-in induction probe: its token ids
        ids = torch.tensor([tokenizer.convert_tokens_to_ids(probe_log.tokens)])
        enc = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    else:
        enc = tokenizer(
            text,
            None if encoder_decoder else pair,
            return_tensors="pt",
            truncation=True,
            max_length=len(probe_log.tokens),
        )
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"][0]) == probe_log.tokens
    params = inspect.signature(base.forward).parameters
    kwargs = {k: v for k, v in enc.items() if k in params}  # the Trainer's rule for unused columns
    if encoder_decoder:
        labels = tokenizer(
            text_target=pair or text, return_tensors="pt", truncation=True, max_length=len(probe_log.decoder_tokens)
        )["input_ids"]
        kwargs.update(decoder_input_ids=base.prepare_decoder_input_ids_from_labels(labels=labels), use_cache=False)
    if base.config._attn_implementation != "eager":
        base.set_attn_implementation("eager")
    model.eval()
    with torch.no_grad():
        out = model(**kwargs, output_attentions=True, return_dict=True)
    return np.stack([layer[0].float().numpy() for layer in getattr(out, FIELDS[kind])])


def train(
    tmp_path,
    family,
    *,
    callback=None,
    wrap=None,
    trainer_cls=transformers.Trainer,
    args_cls=transformers.TrainingArguments,
    max_steps=3,
    evaluate=False,
    resume=None,
    attn_implementation=None,
    compute_metrics=None,
    **overrides,
):
    """One tiny Trainer run -> (trainer, KeepModels, the model as built)."""
    model, tokenizer, task = model_zoo.build(family, attn_implementation=attn_implementation)
    wrapped = wrap(model) if wrap is not None else model
    keep = KeepModels(wrapped)
    args = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=max_steps,
        per_device_train_batch_size=4,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
        data_seed=0,
        dataloader_num_workers=0,
        learning_rate=5e-2,
    )
    args.update(overrides)
    data = model_zoo.dataset(task, tokenizer)
    trainer = trainer_cls(
        model=wrapped,
        args=args_cls(**args),
        train_dataset=data,
        eval_dataset=data if evaluate else None,
        compute_metrics=compute_metrics,
        processing_class=tokenizer,
        data_collator=transformers.default_data_collator,
        callbacks=[c for c in (callback, keep) if c is not None],
    )
    trainer.train(resume_from_checkpoint=resume)
    return trainer, keep, wrapped


def assert_same_training(with_callback, without):
    a, b = with_callback.model.state_dict(), without.model.state_dict()
    assert a.keys() == b.keys()
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert not changed, f"the callback changed training: {changed[:5]}"


def assert_every_step_is_the_models_own(log_dir, keep, tokenizer, specs, steps, *, must_move=True):
    run = read_run(str(log_dir))
    worst, moved = 0.0, 0.0
    for name in run.probes:
        p = run.probe(name)
        for kind in p.kinds:
            assert p.steps_of(kind) == steps, (name, kind)
            for step in steps:
                stored = p.attention(step, kind)
                own = own_attention(keep.at[step], tokenizer, specs[name], p, kind)
                assert stored.shape == own.shape, (name, kind, step)
                error = float(np.abs(stored - own).max())
                assert error <= TOLERANCE, f"{name} ({kind}) at step {step}: {error:.4f} off the model's own"
                worst = max(worst, error)
            first = own_attention(keep.at[steps[0]], tokenizer, specs[name], p, kind)
            moved = max(moved, float(np.abs(p.attention(steps[-1], kind) - first).max()))
    if must_move:  # the test can tell one step's weights from another's
        assert moved > 3 * TOLERANCE, moved
    return run, worst


def specs_for(run_probes):
    specs = dict(zip(NAMES, [(p, None) if isinstance(p, str) else p for p in PROBES]))
    return {name: specs.get(name, (None, None)) for name in run_probes}


def _expected_kinds(family):
    return ["encoder", "decoder", "cross"] if model_zoo.FAMILIES[family][0] == "s2s" else ["self"]


@pytest.mark.parametrize("family", sorted(model_zoo.FAMILIES))
def test_family_logs_its_own_attention_at_every_step(family, tmp_path):
    """Each family as a user loads it; one that the installed transformers cannot switch to eager at run
    time (early 5.x Falcon) stops before step 1 with the clear error, then is loaded as it says."""
    load = {}
    if not model_zoo.switches_to_eager(family):
        refused = AttentionCallback(PROBES, every_n_steps=1, log_dir=tmp_path / "refused", names=NAMES)
        with pytest.raises(AttentionUnavailableError, match="attn_implementation='eager'"):
            train(tmp_path / "r", family, callback=refused)
        assert not os.path.exists(tmp_path / "refused")
        load = {"attn_implementation": "eager"}
    cb = AttentionCallback(PROBES, every_n_steps=1, log_dir=tmp_path / "run", names=NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the truncation warning of the long probe on RoBERTa
        trainer, keep, _ = train(tmp_path / "a", family, callback=cb, **load)
        plain, _, _ = train(tmp_path / "b", family, **load)
    assert_same_training(trainer, plain)
    run, _ = assert_every_step_is_the_models_own(
        tmp_path / "run",
        keep,
        trainer.processing_class,
        specs_for(read_run(str(tmp_path / "run")).probes),
        [0, 1, 2, 3],
    )
    assert all(run.probe(n).kinds == _expected_kinds(family) for n in run.probes)
    causal = model_zoo.FAMILIES[family][0] == "clm"
    assert ("repeated random tokens" in run.probes) == causal
    if family in ("roberta", "xlm-roberta"):  # positions start after padding_idx: 19 tokens fit, not 20
        assert len(run.probe("long").tokens) == model_zoo.SHORT_POSITIONS - 1


def _lora(model):
    import peft

    config = peft.LoraConfig(
        task_type=peft.TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.1
    )
    return peft.get_peft_model(model, config)


SETUPS = {
    "lora": dict(family="bert", wrap=_lora),
    "torch_compile": dict(family="bert", torch_compile=True, torch_compile_backend="aot_eager"),
    # a model the user compiled: its forward takes *args, **kwargs (the Trainer needs all columns kept)
    "compiled_model": dict(
        family="bert", wrap=lambda m: torch.compile(m, backend="aot_eager"), remove_unused_columns=False
    ),
    "gradient_checkpointing": dict(family="llama-gqa", gradient_checkpointing=True),
    "gradient_accumulation": dict(family="bert", gradient_accumulation_steps=2),
    "bf16_cpu": dict(family="llama-gqa", bf16=True),
    "report_to_tensorboard": dict(family="bert", report_to="tensorboard"),
    "seq2seq_trainer": dict(
        family="t5", trainer_cls=transformers.Seq2SeqTrainer, args_cls=transformers.Seq2SeqTrainingArguments
    ),
    "induction_probe_with_pairs": dict(family="bert", induction_probe=True),
}


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_setup_logs_the_models_own_attention_at_every_step(setup, tmp_path, monkeypatch):
    options = dict(SETUPS[setup])
    family = options.pop("family")
    induction = options.pop("induction_probe", None)
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    log_dir = None if options.get("report_to") == "tensorboard" else tmp_path / "run"
    cb = AttentionCallback(PROBES, every_n_steps=1, log_dir=log_dir, names=NAMES, induction_probe=induction)
    trainer, keep, _ = train(tmp_path / "a", family, callback=cb, **options)
    plain, _, _ = train(tmp_path / "b", family, **options)
    assert_same_training(trainer, plain)
    run, _ = assert_every_step_is_the_models_own(
        cb.log_dir, keep, trainer.processing_class, specs_for(read_run(cb.log_dir).probes), [0, 1, 2, 3]
    )
    if induction:
        assert "repeated random tokens" in run.probes
    if log_dir is None:  # the attention went into transformers' own run directory, next to its curves
        assert os.path.abspath(cb.log_dir) == str(tmp_path / "tb")
        assert "train/loss" in run.scalar_tags


def test_sentence_pairs_keep_their_segments_next_to_the_induction_probe(tmp_path):
    """The built-in induction probe carries no segment ids: the pair probe batched with it must keep
    its own (today's bug: from the first periodic snapshot on it lost them)."""
    cb = AttentionCallback([PROBES[1]], every_n_steps=1, log_dir=tmp_path / "run", names=["pair"], induction_probe=True)
    trainer, keep, _ = train(tmp_path, "bert", callback=cb)
    p = read_run(str(tmp_path / "run")).probe("pair")
    with_segments = own_attention(keep.at[3], trainer.processing_class, PROBES[1], p, "self")
    assert np.abs(p.attention(3) - with_segments).max() <= TOLERANCE
    # and the segment ids matter here, so a probe that lost them would be caught
    with torch.no_grad():
        ids = torch.tensor([trainer.processing_class.convert_tokens_to_ids(p.tokens)])
        no_segments = _base(keep.at[3])(input_ids=ids, output_attentions=True).attentions
    assert np.abs(np.stack([a[0].numpy() for a in no_segments]) - with_segments).max() > 3 * TOLERANCE


def _falling_metric():
    """compute_metrics whose "rank" is -1, -2, -3...: the first evaluation is the best."""
    calls = []

    def compute_metrics(prediction):
        calls.append(1)
        return {"rank": -float(len(calls))}

    return compute_metrics


def test_load_best_model_at_end_keeps_the_last_steps_weights(tmp_path):
    """The Trainer reloads the best checkpoint before on_train_end: the snapshot labelled with the
    last step must still hold the last step's weights."""
    # the last step (4) is not on the schedule: only the end of training takes it
    cb = AttentionCallback(PROBES[:2], every_n_steps=3, log_dir=tmp_path / "run", names=NAMES[:2])
    # best = the first evaluation (a metric that falls with every evaluation): never the last step
    options = dict(
        evaluate=True,
        eval_strategy="steps",
        eval_steps=1,
        save_strategy="steps",
        save_steps=1,
        load_best_model_at_end=True,
        metric_for_best_model="rank",
        greater_is_better=True,
        max_steps=4,
    )
    trainer, keep, _ = train(tmp_path / "a", "bert", callback=cb, compute_metrics=_falling_metric(), **options)
    plain, _, _ = train(tmp_path / "b", "bert", compute_metrics=_falling_metric(), **options)
    assert trainer.state.best_model_checkpoint is not None
    best_step = int(trainer.state.best_model_checkpoint.rsplit("-", 1)[-1])
    assert best_step == 1
    assert_same_training(trainer, plain)  # both end on the best checkpoint's weights
    specs = specs_for(NAMES[:2])
    assert_every_step_is_the_models_own(tmp_path / "run", keep, trainer.processing_class, specs, [0, 3, 4])
    run = read_run(str(tmp_path / "run"))
    p = run.probe("sad")
    best = own_attention(keep.at[best_step], trainer.processing_class, specs["sad"], p, "self")
    assert np.abs(p.attention(4) - best).max() > 3 * TOLERANCE
    # the best checkpoint's step is marked for the tab's timeline, served as a mark, not a curve
    steps, values = run.scalars("tb_attention/best_checkpoint/eval/rank")
    assert steps.tolist() == [best_step] and values[0] == pytest.approx(trainer.state.best_metric)
    from plugin_fixtures import App

    body = App(tmp_path).json("scalars", run="run")
    assert body["marks"] == [
        {
            "kind": "best_checkpoint",
            "step": best_step,
            "metric": "eval/rank",
            "value": pytest.approx(trainer.state.best_metric),
        }
    ]
    assert not any(tag.startswith("tb_attention/") for tag in body["tags"]) and "train/loss" in body["tags"]


def test_resume_logs_the_models_own_attention_at_every_step(tmp_path):
    log_dir = tmp_path / "run"
    specs = specs_for(NAMES[:2])
    cb = AttentionCallback(PROBES[:2], every_n_steps=1, log_dir=log_dir, names=NAMES[:2])
    first, keep_first, _ = train(tmp_path, "bert", callback=cb, max_steps=4, save_strategy="steps", save_steps=2)
    cb = AttentionCallback(PROBES[:2], every_n_steps=1, log_dir=log_dir, names=NAMES[:2])
    resumed, keep, _ = train(
        tmp_path, "bert", callback=cb, max_steps=5, save_strategy="no", resume=str(tmp_path / "out" / "checkpoint-2")
    )
    keep.at = {**{s: m for s, m in keep_first.at.items() if s <= 2}, **keep.at}
    assert_every_step_is_the_models_own(log_dir, keep, resumed.processing_class, specs, [0, 1, 2, 3, 4, 5])


class IgnoresTheSwitch(transformers.GPT2LMHeadModel):
    """A model that, like early transformers 5.x Falcon, answers set_attn_implementation('eager') with
    a logged warning only and stays on sdpa (which returns no weights, or values that are not them)."""

    def set_attn_implementation(self, attn_implementation):
        transformers.logging.get_logger(__name__).warning("cannot switch to %r at run time", attn_implementation)


class RefusesTheSwitch(transformers.GPT2LMHeadModel):
    """A model whose set_attn_implementation raises (transformers' answer for an implementation a model
    does not support)."""

    def set_attn_implementation(self, attn_implementation):
        raise ValueError(f"{type(self).__name__} does not support {attn_implementation!r}")


def tiny_gpt2(model_cls, attn_implementation=None):
    """(a GPT-2 of the given class, its tokenizer)."""
    tokenizer = model_zoo.tiny_models.word_tokenizer("gpt2")
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=64)
    if attn_implementation:
        return model_cls._from_config(config, attn_implementation=attn_implementation), tokenizer
    return model_cls(config), tokenizer


def test_model_that_refuses_the_switch_gets_the_clear_error():
    model, tokenizer = tiny_gpt2(RefusesTheSwitch)
    with pytest.raises(AttentionUnavailableError, match="RefusesTheSwitch stays on 'sdpa'.*does not support 'eager'"):
        AttentionRecorder(model, tokenizer, [PROBES[0]], None)
    assert model.config._attn_implementation == "sdpa"


def test_model_that_stays_on_sdpa_stops_before_the_first_step(tmp_path):
    """A model that ignores the switch to eager: a clear error before any training, nothing changed."""
    model, tokenizer = tiny_gpt2(IgnoresTheSwitch)
    assert model.config._attn_implementation == "sdpa"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cb = AttentionCallback(PROBES[:1], every_n_steps=1, log_dir=tmp_path / "run")
    trainer = transformers.Trainer(
        model=model,
        args=transformers.TrainingArguments(
            output_dir=str(tmp_path / "out"), max_steps=2, use_cpu=True, report_to="none", per_device_train_batch_size=4
        ),
        train_dataset=model_zoo.dataset("clm", tokenizer),
        processing_class=tokenizer,
        data_collator=transformers.default_data_collator,
        callbacks=[cb],
    )
    with pytest.raises(
        AttentionUnavailableError, match="IgnoresTheSwitch stays on 'sdpa'.*attn_implementation='eager'"
    ):
        trainer.train()
    assert trainer.state.global_step == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.config._attn_implementation == "sdpa"
    assert not os.path.exists(tmp_path / "run")


def test_the_zoos_capability_checks_tell_both_answers():
    """switches_to_eager and attention_goes_through_the_interface decide what the family tests expect:
    each must be able to answer no (a model of our own) as well as yes."""
    model_zoo.FAMILIES["ignores-the-switch"] = (
        "clm",
        "gpt2",
        lambda vocab, attn=None: tiny_gpt2(IgnoresTheSwitch, attn)[0],
    )
    try:
        assert not model_zoo.switches_to_eager("ignores-the-switch")
        assert not model_zoo.attention_goes_through_the_interface("ignores-the-switch")
    finally:
        del model_zoo.FAMILIES["ignores-the-switch"]
    assert model_zoo.switches_to_eager("gpt2") and model_zoo.attention_goes_through_the_interface("gpt2")
