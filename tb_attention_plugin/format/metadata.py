"""The format's names, tags and metadata (docs/format.md): what every record of a probe and kind is
tagged with, and the JSON plugin metadata that describes it, checked the same way by every reader.

The other parts of the format: blobs.py (layer blobs and their delta chains), records.py (the codecs
of each record). This part imports nothing but the standard library (TensorBoard's protos only inside
summary_metadata), so that the TensorBoard entry point (server/entry.py) can take PLUGIN_NAME from
here without loading anything heavy at start-up.
"""

import json
from typing import NamedTuple

PLUGIN_NAME = "attention"
FORMAT_VERSION = 1

SNAPSHOT_TAG_PREFIX = "attention/"
STATS_TAG_PREFIX = "attention_stats/"
RELATIONS_TAG_PREFIX = "attention_relations/"
PREDICTIONS_TAG_PREFIX = "attention_predictions/"
NEURONS_TAG_PREFIX = "attention_neurons/"
# every tag of this plugin starts with one of these (the event-file index looks for no others)
TAG_PREFIXES = (SNAPSHOT_TAG_PREFIX, STATS_TAG_PREFIX, RELATIONS_TAG_PREFIX, PREDICTIONS_TAG_PREFIX, NEURONS_TAG_PREFIX)
# Scalar series `tb_attention/best_checkpoint/<metric>` (e.g. .../eval/loss): one point at the step of
# the checkpoint that load_best_model_at_end put back, valued with its metric. The tab shows it as a
# mark on the step axis, not as a curve.
BEST_CHECKPOINT_TAG_PREFIX = "tb_attention/best_checkpoint/"

# Order of the statistics in a stats tensor (definitions: docs/format.md).
STAT_NAMES = ("entropy", "first", "sep", "self", "prev", "next", "max", "drift", "induction", "duplicate")

# Which token list the query rows and key columns of each kind refer to, and whether it is causal
# by construction (`self` is causal for decoder-only models: the writer is told).
KIND_SIDES = {
    "self": ("tokens", "tokens"),
    "encoder": ("tokens", "tokens"),
    "decoder": ("decoder_tokens", "decoder_tokens"),
    "cross": ("decoder_tokens", "tokens"),
}


class FormatError(ValueError):
    """A record that does not follow this format (corrupted, truncated, or from a newer version)."""


# ---------------------------------------------------------------- tags


def _tag_safe(c):
    """Whether a character may stand in a tag as it is. RustBoard's blob keys are JSON that it parses
    into borrowed strings, so a tag (or run) holding a character JSON escapes (`"`, `\\`, control
    characters) makes every blob of the tag unreadable there; `/` separates a tag's parts and `%` is
    the escape itself."""
    o = ord(c)
    return c not in '%"\\/' and o >= 0x20 and not 0x7F <= o <= 0x9F


def needs_json_escape(text):
    """Whether a string needs an escape in JSON: then RustBoard cannot parse a blob key holding it."""
    return any(c in '"\\' or ord(c) < 0x20 for c in text)


def tag_name(probe):
    """A probe's name as spelled in its tags: `%`, `"`, `\\`, `/` and control characters are
    percent-encoded (UTF-8), everything else (ordinary unicode included) is kept. Readers take the
    name from the metadata (`probe`), never from the tag, so any spelling, old ones included, reads."""
    return "".join(
        c if _tag_safe(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")) for c in probe
    )


def snapshot_tag(probe, kind):
    return f"{SNAPSHOT_TAG_PREFIX}{tag_name(probe)}/{kind}"


def stats_tag(probe, kind):
    return f"{STATS_TAG_PREFIX}{tag_name(probe)}/{kind}"


def relations_tag(probe, kind):
    return f"{RELATIONS_TAG_PREFIX}{tag_name(probe)}/{kind}"


def predictions_tag(probe, kind):
    return f"{PREDICTIONS_TAG_PREFIX}{tag_name(probe)}/{kind}"


def neurons_tag(probe, kind):
    return f"{NEURONS_TAG_PREFIX}{tag_name(probe)}/{kind}"


def probe_metadata(probe_info, kind, *, causal, layers, heads):
    """The JSON description of one (probe, kind), written with the first value of each of its two
    tags in each event file."""
    query, key = KIND_SIDES[kind]
    meta = {
        "version": FORMAT_VERSION,
        "probe": probe_info["name"],
        "probe_index": probe_info["index"],
        "kind": kind,
        "query": query,
        "key": key,
        "causal": bool(causal),
        "layers": int(layers),
        "heads": int(heads),
        "tokens": list(probe_info["tokens"]),
        "segments": [int(s) for s in probe_info["segments"]],
        "special": [bool(s) for s in probe_info["special"]],
        "decoder_tokens": probe_info.get("decoder_tokens"),
        "decoder_special": probe_info.get("decoder_special"),
        "stats": list(STAT_NAMES),
    }
    if probe_info.get("relations"):
        meta["word_of"] = probe_info["word_of"]
        meta["relations"] = probe_info["relations"]
    try:
        return _check_values(meta)
    except FormatError as e:  # e.g. a model or probe beyond the format's limits: nothing is written
        raise ValueError(f"probe {meta['probe']!r} kind {kind!r} cannot be logged: {e}") from None


def summary_metadata(meta, data_class):
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(meta, separators=(",", ":")).encode("utf-8")
        ),
        data_class=data_class,
    )


# Bounds on what a record may claim (docs/format.md, "Limits"): every reader allocates at most a
# small multiple of what a probe's metadata says, and the metadata cannot claim more than this. The
# writer refuses larger snapshots (a ValueError before anything is written).
MAX_LAYERS = 1024
MAX_HEADS = 1024
MAX_TOKENS = 16384  # per token list (tokens, decoder_tokens)
MAX_LAYER_WEIGHTS = 1 << 28  # heads x query x key of one layer: 256 MiB as stored, decoded at once
MAX_SNAPSHOT_WEIGHTS = 1 << 31  # layers x heads x query x key (e.g. 80 x 64 heads x 640 tokens): 2 GiB
MAX_METADATA_BYTES = 4 << 20  # the JSON plugin metadata of one tag
MAX_HEADER_BYTES = 64 << 10  # the JSON header (blob 0) of one snapshot
MAX_STATS = 256


def load_json(data, what, limit):
    """JSON text (bytes or str) of at most `limit` bytes -> object; FormatError on anything else,
    deep nesting included (json raises RecursionError there, not ValueError)."""
    if len(data) > limit:
        raise FormatError(f"{what} is {len(data)} bytes, more than the {limit} this format accepts")
    try:
        return json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)
    except RecursionError:
        raise FormatError(f"{what} is nested too deeply to be ours") from None
    except (ValueError, UnicodeDecodeError, TypeError) as e:
        raise FormatError(f"{what} is not JSON: {e}") from None


def parse_plugin_content(content):
    """bytes from SummaryMetadata.plugin_data.content -> metadata dict (FormatError if not ours)."""
    meta = load_json(content, "attention metadata", MAX_METADATA_BYTES)
    if not isinstance(meta, dict) or isinstance(meta.get("version"), bool) or not isinstance(meta.get("version"), int):
        raise FormatError("attention metadata has no version")
    if meta["version"] > FORMAT_VERSION:
        raise FormatError(
            f"attention log format v{meta['version']} is newer than this reader "
            f"(v{FORMAT_VERSION}): upgrade tb-attention"
        )
    required = ("probe", "kind", "layers", "heads", "tokens", "segments", "special", "query", "key")
    missing = [k for k in required if k not in meta]
    if missing or not isinstance(meta["kind"], str) or meta["kind"] not in KIND_SIDES:
        raise FormatError(f"attention metadata lacks {missing or 'a known kind'}")
    return _check_values(meta)


def _check_values(meta):
    """Reject metadata whose values no reader can use safely (types, sizes, consistent sides)."""
    if not isinstance(meta["probe"], str) or not meta["probe"]:
        raise FormatError(f"attention metadata has an invalid probe name: {meta['probe']!r}")
    for key, limit in (("layers", MAX_LAYERS), ("heads", MAX_HEADS)):
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise FormatError(f"attention metadata has an invalid {key}: {value!r}")
        if value > limit:
            raise FormatError(f"attention metadata claims {value} {key}, more than the {limit} this format accepts")
    for key in ("tokens", "decoder_tokens"):
        value = meta.get(key)
        if value is None and key == "decoder_tokens":
            continue
        if (
            not isinstance(value, list)
            or not (value or key == "decoder_tokens")
            or not all(isinstance(t, str) for t in value)
        ):
            raise FormatError(f"attention metadata has invalid {key}")
        if len(value) > MAX_TOKENS:
            raise FormatError(
                f"attention metadata claims {len(value)} {key}, more than the {MAX_TOKENS} this format accepts"
            )
    for key in ("segments", "special"):
        if not isinstance(meta[key], list) or len(meta[key]) != len(meta["tokens"]):
            raise FormatError(f"attention metadata has an invalid {key} list")
    value = meta.get("decoder_special")
    if value is not None and (not isinstance(value, list) or len(value) > MAX_TOKENS):
        raise FormatError("attention metadata has an invalid decoder_special")
    if (meta["query"], meta["key"]) != KIND_SIDES[meta["kind"]]:
        raise FormatError("attention metadata has query/key sides that do not match its kind")
    heads, queries, keys = layer_shape(meta)
    weights = meta["layers"] * heads * queries * keys
    if weights > MAX_SNAPSHOT_WEIGHTS or heads * queries * keys > MAX_LAYER_WEIGHTS:
        raise FormatError(
            f"attention metadata claims snapshots of {meta['layers']} layers x {heads} heads x "
            f"{queries} x {keys} tokens = {weights} weights, more than this format accepts "
            f"({MAX_LAYER_WEIGHTS} per layer, {MAX_SNAPSHOT_WEIGHTS} per snapshot): shorten "
            f"the probe"
        )
    names = meta.get("stats", list(STAT_NAMES))
    if not isinstance(names, list) or not names or len(names) > MAX_STATS or not all(isinstance(n, str) for n in names):
        raise FormatError("attention metadata has an invalid stats list")
    return check_relations(meta)


def layer_shape(meta):
    """(heads, query length, key length) that every layer blob of this probe and kind must hold:
    the metadata's heads and the lengths of the token lists its kind's query and key refer to."""
    query, key = KIND_SIDES[meta["kind"]]
    return int(meta["heads"]), len(token_side(meta, query)), len(token_side(meta, key))


def token_side(meta, side):
    """The token list a kind's query or key axis refers to."""
    tokens = meta.get(side)
    if tokens is None:
        raise FormatError(f"attention metadata lacks {side}")
    return tokens


def key_special(meta):
    """The special-token mask of a kind's key tokens ([CLS], [SEP], BOS, EOS...): all False where the
    metadata has none (decoder tokens of older logs)."""
    side = KIND_SIDES[meta["kind"]][1]
    special = meta.get("special" if side == "tokens" else "decoder_special")
    return [bool(s) for s in special] if special is not None else [False] * len(token_side(meta, side))


# ---------------------------------------------------------------- relation words


class Instance(NamedTuple):
    relation: str
    source_tokens: list  # query-side token indices of the source word
    target: int  # key-side word index of the target
    source_text: str
    target_text: str


def check_relations(meta):
    """FormatError unless the metadata's relations fit its token lists (every reader checks)."""
    word_of, relations = meta.get("word_of"), meta.get("relations")
    if word_of is None and relations is None:
        return meta
    if not isinstance(word_of, dict) or not isinstance(relations, list) or len(relations) > MAX_TOKENS:
        raise FormatError("attention metadata has invalid relations")
    words = {}
    for side, of in word_of.items():
        tokens = meta.get(side) if side in ("tokens", "decoder_tokens") else None
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
    return meta


def relation_key_words(meta):
    """Token indices of every word of the key side, by word index."""
    of = (meta.get("word_of") or {}).get(meta["key"])
    if of is None:
        return []
    groups = {}
    for t, w in enumerate(of):
        if w >= 0:
            groups.setdefault(w, []).append(t)
    return [groups.get(w, []) for w in range(max(groups) + 1)] if groups else []


def relation_instances(meta):
    """The relation instances measured in this metadata's kind (query side holds the source, key side
    the target)."""
    of = meta.get("word_of") or {}
    query, key = meta["query"], meta["key"]
    found = []
    for r in meta.get("relations") or []:
        sources = [w for side, w in r["source"] if side == query]
        targets = [w for side, w in r["target"] if side == key]
        if sources and targets and query in of:
            tokens = [t for t, w in enumerate(of[query]) if w == sources[0]]
            found.append(Instance(r["relation"], tokens, targets[0], r["source_text"], r["target_text"]))
    return found
