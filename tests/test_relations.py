"""Relation probes: words to tokens, the writer's word attention per relation (against hand-computed
values and the model's own attention), mass / accuracy / "formed at" / the probing classifier, the
plugin's ./relations route, and the API's bad inputs, refused when the callback is made."""

import numpy as np
import pytest

import model_zoo
from plugin_fixtures import App
from tb_attention_plugin import AttentionCallback, AttentionRecorder, read_run
from tb_attention_plugin.analysis import relations as rel
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

SAD = "the cat is very sad because it could not find food to eat ."
PROBES = [
    {"text": SAD, "relations": [("it", "cat", "coreference"), ("food", "eat", "object")]},
    {"text": "the dog sat on the mat", "pair": "a cat was happy", "relations": [("cat", "dog", "coreference")]},
]


# tokens [CLS] a b c [SEP]: words a, b, c are 0, 1, 2; one relation c -> a
RELATION_C_TO_A = {
    "relation": "r",
    "source": [["tokens", 2]],
    "target": [["tokens", 0]],
    "source_text": "c",
    "target_text": "a",
}


def _writer_run(tmp_path, maps):
    """A probe of tokens [CLS] a b c [SEP] with words a, b, c (0, 1, 2) and relation c -> a."""
    w = AttentionSummaryWriter(str(tmp_path))
    w.add_probe(
        "p",
        ["[CLS]", "a", "b", "c", "[SEP]"],
        special=[True, False, False, False, True],
        word_of={"tokens": [-1, 0, 1, 2, -1]},
        relations=[dict(RELATION_C_TO_A)],
    )
    for step, a in enumerate(maps):
        w.add_attention(step, "p", a, causal=False)
    w.close()
    return read_run(str(tmp_path))


def test_word_attention_mass_and_accuracy_by_hand(tmp_path):
    # one layer, two heads; row 3 (word c) of head 0 looks at a (0.6), head 1 at b (0.7)
    a = np.full((1, 2, 5, 5), 0.2, np.float32)
    a[0, 0, 3] = [0.1, 0.6, 0.1, 0.1, 0.1]
    a[0, 1, 3] = [0.1, 0.1, 0.7, 0.0, 0.1]
    later = a.copy()
    later[0, 1, 3] = [0.0, 0.9, 0.1, 0.0, 0.0]  # head 1 turns to a
    run = _writer_run(tmp_path, [a, a, later])
    steps, feats = run.probe("p").relation_features()
    assert steps == [0, 1, 2] and feats.shape == (3, 1, 3, 1, 2)  # [steps, instances, words, L, H]
    np.testing.assert_allclose(feats[0, 0, :, 0, 0], [0.6, 0.1, np.nan], atol=1e-3)  # c's own column: NaN
    np.testing.assert_allclose(feats[2, 0, :, 0, 1], [0.9, 0.1, np.nan], atol=1e-3)
    (m,) = run.relations()
    assert m.relation == "r" and m.instances == [("p", "self", "c", "a")]
    np.testing.assert_allclose(m.mass[:, 0], [[0.6, 0.1], [0.6, 0.1], [0.6, 0.9]], atol=1e-3)
    np.testing.assert_array_equal(m.accuracy[:, 0], [[1, 0], [1, 0], [1, 1]])
    assert m.formed_step == 0  # head 0 picks the target from the first snapshot on


def test_formed_at_is_where_the_best_head_stays_accurate():
    assert rel.formed([0, 10, 20, 30, 40, 50], [0.0, 0.6, 0.2, 0.7, 0.8, 0.9]) == 30
    assert rel.formed([0, 10, 20, 30], [0.0, 0.6, 0.2, 0.7]) is None  # over the line at one snapshot: noise
    assert rel.formed([0, 10, 20, 30], [0.0, 0.6, 0.7, 0.9]) == 10
    assert rel.formed([0, 10], [0.9, 0.8]) == 0  # a run shorter than 3 snapshots: held at all of them
    assert rel.formed([0, 10], [0.9, 0.1]) is None


def test_the_probing_classifier_finds_the_head_that_points_at_the_target():
    rng = np.random.default_rng(0)
    per_instance, targets = [], []
    for _ in range(12):  # 12 instances of 6 candidate words, 2 layers x 3 heads of noise
        feats = rng.uniform(0, 0.3, size=(6, 2, 3)).astype(np.float32)
        target = int(rng.integers(6))
        feats[target, 1, 2] += 0.6  # head 1.2 points at the target
        per_instance.append(feats)
        targets.append(target)
    accuracy, weights = rel.classify(per_instance, targets)
    assert accuracy == 1.0
    assert np.unravel_index(np.argmax(np.abs(weights)), weights.shape) == (1, 2)
    shuffled, _ = rel.classify(per_instance, list(np.roll(targets, 1)))
    assert shuffled < 0.5  # held out, a classifier cannot learn labels that do not follow the heads


@pytest.mark.parametrize(
    "family, kinds", [("bert", ["self"]), ("gpt2", ["self"]), ("t5", ["encoder", "decoder", "cross"])]
)
def test_the_callbacks_relations_are_the_models_own_word_attention(tmp_path, family, kinds):
    import torch

    model, tok, _ = model_zoo.build(family)
    rec = AttentionRecorder(model, tok, PROBES, tmp_path / "run", induction_probe=False)
    rec.snapshot(0)
    rec.close()
    run = read_run(str(tmp_path / "run"))
    probe = run.probe(run.probes[0])
    for kind in kinds:
        meta = probe.relation_meta(kind)
        steps, feats = probe.relation_features(kind)
        assert steps == [0] and meta is not None
        # the relation's features from the model's own (unquantized) attention, unbatched
        enc = tok(SAD, return_tensors="pt")
        inputs = dict(input_ids=enc["input_ids"], output_attentions=True)
        if family == "t5":
            inputs["decoder_input_ids"] = torch.tensor([tok.convert_tokens_to_ids(probe.decoder_tokens)])
        model.set_attn_implementation("eager")
        with torch.no_grad():
            out = model.eval()(**inputs)
        field = {
            "self": "attentions",
            "encoder": "encoder_attentions",
            "decoder": "decoder_attentions",
            "cross": "cross_attentions",
        }[kind]
        own = torch.stack(getattr(out, field))[:, 0].numpy()
        np.testing.assert_allclose(feats[0], rel.features(own, meta), atol=2e-3)
    coreference = next(m for m in run.relations() if m.relation == "coreference")
    sources = {(i[2], i[3]) for i in coreference.instances}
    assert ("it", "cat") in sources
    assert (
        "cat",
        "dog",
    ) in sources or family == "t5"  # the pair is the decoder side of T5: cat -> dog is not within one kind


def test_the_plugin_serves_each_relation_across_probes(tmp_path):
    model, tok, _ = model_zoo.build("bert")
    rec = AttentionRecorder(model, tok, PROBES, tmp_path / "logs" / "run")
    rec.snapshot(0)
    rec.snapshot(5)
    rec.close()
    header, data = App(tmp_path / "logs").container("relations", run="run")
    expected = read_run(str(tmp_path / "logs" / "run")).relations()
    assert [r["relation"] for r in header["relations"]] == [m.relation for m in expected] == ["coreference", "object"]
    assert header["steps"] == [0, 5] and data.shape == (2, 4, 2, 2, 4)
    for r, m in enumerate(expected):
        np.testing.assert_allclose(data[r, 0], m.mass)
        np.testing.assert_allclose(data[r, 1], m.accuracy)
        np.testing.assert_allclose(data[r, 2:], m.accuracy_interval())
        assert header["relations"][r]["pairs"] == m.pairs == len(m.instances)
    instances = header["relations"][0]["instances"]
    assert {(i["source"], i["target"]) for i in instances} == {("it", "cat"), ("cat", "dog")}
    classifier = header["relations"][0]["classifier"]
    # two labelled pairs: too few to hold any out, so no accuracy and no interval, but the weights
    assert classifier["heldout_accuracy"] == [None, None] and classifier["interval"] == [None, None]
    assert classifier["min_pairs"] == 10 and len(classifier["top_heads"]) == 8


@pytest.mark.parametrize(
    "probe, error, message",
    [
        (
            {"text": SAD, "relations": [("dog", "cat", "coreference")]},
            ValueError,
            "source word 'dog' is not in its text",
        ),
        ({"text": "the cat saw the dog", "relations": [("the", "cat", "x")]}, ValueError, "'the' appears 2 times"),
        ({"text": SAD, "relations": [((0, 99), "cat", "x")]}, ValueError, "is not inside its text"),
        ({"text": SAD, "relations": [(("pair", 0, 3), "cat", "x")]}, ValueError, "the probe has no pair"),
        (
            {"text": SAD, "pair": "a dog", "relations": [(("pair", 0, 9), "cat", "x")]},
            ValueError,
            "not inside its pair",
        ),
        ({"text": SAD, "relations": [("cat", "cat", "x")]}, ValueError, "from a word to itself"),
        ({"text": SAD, "relations": [("it", "cat")]}, TypeError, "each relation is (source, target, relation name)"),
        ({"text": SAD, "relations": []}, TypeError, "relations must be a non-empty list"),
        ({"text": SAD, "relation": []}, TypeError, "unknown keys ['relation']"),
        ({"text": SAD, "relations": [("very sad", "cat", "x")]}, ValueError, "must be one word"),
    ],
)
def test_bad_relations_are_refused_when_the_callback_is_made(probe, error, message):
    with pytest.raises(
        error, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
    ):
        AttentionCallback(probes=[probe])


def test_a_span_over_two_words_is_refused_when_the_probes_are_tokenized(tmp_path):
    model, tok, _ = model_zoo.build("bert")
    probe = {"text": SAD, "relations": [((11, 18), "cat", "x")]}  # "sad because"
    with pytest.raises(ValueError, match="covers 2 words"):
        AttentionRecorder(model, tok, [probe], None)


def test_the_built_in_english_set_and_a_jsonl_file_are_one_argument(tmp_path):
    import json

    from tb_attention_plugin.callback.probes.relation_sets import ENGLISH

    cb = AttentionCallback(probes=["a plain probe"], relations="english")
    specs = cb._driver.options.specs
    assert len(specs) == 1 + len(ENGLISH)
    names = {r for p in ENGLISH for (_, _, r) in p["relations"]}
    assert {"coreference", "determiner", "modifier", "object", "possessive"} <= names
    pairs = {name: sum(r == name for p in ENGLISH for (_, _, r) in p["relations"]) for name in names}
    assert min(pairs.values()) >= 30, pairs  # enough for a held-out accuracy with a useful interval
    path = tmp_path / "mine.jsonl"
    lines = [
        {
            "name": "mine",
            "text": "the dog sat on the mat",
            "relations": [["dog", "sat", "subject"], [[15, 18], "sat", "x"]],
        },
        {"text": "a cat was happy", "pair": "it slept", "relations": [[["pair", 0, 2], "cat", "coreference"]]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    model, tok, _ = model_zoo.build("bert")
    rec = AttentionRecorder(model, tok, ["the cat"], None, relations=str(path), names=["plain"])
    assert rec.probes == ["plain", "mine", "a cat was happy | it slept"]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON or JSONL"):
        AttentionCallback(probes=["x"], relations=str(tmp_path / "bad.json"))
    with pytest.raises(FileNotFoundError, match="neither a built-in set"):
        AttentionCallback(probes=["x"], relations="klingon")


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.update(word_of={"tokens": [0, 1]}),  # not one entry per token
        lambda m: m.update(word_of={"tokens": [-1, 0, 1, 2, 99]}),  # a word index past the tokens
        lambda m: m["relations"][0].update(source=[["tokens", 7]]),  # a word the probe does not have
        lambda m: m["relations"][0].update(target=[["decoder_tokens", 0]]),  # a side it does not have
        lambda m: m["relations"][0].pop("relation"),
        lambda m: m.update(relations="not a list"),
    ],
)
def test_metadata_whose_relations_do_not_fit_its_tokens_is_not_ours(change):
    import json

    from tb_attention_plugin.format.metadata import FormatError
    from tb_attention_plugin.format.plugin_metadata import ProbeMetadata, probe_metadata

    info = {
        "name": "p",
        "index": 0,
        "tokens": ["[CLS]", "a", "b", "c", "[SEP]"],
        "segments": [0] * 5,
        "special": [True, False, False, False, True],
    }
    info.update(
        word_of={"tokens": [-1, 0, 1, 2, -1]},
        relations=[dict(RELATION_C_TO_A)],
    )
    meta = probe_metadata(info, "self", causal=False, layers=1, heads=2)
    assert ProbeMetadata.from_json(meta.to_json()) == meta
    raw = json.loads(meta.to_json())
    change(raw)
    with pytest.raises(FormatError):
        ProbeMetadata.from_json(json.dumps(raw).encode())
