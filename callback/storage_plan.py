"""What a run stores of its attention, fixed before step 1 from the storage budget (attention_budget=).

Every head's map at every snapshot when they fit (BERT-size models at the default budget); else the
statistics of every head always, the full maps of the N heads per probe and kind that the budget
holds, chosen by attention_heads= (writer/head_choice.py), and a summary (block means and each query
row's top-k keys, format/summaries.py) of the next M heads: up to half of what the statistics leave
goes to summaries, the rest to maps, at least one map. Sizes are bytes as stored before
compression (one byte per weight, float16 statistics): an upper bound of what the log takes. The plan
is logged with its size per snapshot and per run, and a budget that cannot hold one map of every
probe is refused before training.

Drift's reference (each probe's first snapshot in float16, writer/drift_reference.py) is kept in the
log, for a resumed run to measure drift exactly, when it takes at most a tenth of the budget; what it
takes comes off the budget first. Otherwise the plan says that a resume measures drift coarsely.
Either way the writer keeps it in a scratch file in the temporary directory for the whole run: said
before step 1 when that disk has not the room (should it fill up, drift is left out, not the snapshots).
"""

import logging
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass

from tb_attention_plugin.format.metadata import STAT_NAMES
from tb_attention_plugin.format.summaries import TOP_K, summary_bytes
from tb_attention_plugin.writer.head_choice import CHOICES, HeadChoice

from .schedule import FIXED_PASSES, TARGET_SNAPSHOTS

logger = logging.getLogger("tb_attention")
DEFAULT_BUDGET = 4 * 10**9  # bytes per run: BERT-base with 8 probes of 128 tokens keeps every map
REFERENCE_SHARE = 10  # drift's reference is kept when it takes at most 1/REFERENCE_SHARE of the budget
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_budget(budget):
    """attention_budget= as bytes: an integer, or a string such as "500MB", "4GB", "2GiB"."""
    if budget is None:
        return DEFAULT_BUDGET
    if isinstance(budget, str):
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", budget)
        unit = match and _UNITS.get(match.group(2).lower())
        if unit:
            budget = int(float(match.group(1)) * unit)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise ValueError(f"attention_budget must be a number of bytes > 0 or a size such as '4GB', got {budget!r}")
    return budget


def check_heads(heads):
    """attention_heads= checked: "changed", "rotate" or a non-empty list of (layer, head)."""
    if isinstance(heads, str):
        if heads not in CHOICES:
            raise ValueError(f"attention_heads must be one of {CHOICES} or a list of (layer, head), got {heads!r}")
        return heads
    try:
        HeadChoice(0, list(heads))
        named = [tuple(int(x) for x in lh) for lh in heads]
    except TypeError:
        raise ValueError(
            f"attention_heads must be one of {CHOICES} or a list of (layer, head), got {heads!r}"
        ) from None
    if not named:
        raise ValueError("attention_heads is an empty list: name at least one (layer, head)")
    return named


def planned_snapshots(max_steps, every):
    """Snapshots a run takes: step 0, the end and every `every` steps (None: the automatic interval,
    at most TARGET_SNAPSHOTS of them); TARGET_SNAPSHOTS when the length is unknown."""
    if not max_steps:
        return TARGET_SNAPSHOTS + FIXED_PASSES
    periodic = max_steps // every if every else min(TARGET_SNAPSHOTS, max_steps)
    return periodic + FIXED_PASSES


@dataclass(frozen=True)
class StoragePlan:
    """The plan: `choice` (None: every head's map) and the bytes it stores."""

    choice: object
    snapshots: int
    budget: int
    full_bytes: int  # per snapshot, every head's map
    stored_bytes: int  # per snapshot, what is stored
    reference_bytes: int = 0  # drift's reference, once (float16 before compression)
    keeps_reference: bool = False  # whether it is kept in the log (the writer's keep_drift_reference)

    def describe(self):
        per_run = self.stored_bytes * self.snapshots
        sizes = f"{_size(self.stored_bytes)} per snapshot, ~{_size(per_run)} over {self.snapshots} snapshots"
        if self.keeps_reference:
            sizes += f", and {_size(self.reference_bytes)} once: drift's reference (a resume measures drift from it)"
        else:
            sizes += (
                f"; drift's reference ({_size(self.reference_bytes)}) is not kept, being more than a tenth of the "
                f"budget: a resume measures drift against the stored first snapshot, which overstates small drifts"
            )
        if self.choice is None:
            return f"every head's map and statistics: {sizes} (attention_budget={_size(self.budget)})"
        how = {
            "changed": "those that changed most since the previous snapshot",
            "rotate": "a different set at each snapshot, in turn",
            "named": "the heads named by attention_heads=",
        }[self.choice.choice]
        summaries = self.choice.summaries
        kept = (
            f", a summary (block means, each row's top {TOP_K} keys) of the next {summaries}, no map of the rest"
            if summaries
            else ", no map of the others"
        )
        return (
            f"every head's map would take {_size(self.full_bytes)} per snapshot, more than "
            f"attention_budget={_size(self.budget)} allows over {self.snapshots} snapshots; stored instead: "
            f"the statistics of every head, the maps of {_heads(self.choice.maps)} per probe ({how}){kept}: "
            f"{sizes}. attention_budget= and attention_heads= choose"
        )


def plan_storage(shapes, snapshots, budget, heads="changed"):
    """`shapes`: {(probe, kind): (layers, heads, query, key)} from the first pass -> StoragePlan;
    ValueError (before training) when the budget cannot hold it."""
    stats = sum(len(STAT_NAMES) * layers * h * 2 for layers, h, _, _ in shapes.values())
    full = sum(layers * h * q * k for layers, h, q, k in shapes.values()) + stats
    reference = 2 * (full - stats)
    kept = reference <= budget // REFERENCE_SHARE
    per_snapshot = (budget - reference if kept else budget) // snapshots
    head_bytes = sum(q * k for _, _, q, k in shapes.values())  # one head's map in every probe and kind
    if isinstance(heads, str):
        if full <= per_snapshot:
            return StoragePlan(None, snapshots, budget, full, full, reference, kept)
        maps, summaries = _split(per_snapshot - stats, head_bytes, shapes)
        if maps < 1:
            raise ValueError(
                f"attention_budget={_size(budget)} over {snapshots} snapshots leaves {_size(per_snapshot)} per "
                f"snapshot: not even one head's map of every probe fits ({_size(head_bytes + stats)} with the "
                f"statistics). Raise attention_budget= to at least {_size((head_bytes + stats) * snapshots)}, "
                f"take fewer snapshots (every_n_steps=) or shorten the probes (max_tokens=)"
            )
        choice = HeadChoice(maps, heads, summaries)
    else:
        choice = _named(heads, shapes)
    stored = stats + sum(_stored(choice, layers * h, q, k) for layers, h, q, k in shapes.values())
    if stored > per_snapshot:
        raise ValueError(
            f"the {choice.maps} heads named by attention_heads= take {_size(stored)} per snapshot, more than "
            f"attention_budget={_size(budget)} allows over {snapshots} snapshots ({_size(per_snapshot)}): "
            f"name fewer heads or raise attention_budget="
        )
    return StoragePlan(choice, snapshots, budget, full, stored, reference, kept)


def _split(available, head_bytes, shapes):
    """(maps, summaries) per probe and kind within `available` bytes: summaries take up to half, maps
    the rest (at least one where any fits), summaries never of more heads than the maps leave."""
    if available < head_bytes:
        return 0, 0
    summary = sum(summary_bytes(q, k) for _, _, q, k in shapes.values())
    heads = max(layers * h for layers, h, _, _ in shapes.values())
    summaries = min(available // 2 // summary, (available - head_bytes) // summary, heads - 1)
    maps = min((available - summaries * summary) // head_bytes, heads)
    return int(maps), int(min(summaries, heads - maps))


def _stored(choice, heads, queries, keys):
    """Bytes one probe and kind of `heads` heads stores per snapshot under `choice`."""
    maps = min(choice.maps, heads)
    return maps * queries * keys + min(choice.summaries, heads - maps) * summary_bytes(queries, keys)


def _named(heads, shapes):
    for (probe, kind), (layers, h, _, _) in shapes.items():
        outside = [lh for lh in heads if not (lh[0] < layers and lh[1] < h)]
        if outside:
            raise ValueError(
                f"attention_heads names {outside}, which probe {probe!r} ({kind}) does not have: the model has "
                f"{layers} layers x {h} heads (0-based)"
            )
    return HeadChoice(0, heads)


def log_plan(plan):
    """The plan before step 1: a warning when maps are left out (the user should know), else info."""
    level = logging.INFO if plan.choice is None else logging.WARNING
    logger.log(level, "tb-attention stores %s", plan.describe())
    check_scratch_room(plan.reference_bytes)


def check_scratch_room(reference_bytes, where=None):
    """Warn before step 1 when the temporary directory's disk cannot take drift's reference (float16,
    before compression: an upper bound)."""
    where = where or tempfile.gettempdir()
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if free < reference_bytes:
        warnings.warn(
            f"tb-attention keeps drift's reference (up to {_size(reference_bytes)}: each probe's first snapshot "
            f"in float16) in a scratch file in {where}, which has {_size(free)} free: should the disk fill up, "
            f"drift is left out (NaN) for the rest of the run. Set TMPDIR to a disk with room for it before "
            f"training to keep it",
            RuntimeWarning,
            stacklevel=2,
        )


def _size(n):
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _heads(n):
    return f"{n} head" if n == 1 else f"{n} heads"
