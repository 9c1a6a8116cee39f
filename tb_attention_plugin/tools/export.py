"""One run as ONE self-contained HTML report: the tab's own frontend (the `export.js` bundle) with the
plugin's answers embedded, so it opens from disk in a browser with no server and no network.

The answers are built by the plugin's own code (`FileData`: index, snapshot, stats; `http_payload`:
the JSON and TBAT bodies it serves), so the report shows exactly what the tab would; only the scalars,
which the plugin takes from TensorBoard's data provider, are read here from the run's event files
(`RunIndex`, the rules `read_run` applies). Each binary answer is gzipped and base64-encoded
(docs/http-api.md, "Exported reports"); the browser inflates it when a view asks for it.
"""

import base64
import gzip
import json
import logging
import math
import os

from ..format.metadata import BEST_CHECKPOINT_TAG_PREFIX
from .export_views import collect_views
from ..server.http_payload import encode_container, json_response
from ..server.errors import Unavailable
from ..server.answers import Series
from ..server.files import FileData
from ..reading.run_index import RunIndex
from ..reading.storage import LocalStorage

BUNDLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static", "export.js")
DEFAULT_MAX_STEPS = 30
# By default fewer steps for a large model: at most this many snapshot bytes (uint8 weights, before
# compression; a 12 x 12 head, 128-token probe is 2.4 MB a step). --steps / --max-steps override it.
DEFAULT_MAX_BYTES = 256 << 20
FORMAT = "tb-attention-export"
VERSION = 1

logger = logging.getLogger(__name__)


def spread(steps, count):
    """At most `count` of the sorted `steps`, evenly spread, the first and the last included."""
    if len(steps) <= count:
        return list(steps)
    if count < 2:
        return [steps[-1]]
    return sorted({steps[round(i * (len(steps) - 1) / (count - 1))] for i in range(count)})


def parse_steps(text):
    """The --steps text: 'all', or '0,100,200' -> [0, 100, 200]."""
    if text.strip().lower() == "all":
        return "all"
    try:
        steps = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--steps takes 'all' or integers separated by commas, not {text!r}") from None
    if not steps:
        raise ValueError("--steps names no step")
    return steps


def _warn(_key, message, *args):
    logger.warning("tb-attention export: " + message, *args)


def _packed(body):
    """Bytes of a route's answer as embedded: gzip (mtime 0: the same run gives the same file), base64."""
    return base64.b64encode(gzip.compress(body, compresslevel=6, mtime=0)).decode("ascii")


def _json_answer(obj):
    """A JSON answer exactly as the plugin's route writes it (NaN -> null), parsed back."""
    return json.loads(json_response(obj).get_data(as_text=True))


def scalars_answer(run, run_dir):
    """The `scalars` route's answer {run, tags, marks} of a run directory (server/scalars.py's rules:
    best-checkpoint series are marks, the last one written, here: at the highest step, wins)."""
    index = RunIndex(LocalStorage(), run_dir, warn=_warn)
    index.refresh()
    tags, marks = {}, []
    for tag, by_step in sorted(index.view.scalars.items()):
        steps = sorted(by_step)
        if tag.startswith(BEST_CHECKPOINT_TAG_PREFIX):
            value = by_step[steps[-1]] if steps else math.nan
            if math.isfinite(value):
                metric = tag[len(BEST_CHECKPOINT_TAG_PREFIX) :]
                marks.append({"kind": "best_checkpoint", "step": steps[-1], "value": float(value), "metric": metric})
            continue
        tags[tag] = {"steps": steps, "values": [float(by_step[s]) for s in steps]}
    return _json_answer({"run": run, "tags": tags, "marks": marks})


def step_bytes(probes):
    """Bytes of one step's snapshots of index `probes` (every kind: layers x heads x query x key)."""
    total = 0
    for probe in probes:
        for kind in probe["kinds"]:  # its query and key name the token list ("tokens", "decoder_tokens")
            queries, keys = (len(probe[kind[side]] or ()) for side in ("query", "key"))
            total += kind["layers"] * kind["heads"] * queries * keys
    return total


def _chosen_index(index, probes, steps, max_steps, max_bytes):
    """The run's index entry cut to the chosen probes and steps; ValueError names what is missing."""
    entry = index["runs"][0]
    names = [p["name"] for p in entry["probes"]]
    unknown = [p for p in probes or () if p not in names]
    if unknown:
        raise ValueError(f"no probe {unknown[0]!r} in the run (probes: {names})")
    kept = [p for p in entry["probes"] if not probes or p["name"] in probes]
    logged = sorted({s for p in kept for k in p["kinds"] for s in k["steps"]})
    if steps is None:
        if max_bytes is not None:
            max_steps = min(max_steps, max(2, max_bytes // max(1, step_bytes(kept))))
        chosen = spread(logged, max_steps)
    elif steps == "all":
        chosen = logged
    else:
        absent = [s for s in steps if s not in logged]
        if absent:
            raise ValueError(f"step(s) {absent} not logged (logged: {_ranges(logged)})")
        chosen = steps
    wanted = set(chosen)
    for probe in kept:
        for kind in probe["kinds"]:
            kind["steps"] = [s for s in kind["steps"] if s in wanted]
    entry["probes"] = kept
    return index, chosen, logged


def _ranges(steps):
    return ", ".join(map(str, steps)) if len(steps) <= 12 else f"{len(steps)} steps, {steps[0]}..{steps[-1]}"


def collect(run_dir, probes=None, steps=None, max_steps=DEFAULT_MAX_STEPS, max_bytes=DEFAULT_MAX_BYTES):
    """The embedded data of a run: {format, version, run, steps, logged_steps, index, scalars, stats,
    snapshots, and the other cards' answers (export_views.py)}; stats at every logged step (the
    evolution's curves), snapshots at `steps` (a list, "all", or None: `max_steps` of them spread over
    the run, fewer if they would exceed `max_bytes`)."""
    run_dir = os.path.abspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir} is not a directory: pass a run directory holding event files")
    logdir, run = os.path.split(run_dir.rstrip(os.sep))
    data = FileData(LocalStorage(), logdir, _warn)
    index = data.index([run])
    if not index["runs"]:
        raise ValueError(f"{run_dir} holds no attention logs (is it the run directory, one level down?)")
    index, chosen, logged = _chosen_index(index, probes, steps, max_steps, max_bytes)
    entry, stats, snapshots = index["runs"][0], [], []
    summaries = {"summaries": [], "summary_means": []}
    for probe in entry["probes"]:
        for kind in probe["kinds"]:
            key = {"probe": probe["name"], "kind": kind["kind"]}
            kind["steps"] = [s for s in kind["steps"] if _add_snapshot(data, run, key, s, snapshots, summaries)]
        probe["kinds"] = [k for k in probe["kinds"] if k["steps"]]  # as the plugin's index: none empty
    entry["probes"] = [p for p in entry["probes"] if p["kinds"]]
    if not entry["probes"]:
        raise ValueError(f"no snapshot of the chosen probes at steps {_ranges(chosen)} could be read")
    for probe in entry["probes"]:
        for kind in probe["kinds"]:
            key = {"probe": probe["name"], "kind": kind["kind"]}
            try:
                answer = data.stats(Series(run, key["probe"], key["kind"]))
                stats.append(dict(key, data=_packed(encode_container(*answer))))
            except Unavailable as e:  # the tab says it could not load them, as it would in TensorBoard
                logger.warning("tb-attention export: no statistics: %s", e)
    views = collect_views(data, run, entry, _packed)  # cuts the index's neuron steps to those embedded
    return {
        "format": FORMAT,
        "version": VERSION,
        "run": run,
        "steps": chosen,
        "logged_steps": len(logged),
        "index": _json_answer(index),
        "scalars": scalars_answer(run, run_dir),
        "stats": stats,
        "snapshots": snapshots,
        **summaries,
        **views,
    }


def _add_snapshot(data, run, key, step, snapshots, summaries):
    """Append one snapshot answer and, when it lists summarized heads, their summaries (`part=summary`
    answers: a storage budget's, at most 2 KB of block means and 24 bytes a query row each, so never
    more than the maps the budget left out) to summaries["summaries"] and the `part=summary_means`
    answer of all of them (what the grid paints) to summaries["summary_means"]; False (and a warning)
    for a record the plugin would not serve."""
    series = Series(run, key["probe"], key["kind"])
    try:
        header, array = data.snapshot(series, step)
        heads = [(layer, head) for layer, ids in zip(header["layers"], header.get("summarized", ())) for head in ids]
        parts = [(layer, head, data.snapshot(series, step, layer, head=head, part="summary")) for layer, head in heads]
        all_means = data.snapshot(series, step, part="summary_means") if heads else None
    except Unavailable as e:
        logger.warning("tb-attention export: left out: %s", e)
        return False
    snapshots.append(dict(key, step=step, data=_packed(encode_container(header, array))))
    for layer, head, answer in parts:
        summaries["summaries"].append(
            dict(key, step=step, layer=layer, head=head, data=_packed(encode_container(*answer)))
        )
    if all_means is not None:
        summaries["summary_means"].append(dict(key, step=step, data=_packed(encode_container(*all_means))))
    return True


def _script_json(payload):
    """JSON safe inside <script>: no '<', '>' or '&' outside escapes (a token may be '</script>')."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def bundle():
    try:
        with open(BUNDLE, encoding="utf-8") as f:
            code = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{BUNDLE} is missing: build the frontend (cd frontend && npm ci && npm run build)"
        ) from None
    if "</script" in code.lower() or "<!--" in code:
        raise ValueError(f"{BUNDLE} cannot be inlined in a <script> element")
    return code


# No network at all: the page may run its inline script and styles, show data:/blob: images, nothing else.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; connect-src 'none'; base-uri 'none'; form-action 'none'"
)


def html(payload, bundle):
    """The report: the embedded data, then the bundle (`export.js`), which renders the tab from it."""
    title = f"Attention \u00b7 {payload['run']}".replace("&", "&amp;").replace("<", "&lt;")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n</head>\n<body>\n"
        f'<script type="application/json" id="tb-attention-data">{_script_json(payload)}</script>\n'
        f"<script>{bundle}</script>\n</body>\n</html>\n"
    )


def export(run_dir, output, probes=None, steps=None, max_steps=DEFAULT_MAX_STEPS, max_bytes=DEFAULT_MAX_BYTES):
    """Write the report of `run_dir` to `output`; -> (payload, bytes written)."""
    code = bundle()
    payload = collect(run_dir, probes, steps, max_steps, max_bytes)
    text = html(payload, code).encode("utf-8")
    try:
        with open(output, "wb") as f:
            f.write(text)
    except OSError as e:
        raise ValueError(f"cannot write {output}: {e.strerror or e}") from None
    return payload, len(text)
