"""ProbeLog.bertviz: a read-back probe straight into the real BertViz package. Its head_view and
model_view get from our log what they get from the model's own `outputs.attentions` (within 1/255),
the sentence pair split included, for an encoder and an encoder-decoder model."""

import json
import re

import numpy as np
import pytest
import torch

import model_zoo
from tb_attention_plugin import AttentionRecorder, read_run
from tb_attention_plugin.devtools.synthetic import write_budget_run
from tb_attention_plugin.reading.bertviz_inputs import second_segment_start
from tb_attention_plugin.writer.head_choice import HeadChoice
from test_compatibility import TOLERANCE

bertviz = pytest.importorskip("bertviz")
PAIR = ("the dog sat on the mat", "a cat was happy")


def shown(view, **inputs):
    """The data a BertViz view puts in its page: {name of the attention shown: (attn, left, right)}."""
    html = view(**inputs, html_action="return").data
    params = json.loads(re.search(r"const params = (\{.*?\}); // HACK", html, re.S).group(1))
    return {d["name"]: (np.array(d["attn"]), d["left_text"], d["right_text"]) for d in params["attention"]}


def assert_same_views(ours, theirs):
    assert ours.keys() == theirs.keys()
    for name, (attn, left, right) in ours.items():
        assert (left, right) == theirs[name][1:], name
        assert attn.shape == theirs[name][0].shape and np.abs(attn - theirs[name][0]).max() <= TOLERANCE, name


def model_outputs(model, tok, pair):
    model.set_attn_implementation("eager")
    model.eval()
    encoder_decoder = model.config.is_encoder_decoder
    enc = tok(pair[0], None if encoder_decoder else pair[1], return_tensors="pt")  # a pair's target: the decoder's
    with torch.no_grad():
        if encoder_decoder:
            labels = tok(text_target=pair[1], return_tensors="pt")["input_ids"]
            decoder_ids = model.prepare_decoder_input_ids_from_labels(labels=labels)
            out = model(**enc, decoder_input_ids=decoder_ids, use_cache=False, output_attentions=True)
            return out, tok.convert_ids_to_tokens(enc["input_ids"][0]), tok.convert_ids_to_tokens(decoder_ids[0])
        return model(**enc, output_attentions=True), tok.convert_ids_to_tokens(enc["input_ids"][0]), None


def logged_pair(family, tmp_path):
    """A model of `family`, its tokenizer, and what the bridge gives for the pair probe it logged at step 0."""
    model, tok, _ = model_zoo.build(family)
    with AttentionRecorder(model, tok, [PAIR], tmp_path / "run", names=["pair"]) as rec:
        rec.snapshot(0)
    return model, tok, read_run(str(tmp_path / "run")).probe("pair").bertviz(0)


def test_an_encoders_sentence_pair_in_head_view_and_model_view(tmp_path):
    model, tok, inputs = logged_pair("bert", tmp_path)
    out, tokens, _ = model_outputs(model, tok, PAIR)
    b_start = tokens.index("[SEP]") + 1
    assert inputs["tokens"] == tokens and inputs["sentence_b_start"] == b_start
    assert all(isinstance(layer, torch.Tensor) and layer.shape[0] == 1 for layer in inputs["attention"])
    for view in (bertviz.head_view, bertviz.model_view):
        ours = shown(view, **inputs)
        assert_same_views(ours, shown(view, attention=out.attentions, tokens=tokens, sentence_b_start=b_start))
        if view is bertviz.head_view:  # the pair's four blocks, as BertViz splits them
            assert set(ours) == {
                "All",
                "Sentence A -> Sentence A",
                "Sentence B -> Sentence B",
                "Sentence A -> Sentence B",
                "Sentence B -> Sentence A",
            }


def test_an_encoder_decoder_probe_gives_encoder_decoder_and_cross_attention(tmp_path):
    model, tok, inputs = logged_pair("bart", tmp_path)
    out, encoder_tokens, decoder_tokens = model_outputs(model, tok, PAIR)
    assert inputs["encoder_tokens"] == encoder_tokens and inputs["decoder_tokens"] == decoder_tokens
    theirs = dict(
        encoder_attention=out.encoder_attentions,
        decoder_attention=out.decoder_attentions,
        cross_attention=out.cross_attentions,
        encoder_tokens=encoder_tokens,
        decoder_tokens=decoder_tokens,
    )
    ours = shown(bertviz.head_view, **inputs)
    assert set(ours) == {"Encoder", "Decoder", "Cross"}
    assert_same_views(ours, shown(bertviz.head_view, **theirs))


def test_a_step_without_every_heads_map_is_refused_with_what_to_do(tmp_path):
    tokens = [f"t{i}" for i in range(12)]
    write_budget_run(tmp_path, "p", tokens, [0, 10], layers=2, heads=4, choice=HeadChoice(2, "rotate"))
    p = read_run(str(tmp_path)).probe("p")
    with pytest.raises(ValueError, match=r"holds the maps of some heads only \(layer 0: heads \[.*attention_budget="):
        p.bertviz(10)
    with pytest.raises(KeyError, match="no attention at step 5"):
        p.bertviz(5)


def test_the_second_segment_starts_only_in_a_sentence_pair():
    assert second_segment_start([0, 0, 0, 1, 1]) == 3
    assert second_segment_start([0, 0, 0]) is None
    assert second_segment_start([1, 1, 1]) is None
    assert second_segment_start([0, 1, 0, 1]) is None
