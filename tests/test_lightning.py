"""AttentionLightningCallback in a real Lightning run (CPU): the model's own attention at every logged
optimizer step (gradient accumulation included), into the TensorBoardLogger's run; clear errors."""

import copy

import lightning as L
import numpy as np
import pytest
import torch

import model_zoo
from tb_attention_plugin import read_run
from tb_attention_plugin.callback.lightning import AttentionLightningCallback
from test_compatibility import TOLERANCE, own_attention

PAIR = ("the dog sat on the mat", "a cat was happy")


class Module(L.LightningModule):
    def __init__(self, model):
        super().__init__()
        self.net = model

    def training_step(self, batch, batch_idx):
        loss = self.net(**batch).loss
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=5e-2)


class KeepModels(L.Callback):
    """A copy of the transformers model at the start and after every optimizer step."""

    def __init__(self):
        self.at = {}

    def on_train_start(self, trainer, pl_module):
        self.at[trainer.global_step] = copy.deepcopy(pl_module.net)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.at[trainer.global_step] = copy.deepcopy(pl_module.net)


def test_lightning_logs_the_models_own_attention_at_every_logged_step(tmp_path):
    model, tok, task = model_zoo.build("bert")
    loader = torch.utils.data.DataLoader(model_zoo.dataset(task, tok, n=32), batch_size=4)
    attention = AttentionLightningCallback([PAIR], every_n_steps=2, tokenizer=tok, names=["pair"])
    keep = KeepModels()
    trainer = L.Trainer(
        max_steps=5,
        accumulate_grad_batches=2,
        callbacks=[attention, keep],
        default_root_dir=str(tmp_path),
        enable_progress_bar=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
        accelerator="cpu",
    )
    trainer.fit(Module(model), loader)
    assert attention.log_dir == trainer.logger.log_dir  # one run: Lightning's curves and the attention
    run = read_run(attention.log_dir)
    p = run.probe("pair")
    assert p.steps == [0, 2, 4, 5]  # optimizer steps, not batches
    for step in p.steps:
        own = own_attention(keep.at[step], tok, PAIR, p, "self")
        assert np.abs(p.attention(step) - own).max() <= TOLERANCE, step
    assert np.abs(p.attention(5) - p.attention(0)).max() > 3 * TOLERANCE
    assert "train/loss" in run.scalar_tags


def test_lightning_callback_errors(tmp_path):
    model, tok, task = model_zoo.build("bert")
    with pytest.raises(ValueError, match="every_n_steps"):
        AttentionLightningCallback(["the cat"], every_n_steps=0, tokenizer=tok)
    with pytest.raises(TypeError, match="probes"):
        AttentionLightningCallback("the cat", tokenizer=tok)
    loader = torch.utils.data.DataLoader(model_zoo.dataset(task, tok, n=8), batch_size=4)
    callback = AttentionLightningCallback(["the cat"], tokenizer=tok, model="missing")
    trainer = L.Trainer(
        max_steps=1,
        callbacks=[callback],
        default_root_dir=str(tmp_path),
        enable_progress_bar=False,
        enable_checkpointing=False,
        logger=False,
        accelerator="cpu",
    )
    with pytest.raises(ValueError, match="no attribute 'missing'"):
        trainer.fit(Module(model), loader)


@pytest.mark.parametrize("installed", ["lightning", "pytorch_lightning", "neither"])
def test_the_callback_subclasses_the_installed_lightnings_callback(installed, monkeypatch):
    """`lightning.pytorch` when installed, else the older `pytorch_lightning` (a stand-in here: its
    Trainer accepts only its own Callback class), else a clear ImportError."""
    import importlib
    import sys
    import types

    import tb_attention_plugin.callback.lightning as module

    class OldCallback:
        pass

    if installed != "lightning":
        monkeypatch.setitem(sys.modules, "lightning", None)
        monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
        old = types.ModuleType("pytorch_lightning")
        old.Callback = OldCallback
        monkeypatch.setitem(sys.modules, "pytorch_lightning", old if installed == "pytorch_lightning" else None)
    try:
        if installed == "neither":
            with pytest.raises(ImportError, match="pip install lightning"):
                importlib.reload(module)
        else:
            base = importlib.reload(module).AttentionLightningCallback.__mro__[1]
            assert base is (L.pytorch.Callback if installed == "lightning" else OldCallback)
    finally:
        monkeypatch.undo()
        importlib.reload(module)
