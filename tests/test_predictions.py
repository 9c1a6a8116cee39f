"""Predictions over training: from the probe pass's own logits, equal to the model's own top-k, for a
causal LM (next tokens), a masked LM (mask tokens and words masked in the probe), an encoder-decoder
(next decoder tokens) and a sequence classifier (labels); stored, read back and served; off by default."""

import numpy as np
import pytest
import torch

import model_zoo
from plugin_fixtures import App
from tb_attention_plugin import AttentionCallback, AttentionRecorder, read_run

SAD = "the cat is very sad because it could not find food to eat ."


def own_logits(model, tok, probe_log, family):
    enc = tok(SAD, return_tensors="pt")
    inputs = {"input_ids": torch.tensor([tok.convert_tokens_to_ids(probe_log.tokens)])}
    if family == "t5":
        inputs["decoder_input_ids"] = torch.tensor([tok.convert_tokens_to_ids(probe_log.decoder_tokens)])
    elif "token_type_ids" in enc:
        inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    with torch.no_grad():
        return model.eval()(**inputs).logits[0].float()


def _check_top(stored, logits, positions, tok, k):
    probs = torch.softmax(logits, -1)
    for row, position in zip(stored["top"], positions):
        top = torch.topk(probs[position], k)
        assert [t for t, _ in row] == tok.convert_ids_to_tokens(top.indices.tolist())
        np.testing.assert_allclose([p for _, p in row], top.values.numpy(), atol=1e-5)


@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_next_token_predictions_are_the_models_own(tmp_path, family):
    model, tok, _ = model_zoo.build(family)
    rec = AttentionRecorder(model, tok, [SAD], tmp_path / "run", predictions=5, induction_probe=False)
    rec.snapshot(0)
    rec.close()
    probe = read_run(str(tmp_path / "run")).probe(read_run(str(tmp_path / "run")).probes[0])
    ((step, stored),) = probe.predictions().items()
    assert step == 0 and stored["mode"] == "next-token"
    tokens = probe.decoder_tokens if family == "t5" else probe.tokens
    assert stored["positions"] == list(range(len(tokens)))
    assert stored["targets"][:-1] == tokens[1:] and stored["targets"][-1] is None
    logits = own_logits(model, tok, probe, family)
    _check_top(stored, logits, stored["positions"], tok, 5)
    probs = torch.softmax(logits, -1)
    ids = tok.convert_tokens_to_ids(tokens[1:])
    np.testing.assert_allclose(stored["target_probs"][:-1], probs[torch.arange(len(ids)), ids].numpy(), atol=1e-5)


def test_a_masked_lm_predicts_the_words_masked_in_the_probe(tmp_path):
    tok = model_zoo.tiny_models.word_tokenizer("bert")
    model = model_zoo._build("BertForMaskedLM", "BertConfig", **model_zoo.HIDDEN, max_position_embeddings=64)(len(tok))
    rec = AttentionRecorder(
        model, tok, [{"text": SAD, "mask": ["food"], "name": "masked"}], tmp_path / "run", predictions=3
    )
    rec.snapshot(0)
    rec.close()
    probe = read_run(str(tmp_path / "run")).probe("masked")
    stored = probe.predictions()[0]
    position = probe.tokens.index("[MASK]")
    assert stored["mode"] == "masked" and stored["positions"] == [position] and stored["targets"] == ["food"]
    logits = own_logits(model, tok, probe, "bert")
    _check_top(stored, logits, [position], tok, 3)
    assert stored["target_probs"][0] == pytest.approx(
        float(torch.softmax(logits[position], -1)[tok.convert_tokens_to_ids("food")]), abs=1e-5
    )


def test_a_classifier_stores_its_label_distribution_and_the_plugin_serves_it(tmp_path):
    model, tok, _ = model_zoo.build("bert")  # BertForSequenceClassification, 2 labels
    rec = AttentionRecorder(model, tok, [SAD], tmp_path / "logs" / "run", names=["sad"], predictions=True)
    rec.snapshot(0)
    rec.snapshot(7)
    rec.close()
    probe = read_run(str(tmp_path / "logs" / "run")).probe("sad")
    stored = probe.predictions()
    assert sorted(stored) == [0, 7] and stored[0]["mode"] == "label"
    probs = torch.softmax(own_logits(model, tok, probe, "bert"), -1)
    labels = dict(stored[7]["top"][0])
    np.testing.assert_allclose([labels["LABEL_0"], labels["LABEL_1"]], probs.numpy(), atol=1e-5)
    answer = App(tmp_path / "logs").json("predictions", run="run", probe="sad")
    assert answer["steps"] == [0, 7] and answer["mode"] == "label" and answer["predictions"][1] == stored[7]


def test_predictions_are_off_by_default_and_bad_values_are_refused(tmp_path):
    model, tok, _ = model_zoo.build("gpt2")
    rec = AttentionRecorder(model, tok, [SAD], tmp_path / "run", induction_probe=False)
    rec.snapshot(0)
    rec.close()
    assert read_run(str(tmp_path / "run")).probe(rec.probes[0]).predictions() == {}
    for bad in (0.5, -1, 101, "yes"):
        with pytest.raises(ValueError, match="predictions must be True, False or a top-k"):
            AttentionCallback(probes=[SAD], predictions=bad)
    with pytest.raises(ValueError, match="masked word 'dog' is not in its text"):
        AttentionCallback(probes=[{"text": SAD, "mask": ["dog"]}])
