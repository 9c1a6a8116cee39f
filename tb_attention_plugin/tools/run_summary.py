"""A run's attention over training in a few lines: where the loss fell, which heads formed and when,
and what changed most (by layer and by head). `tb-attention summary RUN_DIR [--json]` prints it.

Definitions: the steepest fall of a loss is the window of about a tenth of its logged points (at least
two) over which it decreased most; head types and "formed at" are those of the tab (head_types.py);
the change of a head is its drift at the last snapshot (the Jensen-Shannon distance of its rows to
the first snapshot, docs/format.md), a layer's change the mean over its heads; entropy collapse is the
tab's warning (analysis/alerts.py), each head with the first step it held.
"""

import math

import numpy as np

from ..analysis.alerts import alert_intervals
from ..reading.reader import read_run

LOSS_TAGS = ("train/loss", "loss", "eval/loss")
TOP_HEADS = 5


def steepest_fall(steps, values):
    """{"from_step", "to_step", "from", "to"} of the window where the loss fell most, or None."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return None
    width = max(1, len(values) // 10)
    drops = values[:-width] - values[width:]
    if not np.isfinite(drops).any() or np.nanmax(drops) <= 0:
        return None
    i = int(np.nanargmax(drops))
    return {
        "from_step": int(steps[i]),
        "to_step": int(steps[i + width]),
        "from": float(values[i]),
        "to": float(values[i + width]),
    }


def _loss(run):
    for tag in LOSS_TAGS:
        if tag in run.scalar_tags:
            steps, values = run.scalars(tag)
            return {
                "tag": tag,
                "first": {"step": int(steps[0]), "value": float(values[0])},
                "last": {"step": int(steps[-1]), "value": float(values[-1])},
                "steepest_fall": steepest_fall(steps, values),
            }
    return None


def _kind_summary(probe, kind):
    steps = probe.stats_steps(kind)
    entry = {
        "probe": probe.name,
        "kind": kind,
        "snapshots": len(steps),
        "steps": [steps[0], steps[-1]] if steps else [],
    }
    entry["formed"] = sorted(probe.head_types(kind), key=lambda h: (h["formed_step"], h["layer"], h["head"]))
    entry["collapse"] = _collapse(steps, probe.stats(kind))
    drift = probe.stats(kind)["drift"][-1] if steps else None
    if drift is None or not np.isfinite(drift).any():
        entry["layers_change"], entry["heads_change"] = [], []
        return entry
    entry["layers_change"] = [round(float(np.nanmean(row)), 4) for row in drift]
    order = np.argsort(np.nan_to_num(drift, nan=-1.0), axis=None)[::-1][:TOP_HEADS]
    entry["heads_change"] = [
        {"layer": int(l), "head": int(h), "drift": round(float(drift[l, h]), 4)}
        for l, h in zip(*np.unravel_index(order, drift.shape))
    ]
    return entry


def _collapse(steps, stats):
    """[{layer, head, since}] of the heads the collapse warning named, by the step it first held; None
    when the log cannot tell (no max_logit)."""
    found = alert_intervals(steps, stats).get("collapse") if steps else None
    if found is None:
        return None
    heads = [{"layer": a["layer"], "head": a["head"], "since": a["intervals"][0][0]} for a in found]
    return sorted(heads, key=lambda h: (h["since"], h["layer"], h["head"]))


def _collapse_line(entry):
    heads = entry.get("collapse")
    if heads is None:
        return "  entropy collapse: not checked (the log has no max_logit)"
    if not heads:
        return "  no entropy collapse"
    named = ", ".join(f"{h['layer']}.{h['head']} from step {h['since']}" for h in heads[:TOP_HEADS])
    more = f" and {len(heads) - TOP_HEADS} more" if len(heads) > TOP_HEADS else ""
    return f"  WARNING entropy collapse in {len(heads)} head(s): {named}{more}"


def summarize(run_dir):
    """The summary of one run directory as a dict (what --json prints)."""
    run = read_run(run_dir)
    probes = [_kind_summary(run.probe(name), kind) for name in run.probes for kind in run.probe(name).kinds]
    return {"run": str(run_dir), "loss": _loss(run), "probes": probes}


def _number(x):
    return "nan" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _formed_lines(entry):
    """Heads by type: those typed from the first snapshot on, then those that formed later, with the step."""
    if not entry["formed"]:
        return ["  no head has a type at the last snapshot"]
    first = entry["steps"][0] if entry["steps"] else None
    lines = ["  heads by type at the last snapshot (layer.head; when they formed):"]
    for type_name in dict.fromkeys(h["type"] for h in entry["formed"]):
        heads = [h for h in entry["formed"] if h["type"] == type_name]
        start = [f"{h['layer']}.{h['head']}" for h in heads if h["formed_step"] == first]
        later = [f"{h['layer']}.{h['head']} at step {h['formed_step']}" for h in heads if h["formed_step"] != first]
        parts = ([", ".join(start) + " from the start"] if start else []) + later
        lines.append(f"    {type_name} ({len(heads)}): " + "; ".join(parts))
    return lines


def format_summary(summary):
    """The summary as plain text."""
    lines = [f"run {summary['run']}"]
    loss = summary["loss"]
    if loss is None:
        lines.append("loss: not logged in this run directory")
    else:
        lines.append(
            f"{loss['tag']}: {_number(loss['first']['value'])} at step {loss['first']['step']} -> "
            f"{_number(loss['last']['value'])} at step {loss['last']['step']}"
        )
        fall = loss["steepest_fall"]
        if fall is not None:
            lines.append(
                f"  steepest fall: {_number(fall['from'])} -> {_number(fall['to'])} between steps "
                f"{fall['from_step']} and {fall['to_step']}"
            )
    for entry in summary["probes"]:
        lines.append("")
        span = f"steps {entry['steps'][0]}..{entry['steps'][1]}" if entry["steps"] else "no statistics"
        lines.append(f"probe {entry['probe']!r} ({entry['kind']}): {entry['snapshots']} snapshots, {span}")
        lines.extend(_formed_lines(entry))
        lines.append(_collapse_line(entry))
        if entry["layers_change"]:
            lines.append(
                "  change since the first snapshot (drift), by layer: "
                + ", ".join(f"{l}: {d:.3f}" for l, d in enumerate(entry["layers_change"]))
            )
            lines.append(
                "  heads that changed most: "
                + ", ".join(f"{h['layer']}.{h['head']} ({h['drift']:.3f})" for h in entry["heads_change"])
            )
    return "\n".join(lines)
