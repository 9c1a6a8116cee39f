"""Tiny models of many transformers families, built from configs in code (no downloads).

Each entry: family -> (task, tokenizer kind, builder(vocab_size) -> model). Tasks: "cls" (sequence
classification), "clm" (causal LM), "mlm" (masked LM), "s2s" (encoder-decoder LM). Sizes are tiny
(hidden 32, 2 layers, 4 heads) but keep what makes a family different: grouped KV heads, a sliding
window shorter than the probes, local attention, rotary or relative positions, soft-capping, experts,
a position table that starts after the padding index.
"""

import tiny_models

HIDDEN = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
DECODER = dict(
    HIDDEN, num_key_value_heads=2, max_position_embeddings=128, bos_token_id=5, eos_token_id=6, pad_token_id=0
)
SHORT_POSITIONS = 20  # RoBERTa-family tables: with padding_idx 0, 19 tokens fit


def _build(cls_name, config_name, **config):
    def build(vocab_size, attn_implementation=None):
        import transformers as tf

        cfg = getattr(tf, config_name)(vocab_size=vocab_size, **config)
        cls = getattr(tf, cls_name)
        return cls._from_config(cfg, attn_implementation=attn_implementation) if attn_implementation else cls(cfg)

    return build


FAMILIES = {
    "bert": (
        "cls",
        "bert",
        _build("BertForSequenceClassification", "BertConfig", **HIDDEN, max_position_embeddings=128, num_labels=2),
    ),
    "roberta": (
        "cls",
        "roberta",
        _build(
            "RobertaForSequenceClassification",
            "RobertaConfig",
            **HIDDEN,
            num_labels=2,
            max_position_embeddings=SHORT_POSITIONS,
            pad_token_id=0,
        ),
    ),
    "xlm-roberta": (
        "mlm",
        "roberta",
        _build(
            "XLMRobertaForMaskedLM",
            "XLMRobertaConfig",
            **HIDDEN,
            max_position_embeddings=SHORT_POSITIONS,
            pad_token_id=0,
        ),
    ),
    "distilbert": (
        "cls",
        "bert",
        _build(
            "DistilBertForSequenceClassification",
            "DistilBertConfig",
            dim=32,
            n_layers=2,
            n_heads=4,
            hidden_dim=64,
            max_position_embeddings=128,
            num_labels=2,
        ),
    ),
    "albert": (
        "cls",
        "bert",
        _build("AlbertForSequenceClassification", "AlbertConfig", **HIDDEN, embedding_size=16, num_labels=2),
    ),
    "electra": (
        "cls",
        "bert",
        _build("ElectraForSequenceClassification", "ElectraConfig", **HIDDEN, embedding_size=16, num_labels=2),
    ),
    "deberta-v2": (
        "cls",
        "bert",
        _build(
            "DebertaV2ForSequenceClassification",
            "DebertaV2Config",
            **HIDDEN,
            num_labels=2,
            relative_attention=True,
            position_buckets=8,
            pos_att_type=["p2c", "c2p"],
            max_position_embeddings=64,
        ),
    ),
    "modernbert": (
        "cls",
        "bert",
        _build(
            "ModernBertForSequenceClassification",
            "ModernBertConfig",
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=4,
            intermediate_size=64,
            global_attn_every_n_layers=2,
            local_attention=4,
            pad_token_id=0,
            cls_token_id=2,
            sep_token_id=3,
            bos_token_id=2,
            eos_token_id=3,
            num_labels=2,
        ),
    ),
    "gpt2": (
        "clm",
        "gpt2",
        _build(
            "GPT2LMHeadModel",
            "GPT2Config",
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=128,
            bos_token_id=5,
            eos_token_id=6,
        ),
    ),
    "gpt-neox": (
        "clm",
        "gpt2",
        _build(
            "GPTNeoXForCausalLM",
            "GPTNeoXConfig",
            **HIDDEN,
            rotary_pct=0.5,
            max_position_embeddings=128,
            bos_token_id=5,
            eos_token_id=6,
        ),
    ),
    "opt": (
        "clm",
        "gpt2",
        _build(
            "OPTForCausalLM",
            "OPTConfig",
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            ffn_dim=64,
            word_embed_proj_dim=32,
            max_position_embeddings=128,
            pad_token_id=0,
            bos_token_id=5,
            eos_token_id=6,
        ),
    ),
    "llama-gqa": ("clm", "gpt2", _build("LlamaForCausalLM", "LlamaConfig", **DECODER)),
    "mistral-window": ("clm", "gpt2", _build("MistralForCausalLM", "MistralConfig", **DECODER, sliding_window=4)),
    "qwen2": ("clm", "gpt2", _build("Qwen2ForCausalLM", "Qwen2Config", **DECODER)),
    "qwen3": ("clm", "gpt2", _build("Qwen3ForCausalLM", "Qwen3Config", **DECODER, head_dim=8)),
    "gemma2": (
        "clm",
        "gpt2",
        _build("Gemma2ForCausalLM", "Gemma2Config", **DECODER, head_dim=8, sliding_window=4, query_pre_attn_scalar=8),
    ),
    "gemma3": (
        "clm",
        "gpt2",
        _build(
            "Gemma3ForCausalLM", "Gemma3TextConfig", **DECODER, head_dim=8, sliding_window=4, query_pre_attn_scalar=8
        ),
    ),
    "phi3": ("clm", "gpt2", _build("Phi3ForCausalLM", "Phi3Config", **DECODER)),
    # early transformers 5.x Falcon could not switch to eager at run time (switches_to_eager says)
    "falcon": (
        "clm",
        "gpt2",
        _build(
            "FalconForCausalLM",
            "FalconConfig",
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            alibi=False,
            bos_token_id=5,
            eos_token_id=6,
        ),
    ),
    "mixtral-moe": (
        "clm",
        "gpt2",
        _build("MixtralForCausalLM", "MixtralConfig", **DECODER, num_local_experts=4, num_experts_per_tok=2),
    ),
    "t5": (
        "s2s",
        "seq2seq",
        _build(
            "T5ForConditionalGeneration",
            "T5Config",
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=4,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=6,
        ),
    ),
    "bart": (
        "s2s",
        "seq2seq",
        _build(
            "BartForConditionalGeneration",
            "BartConfig",
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=128,
            pad_token_id=0,
            bos_token_id=5,
            eos_token_id=6,
            decoder_start_token_id=6,
            forced_eos_token_id=None,
        ),
    ),
    "pegasus": (
        "s2s",
        "seq2seq",
        _build(
            "PegasusForConditionalGeneration",
            "PegasusConfig",
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=128,
            pad_token_id=0,
            eos_token_id=6,
            decoder_start_token_id=0,
            forced_eos_token_id=None,
        ),
    ),
}


def build(family, seed=0, attn_implementation=None):
    """-> (model, tokenizer, task) of a family, seeded; loaded with its default attention unless
    `attn_implementation` names one."""
    import torch

    task, tok_kind, builder = FAMILIES[family]
    tokenizer = tiny_models.word_tokenizer(tok_kind)
    torch.manual_seed(seed)
    return builder(len(tokenizer), attn_implementation), tokenizer, task


dataset = tiny_models.task_dataset

# ---------------------------------------------------------------- what the installed transformers can do
# Capabilities that differ between transformers releases, asked of the installed one, so that each test
# expects what this version does (the product's answer, or its clear error) and never a release's bug.

SPY_IMPLEMENTATION = "tb_attention_test_spy"
_spied = []


def _forward(model, task, tokenizer, output_attentions=True):
    """One eval forward pass on a training item -> every attention layer's weights it returned."""
    import inspect

    import torch

    item = dataset(task, tokenizer, n=1)[0]
    batch = {k: v[None] for k, v in item.items() if k != "labels"}
    if task == "s2s":
        batch["decoder_input_ids"] = item["labels"][None]
    if "use_cache" in inspect.signature(model.forward).parameters:
        batch["use_cache"] = False
    model.eval()
    with torch.no_grad():
        out = model(**batch, output_attentions=output_attentions, return_dict=True)
    fields = ("attentions", "encoder_attentions", "decoder_attentions", "cross_attentions")
    return [layer for f in fields for layer in (getattr(out, f, None) or ()) if layer is not None]


def switches_to_eager(family):
    """Whether the installed transformers switches this family to eager attention at run time and it
    then returns attention weights: probabilities, causal where the model is (early 5.x Falcon kept
    sdpa with only a logged warning). Where it cannot, the product must stop with its clear error."""
    import torch

    model, tokenizer, task = build(family)
    try:
        model.set_attn_implementation("eager")
    except Exception:
        return False
    if model.config._attn_implementation != "eager":
        return False
    layers = _forward(model, task, tokenizer)
    if not layers:
        return False
    sums_to_one = all(torch.allclose(a.sum(-1), torch.ones(()), atol=1e-3) for a in layers)
    causal = task != "clm" or all(float(torch.triu(a[0], diagonal=1).abs().max()) == 0.0 for a in layers)
    return sums_to_one and causal


def _spy(module, *args, **kwargs):
    """Counts the call, then attends as the module's own eager function does (sdpa cannot soft-cap)."""
    import sys

    _spied.append(type(module).__name__)
    return sys.modules[type(module).__module__].eager_attention_forward(module, *args, **kwargs)


def attention_goes_through_the_interface(family):
    """Whether every attention layer of this family calls the function that transformers' attention
    interface names (what the neuron view captures through) on the installed version: a spy
    registered under a name of its own must be switched to and called once per layer."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(SPY_IMPLEMENTATION, _spy)
    AttentionMaskInterface.register(SPY_IMPLEMENTATION, eager_mask)
    model, tokenizer, task = build(family, attn_implementation="eager")
    layers = len(_forward(model, task, tokenizer))
    try:
        model.set_attn_implementation(SPY_IMPLEMENTATION)
    except Exception:
        return False
    if model.config._attn_implementation != SPY_IMPLEMENTATION:
        return False
    _spied.clear()
    _forward(model, task, tokenizer, output_attentions=False)
    return len(_spied) >= layers > 0
