"""Probe sentences: validated when the callback is made, tokenized once when training starts.

A probe is a string, a (text, text_pair) pair, or a relation probe: {"text": ..., "pair": ...,
"relations": [(source word, target word, relation name), ...]} (relations.py). Each is stored at its
real length (no padding) with its tokens, sentence-pair segments and special-token mask. For
encoder-decoder models the decoder side is the text pair when given (else the text itself), fed as
teacher-forced decoder input.
"""

import dataclasses
import warnings

import numpy as np

from .relations import parse_masked, parse_relations, place, word_index

DEFAULT_MAX_TOKENS = 128
SEGMENTS = 4  # repeated segments of the built-in induction probe


@dataclasses.dataclass
class Probe:
    """A probe ready for the model: token ids and what the log shows about them."""

    name: str
    input_ids: list
    tokens: list
    segments: list
    special: list
    token_type_ids: list = None
    decoder_input_ids: list = None
    decoder_tokens: list = None
    decoder_special: list = None
    word_of: dict = None  # token list name -> word index or -1 per token (relation probes)
    relations: list = None  # [{"relation", "source", "target", ...}] on the token lists (relations.py)
    mask_targets: dict = None  # position -> the token id a masked word had there (predictions.py)

    def writer_kwargs(self):
        return dict(
            tokens=self.tokens,
            segments=self.segments,
            special=self.special,
            decoder_tokens=self.decoder_tokens,
            decoder_special=self.decoder_special,
            word_of=self.word_of,
            relations=self.relations,
        )


def validate_probes(probes, names):
    """Check the user's probes and names; return [(name, text, text_pair)]. Raises with what to change."""
    if isinstance(probes, (str, tuple)) or probes is None:
        raise TypeError(
            "probes must be a list of strings or (text, text_pair) tuples, e.g. probes=['The cat sat on the mat.']"
        )
    probes = list(probes)
    if not probes:
        raise ValueError("probes is empty: give at least one probe sentence")
    specs, labelled = [], []
    for i, probe in enumerate(probes):
        text, pair, relations = _probe_parts(i, probe)
        specs.append((text, pair))
        given = probe if isinstance(probe, dict) else {}
        labelled.append((relations, given.get("name"), given.get("mask")))
    names = _probe_names(names, specs, [given for _, given, _ in labelled])
    return [
        (n, t, p, None if r is None else parse_relations(r, t, p, n), None if m is None else parse_masked(m, t, p, n))
        for n, (t, p), (r, _, m) in zip(names, specs, labelled)
    ]


def _probe_parts(i, probe):
    """(text, text_pair or None, relations or None) of the user's i-th probe: a string, a (text,
    text_pair) pair or a relation probe dict; TypeError or ValueError saying what to change."""
    relations = None
    if isinstance(probe, str):
        text, pair = probe, None
    elif isinstance(probe, (tuple, list)) and len(probe) == 2 and all(isinstance(p, str) for p in probe):
        text, pair = probe
    elif isinstance(probe, dict) and isinstance(probe.get("text"), str) and isinstance(probe.get("pair", ""), str):
        unknown = set(probe) - {"text", "pair", "relations", "name", "mask"}
        if unknown:
            raise TypeError(
                f"probes[{i}] has unknown keys {sorted(unknown)}: a probe dict has text, pair, relations, mask, name"
            )
        text, pair, relations = probe["text"], probe.get("pair"), probe.get("relations")
    else:
        raise TypeError(
            f"probes[{i}] is {probe!r}: each probe must be a string, a (text, text_pair) tuple of two strings, "
            f"or a relation probe {{'text': ..., 'relations': [(source, target, relation)]}}"
        )
    if not text.strip() or (pair is not None and not pair.strip()):
        raise ValueError(f"probes[{i}] is empty: give some text")
    return text, pair, relations


def _probe_names(names, specs, given):
    """Each probe's name: the user's `names` entry, else the probe dict's own name (`given`), else
    one made from its text; the user's names are checked (non-empty, no '/', unique)."""
    defaults = _default_names(specs)
    if names is None:
        return [own or default for own, default in zip(given, defaults)]
    names = list(names)
    if len(names) != len(specs):
        raise ValueError(f"names has {len(names)} entries but there are {len(specs)} probes")
    names = [n if n is not None else (own or default) for n, own, default in zip(names, given, defaults)]
    for n in names:
        if not isinstance(n, str) or not n.strip() or "/" in n:
            raise ValueError(f"probe name {n!r} must be a non-empty string without '/'")
    if len(set(names)) != len(names):
        raise ValueError(f"probe names must be unique, got {names}")
    return names


def _default_names(specs, width=40):
    names = []
    for text, pair in specs:
        label = text if pair is None else f"{text} | {pair}"
        label = " ".join(label.replace("/", " ").split())
        if len(label) > width:
            label = label[: width - 1] + "…"
        name, k = label, 2
        while name in names:
            name, k = f"{label} ({k})", k + 1
        names.append(name)
    return names


def _segments_of(encoding, n):
    """Segment (0 or 1) of each token: from the fast tokenizer's sequence ids, else token_type_ids."""
    seq = None
    try:
        seq = encoding.sequence_ids(0)
    except (AttributeError, ValueError, TypeError):
        pass
    if seq is not None:
        out, current = [], 0
        for s in seq:
            current = current if s is None else int(s)
            out.append(current)
        return out
    tt = encoding.get("token_type_ids")
    return [int(x) for x in tt] if tt is not None and len(tt) == n else [0] * n


def _special_mask(tokenizer, ids):
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return [int(i) in special for i in ids]


def tokenize(
    tokenizer, name, text, pair, max_tokens, *, encoder_decoder=False, model=None, relations=None, masked=None
):
    """One probe -> Probe, truncated to max_tokens with a warning; `masked` words get the mask token."""
    enc_pair = None if encoder_decoder else pair
    if (relations or masked) and not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"probe {name!r} names words: that needs a fast tokenizer (with word offsets)")
    offsets = {"return_offsets_mapping": True} if relations or masked else {}
    encoding = _encode(tokenizer, name, text, enc_pair, max_tokens, offsets)
    ids = [int(i) for i in encoding["input_ids"]]
    tt = encoding.get("token_type_ids")
    probe = Probe(
        name=name,
        input_ids=ids,
        tokens=list(tokenizer.convert_ids_to_tokens(ids)),
        segments=_segments_of(encoding, len(ids)),
        special=_special_mask(tokenizer, ids),
        token_type_ids=[int(x) for x in tt] if tt is not None else None,
    )
    sides = {}
    if relations:
        of, spans = word_index(encoding)
        probe.word_of = {"tokens": of}
        sides[("tokens", "text")] = (0, spans)
        if not encoder_decoder:
            sides[("tokens", "pair")] = (1, spans)
    if encoder_decoder:
        _add_decoder_side(probe, tokenizer, model, text, pair, max_tokens, offsets, sides if relations else None)
    if relations:
        probe.relations = _token_relations(relations, sides, name, text, pair)
    if masked:
        _mask_words(probe, tokenizer, encoding, masked, name, text, pair)
    return probe


def _encode(tokenizer, name, text, pair, max_tokens, offsets):
    """The tokenizer's encoding of a probe, truncated to max_tokens with a warning."""
    full = tokenizer(text, pair, add_special_tokens=True, truncation=False, **offsets)
    n_full = len(full["input_ids"])
    if n_full <= max_tokens:
        return full
    warnings.warn(
        f"probe {name!r} has {n_full} tokens; it is truncated to {max_tokens} (max_tokens, capped "
        f"at the model's maximum positions): shorten the probe to see all of it",
        UserWarning,
        stacklevel=4,
    )
    return tokenizer(text, pair, add_special_tokens=True, truncation=True, max_length=max_tokens, **offsets)


def _add_decoder_side(probe, tokenizer, model, text, pair, max_tokens, offsets, sides):
    """An encoder-decoder probe's decoder side: the teacher-forced decoder input of its target (the
    pair, else the text); with relations (`sides`, else None), its words too."""
    target = pair if pair is not None else text
    labelled = tokenizer(text_target=target, truncation=True, max_length=max_tokens, **offsets)
    dec = _decoder_inputs(model, [int(i) for i in labelled["input_ids"]])
    probe.decoder_input_ids = dec
    probe.decoder_tokens = list(tokenizer.convert_ids_to_tokens(dec))
    probe.decoder_special = _special_mask(tokenizer, dec)
    if sides is not None:
        of, spans = word_index(labelled)
        probe.word_of["decoder_tokens"] = ([-1] + of)[: len(dec)]  # the decoder input is shifted right
        sides[("decoder_tokens", "pair" if pair is not None else "text")] = (0, spans)


def _mask_words(probe, tokenizer, encoding, masked, name, text, pair):
    """Replace the tokens of the masked words by the mask token, keeping what they were (targets)."""
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is None:
        raise ValueError(f"probe {name!r} masks words, but its tokenizer has no mask token (a masked LM's has)")
    of, spans = word_index(encoding)
    sides = {("tokens", "text"): (0, spans), ("tokens", "pair"): (1, spans)}
    probe.mask_targets = {}
    for span in masked:
        ((_, word),) = place(span, sides, name, "masked word", text, pair)
        for t, w in enumerate(of):
            if w == word:
                probe.mask_targets[t] = probe.input_ids[t]
                probe.input_ids[t] = int(mask_id)
    probe.tokens = list(tokenizer.convert_ids_to_tokens(probe.input_ids))


def _token_relations(relations, sides, name, text, pair):
    """The relations as the writer takes them: each end as its [token list, word] places."""
    return [
        {
            "relation": r.name,
            "source": place(r.source, sides, name, "source", text, pair),
            "target": place(r.target, sides, name, "target", text, pair),
            "source_text": r.source.words(text, pair),
            "target_text": r.target.words(text, pair),
        }
        for r in relations
    ]


def _decoder_inputs(model, labels):
    """Teacher-forced decoder input: the labels shifted right by the model's own rule."""
    import torch

    from ..capture.model_access import base_model

    model = base_model(model)
    label_tensor = torch.tensor([labels])
    if hasattr(model, "prepare_decoder_input_ids_from_labels"):
        return [int(i) for i in model.prepare_decoder_input_ids_from_labels(labels=label_tensor)[0]]
    start = getattr(model.config, "decoder_start_token_id", None)
    if start is None:
        raise ValueError(
            f"{type(model).__name__} has no decoder_start_token_id: cannot build decoder inputs for the probes"
        )
    return [int(start)] + labels[:-1]


def induction_probe(tokenizer, max_tokens, *, seed=0, name="repeated random tokens"):
    """A repeated-random-token probe for causal LMs: four segments, each repeated right after itself.

    Layout: [BOS] filler seg1 seg1 filler seg2 seg2 ... seg4 seg4 filler, every token distinct except
    the repeated segments. The four segment lengths are consecutive integers in random order, so each
    repeat lies at its own distance and no segment holds 40% of the repeated tokens: a head that merely
    looks back a fixed distance scores below the induction threshold (0.4). Uses its own numpy RNG:
    training's RNG is untouched.
    """
    rng = np.random.default_rng(seed)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    vocab = [i for i in range(len(tokenizer)) if i not in special]
    bos = getattr(tokenizer, "bos_token_id", None)
    budget = min(max_tokens, 96) - (bos is not None)
    shortest = int(rng.integers(4, 9))
    fillers = rng.integers(1, 4, size=SEGMENTS + 1)
    order = rng.permutation(SEGMENTS)
    while True:
        lengths = shortest + order
        if 2 * lengths.sum() + fillers.sum() <= budget and lengths.sum() + fillers.sum() <= len(vocab):
            break
        if shortest <= 2 and fillers.max() <= 0:
            raise ValueError(
                "max_tokens or the vocabulary is too small for the induction probe "
                f"(it needs {2 * lengths.sum() + fillers.sum() + (bos is not None)} tokens); "
                "pass induction_probe=False"
            )
        shortest = max(shortest - 1, 2)
        fillers = np.maximum(fillers - 1, 0)
    pool = iter(rng.choice(vocab, size=int(lengths.sum() + fillers.sum()), replace=False).tolist())
    ids = [] if bos is None else [int(bos)]
    for k in range(SEGMENTS):
        ids += [next(pool) for _ in range(int(fillers[k]))]
        segment = [next(pool) for _ in range(int(lengths[k]))]
        ids += segment + segment
    ids += [next(pool) for _ in range(int(fillers[SEGMENTS]))]
    return Probe(
        name=name,
        input_ids=ids,
        tokens=list(tokenizer.convert_ids_to_tokens(ids)),
        segments=[0] * len(ids),
        special=_special_mask(tokenizer, ids),
    )
