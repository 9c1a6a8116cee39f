"""Relation probes to add with one argument: an English set written for this project (56 sentences, 30
labelled pairs or more of each relation), or the user's own from a JSON / JSONL file.

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


# Five sentence templates written for this project, each filled ten ways, so that every relation has
# 30 labelled pairs or more (a handful of pairs measures little: relations.py gives each accuracy its
# 95% interval, and the probing classifier no accuracy below 10 pairs). Every word a relation names
# appears once in its sentence.
_HUNGRY = [  # coreference, object, determiner
    ("cat", "fish"), ("dog", "meat"), ("horse", "hay"), ("rabbit", "carrots"), ("bird", "seeds"),
    ("goat", "grass"), ("mouse", "cheese"), ("bear", "honey"), ("monkey", "bananas"), ("cow", "corn"),
]  # fmt: skip
_LOST = [  # coreference, object, two possessives, modifier
    ("brother", "his", "wallet", "chair"), ("sister", "her", "phone", "table"), ("father", "his", "ring", "bed"),
    ("mother", "her", "watch", "sofa"), ("uncle", "his", "book", "desk"), ("aunt", "her", "hat", "bench"),
    ("grandfather", "his", "pen", "shelf"), ("grandmother", "her", "scarf", "cabinet"),
    ("cousin", "his", "ticket", "carpet"), ("friend", "her", "umbrella", "blanket"),
]  # fmt: skip
_PAINTED = [  # two modifiers, passive auxiliary, determiner
    ("small", "boat", "painted", "young", "fisherman"), ("red", "car", "washed", "tall", "mechanic"),
    ("new", "truck", "repaired", "tired", "worker"), ("blue", "bicycle", "stolen", "clever", "thief"),
    ("heavy", "wagon", "pulled", "strong", "farmer"), ("tiny", "plane", "built", "patient", "engineer"),
    ("white", "train", "cleaned", "careful", "porter"), ("broken", "scooter", "fixed", "kind", "neighbor"),
    ("yellow", "taxi", "driven", "quiet", "stranger"), ("wooden", "cart", "pushed", "busy", "merchant"),
]  # fmt: skip
_BRING = [  # coreference, possessive, object, determiner
    ("teacher", "camera"), ("doctor", "laptop"), ("nurse", "guitar"), ("pilot", "basket"), ("lawyer", "map"),
    ("farmer", "notebook"), ("singer", "jacket"), ("baker", "lunch"), ("painter", "bicycle"), ("driver", "ladder"),
]  # fmt: skip
_REBUILT = [  # two passive auxiliaries, possessive, determiner
    ("house", "painted", "windows", "cleaned"), ("school", "closed", "doors", "locked"),
    ("garden", "watered", "trees", "trimmed"), ("kitchen", "repaired", "plates", "washed"),
    ("office", "moved", "desks", "sold"), ("garage", "emptied", "tools", "stored"),
    ("library", "opened", "shelves", "filled"), ("church", "restored", "bells", "tuned"),
    ("station", "rebuilt", "tracks", "replaced"), ("museum", "renovated", "paintings", "hung"),
]  # fmt: skip


def _templated():
    """The templates' probes: ({"name", "text", "relations"}, ...)."""
    for animal, food in _HUNGRY:
        relations = [("it", animal, "coreference"), (food, "ate", "object"), ("The", animal, "determiner")]
        yield f"hungry {animal}", f"The {animal} was hungry, so it ate some {food}.", relations
    for person, pronoun, item, furniture in _LOST:
        text = f"My {person} lost {pronoun} {item} and then found it under the old {furniture}."
        relations = [("it", item, "coreference"), (item, "lost", "object"), (pronoun, item, "possessive")]
        relations += [("My", person, "possessive"), ("old", furniture, "modifier")]
        yield f"lost {item}", text, relations
    for adj, vehicle, done, adj2, person in _PAINTED:
        text = f"A {adj} {vehicle} was {done} by a {adj2} {person}."
        relations = [(adj, vehicle, "modifier"), (adj2, person, "modifier"), ("was", done, "passive auxiliary")]
        yield f"{done} {vehicle}", text, relations + [("A", vehicle, "determiner")]
    for person, item in _BRING:
        text = f"The {person} said that she would bring her {item} tomorrow."
        relations = [("she", person, "coreference"), ("her", item, "possessive"), (item, "bring", "object")]
        yield f"{person} brings", text, relations + [("The", person, "determiner")]
    for place, done, things, done2 in _REBUILT:
        text = f"Yesterday our {place} was {done} and these {things} were {done2}."
        relations = [("was", done, "passive auxiliary"), ("were", done2, "passive auxiliary")]
        yield f"our {place}", text, relations + [("our", place, "possessive"), ("these", things, "determiner")]


ENGLISH += [{"name": name, "text": text, "relations": relations} for name, text, relations in _templated()]
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
