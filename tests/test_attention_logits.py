"""The largest attention logit of each head (`max_logit`), at every snapshot, equals the largest
value the model's own eager softmax was given over the keys a row may see (the logit after scaling
and soft-capping, with the mask only hiding keys), on every family of the zoo, with probes batched
next to a longer one (padding) and through the neuron view's pass. Families whose attention is not
softmax(q.k x scaling), or that do not go through transformers' attention interface (their query and
key are never seen: DeBERTa-v2), store NaN, never a wrong number."""

import numpy as np
import pytest
import torch

import model_zoo
from tb_attention_plugin import AttentionRecorder, read_run
from tb_attention_plugin.callback.capture.attention_logits import LogitInputs, row_max_logits

PROBES = ["the cat sat on the mat because it was warm", "a dog ran"]
SELF_FAMILIES = [f for f, (task, _, _) in model_zoo.FAMILIES.items() if task != "s2s"]
HALF = 2e-3  # stored in float16: ~3 significant digits


def softmax_inputs(model, ids):
    """[layer] of float [heads, query, key]: what the eager softmax of each layer was given."""
    seen = []
    plain = torch.nn.functional.softmax

    def spy(x, *args, **kwargs):
        out = plain(x, *args, **kwargs)
        seen.append((x.detach().float(), out))
        return out

    model.set_attn_implementation("eager")
    model.eval()
    torch.nn.functional.softmax = spy
    try:
        with torch.no_grad():
            out = model(input_ids=ids, output_attentions=True)
    finally:
        torch.nn.functional.softmax = plain
    layers = []
    for weights in out.attentions:  # the softmax call whose result the layer returned
        (given,) = [x for x, y in seen if y.shape == weights.shape and torch.equal(y.to(weights.dtype), weights)]
        layers.append(given[0])
    return layers


@pytest.mark.parametrize("family", SELF_FAMILIES)
def test_the_largest_logit_is_what_the_models_own_softmax_was_given(family, tmp_path):
    # a family that cannot switch at run time on this transformers is loaded eager, as its users must
    model, tok, _ = model_zoo.build(
        family, attn_implementation=None if model_zoo.switches_to_eager(family) else "eager"
    )
    with torch.no_grad():  # weights that make logits large enough to tell apart
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(3.0)
    with AttentionRecorder(model, tok, PROBES, tmp_path / "run", names=["long", "short"], induction_probe=False) as rec:
        rec.snapshot(0)
    run = read_run(str(tmp_path / "run"))
    for name in ("long", "short"):
        probe = run.probe(name)
        stored = probe.stats("self")["max_logit"][0]  # [layers, heads]
        if not model_zoo.attention_goes_through_the_interface(family):  # its query and key are never seen
            assert np.isnan(stored).all()
            continue
        ids = torch.tensor([tok.convert_tokens_to_ids(probe.tokens)])
        own = np.stack([x.amax(dim=(-2, -1)).numpy() for x in softmax_inputs(model, ids)])
        assert np.isfinite(stored).all(), family
        assert np.allclose(stored, own, rtol=HALF, atol=HALF), (family, name, np.abs(stored - own).max())


def test_an_encoder_decoders_three_kinds_and_the_neuron_pass_measure_it_too(tmp_path):
    model, tok, _ = model_zoo.build("bart")
    with AttentionRecorder(model, tok, PROBES[:1], tmp_path / "run", names=["p"], neurons=True) as rec:
        rec.snapshot(0)  # the neuron view's pass (every layer at once)
        rec.snapshot(1)  # neurons every 2nd snapshot here: the streamed pass
    probe = read_run(str(tmp_path / "run")).probe("p")
    for kind in ("encoder", "decoder", "cross"):
        logits = probe.stats(kind)["max_logit"]
        assert np.isfinite(logits).all(), kind
        assert np.allclose(logits[0], logits[1], rtol=HALF, atol=HALF), kind  # the same weights, both routes


def test_a_bias_in_the_mask_is_not_taken_for_a_logit():
    torch.manual_seed(0)
    query, key = torch.randn(1, 4, 6, 8), torch.randn(1, 2, 6, 8)  # grouped key heads
    bias = torch.randn(1, 1, 6, 6) * 5
    hidden = torch.ones(6, 6, dtype=torch.bool).triu(1)
    mask = bias.masked_fill(hidden, torch.finfo(torch.float32).min)
    logits = query @ key.repeat_interleave(2, dim=1).transpose(-1, -2) * 0.3
    weights = torch.softmax(logits + mask, dim=-1)
    expected = logits.masked_fill(hidden, float("-inf")).amax(dim=-1)
    got = row_max_logits(LogitInputs(query, key, mask, 0.3, 0.0), weights)
    assert torch.allclose(got, expected, atol=1e-5)  # the biased largest weight is elsewhere
    assert not torch.allclose(
        got, row_max_logits(LogitInputs(query, key, mask.clamp(max=0).masked_fill(hidden, -1e30), 0.3, 0.0), weights)
    )
    capped = row_max_logits(LogitInputs(query, key, None, 0.3, 2.0), torch.softmax(torch.tanh(logits / 2) * 2, -1))
    assert torch.allclose(capped, (torch.tanh(logits / 2) * 2).amax(dim=-1), atol=1e-5)


def test_bad_max_logits_are_refused_before_anything_is_written(tmp_path):
    from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

    maps = np.full((2, 3, 4, 4), 0.25, dtype=np.float32)
    with AttentionSummaryWriter(str(tmp_path / "run")) as writer:
        writer.add_probe("p", ["a", "b", "c", "d"])
        with pytest.raises(ValueError, match=r"must be \[layers, heads\] = \(2, 3\), got \(3, 2\)"):
            writer.add_attention(0, "p", maps, max_logits=np.zeros((3, 2)))
        with pytest.raises(ValueError, match="infinite logit \\(head 1\\)"):
            writer.add_attention(0, "p", maps, max_logits=[[1.0, 2.0, 3.0], [1.0, np.inf, 3.0]])
        stream = writer.open_snapshot(1, "p", causal=False)
        with pytest.raises(ValueError, match="one value per head \\(3\\)"):
            stream.add_layer(maps[0], max_logits=[1.0, 2.0])
        writer.add_attention(2, "p", maps, max_logits=[[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])  # NaN: not measured
    probe = read_run(str(tmp_path / "run")).probe("p")
    assert probe.steps == [2]  # the refused ones left nothing
    logits = probe.stats("self")["max_logit"][0]
    assert np.isnan(logits[0, 1]) and logits[1].tolist() == [4.0, 5.0, 6.0]
