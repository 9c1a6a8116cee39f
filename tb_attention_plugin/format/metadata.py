"""The format's names, tags and limits (docs/format.md): what every record of a probe and kind is
tagged with, and the bounds on what its metadata and records may claim.

The other parts of the format: plugin_metadata.py (ProbeMetadata, the JSON plugin metadata that
describes a probe and kind), blobs.py (layer blobs and their delta chains), records.py (the codecs of
each record). This part imports nothing but the standard library, so that the TensorBoard entry point
(server/entry.py) can take PLUGIN_NAME from here without loading anything heavy at start-up.
"""

import json

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
STAT_NAMES = (
    "entropy",
    "first",
    "sep",
    "self",
    "prev",
    "next",
    "max",
    "drift",
    "induction",
    "duplicate",
    "self_repeated",  # since Dec 2026, with max_logit: older logs name the ten above in their `stats`
    "max_logit",
)

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


# Bounds on what a record may claim (docs/format.md, "Limits"): every reader allocates at most a
# small multiple of what a probe's metadata says, and the metadata cannot claim more than this. The
# writer refuses larger snapshots (a ValueError before anything is written).
MAX_LAYERS = 1024
MAX_HEADS = 1024
MAX_TOKENS = 16384  # per token list (tokens, decoder_tokens)
MAX_HEAD_WEIGHTS = 1 << 28  # query x key of one head (16384 x 16384 tokens): 256 MiB as stored
# What a reader decodes at once: a larger layer (written a head at a time, blobs.ENCODING_HEADS) or
# snapshot is read a head or a layer at a time, and a request for all of it is refused (TooLarge).
MAX_LAYER_WEIGHTS = 1 << 28  # heads x query x key of one layer decoded whole: 256 MiB as stored
MAX_SNAPSHOT_WEIGHTS = 1 << 31  # layers x heads x query x key of one snapshot decoded whole: 2 GiB


class TooLarge(ValueError):
    """A request for more than a reader decodes at once (a whole layer or snapshot of a long probe):
    ask for one layer, one head or block means instead. Not a damaged record."""


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
