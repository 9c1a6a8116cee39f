#!/usr/bin/env python3
"""A stand-in for the plugin backend, for frontend development and the frontend benchmark.

It answers the routes of docs/http-api.md with synthetic attention that "forms" over training
(each head blends from broad attention into a pattern: previous-token, first-token, induction,
separator, self...), serves the built bundle (tb_attention_plugin/static/index.js) and a host page
that loads it the way TensorBoard's iframe does, under the same Content-Security-Policy.

    python frontend/dev/mock_server.py --port 6007            # then open http://127.0.0.1:6007/
    python frontend/dev/mock_server.py --layers 24 --heads 16 --tokens 256 --steps 200

Only numpy is needed. This is not the real backend: the browser tests run the real TensorBoard.
"""

import argparse
import json
import math
import sys
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "tb_attention_plugin" / "static"
PREFIX = "/data/plugin/attention/"
# TensorBoard 2.21's header for plugin pages (its 'unsafe-eval' only lets test tools evaluate code;
# the bundle never needs it), minus the hash of TensorBoard's inline loader: ours is a file.
CSP = (
    "default-src 'self'; font-src 'self' data:; img-src 'self' data: blob:; object-src 'none'; "
    "style-src 'self' https://www.gstatic.com data: 'unsafe-inline'; connect-src 'self'; "
    "script-src 'self' 'unsafe-eval'"
)
STATS = ["entropy", "first", "sep", "self", "prev", "next", "max", "drift", "induction", "duplicate"]
PATTERNS = ["prev", "first", "induction", "self", "broad", "sep", "next", "prev", "induction", "first"]

HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tb-attention (mock)</title>
<base href="{base}"></head>
<body><script type="module" src="tba-loader.js"></script></body></html>
"""
LOADER = 'import("./index.js").then((m) => m.render());\n'


def container(header, array):
    hb = json.dumps(header).encode()
    hb += b" " * ((4 - (8 + len(hb)) % 4) % 4)
    return b"TBAT" + len(hb).to_bytes(4, "little") + hb + np.ascontiguousarray(array).tobytes()


def quantize_rows(p):
    """float rows summing to 1 -> uint8 rows summing to exactly 255 (cumulative rounding)."""
    c = np.cumsum(p, axis=-1, dtype=np.float64)
    c *= 255.0 / c[..., -1:]
    c = np.rint(c).astype(np.int16)
    out = np.diff(c, axis=-1, prepend=np.zeros(c.shape[:-1] + (1,), np.int16))
    return out.astype(np.uint8)


class Kind:
    def __init__(self, name, query, key, causal, layers, heads, q_tokens, k_tokens, q_special, k_special, steps, seed):
        self.name, self.query, self.key, self.causal = name, query, key, causal
        self.layers, self.heads, self.steps = layers, heads, steps
        rng = np.random.default_rng(seed)
        Q, K = len(q_tokens), len(k_tokens)
        self.Q, self.K = Q, K
        mask = np.tril(np.ones((Q, K), bool)) if causal else np.ones((Q, K), bool)
        mask[~mask.any(1), 0] = True
        broad = mask / mask.sum(1, keepdims=True)
        # where each token occurred before (for induction / duplicate patterns)
        first_pos = {}
        prev_occ = np.full(Q, -1)
        for i, t in enumerate(q_tokens):
            if t in first_pos:
                prev_occ[i] = first_pos[t]
            first_pos.setdefault(t, i)
        seps = [j for j, s in enumerate(k_special) if s and j > 0] or [K - 1]
        self.patterns = []
        targets = np.empty((layers, heads, Q, K), np.float32)
        for l in range(layers):
            for h in range(heads):
                kind = PATTERNS[(l * heads + h * 7 + seed) % len(PATTERNS)]
                if name == "cross":
                    kind = ["broad", "first", "self"][(l + h) % 3]
                t = np.zeros((Q, K), np.float32)
                for i in range(Q):
                    if kind == "prev":
                        j = max(0, min(K - 1, i - 1))
                    elif kind == "next" and not causal:
                        j = min(K - 1, i + 1)
                    elif kind == "first":
                        j = 0
                    elif kind == "sep":
                        j = seps[0] if not causal or seps[0] <= i else 0
                    elif kind == "induction":
                        j = prev_occ[i] + 1 if prev_occ[i] >= 0 else max(0, i - 1)
                    elif kind == "self":
                        j = min(i, K - 1)
                    else:
                        j = -1
                    if j < 0:
                        t[i] = broad[i]
                    else:
                        t[i] = 0.15 * broad[i]
                        t[i, j] += 0.85
                targets[l, h] = t
                self.patterns.append(kind)
        noise = rng.gamma(2.0, 1.0, size=(layers, heads, Q, K)).astype(np.float32) * mask
        noise /= noise.sum(-1, keepdims=True)
        self.start = (0.6 * broad + 0.4 * noise).astype(np.float32)
        self.target = targets
        last = steps[-1] if steps else 1
        self.form = rng.uniform(0.05, 1.3, size=(layers, heads)) * last
        self.width = max(1.0, last / 25)
        self.cache = OrderedDict()
        self.lock = threading.Lock()

    def alpha(self, step):
        a = 1 / (1 + np.exp(-(step - self.form) / self.width))
        return a.astype(np.float32)

    def snapshot(self, step):
        with self.lock:
            if step in self.cache:
                self.cache.move_to_end(step)
                return self.cache[step]
        a = self.alpha(step)[:, :, None, None]
        p = self.start + a * (self.target - self.start)
        out = quantize_rows(p)
        with self.lock:
            self.cache[step] = out
            while sum(v.nbytes for v in self.cache.values()) > 512 * 2**20:
                self.cache.popitem(last=False)
        return out

    def stats(self, q_tokens, k_special):
        """Statistics from a few blend levels, interpolated over every step (cheap and smooth)."""
        levels = np.linspace(0, 1, 11, dtype=np.float32)
        per_level = []
        Q, K = self.Q, self.K
        idx = np.arange(Q)
        seps = np.array([bool(s) for s in k_special])
        for lv in levels:
            p = self.start + lv * (self.target - self.start)
            n_i = np.maximum(2, (self.start[0, 0] > 0).sum(-1))  # keys each row can see
            ent = (-(p * np.log(np.clip(p, 1e-12, None))).sum(-1) / np.log(n_i)).mean(-1)
            first = p[..., 0].mean(-1)
            sep = p[..., seps].sum(-1).mean(-1) if seps.any() else np.full(ent.shape, np.nan)
            diag = p[..., idx, np.minimum(idx, K - 1)].mean(-1) if self.name != "cross" else np.full(ent.shape, np.nan)
            prv = p[..., idx[1:], np.minimum(idx[1:] - 1, K - 1)].mean(-1)
            nxt = (
                p[..., idx[:-1], np.minimum(idx[:-1] + 1, K - 1)].mean(-1)
                if not self.causal
                else np.full(ent.shape, np.nan)
            )
            mx = p.max(-1).mean(-1)
            drift = 0.5 * np.abs(p - self.start).sum(-1).mean(-1)
            ind = np.full(ent.shape, np.nan)
            dup = np.full(ent.shape, np.nan)
            seen, prev_occ = {}, np.full(Q, -1)
            for i, t in enumerate(q_tokens):
                if t in seen:
                    prev_occ[i] = seen[t]
                seen.setdefault(t, i)
            rows = np.nonzero(prev_occ >= 0)[0]
            if len(rows) and self.name != "cross":
                ind = p[..., rows, np.minimum(prev_occ[rows] + 1, K - 1)].mean(-1)
                dup = p[..., rows, prev_occ[rows]].mean(-1)
            per_level.append(np.stack([ent, first, sep, diag, prv, nxt, mx, drift, ind, dup]))
        per_level = np.stack(per_level)  # [levels, stats, L, H]
        out = np.empty((len(STATS), len(self.steps), self.layers, self.heads), np.float32)
        for si, step in enumerate(self.steps):
            a = self.alpha(step) * 10
            lo = np.clip(np.floor(a).astype(int), 0, 9)
            frac = a - lo
            li, hi = (
                np.take_along_axis(per_level, lo[None, None], 0)[0],
                np.take_along_axis(per_level, (lo + 1)[None, None], 0)[0],
            )
            out[:, si] = li + frac[None] * (hi - li)
        if self.steps:  # drift since the first snapshot is exact: |a(s) - a(s0)| * TV(start, target)
            tv = 0.5 * np.abs(self.target - self.start).sum(-1).mean(-1)
            a0 = self.alpha(self.steps[0])
            for si, step in enumerate(self.steps):
                out[STATS.index("drift"), si] = np.abs(self.alpha(step) - a0) * tv
        types = []
        names = {
            "prev": "previous-token",
            "first": "first-token",
            "induction": "induction",
            "sep": "separator",
            "self": "self",
            "next": "next-token",
            "broad": "broad",
        }
        if self.steps:
            for l in range(self.layers):
                for h in range(self.heads):
                    alphas = [float(self.alpha(s)[l, h]) for s in self.steps]
                    if alphas[-1] > 0.5:
                        formed = next(s for s, x in zip(self.steps, alphas) if x > 0.5)
                        types.append(
                            {
                                "layer": l,
                                "head": h,
                                "type": names[self.patterns[l * self.heads + h]],
                                "score": round(alphas[-1] * 0.85, 3),
                                "formed_step": formed,
                            }
                        )
        return out, types


class Run:
    def __init__(self, name, probes, scalars):
        self.name, self.probes, self.scalars = name, probes, scalars


def make_world(args):
    rng = np.random.default_rng(0)
    n = args.tokens
    steps = [int(round(i * args.every)) for i in range(args.steps)]
    half = max(1, (n - 1) // 2)
    rand = [f"t{int(x)}" for x in rng.integers(0, 500, size=half)]
    rep_tokens = (["<bos>"] + rand + rand)[:n]
    rep_tokens += [f"t{i}" for i in range(n - len(rep_tokens))]
    words = (
        "the quick brown fox jumps over the lazy dog while a curious cat watches from the "
        "garden wall and <img src=x onerror=alert(1)> appears in the text"
    ).split(" ")
    a_len = max(2, (n - 3) // 2)
    b_len = max(1, n - 3 - a_len)
    pair = (
        ["[CLS]"]
        + [words[i % len(words)] for i in range(a_len)]
        + ["[SEP]"]
        + [words[(i + 5) % len(words)] for i in range(b_len)]
        + ["[SEP]"]
    )
    pair[min(len(pair) - 2, 19)] = "<img src=x onerror=alert(1)>"
    pair_special = [t in ("[CLS]", "[SEP]") for t in pair]
    pair_seg = [0] * (a_len + 2) + [1] * (b_len + 1)

    def scalars(seed, s_max):
        r = np.random.default_rng(seed)
        tr_steps = list(range(10, int(s_max) + 1, max(1, int(s_max // 150) or 1)))
        tr = [float(3.2 * math.exp(-s / (0.4 * s_max + 1)) + 1.1 + 0.08 * r.standard_normal()) for s in tr_steps]
        ev_steps = list(range(0, int(s_max) + 1, max(1, int(s_max // 10) or 1)))
        ev = [float(3.3 * math.exp(-s / (0.45 * s_max + 1)) + 1.25) for s in ev_steps]
        lr = [float(5e-4 * min(1, s / (0.1 * s_max + 1))) for s in tr_steps]
        return {
            "train/loss": {"steps": tr_steps, "values": tr},
            "eval/loss": {"steps": ev_steps, "values": ev},
            "train/learning_rate": {"steps": tr_steps, "values": lr},
        }

    L, H = args.layers, args.heads
    runs = []
    for ri in range(args.runs):
        name = ["induction", "induction-lr2x", "third", "fourth"][ri % 4]
        probes = []
        rep = {
            "name": "repeated random tokens",
            "tokens": rep_tokens,
            "segments": [0] * len(rep_tokens),
            "special": [i == 0 for i in range(len(rep_tokens))],
            "decoder_tokens": None,
            "decoder_special": None,
        }
        rep["_kinds"] = {
            "self": Kind(
                "self",
                "tokens",
                "tokens",
                True,
                L,
                H,
                rep_tokens,
                rep_tokens,
                rep["special"],
                rep["special"],
                steps,
                seed=ri,
            )
        }
        probes.append(rep)
        if args.probes > 1:
            pr = {
                "name": "sentence pair",
                "tokens": pair,
                "segments": pair_seg,
                "special": pair_special,
                "decoder_tokens": None,
                "decoder_special": None,
            }
            pr["_kinds"] = {
                "self": Kind(
                    "self", "tokens", "tokens", False, L, H, pair, pair, pair_special, pair_special, steps, seed=ri + 10
                )
            }
            probes.append(pr)
        runs.append(Run(name, probes, scalars(ri, steps[-1] if steps else 100)))
    if args.encdec:
        enc = [
            "\u2581translate",
            "\u2581English",
            "\u2581to",
            "\u2581German:",
            "\u2581The",
            "\u2581house",
            "\u2581is",
            "\u2581wonderful",
            ".",
            "</s>",
        ]
        dec = ["<pad>", "\u2581Das", "\u2581Haus", "\u2581ist", "\u2581wunderbar", ".", "</s>"]
        es = [t == "</s>" for t in enc]
        ds = [t in ("<pad>", "</s>") for t in dec]
        s2 = steps[: min(len(steps), 40)]
        pr = {
            "name": "translation",
            "tokens": enc,
            "segments": [0] * len(enc),
            "special": es,
            "decoder_tokens": dec,
            "decoder_special": ds,
        }
        pr["_kinds"] = {
            "encoder": Kind("encoder", "tokens", "tokens", False, 2, 4, enc, enc, es, es, s2, seed=21),
            "decoder": Kind("decoder", "decoder_tokens", "decoder_tokens", True, 2, 4, dec, dec, ds, ds, s2, seed=22),
            "cross": Kind("cross", "decoder_tokens", "tokens", False, 2, 4, dec, enc, ds, es, s2, seed=23),
        }
        runs.append(Run("t5-small", [pr], scalars(9, s2[-1] if s2 else 100)))
    return runs


class Handler(BaseHTTPRequestHandler):
    world = []
    static_dir = STATIC
    empty = False

    def log_message(self, fmt, *a):  # quiet
        pass

    def send(self, code, body, ctype, extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, msg):
        self.send(code, json.dumps({"error": msg}).encode(), "application/json")

    def do_GET(self):
        url = urlparse(self.path)
        qs = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        try:
            if path in ("/", "/index.html"):
                return self.send(200, HOST_PAGE.format(base=PREFIX).encode(), "text/html; charset=utf-8")
            if path == PREFIX + "tba-loader.js":  # the page's only script, like TensorBoard's iframe loader
                return self.send(200, LOADER.encode(), "text/javascript")
            if not path.startswith(PREFIX):
                return self.error(404, "not found")
            route = path[len(PREFIX) :]
            if route == "index.js":
                f = self.static_dir / "index.js"
                if not f.exists():
                    return self.error(404, "run `npm run build` in frontend/ first")
                return self.send(200, f.read_bytes(), "text/javascript")
            handler = {
                "index": self.r_index,
                "snapshot": self.r_snapshot,
                "stats": self.r_stats,
                "scalars": self.r_scalars,
            }.get(route)
            if not handler:
                return self.error(404, f"unknown route {route}")
            handler(qs)
        except BrokenPipeError:
            pass

    def find(self, qs, need_kind=True):
        run = next((r for r in self.world if r.name == qs.get("run")), None)
        if "run" not in qs:
            raise LookupError((400, "missing parameter run"))
        if run is None:
            raise LookupError((404, f"unknown run {qs.get('run')!r}"))
        if not need_kind:
            return run, None, None
        for p in ("probe", "kind"):
            if p not in qs:
                raise LookupError((400, f"missing parameter {p}"))
        probe = next((p for p in run.probes if p["name"] == qs["probe"]), None)
        if probe is None:
            raise LookupError((404, f"unknown probe {qs['probe']!r}"))
        kind = probe["_kinds"].get(qs["kind"])
        if kind is None:
            raise LookupError((404, f"unknown kind {qs['kind']!r}"))
        return run, probe, kind

    def guarded(fn):
        def wrapper(self, qs):
            try:
                return fn(self, qs)
            except LookupError as e:
                code, msg = e.args[0]
                return self.error(code, msg)

        return wrapper

    def r_index(self, qs):
        runs = (
            []
            if self.empty
            else [
                {
                    "run": r.name,
                    "probes": [
                        {
                            **{k: v for k, v in p.items() if not k.startswith("_")},
                            "kinds": [
                                {
                                    "kind": k.name,
                                    "layers": k.layers,
                                    "heads": k.heads,
                                    "query": k.query,
                                    "key": k.key,
                                    "causal": k.causal,
                                    "steps": k.steps,
                                }
                                for k in p["_kinds"].values()
                            ],
                        }
                        for p in r.probes
                    ],
                }
                for r in self.world
            ]
        )
        self.send(200, json.dumps({"version": 1, "runs": runs}).encode(), "application/json")

    @guarded
    def r_scalars(self, qs):
        run, _, _ = self.find(qs, need_kind=False)
        self.send(200, json.dumps({"run": run.name, "tags": run.scalars}).encode(), "application/json")

    @guarded
    def r_snapshot(self, qs):
        run, probe, kind = self.find(qs)
        try:
            step = int(qs["step"])
        except (KeyError, ValueError):
            return self.error(400, "step must be an integer")
        if step not in kind.steps:
            return self.error(404, f"no snapshot at step {step}")
        data = kind.snapshot(step)
        layers = list(range(kind.layers))
        if "layer" in qs:
            try:
                layer = int(qs["layer"])
            except ValueError:
                return self.error(400, "layer must be an integer")
            if not 0 <= layer < kind.layers:
                return self.error(404, f"no layer {layer}")
            data, layers = data[layer : layer + 1], [layer]
        header = {
            "run": run.name,
            "probe": probe["name"],
            "kind": kind.name,
            "step": step,
            "layers": layers,
            "heads": kind.heads,
            "query_len": kind.Q,
            "key_len": kind.K,
            "shape": list(data.shape),
            "dtype": "uint8",
            "scale": 1 / 255,
        }
        self.send(200, container(header, data), "application/octet-stream")

    @guarded
    def r_stats(self, qs):
        run, probe, kind = self.find(qs)
        if not hasattr(kind, "_stats"):
            qt = probe["decoder_tokens"] if kind.query == "decoder_tokens" else probe["tokens"]
            ks = probe["decoder_special"] if kind.key == "decoder_tokens" else probe["special"]
            kind._stats = kind.stats(qt, ks)
        data, types = kind._stats
        header = {
            "run": run.name,
            "probe": probe["name"],
            "kind": kind.name,
            "steps": kind.steps,
            "stats": STATS,
            "layers": kind.layers,
            "heads": kind.heads,
            "shape": list(data.shape),
            "dtype": "float32",
            "thresholds": {s: 0.5 for s in STATS},
            "head_types": types,
        }
        self.send(200, container(header, data), "application/octet-stream")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=6007)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--every", type=float, default=50)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--probes", type=int, default=2)
    ap.add_argument("--encdec", action="store_true", help="add an encoder-decoder run (encoder/decoder/cross)")
    ap.add_argument("--empty", action="store_true", help="answer an index with no runs (empty state)")
    ap.add_argument("--static", default=str(STATIC), help="folder holding index.js")
    args = ap.parse_args(argv)
    Handler.world = make_world(args)
    Handler.static_dir = Path(args.static)
    Handler.empty = args.empty
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"mock tb-attention backend on http://{args.host}:{server.server_address[1]}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
