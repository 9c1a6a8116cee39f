"""Logs with predictions, written by the real AttentionRecorder over tiny models made from configs in
code (tests/model_zoo.py, no downloads) and really trained for a few dozen steps, so predictions change
over steps: a GPT-2 learning two sentences (next tokens), a BERT sequence classifier learning their
labels (label distributions), and the same GPT-2 with predictions off.

    python tests/browser/prediction_logs.py LOGDIR     # to look at them: tensorboard --logdir LOGDIR
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SAD = "the cat is very sad because it could not find food to eat ."
HAPPY = "a dog sat on the mat and was happy ."
TEXTS = [SAD, HAPPY]
STEPS, EVERY = 60, 5


def _train(model, tok, recorder, batches, steps=STEPS, every=EVERY, lr=1e-2):
    import torch

    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps + 1):
        if step % every == 0:
            recorder.snapshot(step)
        if step == steps:
            break
        loss = model(**batches[step % len(batches)]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    recorder.close()


def write_lm_run(run_dir, predictions=5):
    """A tiny GPT-2 trained on TEXTS (next-token loss); probes: both texts."""
    import torch

    import model_zoo
    from tb_attention_plugin import AttentionRecorder

    torch.manual_seed(0)
    model, tok, _ = model_zoo.build("gpt2")
    rec = AttentionRecorder(
        model, tok, TEXTS, run_dir, names=["sad", "happy"], predictions=predictions, induction_probe=False
    )
    batches = []
    for text in TEXTS:
        ids = tok(text, return_tensors="pt")["input_ids"]
        batches.append({"input_ids": ids, "labels": ids})
    _train(model, tok, rec, batches)


def write_classifier_run(run_dir):
    """A tiny BERT sequence classifier (2 labels) trained to tell the two texts apart."""
    import torch

    import model_zoo
    from tb_attention_plugin import AttentionRecorder

    torch.manual_seed(0)
    model, tok, _ = model_zoo.build("bert")
    rec = AttentionRecorder(model, tok, TEXTS, run_dir, names=["sad", "happy"], predictions=True)
    batches = []
    for label, text in enumerate(TEXTS):
        enc = tok(text, return_tensors="pt")
        batches.append({**enc, "labels": torch.tensor([1 - label])})  # sad -> LABEL_1, happy -> LABEL_0
    _train(model, tok, rec, batches, steps=30)


def write_all(logdir):
    logdir = Path(logdir)
    write_lm_run(logdir / "lm")
    write_classifier_run(logdir / "classifier")
    write_lm_run(logdir / "no-predictions", predictions=None)
    return logdir


if __name__ == "__main__":
    print(write_all(sys.argv[1]))
