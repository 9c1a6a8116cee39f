"""Labelled relations of a probe (coreference `it -> cat`, object -> verb, ...), from words to tokens.

A relation probe is a dict: {"text": ..., "pair": ... (optional), "relations": [(source, target, name),
...]} where source and target are a word of the probe (a whole word, found once in the text or the
pair) or a character span: (start, end) in the text, or ("pair", start, end). They are checked when
the callback is made (a missing or ambiguous word names the probe and the word) and mapped to the
tokenizer's words when the probes are tokenized: a word is all its subword tokens.

What the writer gets: for each token list of the probe ("tokens" and, for
encoder-decoder models, "decoder_tokens") the word index of every token (-1 for special tokens), and
each relation as the (side, word) places of its source and target; a relation is measured in every
kind of attention whose query side holds its source and whose key side holds its target.
"""

import re
from typing import NamedTuple

WORD = re.compile(r"\w+", re.UNICODE)


class Span(NamedTuple):
    """Characters [start, end) of the probe's text ("text") or of its pair ("pair")."""

    side: str
    start: int
    end: int

    def words(self, text, pair):
        return (text if self.side == "text" else pair)[self.start : self.end]


class RelationSpec(NamedTuple):
    name: str
    source: Span
    target: Span


def _find_word(word, text, pair, probe, role):
    places = [
        Span(side, m.start(), m.end())
        for side, body in (("text", text), ("pair", pair or ""))
        for m in re.finditer(r"(?<!\w)" + re.escape(word) + r"(?!\w)", body)
    ]
    if not places:
        raise ValueError(f"probe {probe!r}: the {role} word {word!r} is not in its text{' or pair' if pair else ''}")
    if len(places) > 1:
        where = ", ".join(f"{s.side} {s.start}..{s.end}" for s in places)
        raise ValueError(
            f"probe {probe!r}: the {role} word {word!r} appears {len(places)} times ({where}): give its "
            f"character span instead, (start, end) in the text or ('pair', start, end)"
        )
    return places[0]


def _span(value, text, pair, probe, role):
    if isinstance(value, str):
        if not WORD.fullmatch(value):
            raise ValueError(f"probe {probe!r}: the {role} {value!r} must be one word (or a character span)")
        return _find_word(value, text, pair, probe, role)
    if isinstance(value, (tuple, list)) and len(value) in (2, 3):
        side, start, end = ("text", *value) if len(value) == 2 else value
        if side not in ("text", "pair"):
            raise ValueError(f"probe {probe!r}: the {role} span's side must be 'text' or 'pair', got {side!r}")
        body = text if side == "text" else pair
        if body is None:
            raise ValueError(f"probe {probe!r}: the {role} span refers to the pair, but the probe has no pair")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(body)):
            raise ValueError(
                f"probe {probe!r}: the {role} span {tuple(value)!r} is not inside its {side} (length {len(body)})"
            )
        if not WORD.search(body[start:end]):
            raise ValueError(f"probe {probe!r}: the {role} span {tuple(value)!r} holds no word")
        return Span(side, start, end)
    raise TypeError(f"probe {probe!r}: the {role} must be a word or a (start, end) span, got {value!r}")


def parse_relations(relations, text, pair, probe):
    """The user's relations of one probe -> [RelationSpec]; raises with the probe and word at fault."""
    if not isinstance(relations, (list, tuple)) or not relations:
        raise TypeError(f"probe {probe!r}: relations must be a non-empty list of (source, target, relation name)")
    specs = []
    for item in relations:
        if isinstance(item, dict):
            item = (item.get("source"), item.get("target"), item.get("relation"))
        if not (isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[2], str) and item[2].strip()):
            raise TypeError(
                f"probe {probe!r}: each relation is (source, target, relation name), e.g. ('it', 'cat', "
                f"'coreference'), got {item!r}"
            )
        source, target = _span(item[0], text, pair, probe, "source"), _span(item[1], text, pair, probe, "target")
        if source == target:
            raise ValueError(f"probe {probe!r}: relation {item[2]!r} goes from a word to itself")
        specs.append(RelationSpec(item[2].strip(), source, target))
    return specs


def parse_masked(words, text, pair, probe):
    """The words a probe masks ("mask": [word or span, ...]) -> [Span]."""
    if not isinstance(words, (list, tuple)) or not words:
        raise TypeError(f"probe {probe!r}: mask must be a non-empty list of words or spans")
    return [_span(w, text, pair, probe, "masked") for w in words]


def word_index(encoding, sequences=(0, 1)):
    """[word or -1] per token of a fast tokenizer's encoding, and {(sequence, char span) -> word}."""
    word_ids, seq_ids = encoding.word_ids(), encoding.sequence_ids()
    numbers, word_of, spans = {}, [], {}
    for t, (w, s) in enumerate(zip(word_ids, seq_ids)):
        if w is None or s not in sequences:
            word_of.append(-1)
            continue
        number = numbers.setdefault((s, w), len(numbers))
        word_of.append(number)
        start, end = encoding["offset_mapping"][t]
        previous = spans.get(number)
        spans[number] = (
            s,
            start if previous is None else min(previous[1], start),
            end if previous is None else max(previous[2], end),
        )
    return word_of, spans


def _words_of(span, sequence, spans):
    return [w for w, (s, start, end) in spans.items() if s == sequence and start < span.end and span.start < end]


def place(spec_span, sides, probe, role, text, pair):
    """[[side, word]] of a span on the probe's token lists: sides = {(list name, "text"|"pair"): (sequence,
    word spans)}; an error when it covers no word (truncated away) or several."""
    found = []
    for (list_name, text_side), (sequence, spans) in sides.items():
        if text_side != spec_span.side:
            continue
        words = _words_of(spec_span, sequence, spans)
        if len(words) > 1:
            raise ValueError(
                f"probe {probe!r}: the {role} {spec_span.words(text, pair)!r} covers {len(words)} words: "
                f"relations go from one word to one word"
            )
        if words:
            found.append([list_name, words[0]])
    if not found:
        raise ValueError(
            f"probe {probe!r}: the {role} {spec_span.words(text, pair)!r} is not among its tokens (cut off by "
            f"max_tokens?): shorten the probe or raise max_tokens"
        )
    return found
