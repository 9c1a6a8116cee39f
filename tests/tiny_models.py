"""Tiny transformer models and an offline tokenizer, built from configs in code (no downloads)."""
import numpy as np

WORDS = ("the cat is very sad because it could not find food to eat die katze ist sehr traurig weil sie "
         "zu viel gegessen hat did fresh a dog sat on mat and was happy".split())


def word_tokenizer(kind="bert"):
    """A WordLevel tokenizer over WORDS wrapped for transformers; 'bert' adds [CLS]/[SEP] pairs."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(set(WORDS)) + [".", ","])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    if kind == "bert":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                       cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    if kind == "gpt2":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B:1", special_tokens=[("<s>", vocab["<s>"])])
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="<s>",
                                       eos_token="</s>")
    if kind == "seq2seq":
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B:1 </s>:1", special_tokens=[("</s>", vocab["</s>"])])
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                       eos_token="</s>", bos_token="<s>")
    raise ValueError(kind)


def tiny_model(family, vocab_size, seed=0):
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    if family == "bert":
        cfg = tf.BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=128, num_labels=2)
        return tf.BertForSequenceClassification(cfg)
    if family == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                  max_position_embeddings=128, num_labels=2)
        return tf.DistilBertForSequenceClassification(cfg)
    if family == "gpt2":
        cfg = tf.GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                            bos_token_id=5, eos_token_id=6)
        return tf.GPT2LMHeadModel(cfg)
    if family == "llama":
        cfg = tf.LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                             bos_token_id=5, eos_token_id=6, pad_token_id=0)
        return tf.LlamaForCausalLM(cfg)
    if family == "t5":
        cfg = tf.T5Config(vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                          num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=6)
        return tf.T5ForConditionalGeneration(cfg)
    if family == "bart":
        cfg = tf.BartConfig(vocab_size=vocab_size, d_model=32, encoder_layers=2, decoder_layers=2,
                            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                            decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=0, bos_token_id=5,
                            eos_token_id=6, decoder_start_token_id=6, forced_eos_token_id=None)
        return tf.BartForConditionalGeneration(cfg)
    raise ValueError(family)


TOKENIZER_KIND = {"bert": "bert", "distilbert": "bert", "gpt2": "gpt2", "llama": "gpt2", "t5": "seq2seq",
                  "bart": "seq2seq"}


class ListDataset:
    """A list of feature dicts, enough for the Trainer."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def toy_dataset(family, tokenizer, n=32, length=12, seed=0):
    import torch

    rng = np.random.default_rng(seed)
    words = sorted(set(WORDS))
    items = []
    for _ in range(n):
        text = " ".join(rng.choice(words, size=length - 2))
        enc = tokenizer(text, truncation=True, max_length=length, padding="max_length"
                        if tokenizer.pad_token is not None else False)
        ids = torch.tensor(enc["input_ids"])
        item = {"input_ids": ids}
        if "attention_mask" in enc:
            item["attention_mask"] = torch.tensor(enc["attention_mask"])
        if family in ("bert", "distilbert"):
            item["labels"] = torch.tensor(int(rng.integers(0, 2)))
        elif family in ("gpt2", "llama"):
            item["labels"] = ids.clone()
        else:
            item["labels"] = ids.clone()
        items.append(item)
    return ListDataset(items)
