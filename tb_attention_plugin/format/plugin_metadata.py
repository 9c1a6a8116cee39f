"""The plugin metadata of one (probe, kind) (docs/format.md, "Plugin metadata"): `ProbeMetadata`,
the JSON that every tag of ours carries in SummaryMetadata.plugin_data.content, as one typed value.
The writer makes it (`probe_metadata`), every reader parses it with `ProbeMetadata.from_json`, which
checks it the same way for all of them, and the relation words it may hold are checked here too.

Only the standard library is imported (TensorBoard's protos inside summary_metadata), like the
format's names and limits (metadata.py).
"""

import json
from dataclasses import dataclass, field, replace
from typing import NamedTuple, Optional

from .metadata import (
    FORMAT_VERSION,
    KIND_SIDES,
    MAX_HEAD_WEIGHTS,
    MAX_HEADS,
    MAX_LAYERS,
    MAX_METADATA_BYTES,
    MAX_STATS,
    MAX_TOKENS,
    PLUGIN_NAME,
    STAT_NAMES,
    FormatError,
    load_json,
)


def probe_metadata(probe_info, kind, *, causal, layers, heads, storage=None):
    """The ProbeMetadata of one (probe, kind) of the writer's probe `probe_info` (its add_probe
    dict), written with the first value of each of its tags in each event file."""
    relations = bool(probe_info.get("relations"))
    meta = ProbeMetadata(
        probe=probe_info["name"],
        probe_index=probe_info["index"],
        kind=kind,
        causal=bool(causal),
        layers=int(layers),
        heads=int(heads),
        tokens=list(probe_info["tokens"]),
        segments=[int(s) for s in probe_info["segments"]],
        special=[bool(s) for s in probe_info["special"]],
        decoder_tokens=probe_info.get("decoder_tokens"),
        decoder_special=probe_info.get("decoder_special"),
        word_of=probe_info["word_of"] if relations else None,
        relations=probe_info["relations"] if relations else None,
        storage=storage,
    )
    try:
        return meta.checked()
    except FormatError as e:  # e.g. a model or probe beyond the format's limits: nothing is written
        raise ValueError(f"probe {meta.probe!r} kind {kind!r} cannot be logged: {e}") from None


def summary_metadata(meta, data_class):
    """The SummaryMetadata of a tag of ours: `meta` (a ProbeMetadata) as its plugin content."""
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=meta.to_json().encode("utf-8")
        ),
        data_class=data_class,
    )


@dataclass(frozen=True)
class ProbeMetadata:
    """The plugin metadata of one (probe, kind): the table of docs/format.md ("Plugin metadata") as
    fields. `from_json` reads it back checked (keys that older logs lack get their defaults), and
    `to_json` writes the very JSON every version has written."""

    probe: str
    kind: str  # a key of KIND_SIDES: `query` and `key` follow from it
    layers: int
    heads: int
    tokens: list[str]  # the probe's (encoder) tokens
    segments: list[int]  # sentence-pair segment (0/1) per token
    special: list[bool]  # special-token mask per token
    probe_index: int = 0  # the probe's position in the user's list
    causal: bool = False
    decoder_tokens: Optional[list[str]] = None  # encoder-decoder models only
    decoder_special: Optional[list[bool]] = None
    stats: list[str] = field(default_factory=lambda: list(STAT_NAMES))  # statistics names, in tensor order
    word_of: Optional[dict] = None  # relation probes only: {side: word index or -1 per token}
    relations: Optional[list] = None  # relation probes only: [{relation, source, target, source_text, target_text}]
    neuron_heads: Optional[list] = None  # neuron tags only: the captured [layer, head]s
    storage: Optional[dict] = None  # a storage budget: {"maps": heads with a map per snapshot, "choice", "summaries"}
    version: int = FORMAT_VERSION

    @property
    def query(self):
        """The token list (`tokens` or `decoder_tokens`) the rows refer to."""
        return KIND_SIDES[self.kind][0]

    @property
    def key(self):
        """The token list the columns refer to."""
        return KIND_SIDES[self.kind][1]

    @classmethod
    def from_json(cls, content):
        """bytes (or str) from SummaryMetadata.plugin_data.content -> ProbeMetadata; FormatError if
        not ours, from a newer format version, or unsafe to use."""
        raw = load_json(content, "attention metadata", MAX_METADATA_BYTES)
        _check_version(raw)
        required = ("probe", "kind", "layers", "heads", "tokens", "segments", "special", "query", "key")
        missing = [k for k in required if k not in raw]
        if missing or not isinstance(raw["kind"], str) or raw["kind"] not in KIND_SIDES:
            raise FormatError(f"attention metadata lacks {missing or 'a known kind'}")
        if (raw["query"], raw["key"]) != KIND_SIDES[raw["kind"]]:
            raise FormatError("attention metadata has query/key sides that do not match its kind")
        index = raw.get("probe_index", 0)
        return cls(
            probe=raw["probe"],
            kind=raw["kind"],
            layers=raw["layers"],
            heads=raw["heads"],
            tokens=raw["tokens"],
            segments=raw["segments"],
            special=raw["special"],
            probe_index=index if isinstance(index, int) else 0,
            causal=bool(raw.get("causal", False)),
            decoder_tokens=raw.get("decoder_tokens"),
            decoder_special=raw.get("decoder_special"),
            stats=raw.get("stats", list(STAT_NAMES)),
            word_of=raw.get("word_of"),
            relations=raw.get("relations"),
            neuron_heads=_captured_heads(raw.get("neuron_heads")),
            storage=_storage(raw.get("storage")),
            version=raw["version"],
        ).checked()

    def to_json(self):
        """The JSON text of the plugin content: the keys, order and spacing every version wrote."""
        out = {
            "version": self.version,
            "probe": self.probe,
            "probe_index": self.probe_index,
            "kind": self.kind,
            "query": self.query,
            "key": self.key,
            "causal": self.causal,
            "layers": self.layers,
            "heads": self.heads,
            "tokens": self.tokens,
            "segments": self.segments,
            "special": self.special,
            "decoder_tokens": self.decoder_tokens,
            "decoder_special": self.decoder_special,
            "stats": self.stats,
        }
        optional = {
            "word_of": self.word_of,
            "relations": self.relations,
            "neuron_heads": self.neuron_heads,
            "storage": self.storage,
        }
        out.update((name, value) for name, value in optional.items() if value is not None)
        return json.dumps(out, separators=(",", ":"))

    def with_neuron_heads(self, heads):
        """This metadata for a neuron tag: it names the captured heads, so that an index lists them
        without reading a record."""
        return replace(self, neuron_heads=heads)

    def checked(self):
        """self, or FormatError for values no reader can use safely (types, sizes, consistent sides)."""
        if not isinstance(self.probe, str) or not self.probe:
            raise FormatError(f"attention metadata has an invalid probe name: {self.probe!r}")
        _check_size("layers", self.layers, MAX_LAYERS)
        _check_size("heads", self.heads, MAX_HEADS)
        _check_tokens("tokens", self.tokens, optional=False)
        _check_tokens("decoder_tokens", self.decoder_tokens, optional=True)
        for name, value in (("segments", self.segments), ("special", self.special)):
            if not isinstance(value, list) or len(value) != len(self.tokens):
                raise FormatError(f"attention metadata has an invalid {name} list")
        value = self.decoder_special
        if value is not None and (not isinstance(value, list) or len(value) > MAX_TOKENS):
            raise FormatError("attention metadata has an invalid decoder_special")
        self._check_weights()
        names = self.stats
        if not (isinstance(names, list) and 0 < len(names) <= MAX_STATS and all(isinstance(n, str) for n in names)):
            raise FormatError("attention metadata has an invalid stats list")
        check_relations(self.word_of, self.relations, {"tokens": self.tokens, "decoder_tokens": self.decoder_tokens})
        return self

    def _check_weights(self):
        """A head's map is decoded at once: bounded (larger layers and snapshots are read a head or a
        layer at a time, metadata.MAX_LAYER_WEIGHTS)."""
        _, queries, keys = self.layer_shape()
        if queries * keys > MAX_HEAD_WEIGHTS:
            raise FormatError(
                f"attention metadata claims maps of {queries} x {keys} tokens = {queries * keys} weights per "
                f"head, more than this format accepts ({MAX_HEAD_WEIGHTS}): shorten the probe"
            )

    def layer_shape(self):
        """(heads, query length, key length) that every layer blob of this probe and kind must hold:
        the heads and the lengths of the token lists its kind's query and key refer to."""
        return self.heads, len(self.token_side(self.query)), len(self.token_side(self.key))

    def token_side(self, side):
        """The token list (`tokens` or `decoder_tokens`) a kind's query or key axis refers to."""
        tokens = self.tokens if side == "tokens" else self.decoder_tokens
        if tokens is None:
            raise FormatError(f"attention metadata lacks {side}")
        return tokens

    def key_special(self):
        """The special-token mask of the key tokens ([CLS], [SEP], BOS, EOS...): all False where the
        metadata has none (decoder tokens of older logs)."""
        special = self.special if self.key == "tokens" else self.decoder_special
        return [bool(s) for s in special] if special is not None else [False] * len(self.token_side(self.key))

    def relation_key_words(self):
        """Token indices of every word of the key side, by word index."""
        of = (self.word_of or {}).get(self.key)
        if of is None:
            return []
        groups = {}
        for t, w in enumerate(of):
            if w >= 0:
                groups.setdefault(w, []).append(t)
        return [groups.get(w, []) for w in range(max(groups) + 1)] if groups else []

    def relation_instances(self):
        """The relation instances measured in this kind (query side holds the source, key side the
        target)."""
        of = self.word_of or {}
        found = []
        for r in self.relations or []:
            sources = [w for side, w in r["source"] if side == self.query]
            targets = [w for side, w in r["target"] if side == self.key]
            if sources and targets and self.query in of:
                tokens = [t for t, w in enumerate(of[self.query]) if w == sources[0]]
                found.append(Instance(r["relation"], tokens, targets[0], r["source_text"], r["target_text"]))
        return found


def _check_version(raw):
    if not isinstance(raw, dict) or isinstance(raw.get("version"), bool) or not isinstance(raw.get("version"), int):
        raise FormatError("attention metadata has no version")
    if raw["version"] > FORMAT_VERSION:
        raise FormatError(
            f"attention log format v{raw['version']} is newer than this reader "
            f"(v{FORMAT_VERSION}): upgrade tb-attention"
        )


def _captured_heads(heads):
    """A neuron tag's [layer, head] list as read, or None when absent or malformed (then an index
    lists no captured heads rather than refusing the tag)."""
    valid = isinstance(heads, list) and all(isinstance(h, list) and len(h) == 2 for h in heads)
    return heads if valid else None


def _storage(storage):
    """The storage budget's description as read, or None when absent or malformed (the snapshots'
    own blobs say which heads they hold; this only describes the choice)."""
    valid = (
        isinstance(storage, dict) and isinstance(storage.get("maps"), int) and isinstance(storage.get("choice"), str)
    )
    if not valid:
        return None
    summaries = storage.get("summaries", 0)  # written since heads kept summaries (absent: none)
    summaries = summaries if isinstance(summaries, int) and not isinstance(summaries, bool) else 0
    return {"maps": storage["maps"], "choice": storage["choice"][:16], "summaries": summaries}


def _check_size(name, value, limit):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FormatError(f"attention metadata has an invalid {name}: {value!r}")
    if value > limit:
        raise FormatError(f"attention metadata claims {value} {name}, more than the {limit} this format accepts")


def _check_tokens(name, value, *, optional):
    if value is None and optional:
        return
    if not isinstance(value, list) or not (value or optional) or not all(isinstance(t, str) for t in value):
        raise FormatError(f"attention metadata has invalid {name}")
    if len(value) > MAX_TOKENS:
        raise FormatError(
            f"attention metadata claims {len(value)} {name}, more than the {MAX_TOKENS} this format accepts"
        )


# ---------------------------------------------------------------- relation words


class Instance(NamedTuple):
    relation: str
    source_tokens: list  # query-side token indices of the source word
    target: int  # key-side word index of the target
    source_text: str
    target_text: str


def check_relations(word_of, relations, token_lists):
    """FormatError unless relations (`word_of`, `relations`, both None for a probe without) fit the
    token lists {"tokens": [...], "decoder_tokens": [...] or None} they index (every reader checks)."""
    if word_of is None and relations is None:
        return
    if not isinstance(word_of, dict) or not isinstance(relations, list) or len(relations) > MAX_TOKENS:
        raise FormatError("attention metadata has invalid relations")
    words = {}
    for side, of in word_of.items():
        tokens = token_lists.get(side) if side in ("tokens", "decoder_tokens") else None
        if not isinstance(tokens, list) or not isinstance(of, list) or len(of) != len(tokens):
            raise FormatError("attention metadata has a word list that does not match its tokens")
        if not all(isinstance(w, int) and not isinstance(w, bool) and -1 <= w < len(tokens) for w in of):
            raise FormatError("attention metadata has invalid word indices")
        words[side] = set(of) - {-1}
    for r in relations:
        if not isinstance(r, dict) or not isinstance(r.get("relation"), str) or not r["relation"]:
            raise FormatError("attention metadata has an invalid relation")
        for end in ("source", "target"):
            places = r.get(end)
            if (
                not isinstance(places, list)
                or not places
                or not all(
                    isinstance(p, list) and len(p) == 2 and p[0] in words and p[1] in words[p[0]] for p in places
                )
            ):
                raise FormatError(f"attention metadata has a relation whose {end} is not one of its words")
        for text in ("source_text", "target_text"):
            if not isinstance(r.get(text), str):
                raise FormatError("attention metadata has a relation without its words' text")
