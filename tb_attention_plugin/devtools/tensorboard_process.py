"""A real `tensorboard` process on 127.0.0.1 and a free port, in its own session so that stop() ends it and
its data server. The tests, the benchmarks and the dev server (frontend/dev/serve.py) all start
TensorBoard through it, RustBoard by default; it lives in the package so that none of them reaches into
another's folder.
"""

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout (editable install)
PLUGIN = "data/plugin/attention/"


def tensorboard_env(tmp_dir=None):
    """Environment in which `tensorboard` finds this checkout's plugin through its entry point.

    With the package installed (pip install -e .) that is the ordinary environment; otherwise a
    minimal dist-info declaring the same entry point is put on PYTHONPATH with the checkout (in
    `tmp_dir`, or a new temporary directory).
    """
    env = dict(os.environ)
    env.pop("TENSORBOARD_LOGGING_DIR", None)
    if any(
        ep.name == "attention" and ep.value.startswith("tb_attention_plugin.server.entry")
        for ep in importlib.metadata.entry_points(group="tensorboard_plugins")
    ):
        return env
    site = os.path.join(str(tmp_dir), "entry_point_site") if tmp_dir else tempfile.mkdtemp(prefix="tb_attention_")
    dist = os.path.join(site, "tb_attention-0.0.0.dist-info")
    os.makedirs(dist, exist_ok=True)
    with open(os.path.join(dist, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: tb-attention\nVersion: 0.0.0\n")
    with open(os.path.join(dist, "entry_points.txt"), "w") as f:
        f.write(
            textwrap.dedent("""\
            [tensorboard_plugins]
            attention = tb_attention_plugin.server.entry:AttentionLoader
            """)
        )
    env["PYTHONPATH"] = os.pathsep.join([site, REPO] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


class TensorBoardProcess:
    """`python -m tensorboard.main --logdir LOGDIR *args` on 127.0.0.1; start() waits for its URL.
    `python` and `cwd`: another environment's interpreter (e.g. a virtualenv with the built wheel), run
    from a directory where no checkout shadows what it installed."""

    _URL = re.compile(r"TensorBoard \S+ at (http://\S+?)/? \(Press CTRL\+C")

    def __init__(self, logdir, *args, env=None, python=sys.executable, cwd=None):
        self.cmd = [str(python), "-m", "tensorboard.main", "--logdir", str(logdir)]
        self.cmd += ["--host", "127.0.0.1", "--port", "0", "--reload_interval", "1", *args]
        self.env, self.cwd = env, cwd
        self.proc, self.url, self.stderr = None, None, []

    def start(self, timeout=120):
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env if self.env is not None else tensorboard_env(),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        found = threading.Event()

        def drain():  # keep reading: a full pipe would block TensorBoard
            for line in self.proc.stderr:
                self.stderr.append(line)
                m = self._URL.search(line)
                if m and not found.is_set():
                    self.url = m.group(1).rstrip("/")
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("tensorboard did not start:\n" + "".join(self.stderr[-40:]))
        return self

    @property
    def plugin_page(self):
        """The page TensorBoard puts in the tab's iframe."""
        return self.url + "/data/plugin_entry.html?name=attention"

    def get(self, path, timeout=30):
        """-> (status, content type, body bytes); HTTP errors are answers, not exceptions."""
        try:
            with urllib.request.urlopen(self.url + "/" + path.lstrip("/"), timeout=timeout) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def json(self, path):
        status, _, body = self.get(path)
        if status != 200:
            raise ValueError(f"{path} answered {status}: {body[:300]!r}")
        return json.loads(body)

    def poll(self, predicate, timeout=90, interval=0.5):
        """Call predicate() until it returns a truthy value (bounded); return that value."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
            except (OSError, ValueError, KeyError, IndexError) as e:
                last = e
            else:
                if last:
                    return last
            time.sleep(interval)
        raise RuntimeError(
            f"condition not met within {timeout}s (last: {last!r}); tensorboard said:\n" + "".join(self.stderr[-20:])
        )

    def index_steps(self):
        """The steps the plugin's ./index lists, one list per (run, probe, kind)."""
        return [k["steps"] for r in self.json(PLUGIN + "index")["runs"] for p in r["probes"] for k in p["kinds"]]

    def wait_for_steps(self, n, timeout=900):
        """Wait until every (run, probe, kind) of ./index lists `n` steps (TensorBoard loads in the
        background); returns the steps of the first."""
        return self.poll(lambda: (s := self.index_steps()) and all(len(x) >= n for x in s) and s[0], timeout=timeout)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: TensorBoard and its data server
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=15)
