"""The neuron view's data (neurons=): on every model family, at every logged step, the softmax
recomputed from the stored query and key vectors equals the stored attention (within 1/255) and the
model's own eager attention at that step's weights; training stays bit-identical; a model whose
attention cannot be explained from its query and key stops with a clear error before training."""

import json
import warnings

import numpy as np
import pytest

import model_zoo
from plugin_fixtures import App, assert_json_error
from tb_attention_plugin import AttentionCallback, AttentionRecorder, read_run
from tb_attention_plugin.format.metadata import FormatError
from tb_attention_plugin.format.records import neuron_header, neurons_value, parse_neurons
from tb_attention_plugin.callback.capture.neurons import NeuronViewUnavailableError
from tb_attention_plugin.analysis.neuron_math import softmax_of
from test_compatibility import (
    IgnoresTheSwitch,
    RefusesTheSwitch,
    tiny_gpt2,
    NAMES,
    SETUPS,
    PROBES,
    TOLERANCE,
    assert_every_step_is_the_models_own,
    assert_same_training,
    own_attention,
    specs_for,
    train,
)

SAD = "the cat is very sad because it could not find food to eat ."


def _train(tmp_path, family, neurons):
    cb = AttentionCallback(PROBES, every_n_steps=1, log_dir=tmp_path / "run", names=NAMES, neurons=neurons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(tmp_path / "a", family, callback=cb)


@pytest.mark.parametrize("family", sorted(model_zoo.FAMILIES))
def test_the_neuron_view_explains_the_stored_attention_at_every_step(family, tmp_path):
    # on the installed transformers (DeBERTa-v2 computes its attention itself; early 5.x Falcon could not
    # switch): where the interface cannot be used, the clear error before training
    if not model_zoo.attention_goes_through_the_interface(family):
        with pytest.raises(NeuronViewUnavailableError, match="turn neurons= off"):
            _train(tmp_path, family, True)
        assert not (tmp_path / "run").exists() or not read_run(str(tmp_path / "run")).probes
        return
    trainer, keep, _ = _train(tmp_path, family, True)
    run = read_run(str(tmp_path / "run"))
    specs = specs_for(run.probes)
    checked = 0
    for name in run.probes:
        p = run.probe(name)
        for kind in p.kinds:
            assert p.neuron_steps(kind) == [0, 1, 2, 3], (name, kind)
            layers, heads = p.attention(0, kind).shape[:2]
            for step in p.neuron_steps(kind):
                record, stored = p.neurons(step, kind), p.attention(step, kind)
                own = own_attention(keep.at[step], trainer.processing_class, specs[name], p, kind)
                assert record["heads"] == [(la, h) for la in range(layers) for h in range(heads)]
                for i, (layer, head) in enumerate(record["heads"]):
                    explained = softmax_of(record, i)
                    assert np.abs(explained - stored[layer, head]).max() <= TOLERANCE, (name, kind, step, layer)
                    # float16 vectors are kept only within 1/510 of the model's weights
                    assert np.abs(explained - own[layer, head]).max() <= 1 / 510 + 1e-6, (name, kind, step, layer)
                    checked += 1
    assert checked > 0
    if family in ("gpt2", "t5", "gemma2"):  # bit-identical training: also under every setup below
        plain, _, _ = train(tmp_path / "b", family)
        assert_same_training(trainer, plain)


def test_rotary_grouped_heads_and_position_bias_are_what_the_view_shows(tmp_path):
    """Llama's key heads are shared by two query heads each; T5 adds a position bias per head."""
    model, tok, _ = model_zoo.build("llama-gqa")
    rec = AttentionRecorder(model, tok, [SAD], tmp_path / "llama", names=["sad"], induction_probe=False, neurons=True)
    rec.snapshot(0)
    rec.close()
    record = read_run(str(tmp_path / "llama")).probe("sad").neurons(0)
    assert model.config.num_key_value_heads == 2 and model.config.num_attention_heads == 4
    np.testing.assert_array_equal(record["key"][0], record["key"][1])  # heads 0 and 1 share key head 0
    assert not np.array_equal(record["key"][1], record["key"][2])
    assert record["bias"] is None and not record["allowed"][0][0, 1:].any()  # causal
    model, tok, _ = model_zoo.build("t5")
    if not model_zoo.attention_goes_through_the_interface("t5"):  # early transformers 5.x
        with pytest.raises(NeuronViewUnavailableError, match="turn neurons= off"):
            AttentionRecorder(model, tok, [SAD], None, names=["sad"], neurons=True)
        return
    rec = AttentionRecorder(model, tok, [SAD], tmp_path / "t5", names=["sad"], neurons=True)
    rec.snapshot(0)
    rec.close()
    p = read_run(str(tmp_path / "t5")).probe("sad")
    enc = p.neurons(0, "encoder")
    assert enc["bias"] is not None and np.abs(enc["bias"]).max() > 0 and enc["allowed"].all()
    assert float(enc["scale"][0]) == 1.0  # T5 does not scale its logits


def test_named_heads_and_every_kth_snapshot(tmp_path):
    cb = AttentionCallback(
        [SAD], every_n_steps=1, log_dir=tmp_path / "run", names=["sad"], neurons={"heads": [(1, 2), (0, 3)], "every": 2}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(tmp_path / "a", "bert", callback=cb, max_steps=5)
    p = read_run(str(tmp_path / "run")).probe("sad")
    assert p.steps == [0, 1, 2, 3, 4, 5] and p.neuron_steps() == [0, 2, 4]
    assert p.neurons(2)["heads"] == [(0, 3), (1, 2)]
    with pytest.raises(KeyError, match="no neuron record at step 1"):
        p.neurons(1)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("yes", "neurons must be True or a dict"),
        ({"every": 0}, r"neurons\['every'\] must be an integer >= 1"),
        ({"heads": [(0,)]}, "list of \\(layer, head\\) pairs"),
        ({"heads": []}, "list of \\(layer, head\\) pairs"),
        ({"heads": [(0, -1)]}, "list of \\(layer, head\\) pairs"),
        ({"layers": [0]}, "neurons must be True or a dict"),
    ],
)
def test_bad_neuron_options_are_refused_when_the_callback_is_made(bad, message):
    with pytest.raises(ValueError, match=message):
        AttentionCallback([SAD], neurons=bad)


def test_heads_the_model_lacks_stop_before_training(tmp_path):
    model, tok, _ = model_zoo.build("bert")
    with pytest.raises(NeuronViewUnavailableError, match=r"heads \[\(5, 0\)\] that a model of 2 layers x 4 heads"):
        AttentionRecorder(model, tok, [SAD], tmp_path / "run", neurons={"heads": [(5, 0)]})


def _neuron_run(tmp_path):
    model, tok, _ = model_zoo.build("gpt2")
    rec = AttentionRecorder(
        model,
        tok,
        [SAD],
        tmp_path / "logs" / "run",
        names=["sad"],
        induction_probe=False,
        neurons={"heads": [(0, 1), (1, 3)]},
    )
    rec.snapshot(0)
    rec.snapshot(4)
    rec.close()
    return read_run(str(tmp_path / "logs" / "run")).probe("sad")


def test_the_plugin_serves_one_head_of_a_neuron_record(tmp_path):
    p = _neuron_run(tmp_path)
    app = App(tmp_path / "logs")
    kind = app.json("index")["runs"][0]["probes"][0]["kinds"][0]
    assert kind["steps"] == [0, 4] and kind["neuron_steps"] == [0, 4] and kind["neuron_heads"] == [[0, 1], [1, 3]]
    header, data = app.container("neurons", run="run", probe="sad", kind="self", step=4, layer=1, head=3)
    record = p.neurons(4)
    q, d = len(p.tokens), record["query"].shape[-1]
    assert header["heads"] == [[0, 1], [1, 3]] and header["steps"] == [0, 4]
    assert header["parts"] == [["query", [q, d]], ["key", [q, d]], ["allowed", [q, q]], ["value_norm", [q]]]
    np.testing.assert_array_equal(data[: q * d].reshape(q, d), record["query"][1])
    np.testing.assert_array_equal(data[q * d : 2 * q * d].reshape(q, d), record["key"][1])
    np.testing.assert_array_equal(data[2 * q * d : 2 * q * d + q * q].reshape(q, q), record["allowed"][1])
    np.testing.assert_array_equal(data[2 * q * d + q * q :], record["value_norm"][1])
    assert header["scale"] == pytest.approx(float(record["scale"][1]))
    error = assert_json_error(app.get("neurons", run="run", probe="sad", kind="self", step=4, layer=0, head=0), 404)
    assert "captured heads: L0H1, L1H3" in error
    error = assert_json_error(app.get("neurons", run="run", probe="sad", kind="self", step=2, layer=0, head=1), 404)
    assert "neuron" in error
    assert_json_error(app.get("neurons", run="run", probe="sad", kind="self", step=4, layer=0, head=-1), 400)


def test_damaged_neuron_records_are_refused_by_every_reader(tmp_path):
    p = _neuron_run(tmp_path)
    meta = p.meta["self"]
    record = p.neurons(0)
    header = neuron_header(meta, record)
    blobs = list(neurons_value(meta, record, header).tensor.string_val)
    assert parse_neurons(blobs, meta)["heads"] == [(0, 1), (1, 3)]
    import json

    def with_header(**change):
        return [json.dumps(dict(header, **change)).encode()] + blobs[1:]

    for bad in (
        with_header(heads=[[0, 1], [9, 3]]),  # a layer the probe's model lacks
        with_header(heads=[[1, 3], [0, 1]]),  # not sorted
        with_header(dim=10**6),
        with_header(query_len=3),
        with_header(bias=True),  # a part missing
        [b"not json"] + blobs[1:],
        blobs[:1] + [blobs[3]] + blobs[2:],  # a part of another size
        blobs[:1] + [b"\x28\xb5\x2f\xfd" + b"\0" * 8] + blobs[2:],
    ):
        with pytest.raises(FormatError):
            parse_neurons(bad, meta)
    with pytest.raises(FormatError, match="do not match"):
        neuron_header(meta, dict(record, allowed=record["allowed"][:, :3]))


def _value_norms_by_hand(family, model, tok):
    """||W_O^h v_j|| from the model's own modules (its layer inputs, value and output projections):
    {layer: float32 [heads, K]}."""
    import torch

    ids = tok(SAD, return_tensors="pt")["input_ids"]
    if family == "gpt2":
        ids = torch.tensor([tok.convert_tokens_to_ids(["<s>"] + SAD.split())])
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
        out = {}
        for layer in range(model.config.num_hidden_layers):
            h = hidden[layer][0]
            if family == "bert":
                block = model.bert.encoder.layer[layer].attention
                v, w = block.self.value(h), block.output.dense.weight
            elif family == "gpt2":
                block = model.transformer.h[layer]
                v, w = (
                    block.attn.c_attn(block.ln_1(h)).split(model.config.n_embd, dim=-1)[2],
                    block.attn.c_proj.weight.T,
                )
            else:  # llama: grouped value heads
                block = model.model.layers[layer]
                v, w = block.self_attn.v_proj(block.input_layernorm(h)), block.self_attn.o_proj.weight
            heads = model.config.num_attention_heads
            dim = w.shape[1] // heads
            v = v.reshape(len(h), -1, dim)
            group = heads // v.shape[1]
            out[layer] = np.stack(
                [(v[:, hd // group] @ w[:, hd * dim : (hd + 1) * dim].T).norm(dim=-1).numpy() for hd in range(heads)]
            )
    return out


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama-gqa"])
def test_what_each_key_passes_on_is_the_norm_through_the_output_projection(family, tmp_path):
    model, tok, _ = model_zoo.build(family)
    model.eval()
    rec = AttentionRecorder(model, tok, [SAD], tmp_path / "run", names=["sad"], induction_probe=False, neurons=True)
    rec.snapshot(0)
    rec.close()
    record = read_run(str(tmp_path / "run")).probe("sad").neurons(0)
    by_hand = _value_norms_by_hand(family, model, tok)
    assert record["value_norm"] is not None
    for i, (layer, head) in enumerate(record["heads"]):
        np.testing.assert_allclose(record["value_norm"][i], by_hand[layer][head], rtol=1e-4, atol=1e-5)


def test_an_adapter_on_the_output_projection_gives_no_norms_rather_than_wrong_ones(tmp_path):
    import peft
    import torch

    model, tok, _ = model_zoo.build("llama-gqa")
    config = peft.LoraConfig(task_type=peft.TaskType.CAUSAL_LM, r=2, target_modules=["o_proj"], init_lora_weights=False)
    model = peft.get_peft_model(model, config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    rec = AttentionRecorder(model, tok, [SAD], tmp_path / "run", names=["sad"], induction_probe=False, neurons=True)
    rec.snapshot(0)
    rec.close()
    record = read_run(str(tmp_path / "run")).probe("sad").neurons(0)
    assert record["value_norm"] is None and len(record["heads"]) == 8  # q and k are still there


def test_weight_and_contribution_of_a_hand_made_record():
    from tb_attention_plugin.analysis.neuron_math import contributions_of, weight_and_contribution

    record = {
        "heads": [(0, 0)],
        "query": np.array([[[1.0], [1.0]]], np.float32),
        "key": np.array([[[0.0], [np.log(3.0)]]], np.float32),
        "scale": np.array([1.0], np.float32),
        "softcap": np.array([0.0], np.float32),
        "bias": None,
        "allowed": np.array([[[True, False], [True, True]]]),
        "value_norm": np.array([[2.0, 1.0]], np.float32),
    }
    np.testing.assert_allclose(softmax_of(record, 0), [[1, 0], [0.25, 0.75]], atol=1e-7)
    np.testing.assert_allclose(contributions_of(record, 0), [[1, 0], [0.4, 0.6]], atol=1e-7)
    shares = weight_and_contribution(record, [True, True], causal=True)  # row 0 left out
    np.testing.assert_allclose(shares["first"], [[0.25, 0.4]], atol=1e-7)
    np.testing.assert_allclose(shares["sep"], [[0.75, 0.6]], atol=1e-7)
    capped = dict(record, softcap=np.array([0.5], np.float32))  # logits 0.5 * tanh(x / 0.5)
    row = np.exp([0.0, 0.5 * np.tanh(np.log(3.0) / 0.5)])
    np.testing.assert_allclose(softmax_of(capped, 0)[1], row / row.sum(), atol=1e-7)
    [[weight, contribution]] = weight_and_contribution(dict(record, value_norm=None), [True, True], causal=True)[
        "first"
    ]
    assert weight == pytest.approx(0.25) and contribution is None


def test_contributions_are_served_as_read_run_computes_them(tmp_path):
    p = _neuron_run(tmp_path)
    answer = App(tmp_path / "logs").json("contributions", run="run", probe="sad", kind="self")
    expected = p.contributions()
    assert answer["steps"] == [0, 4] and answer["heads"] == [[0, 1], [1, 3]]
    for i, step in enumerate(answer["steps"]):
        np.testing.assert_allclose(answer["first"][i], expected[step]["first"], rtol=1e-6)
        np.testing.assert_allclose(answer["sep"][i], expected[step]["sep"], rtol=1e-6)
    assert all(w is not None and c is not None for w, c in answer["first"][0])


@pytest.mark.parametrize(
    "setup", ["lora", "torch_compile", "compiled_model", "gradient_checkpointing", "bf16_cpu", "seq2seq_trainer"]
)
def test_the_neuron_view_under_real_trainer_setups(setup, tmp_path):
    options = dict(SETUPS[setup])
    family = options.pop("family")
    cb = AttentionCallback(PROBES, every_n_steps=1, log_dir=tmp_path / "run", names=NAMES, neurons=True)
    if not model_zoo.attention_goes_through_the_interface(family):  # T5 in early transformers 5.x
        with pytest.raises(NeuronViewUnavailableError, match="turn neurons= off"):
            train(tmp_path / "a", family, callback=cb, **options)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer, keep, _ = train(tmp_path / "a", family, callback=cb, **options)
        plain, _, _ = train(tmp_path / "b", family, **options)
    assert_same_training(trainer, plain)
    run, _ = assert_every_step_is_the_models_own(
        tmp_path / "run",
        keep,
        trainer.processing_class,
        specs_for(read_run(str(tmp_path / "run")).probes),
        [0, 1, 2, 3],
    )
    for name in run.probes:
        p = run.probe(name)
        for kind in p.kinds:
            assert p.neuron_steps(kind) == [0, 1, 2, 3]
            for step in p.neuron_steps(kind):
                record, stored = p.neurons(step, kind), p.attention(step, kind)
                for i, (layer, head) in enumerate(record["heads"]):
                    error = np.abs(softmax_of(record, i) - stored[layer, head]).max()
                    assert error <= TOLERANCE, (setup, name, kind, step, layer, head, error)


def test_without_neurons_the_probe_pass_installs_no_hooks(tmp_path, monkeypatch):
    """Off by default: no module hooks, no capturing attention function."""
    from tb_attention_plugin.callback.capture import value_norms

    def refuse(self):
        raise AssertionError("module hooks installed although neurons= is off")

    monkeypatch.setattr(value_norms.ProjectionWatch, "__enter__", refuse)
    model, tok, _ = model_zoo.build("gpt2")
    rec = AttentionRecorder(model, tok, [SAD], tmp_path / "run", names=["sad"])
    rec.snapshot(0)
    rec.close()
    assert read_run(str(tmp_path / "run")).probe("sad").neuron_steps() == []


def test_without_every_the_interval_keeps_the_schedule_within_the_budget():
    from tb_attention_plugin.callback.capture.neurons import NEURON_BUDGET, NeuronOptions, check_neurons

    auto = check_neurons(True)
    assert auto.every is None and auto.every_for(10_000) == 1
    per_snapshot = 2_170_000  # MiniLM, 8 probes, all 72 heads
    every = auto.every_for(per_snapshot)
    assert every == 2 and per_snapshot * 200 / every <= NEURON_BUDGET < per_snapshot * 200
    assert NeuronOptions(None, 1).every_for(per_snapshot) == 1  # as asked
    assert check_neurons({"heads": [(0, 1)]}).every is None


def _hand_record(query, key):
    n, q, _ = query.shape
    return {
        "heads": [(0, h) for h in range(n)],
        "query": query.astype(np.float32),
        "key": key.astype(np.float32),
        "scale": np.ones(n, np.float32),
        "softcap": np.zeros(n, np.float32),
        "bias": None,
        "allowed": np.ones((n, q, key.shape[1]), bool),
        "value_norm": None,
    }


@pytest.mark.parametrize("sharp", [False, True])
def test_vectors_are_stored_as_float16_only_where_the_bound_holds(sharp, tmp_path):
    """A head whose logits hang on digits float16 drops (large, nearly equal dot products) keeps
    float32; a usual one is stored in half the bytes. Either way it reads back within 1/255."""
    from tb_attention_plugin import AttentionSummaryWriter

    rng = np.random.default_rng(0)
    tokens = [f"t{i}" for i in range(6)]
    query = rng.normal(size=(2, 6, 8))
    key = rng.normal(size=(2, 6, 8))
    if sharp:
        key = key * 0.01 + 300.0  # q.k ~ 300 * sum(q): float16 keeps ~0.1 of each key component
    record = _hand_record(query, key)
    attention = np.stack([softmax_of(record, i) for i in range(2)])[None].astype(np.float32)  # [1 layer, 2, 6, 6]
    with AttentionSummaryWriter(tmp_path / "run") as writer:
        writer.add_probe("p", tokens=tokens)
        writer.add_attention(0, "p", attention)
        writer.add_neurons(0, "p", record, attention=attention)
    p = read_run(str(tmp_path / "run")).probe("p")
    blobs = _neuron_blobs(tmp_path / "run")
    assert json.loads(blobs[0])["dtype"] == ("<f4" if sharp else "<f2")
    stored = p.neurons(0)
    for i in range(2):
        assert np.abs(softmax_of(stored, i) - p.attention(0)[0, i]).max() <= TOLERANCE
    if not sharp:
        np.testing.assert_allclose(stored["query"], record["query"], rtol=1e-3, atol=1e-3)
    else:
        np.testing.assert_array_equal(stored["key"], record["key"])


def _neuron_blobs(run_dir):
    from tb_attention_plugin.format.event_file import event_files, iter_events

    for path in event_files(str(run_dir)):
        for event in iter_events(path):
            for value in event.summary.value:
                if value.tag.startswith("attention_neurons/"):
                    return list(value.tensor.string_val)
    raise AssertionError("no neuron record")


@pytest.mark.parametrize("model_cls", [IgnoresTheSwitch, RefusesTheSwitch])
def test_a_model_that_cannot_switch_to_the_capture_says_turn_neurons_off(model_cls):
    """Loaded with eager, so the attention itself is fine; the neuron view's capturing function is
    refused (an exception) or ignored (a logged warning): the error names neurons=, not the loading."""
    model, tok = tiny_gpt2(model_cls, "eager")
    with pytest.raises(NeuronViewUnavailableError, match="cannot switch its attention.*turn neurons= off"):
        AttentionRecorder(model, tok, [SAD], None, induction_probe=False, neurons=True)
    assert model.config._attn_implementation == "eager"


class _Collected:
    """A sink that keeps the neuron records a pass hands over (layer_sinks.py's interface)."""

    def __init__(self):
        self.records = {}

    def layer(self, i, kind, layer, weights, max_logits=None):
        pass

    def neurons(self, i, kind, record, attention):
        self.records[(i, kind)] = record

    def predictions(self, i, prediction):
        pass


@pytest.mark.parametrize("family", ["llama-gqa", "gpt2", "bert", "t5", "bart"])
def test_the_streamed_neuron_pass_gives_the_records_of_the_whole_pass(family, monkeypatch):
    """The neuron view's records come from the streamed pass, a layer at a time: no forward asks for
    every layer's weights, and every field of every record equals the one taken from the model's
    outputs (output_attentions), for probes batched together with padding."""
    from tb_attention_plugin.callback.capture.probe_pass import run_probes, stream_probes

    if not model_zoo.attention_goes_through_the_interface(family):
        pytest.skip(f"{family} does not go through the attention interface on this transformers")
    model, tok, _ = model_zoo.build(family)
    probes = [SAD, "the dog ate the food ."]
    rec = AttentionRecorder(model, tok, probes, None, names=["sad", "dog"], induction_probe=False, neurons=True)
    runner = rec.runner
    assert runner.layer_map is not None and runner.layer_map.returned_at is None
    whole = run_probes(model, runner.probes, runner.pad_id, neurons=runner.neurons)

    def no_whole_pass(module, args, kwargs):
        assert not kwargs.get("output_attentions"), "the neuron pass asked for every layer's weights"

    handle = model.register_forward_pre_hook(no_whole_pass, with_kwargs=True)
    streamed = _Collected()
    try:
        stream_probes(
            model, runner.probes, runner.pad_id, runner.layer_map, streamed, strict=True, neurons=runner.neurons
        )
    finally:
        handle.remove()
    expected = {(i, kind): record for i, out in enumerate(whole) for kind, record in out.neurons.items()}
    assert set(streamed.records) == set(expected) and len(expected) >= 2
    for key, record in expected.items():
        got = streamed.records[key]
        assert got["heads"] == record["heads"]
        for field in ("query", "key", "scale", "softcap", "allowed", "bias", "value_norm"):
            if record[field] is None:
                assert got[field] is None, (key, field)
            else:
                np.testing.assert_array_equal(got[field], record[field], err_msg=f"{key} {field}")
    assert any(r["value_norm"] is not None for r in expected.values())
