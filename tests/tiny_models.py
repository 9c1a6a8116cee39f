"""Tiny transformer models and an offline tokenizer, built from configs in code (no downloads)."""

import numpy as np

WORDS = (
    "the cat is very sad because it could not find food to eat die katze ist sehr traurig weil sie "
    "zu viel gegessen hat did fresh a dog sat on mat and was happy".split()
)


def word_tokenizer(kind="bert"):
    """A WordLevel tokenizer over WORDS wrapped for transformers; 'bert' adds [CLS]/[SEP] pairs and
    segment ids, 'roberta' the same without segment ids (as RoBERTa's tokenizer)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(set(WORDS)) + [".", ","])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    if kind in ("bert", "roberta"):
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
        )
        # like BERT's own tokenizer: segment ids too, so sentence pairs reach the model as such
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
            model_input_names=["input_ids", "token_type_ids", "attention_mask"]
            if kind == "bert"
            else ["input_ids", "attention_mask"],
        )
    if kind == "gpt2":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B:1", special_tokens=[("<s>", vocab["<s>"])]
        )
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="<s>", eos_token="</s>")
    if kind == "seq2seq":
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B:1 </s>:1", special_tokens=[("</s>", vocab["</s>"])]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="</s>", bos_token="<s>"
        )
    raise ValueError(kind)


# the families of the older tests, as the model zoo builds them
ZOO_FAMILY = {
    "bert": "bert",
    "distilbert": "distilbert",
    "gpt2": "gpt2",
    "llama": "llama-gqa",
    "t5": "t5",
    "bart": "bart",
}


def tiny_model(family, vocab_size, seed=0):
    import torch

    import model_zoo  # here: model_zoo imports this module

    if family not in ZOO_FAMILY:
        raise ValueError(family)
    torch.manual_seed(seed)
    return model_zoo.FAMILIES[ZOO_FAMILY[family]][2](vocab_size)


TOKENIZER_KIND = {
    "bert": "bert",
    "distilbert": "bert",
    "gpt2": "gpt2",
    "llama": "gpt2",
    "t5": "seq2seq",
    "bart": "seq2seq",
}


class ListDataset:
    """A list of feature dicts, enough for the Trainer."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


TASKS = {"bert": "cls", "distilbert": "cls", "gpt2": "clm", "llama": "clm", "t5": "s2s", "bart": "s2s"}


def toy_dataset(family, tokenizer, n=32, length=12, seed=0):
    return task_dataset(TASKS[family], tokenizer, n=n, length=length, seed=seed)


def task_dataset(task, tokenizer, n=16, length=12, seed=0):
    """Toy training items for a task: "cls" (sequence classification), "clm", "mlm" or "s2s" (labels
    are the inputs)."""
    import torch

    rng = np.random.default_rng(seed)
    words = sorted(set(WORDS))
    items = []
    for _ in range(n):
        text = " ".join(rng.choice(words, size=length - 2))
        pad = tokenizer.pad_token is not None
        enc = tokenizer(text, truncation=True, max_length=length, padding="max_length" if pad else False)
        ids = torch.tensor(enc["input_ids"])
        item = {"input_ids": ids, "attention_mask": torch.tensor(enc["attention_mask"])}
        item["labels"] = torch.tensor(int(rng.integers(0, 2))) if task == "cls" else ids.clone()
        items.append(item)
    return ListDataset(items)


def tensorboard_python_read(logdir):
    """Read a log directory with TensorBoard's own Python loader, as the plugin would.

    EventMultiplexer + MultiplexerDataProvider (keeping every step): blob sequences fetched blob by blob
    with read_blob, statistics with read_tensors, scalars with read_scalars. For a step logged twice
    (a resume) the record read last wins, as the format says.
    -> {run: {"attention": {tag: {step: float32 [L, H, Q, K]}}, "stats": {tag: {step: array}},
              "scalars": {tag: {step: value}}, "meta": {tag: dict}}}
    """
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    from tb_attention_plugin.format.blobs import decode_layer_at
    from tb_attention_plugin.format.metadata import PLUGIN_NAME
    from tb_attention_plugin.format.plugin_metadata import ProbeMetadata
    from tb_attention_plugin.format.quantize import dequantize

    keep_all = {"tensors": 0, "scalars": 0}
    mux = plugin_event_multiplexer.EventMultiplexer(size_guidance=keep_all, tensor_size_guidance={PLUGIN_NAME: 0})
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    ctx = context.RequestContext()
    big = 10**9
    out = {}
    listing = provider.list_blob_sequences(ctx, experiment_id="", plugin_name=PLUGIN_NAME)
    sequences = provider.read_blob_sequences(ctx, experiment_id="", plugin_name=PLUGIN_NAME, downsample=big)
    for run, tags in sequences.items():
        entry = out.setdefault(run, {"attention": {}, "stats": {}, "scalars": {}, "meta": {}})
        for tag, data in tags.items():
            entry["meta"][tag] = ProbeMetadata.from_json(listing[run][tag].plugin_content)
            blobs = {}
            for datum in data:
                blobs[datum.step] = [provider.read_blob(ctx, blob_key=ref.blob_key) for ref in datum.values]
            decoded = {}
            for step, step_blobs in sorted(blobs.items()):
                layers = []
                for layer in range(len(step_blobs) - 1):
                    layers.append(decode_layer_at(step, lambda at, l=layer: blobs[at][1 + l] if at in blobs else None))
                decoded[step] = dequantize(np.stack(layers))
            entry["attention"][tag] = decoded
    tensors = provider.read_tensors(ctx, experiment_id="", plugin_name=PLUGIN_NAME, downsample=big)
    for run, tags in tensors.items():
        entry = out.setdefault(run, {"attention": {}, "stats": {}, "scalars": {}, "meta": {}})
        for tag, data in tags.items():
            entry["stats"][tag] = {d.step: d.numpy for d in data}
    scalars = provider.read_scalars(ctx, experiment_id="", plugin_name="scalars", downsample=big)
    for run, tags in scalars.items():
        entry = out.setdefault(run, {"attention": {}, "stats": {}, "scalars": {}, "meta": {}})
        for tag, data in tags.items():
            entry["scalars"][tag] = {d.step: d.value for d in data}
    return out


def make_trainer(
    family,
    tmp_path,
    callback=None,
    *,
    max_steps=3,
    seed=0,
    model=None,
    tokenizer=None,
    n=16,
    compute_metrics=None,
    evaluate=False,
    **arg_overrides,
):
    """A CPU Trainer over a tiny model and toy data; GPT-2/Llama get default_data_collator (no pad token)."""
    import transformers

    tok = tokenizer or word_tokenizer(TOKENIZER_KIND[family])
    model = model if model is not None else tiny_model(family, len(tok), seed=seed)
    args = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=max_steps,
        per_device_train_batch_size=4,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
    )
    args.update(arg_overrides)
    kwargs = {}
    if family in ("gpt2", "llama"):
        kwargs["data_collator"] = transformers.default_data_collator
    data = toy_dataset(family, tok, n=n)
    return transformers.Trainer(
        model=model,
        args=transformers.TrainingArguments(**args),
        train_dataset=data,
        eval_dataset=data if evaluate else None,
        compute_metrics=compute_metrics,
        processing_class=tok,
        callbacks=[callback] if callback is not None else None,
        **kwargs,
    )


def own_attention(model, tokenizer, probe_log, kind):
    """The model's own eager attention for one logged probe, unbatched and unpadded: [L, H, Q, K]."""
    import inspect

    import torch

    ids = torch.tensor([tokenizer.convert_tokens_to_ids(probe_log.tokens)])
    kwargs = dict(input_ids=ids, output_attentions=True, return_dict=True)
    if model.config.is_encoder_decoder:
        kwargs["decoder_input_ids"] = torch.tensor([tokenizer.convert_tokens_to_ids(probe_log.decoder_tokens)])
        kwargs["use_cache"] = False
    elif (
        "token_type_ids" in tokenizer.model_input_names
        and "token_type_ids" in inspect.signature(model.forward).parameters
    ):
        kwargs["token_type_ids"] = torch.tensor([probe_log.segments])
    previous, was_training = model.config._attn_implementation, model.training
    model.set_attn_implementation("eager")
    model.eval()
    try:
        with torch.no_grad():
            out = model(**kwargs)
    finally:
        model.set_attn_implementation(previous)
        model.train(was_training)
    field = {
        "self": "attentions",
        "encoder": "encoder_attentions",
        "decoder": "decoder_attentions",
        "cross": "cross_attentions",
    }[kind]
    return np.stack([layer[0].float().numpy() for layer in getattr(out, field)])
