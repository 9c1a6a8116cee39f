"""The probe pass holds one layer at a time: after the short pass that learns which attention call is
which layer, no forward asks for `output_attentions`, and a snapshot's memory does not grow with the
number of layers. (Exactness at every step, on every family, is test_compatibility.py's.)"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import model_zoo
from tb_attention_plugin import read_run
from tb_attention_plugin.callback import AttentionRecorder
from tb_attention_plugin.callback.capture.model_access import base_model
from tb_attention_plugin.callback.capture.streaming import DISCOVERY_TOKENS

PROBES = ["the cat sat on the mat because the cat was tired", "a dog and a cat and a dog"]


def _forward_calls(model):
    """[(output_attentions, tokens)] of every forward of the base model, recorded by a hook."""
    calls = []

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids")
        calls.append((bool(kwargs.get("output_attentions")), None if ids is None else ids.shape[-1]))

    base_model(model).register_forward_pre_hook(hook, with_kwargs=True)
    return calls


@pytest.mark.parametrize("family", ["llama-gqa", "bert", "albert", "bart"])
def test_only_the_short_discovery_pass_asks_for_every_layer_at_once(tmp_path, family):
    model, tok, _ = model_zoo.build(family)
    calls = _forward_calls(model)
    recorder = AttentionRecorder(model, tok, PROBES, tmp_path / "run", induction_probe=False)
    assert recorder.runner.layer_map is not None, f"{family}'s attention should stream"
    recorder.snapshot(0)
    recorder.snapshot(1)
    recorder.close()
    whole = [tokens for asked, tokens in calls if asked]
    assert whole == [min(DISCOVERY_TOKENS, len(recorder.runner.probes[0].input_ids))]
    assert len(calls) >= 4  # discovery, the first pass, two snapshots


def test_a_model_outside_the_interface_streams_from_the_modules_that_return_its_weights(tmp_path):
    """DeBERTa-v2 computes its own attention: each layer's weights are taken as its attention module
    returns them, and what the model collects in place of them is empty, so no pass but the short
    ones that learn the layers holds every layer (the stored values are test_compatibility's)."""
    model, tok, _ = model_zoo.build("deberta-v2")
    collected = []

    def hook(module, args, kwargs, output):
        if kwargs.get("output_attentions"):
            collected.append([tuple(w.shape) for w in output.attentions])

    base_model(model).register_forward_hook(hook, with_kwargs=True)
    recorder = AttentionRecorder(model, tok, PROBES, tmp_path / "run", induction_probe=False, predictions=3)
    assert recorder.runner.layer_map.returned_at is not None
    learnt = len(collected)
    recorder.snapshot(0)
    recorder.snapshot(1)
    recorder.close()
    assert learnt >= 2 and all(len(shapes) == 2 for shapes in collected)
    assert all(shape[-1] <= DISCOVERY_TOKENS for shapes in collected[:2] for shape in shapes)
    assert len(collected) > learnt and all(shape == (0,) for shapes in collected[2:] for shape in shapes)
    probe = read_run(str(tmp_path / "run")).probe(recorder.probes[0])
    assert probe.steps == [0, 1] and probe.predictions()[0]["mode"] == "label"


def test_a_model_that_uses_the_weights_it_returns_is_not_streamed_and_says_what_a_pass_holds(
    tmp_path, caplog, monkeypatch
):
    """Were the weights replaced, the model's own outputs would change: it is run as before, from its
    outputs, and says how much a pass holds."""
    from transformers.models.deberta_v2 import modeling_deberta_v2 as deberta

    forward = deberta.DebertaV2Attention.forward

    def uses_its_weights(self, *args, **kwargs):
        out, weights = forward(self, *args, **kwargs)
        return (out if weights is None else out + weights.mean() * 1e-3), weights

    monkeypatch.setattr(deberta.DebertaV2Attention, "forward", uses_its_weights)
    model, tok, _ = model_zoo.build("deberta-v2")
    with caplog.at_level("INFO", logger="tb_attention"):
        recorder = AttentionRecorder(model, tok, PROBES, tmp_path / "run", induction_probe=False)
    assert recorder.runner.layer_map is None
    assert "attention cannot be taken a layer at a time" in caplog.text
    assert "MiB (the first pass's)" in caplog.text
    recorder.snapshot(0)
    recorder.close()
    assert read_run(str(tmp_path / "run")).probe(recorder.probes[0]).steps == [0]


MEASURE = textwrap.dedent(
    """
    import json, resource, sys, tempfile
    import torch, transformers
    from tb_attention_plugin import AttentionRecorder
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    layers, heads, tokens = (int(x) for x in sys.argv[1:4])
    vocab = {"<unk>": 0} | {f"w{i}": i + 1 for i in range(500)}
    inner = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="<unk>")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=4 * heads, intermediate_size=16 * heads, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=2 * tokens,
    )
    model = transformers.LlamaForCausalLM(config)
    probe = " ".join(f"w{(i * 7) % 500}" for i in range(tokens))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as d:
        recorder = AttentionRecorder(model, tok, [probe], d, max_tokens=tokens, induction_probe=False)
        for step in range(2):
            recorder.snapshot(step)
        recorder.close()
    print(json.dumps({"peak_extra": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024}))
    """
)


def _peak_extra(layers, heads, tokens):
    # glibc keeps freed blocks of up to 32 MB for reuse (its mmap threshold grows as they are freed):
    # the peak then varies by ~10 layers from run to run. A fixed threshold returns them at once, so
    # the peak measures what the pass holds.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(1 << 20))
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(layers), str(heads), str(tokens)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])["peak_extra"]


def test_a_snapshots_memory_does_not_grow_with_the_number_of_layers():
    """Four times the layers: the whole snapshot would be four times larger (24 x 16 MiB of float
    attention at 32 layers); what a snapshot adds to the process stays that of a few layers."""
    one_layer = 16 * 512 * 512 * 4
    few, many = _peak_extra(8, 16, 512), _peak_extra(32, 16, 512)
    assert many < 1.5 * few + 2 * one_layer, (few / one_layer, many / one_layer)
    assert many < 12 * one_layer, many / one_layer
