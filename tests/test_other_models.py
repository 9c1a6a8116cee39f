"""Models the probe pass cannot drive get a clear error before training that says what to do, and
attention computed elsewhere goes through the writer: the TransformerLens recipe of docs/usage.md,
run against the real package, stores the model's own patterns at every logged step."""

import numpy as np
import pytest
import torch
import transformers

from tb_attention_plugin import AttentionRecorder, AttentionSummaryWriter, read_run
from tb_attention_plugin.callback import AttentionUnavailableError
from tiny_models import TOKENIZER_KIND, word_tokenizer

STEP = 1.0 / 255


@pytest.mark.parametrize(
    "config",
    [
        lambda vocab: transformers.MambaConfig(vocab_size=vocab, hidden_size=16, state_size=4, num_hidden_layers=2),
        lambda vocab: transformers.Mamba2Config(
            vocab_size=vocab, hidden_size=32, state_size=4, num_hidden_layers=2, num_heads=4, head_dim=16, n_groups=1
        ),
    ],
)
def test_a_model_without_attention_layers_is_told_exactly_that(tmp_path, config):
    tok = word_tokenizer(TOKENIZER_KIND["gpt2"])
    model = transformers.AutoModelForCausalLM.from_config(config(len(tok)))
    with pytest.raises(AttentionUnavailableError) as caught:
        AttentionRecorder(model, tok, ["the cat sat"], tmp_path / "run")
    message = str(caught.value)
    assert "has no attention layers" in message and "such as Mamba" in message
    assert "attn_implementation" not in message  # not the advice for a model whose attention is sdpa


def _bridge():
    tl = pytest.importorskip("transformer_lens")
    from transformer_lens.config import TransformerBridgeConfig

    torch.manual_seed(0)
    config = TransformerBridgeConfig(n_layers=2, d_model=16, n_ctx=32, d_head=4, n_heads=4, d_vocab=50, act_fn="relu")
    return tl.TransformerBridge.boot_native(config)


def test_transformer_lens_is_pointed_to_the_writer_before_training(tmp_path):
    bridge = _bridge()
    with pytest.raises(
        AttentionUnavailableError, match=r"TransformerBridge\.forward takes no input_ids.*AttentionSummaryWriter"
    ):
        AttentionRecorder(bridge, word_tokenizer(TOKENIZER_KIND["gpt2"]), ["the cat sat"], tmp_path / "run")


def test_the_transformer_lens_recipe_stores_the_models_own_patterns_while_it_trains(tmp_path):
    bridge = _bridge()
    tokens = torch.tensor([[1, 5, 7, 9, 5, 7, 9, 2]])
    optimizer = torch.optim.SGD(bridge.parameters(), lr=1.0)
    patterns = {}
    # the recipe (docs/usage.md): a probe's tokens once, then the cache's patterns at each logged step
    writer = AttentionSummaryWriter(tmp_path / "run")
    writer.add_probe("repeat", [f"t{t}" for t in tokens[0].tolist()])  # bridge.to_str_tokens(tokens[0])
    for step in range(4):
        if step % 2 == 0:
            with torch.no_grad():
                _, cache = bridge.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
            writer.add_attention(step, "repeat", cache.stack_activation("pattern"))  # [layers, 1, heads, q, k]
            patterns[step] = cache.stack_activation("pattern")[:, 0].numpy().copy()
        bridge(tokens, return_type="loss").backward()
        optimizer.step()
        optimizer.zero_grad()
    writer.close()
    p = read_run(str(tmp_path / "run")).probe("repeat")
    assert p.steps == [0, 2] and p.causal()
    assert np.abs(patterns[2] - patterns[0]).max() > 10 * STEP  # training moved the heads
    for step, own in patterns.items():
        assert np.abs(p.attention(step) - own).max() <= STEP + 1e-6


def test_what_the_check_lets_through_and_what_it_stops():
    from tb_attention_plugin.callback.capture.model_checks import check_drivable

    class Plain(torch.nn.Module):
        def forward(self, tokens=None):  # no input_ids, and nothing else is taken
            return tokens

    class Wrapper(torch.nn.Module):
        def forward(self, *args, **kwargs):  # a wrapper passes everything on: it may take input_ids
            return kwargs

    with pytest.raises(AttentionUnavailableError, match=r"Plain\.forward takes no input_ids"):
        check_drivable(Plain())
    check_drivable(Wrapper())
    tok = word_tokenizer(TOKENIZER_KIND["gpt2"])
    check_drivable(
        transformers.AutoModelForCausalLM.from_config(transformers.GPT2Config(vocab_size=len(tok), n_layer=1))
    )
