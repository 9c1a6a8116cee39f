"""Relation probes to add with one argument: a small English set written for this project, or the
user's own from a JSON / JSONL file.

    AttentionCallback(probes=[...], relations="english")        # or relations="my_relations.jsonl"

A file holds relation probes as the callback takes them ({"text", "pair" (optional), "relations":
[[source, target, relation name], ...], "name" (optional)}): a JSON list of them, or one per line
(JSONL). Sources and targets are words of the probe (found once) or character spans [start, end].
"""

import json
import os

# Coreference (pronoun -> antecedent), determiner -> noun, modifier -> noun, direct object -> verb,
# possessive -> noun, passive auxiliary -> verb: the relations Clark et al. (2019) found heads for.
ENGLISH = [
    {
        "name": "coref: it -> cat",
        "text": "The cat is very sad. Because it could not find food to eat.",
        "relations": [("it", "cat", "coreference"), ("food", "find", "object"), ("The", "cat", "determiner")],
    },
    {
        "name": "coref: it -> food",
        "text": "The cat did not eat the food because it was not fresh.",
        "relations": [("it", "food", "coreference"), ("food", "eat", "object"), ("The", "cat", "determiner")],
    },
    {
        "name": "coref: she -> doctor",
        "text": "The doctor called her patient because she had the results.",
        "relations": [("she", "doctor", "coreference"), ("her", "patient", "possessive"), ("results", "had", "object")],
    },
    {
        "name": "coref: they -> children",
        "text": "The children ate their lunch quickly because they wanted to play outside.",
        "relations": [
            ("they", "children", "coreference"),
            ("their", "lunch", "possessive"),
            ("lunch", "ate", "object"),
        ],
    },
    {
        "name": "modifier and passive",
        "text": "A small red boat was painted by an old fisherman.",
        "relations": [
            ("red", "boat", "modifier"),
            ("old", "fisherman", "modifier"),
            ("was", "painted", "passive auxiliary"),
        ],
    },
    {
        "name": "possessive and object",
        "text": "My brother lost his keys and then found them under a chair.",
        "relations": [("his", "keys", "possessive"), ("keys", "lost", "object"), ("them", "keys", "coreference")],
    },
]

BUILT_IN = {"english": ENGLISH}


def relation_probes(source):
    """The relation probes named `source` ("english") or read from a JSON / JSONL file."""
    if isinstance(source, str) and source in BUILT_IN:
        return [dict(p) for p in BUILT_IN[source]]
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"relations={source!r} is neither a built-in set ({sorted(BUILT_IN)}) nor a JSON / JSONL file"
        )
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        loaded = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not JSON or JSONL: {e}") from None
    if not isinstance(loaded, list) or not loaded or not all(isinstance(p, dict) for p in loaded):
        raise ValueError(f"{path} must hold relation probes: a JSON list of objects, or one object per line")
    return [
        {
            **p,
            "relations": [
                tuple(_span(x) for x in r[:2]) + tuple(r[2:]) if isinstance(r, list) else r
                for r in p.get("relations", [])
            ],
        }
        for p in loaded
    ]


def _span(value):
    """JSON has no tuples: [start, end] or ["pair", start, end] become the spans the callback takes."""
    return tuple(value) if isinstance(value, list) else value
