"""The answers of the tab's other cards for an exported report (export.py): relations, predictions,
head similarity at the report's steps, and the neuron view's records and contributions, each built
by the plugin's own code (`FileData`, `plugin_answers`), so a report's cards show what the tab would.

Neuron records can be large (float32 vectors of every captured head): they are embedded at the
report's steps until NEURON_BYTES, and the embedded index lists only the steps they cover, so the
card offers those instead of failing.
"""

import logging

from ..server.http_payload import encode_container, json_response
from ..server.answers import Series, similarity_answer
from ..server.errors import Unavailable

NEURON_BYTES = 64 << 20  # of neuron answers (float32) embedded at most
PREDICTION_KINDS = ("self", "decoder")

logger = logging.getLogger(__name__)


def _json_body(obj):
    return json_response(obj).get_data()


def collect_views(data, run, entry, packed):
    """{"relations", "predictions", "similarity", "contributions", "neurons"} of the report's run
    `entry` (its index entry, cut to the report's probes and steps; its kinds' `neuron_steps` are cut
    to the steps embedded); `packed(bytes)` is the report's gzip + base64."""
    kinds = [(p["name"], k) for p in entry["probes"] for k in p["kinds"]]
    views = {"relations": packed(encode_container(*data.relations(run)))}
    views["predictions"] = [
        dict(probe=probe, kind=k["kind"], data=packed(_json_body(answer)))
        for probe, k in kinds
        if k["kind"] in PREDICTION_KINDS and (answer := _or_none(data.predictions, Series(run, probe, k["kind"])))
    ]
    views["similarity"] = [
        dict(probe=probe, kind=k["kind"], step=step, data=packed(encode_container(*answer)))
        for probe, k in kinds
        for step in k["steps"]
        if (answer := _similarity(data, Series(run, probe, k["kind"]), step)) is not None
    ]
    views["contributions"] = [
        dict(probe=probe, kind=k["kind"], data=packed(_json_body(answer)))
        for probe, k in kinds
        if k.get("neuron_steps") and (answer := _or_none(data.contributions, Series(run, probe, k["kind"])))
    ]
    views["neurons"] = _neurons(data, run, kinds, packed)
    return views


def _or_none(route, *args):
    try:
        return route(*args)
    except Unavailable:
        return None


def _similarity(data, series, step):
    snapshot = _or_none(data.snapshot, series, step)
    return similarity_answer(*snapshot) if snapshot is not None else None


def _neurons(data, run, kinds, packed):
    """Neuron answers of every captured head at the report's steps, a whole step at a time, until
    NEURON_BYTES; each kind's `neuron_steps` is cut to the steps embedded."""
    out, used, dropped = [], 0, 0
    for probe, k in kinds:
        kept, series = [], Series(run, probe, k["kind"])
        for step in [s for s in k.get("neuron_steps") or () if s in set(k["steps"])]:
            answers = [_or_none(data.neurons, series, step, lay, h) for lay, h in k["neuron_heads"]]
            size = sum(a[1].nbytes for a in answers if a is not None)
            if None in answers or used + size > NEURON_BYTES:
                dropped += 1
                continue
            used += size
            kept.append(step)
            for (layer, head), answer in zip(k["neuron_heads"], answers):
                out.append(dict(probe=probe, kind=k["kind"], step=step, layer=layer, head=head))
                out[-1]["data"] = packed(encode_container(*answer))
        k["neuron_steps"] = kept
    if dropped:
        logger.warning(
            "tb-attention export: neuron records of %d probe step(s) left out (more than %d MiB)",
            dropped,
            NEURON_BYTES >> 20,
        )
    return out
