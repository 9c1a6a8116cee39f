"""The shapes of the routes' answers (docs/http-api.md), shared by both ways the plugin reads data
(its own index of the event files, server/files.py; TensorBoard's data provider, server/provider/series.py):
which tag stands for a probe, the index's probe entries, a snapshot's header, head types' stats; and
`Series`, the value naming what a request asks for, which both sources take."""

import math
from typing import NamedTuple

import numpy as np

from ..format.metadata import MAX_LAYER_WEIGHTS, FormatError, KIND_SIDES, TooLarge, snapshot_tag, stats_tag
from ..format.plugin_metadata import ProbeMetadata
from ..analysis import alerts
from ..analysis.head_types import FORMED_SNAPSHOTS, classify_heads
from ..analysis.relations import MIN_HELDOUT_PAIRS
from .errors import Unavailable
from ..format.quantize import dequantize
from ..analysis.statistics import head_distances
from .pooling import LEVELS, block_means
from .summaries import summary_answer, summary_means_answer


class Series(NamedTuple):
    """One (run, probe, kind) series of records: what a route names (server/routes.py builds it from
    the query string) and what both sources (server/files.py, server/provider/data.py) take."""

    run: str
    probe: str
    kind: str


class Kind(NamedTuple):
    """One kind of a probe in the index: its metadata, its good steps and those with a neuron record."""

    meta: ProbeMetadata
    steps: list
    neuron_steps: list = []
    neuron_heads: list = []


def choose_tags(tagged, warn, where):
    """{(probe, kind): (tag, meta, payload)} of [(tag, metadata content or ProbeMetadata, payload)]: bad
    metadata is skipped (logged once under `where`); a probe listed under an older tag spelling as
    well as the current one is shown under the current one."""
    result = {}
    for tag, content, payload in sorted(tagged, key=lambda item: item[0]):
        try:
            meta = content if isinstance(content, ProbeMetadata) else ProbeMetadata.from_json(content)
        except (FormatError, KeyError, TypeError, ValueError) as e:
            warn(("meta",) + where + (tag,), "skipped tag %r of run %r: %s", tag, where[-1], e)
            continue
        key = (meta.probe, meta.kind)
        if key in result and tag not in (snapshot_tag(*key), stats_tag(*key)):
            continue
        result[key] = (tag, meta, payload)
    return result


def missing(series, tags, what):
    """The Unavailable message for a series whose (probe, kind) is not among its run's `tags` {(probe, kind): ...}."""
    run, probe, kind = series
    probes = sorted({p for p, _ in tags})
    if probe not in probes:
        return f"run {run!r} has no probe {probe!r} with attention {what} (probes: {probes})"
    kinds = [k for k in KIND_SIDES if (probe, k) in tags]
    return f"probe {probe!r} of run {run!r} has no {kind!r} attention {what} (kinds: {kinds})"


def index_runs(per_run):
    """The index's "runs" from {run: {probe: {kind: Kind}}} (runs and probes without steps left out)."""
    runs = []
    for run in sorted(per_run):
        probes = {name: kinds for name, kinds in per_run[run].items() if kinds}
        if probes:
            entries = [probe_entry(name, kinds) for name, kinds in sorted(probes.items(), key=_probe_order)]
            runs.append({"run": run, "probes": entries})
    return runs


def probe_entry(name, kinds):
    """One probe of the index: {kind: Kind} -> its JSON entry."""
    ordered = [k for k in KIND_SIDES if k in kinds]
    first = kinds[ordered[0]].meta
    return {
        "name": name,
        "tokens": first.tokens,
        "segments": first.segments,
        "special": first.special,
        "decoder_tokens": first.decoder_tokens,
        "decoder_special": first.decoder_special,
        "kinds": [
            {
                "kind": k,
                "layers": kinds[k].meta.layers,
                "heads": kinds[k].meta.heads,
                "query": kinds[k].meta.query,
                "key": kinds[k].meta.key,
                "causal": kinds[k].meta.causal,
                "steps": kinds[k].steps,
                "neuron_steps": kinds[k].neuron_steps,
                "neuron_heads": kinds[k].neuron_heads,
                **({} if kinds[k].meta.storage is None else {"storage": kinds[k].meta.storage}),
            }
            for k in ordered
        ],
    }


def _probe_order(item):
    name, kinds = item
    return (next(iter(kinds.values())).meta.probe_index, name)


def requested_layers(logged, series, step, meta, layer):
    """The layer ids a snapshot request asks for; Unavailable for a step not logged (`logged` False)
    or a layer the model does not have."""
    run, probe, kind = series
    if not logged:
        raise Unavailable(
            f"no {kind!r} snapshot of probe {probe!r} in run {run!r} at step {step}; logged steps are listed by ./index"
        )
    n_layers = meta.layers
    if layer is not None and layer >= n_layers:
        raise Unavailable(f"layer {layer} does not exist: the model has {n_layers} layers (0..{n_layers - 1})")
    return list(range(n_layers)) if layer is None else [layer]


def snapshot_answer(series, step, layer_ids, layers, meta, pool=None, head=None, part=None):
    """(header, uint8 [layers, heads, query, key]) of the `snapshot` route; with `pool` B > 1,
    (header, uint16 [layers, heads, ceil(query / B), ceil(key / B)]) of each head's block means
    (server/pooling.py), pooled a head or a layer at a time; with `head`, that head only. `layers`:
    uint8 [H, Q, K] arrays or HeadsLayers (blobs.HeadsLayer: read a head at a time). When a storage
    budget left heads out, the header lists those it holds (`stored`) and those of the others it keeps
    a summary of (`summarized`); `part="summary"` (with `layer` and `head`) answers that summary,
    `part="summary_means"` the block means of every summarized head of the layers (server/summaries.py)."""
    shapes = {tuple(a.shape) for a in layers}
    if len(shapes) != 1:
        raise FormatError(f"layers have different shapes {sorted(shapes)}")
    heads, queries, keys_len = layers[0].shape
    if head is not None and head >= heads:
        raise Unavailable(f"head {head} does not exist: the model has {heads} heads (0..{heads - 1})")
    chosen = list(range(heads)) if head is None else [head]
    if part == "summary":
        return summary_answer(series, step, layer_ids[0], layers[0], head, meta)
    if part == "summary_means":
        return summary_means_answer(series, step, layer_ids, layers, meta)
    pooled = pool is not None and pool > 1
    if not pooled and len(layers) * len(chosen) * queries * keys_len > MAX_LAYER_WEIGHTS:
        raise TooLarge(
            f"{len(layers)} layer(s) x {len(chosen)} head(s) x {queries} x {keys_len} weights are more than one "
            f"answer holds ({MAX_LAYER_WEIGHTS}): ask for one layer (layer=), one head (head=) or block means (pool=)"
        )
    array = np.stack([_layer_maps(layer, chosen, pool if pooled else None) for layer in layers])
    header = {
        **series._asdict(),  # "run", "probe", "kind"
        "step": step,
        "layers": layer_ids,
        "heads": heads,
        "query_len": queries,
        "key_len": keys_len,
        "causal": meta.causal,
        "scale": 1.0 / 255,
    }
    if head is not None:
        header["head"] = head
    if pooled:
        header.update(scale=1.0 / LEVELS, pool=pool)
    stored = [getattr(layer, "stored", None) for layer in layers]
    if any(s is not None for s in stored):
        header["stored"] = [list(range(heads)) if s is None else list(s) for s in stored]
    summarized = [list(getattr(layer, "summarized", ())) for layer in layers]
    if any(summarized):
        header["summarized"] = summarized
    return header, array


def _layer_maps(layer, heads, pool):
    """[len(heads), Q', K'] of one layer: its heads' bytes, or their block means with `pool`."""
    if isinstance(layer, np.ndarray):
        maps = layer[heads] if len(heads) < layer.shape[0] else layer
        return maps if pool is None else block_means(maps, pool)
    maps = (layer.head(h)[None] for h in heads)
    return np.concatenate([m if pool is None else block_means(m, pool) for m in maps])


def undecodable(series, step, error):
    run, probe, kind = series
    return (
        f"the {kind!r} snapshot of probe {probe!r} in run {run!r} at step {step} "
        f"cannot be decoded ({error}); it is skipped"
    )


class Stats(NamedTuple):
    """One statistics tag, decoded: `fingerprint` is what it was read from."""

    fingerprint: tuple
    steps: list
    array: object  # float32 [stats, steps, layers, heads]
    head_types: list
    names: list
    alerts: dict  # analysis/alerts.alert_intervals


def stats_of(fingerprint, by_step, meta):
    """Stats of {step: float32 [stats, layers, heads]}, with the head types derived from them."""
    names = list(meta.stats)
    steps = sorted(by_step)
    shape = (len(names), len(steps), meta.layers, meta.heads)
    array = np.stack([by_step[s] for s in steps], axis=1) if steps else np.zeros(shape, np.float32)
    by_name = {n: array[i] for i, n in enumerate(names)}
    head_types = classify_heads(steps, by_name)
    for entry in head_types:
        if not math.isfinite(entry["score"]):
            entry["score"] = None
    found = alerts.alert_intervals(steps, by_name)
    return Stats(fingerprint, steps, np.ascontiguousarray(array, dtype="<f4"), head_types, names, found)


def stats_answer(series, meta, stats):
    """(header, float32 [stats, steps, layers, heads]) of the `stats` route."""
    header = {
        **series._asdict(),  # "run", "probe", "kind"
        "steps": stats.steps,
        "stats": stats.names,
        "layers": meta.layers,
        "heads": meta.heads,
        "head_types": stats.head_types,
        "formed_snapshots": FORMED_SNAPSHOTS,  # what "formed at step N" takes (head_types.py)
        "alerts": stats.alerts,
        "alert_rules": alerts.rules(),
    }
    return header, stats.array


MEASURES = 4  # the relations route's measures: mass, accuracy, the accuracy's 95% interval (low, high)


def relations_answer(run, series, warn):
    """(header, float32 [relations, 4 (mass, accuracy, its 95% interval's low and high), steps, layers,
    heads]) of the `relations` route from {(layers, heads): [(probe, kind, meta, steps, features)]}
    (relations.measure); one model size is shown (the largest group), the others logged."""
    from ..analysis.relations import measure

    if not series:
        return {"run": run, "relations": [], "steps": [], "layers": 0, "heads": 0}, np.zeros(
            (0, MEASURES, 0, 0, 0), np.float32
        )
    size = max(series, key=lambda s: len(series[s]))
    if len(series) > 1:
        warn(("relsize", run), "run %r holds relation probes of several model sizes: showing %s", run, size)
    measured = measure(series[size])
    steps = sorted({s for m in measured for s in m.steps})
    array = np.full((len(measured), MEASURES, len(steps)) + tuple(size), np.nan, np.float32)
    for r, m in enumerate(measured):
        at = [steps.index(s) for s in m.steps]
        array[r, 0, at], array[r, 1, at] = m.mass, m.accuracy
        array[r, 2, at], array[r, 3, at] = m.accuracy_interval()
    return {
        "run": run,
        "steps": steps,
        "layers": size[0],
        "heads": size[1],
        "relations": [_relation_entry(m) for m in measured],
    }, array


def _relation_entry(m):
    weights = np.nan_to_num(m.classifier_weights, nan=0.0)
    top = np.argsort(-np.abs(weights), axis=None)[:10]
    return {
        "relation": m.relation,
        "instances": [{"probe": p, "kind": k, "source": s, "target": t} for p, k, s, t in m.instances],
        "steps": m.steps,
        "formed_step": m.formed_step,
        "pairs": m.pairs,
        "classifier": {
            "steps": m.classifier_steps,
            "heldout_accuracy": [None if not math.isfinite(a) else a for a in m.classifier_accuracy],
            "interval": [None if not math.isfinite(lo) else [lo, hi] for lo, hi in m.classifier_interval()],
            "min_pairs": MIN_HELDOUT_PAIRS,
            "top_heads": [
                {"layer": int(l), "head": int(h), "weight": float(weights[l, h])}
                for l, h in zip(*np.unravel_index(top, weights.shape))
            ],
        },
    }


def neuron_answer(series, step, steps, record, layer, head):
    """(header, float32 1-D data) of one head of a neuron record: its query [Q, D], key [K, D],
    allowed keys [Q, K] (1/0) and, when the model adds one, bias [Q, K], concatenated in the order of
    the header's "parts" (docs/http-api.md)."""
    probe, kind = series.probe, series.kind
    heads = [list(h) for h in record["heads"]]
    if [layer, head] not in heads:
        raise Unavailable(
            f"layer {layer} head {head} of probe {probe!r} ({kind}) was not captured for the neuron view; captured "
            f"heads: {', '.join(f'L{lay}H{h}' for lay, h in heads[:32])}{' ...' if len(heads) > 32 else ''}"
        )
    i = heads.index([layer, head])
    arrays = [("query", record["query"][i]), ("key", record["key"][i]), ("allowed", record["allowed"][i])]
    for name in ("bias", "value_norm"):
        if record.get(name) is not None:
            arrays.append((name, record[name][i]))
    header = {
        **series._asdict(),  # "run", "probe", "kind"
        "step": step,
        "layer": layer,
        "head": head,
        "steps": steps,
        "heads": heads,
        "scale": float(record["scale"][i]),
        "softcap": float(record["softcap"][i]),
        "parts": [[name, list(a.shape)] for name, a in arrays],
    }
    return header, np.concatenate([a.astype(np.float32).ravel() for _, a in arrays])


def similarity_answer(header, quantized):
    """(header, float32 [layers, heads, heads]) of ./similarity from a snapshot answer: the mean
    Jensen-Shannon distance between the heads of each layer (statistics.head_distances), as stored;
    NaN for a head whose map a storage budget left out (its zeros are no map), listed as the
    snapshot lists them (`stored`)."""
    distances = head_distances(dequantize(quantized), header["causal"])
    out = {k: header[k] for k in ("run", "probe", "kind", "step", "layers", "heads")}
    for layer, heads in enumerate(header.get("stored") or []):
        missing = np.setdiff1d(np.arange(header["heads"]), heads)
        distances[layer, missing, :] = distances[layer, :, missing] = np.nan
    if "stored" in header:
        out["stored"] = header["stored"]
    return out, distances
