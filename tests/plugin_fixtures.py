"""Helpers and fixtures of the plugin tests (imported by tests/test_plugin*.py, not by conftest).

- `write_run` and `tokens`: runs of synthetic maps drifting slowly over steps, so that the writer
  stores delta layers as it does for real training (`tb_attention_plugin.synthetic`),
- an in-process TensorBoard app over the Python data provider (werkzeug test client),
- a real `tensorboard` process (RustBoard by default) on a free port, always killed at teardown.
"""

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test

from tb_attention_plugin import synthetic
from tb_attention_plugin.http_payload import decode_container
from tb_attention_plugin.plugin import AttentionPlugin

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "/data/plugin/attention/"


# ------------------------------------------------------------------ synthetic logs
# The shared generator (tb_attention_plugin/synthetic.py): DriftingMaps under write_run, tokens(n) =
# [CLS] t1 .. [SEP]. Under these names because the plugin tests import them from here.
tokens = synthetic.plain_tokens
write_run = synthetic.write_drifting_run


# ------------------------------------------------------------------ in-process app
class App:
    """The plugin inside TensorBoard's WSGI app over the Python multiplexer data provider."""

    def __init__(self, logdir, *, static_dir=None, purge_orphaned_data=True):
        self.logdir = str(logdir)
        self.multiplexer = plugin_event_multiplexer.EventMultiplexer(
            size_guidance={"tensors": 0},  # keep every record, as fix_flags makes TensorBoard do
            purge_orphaned_data=purge_orphaned_data,
        )
        self.reload()
        provider = tb_data_provider.MultiplexerDataProvider(self.multiplexer, self.logdir)
        context = base_plugin.TBContext(data_provider=provider, logdir=self.logdir, multiplexer=self.multiplexer)
        kwargs = {} if static_dir is None else {"static_dir": str(static_dir)}
        self.plugin = AttentionPlugin(context, **kwargs)
        self.client = werkzeug_test.Client(application.TensorBoardWSGI([self.plugin]))

    def reload(self):
        self.multiplexer.AddRunsFromDirectory(self.logdir)
        self.multiplexer.Reload()

    def get(self, route, **params):
        url = PREFIX + route + ("?" + urllib.parse.urlencode(params) if params else "")
        return self.client.get(url)

    def json(self, route, **params):
        r = self.get(route, **params)
        assert r.status_code == 200, (r.status_code, r.get_data()[:300])
        return json.loads(r.get_data())

    def container(self, route, **params):
        r = self.get(route, **params)
        assert r.status_code == 200, (r.status_code, r.get_data()[:300])
        assert r.headers["Content-Type"] == "application/octet-stream"
        return decode_container(r.get_data())


def assert_json_error(response, status):
    """The documented error shape: the status, a JSON body with a non-empty "error" string."""
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.get_data())
    assert isinstance(body.get("error"), str) and body["error"]
    return body["error"]


# ------------------------------------------------------------------ real TensorBoard process
def _entry_point_installed():
    return any(
        ep.name == "attention" and ep.value.startswith("tb_attention_plugin.plugin_entry")
        for ep in importlib.metadata.entry_points(group="tensorboard_plugins")
    )


def tensorboard_env(tmp_dir):
    """Environment in which `tensorboard` finds this checkout's plugin through its entry point.

    With the package installed (pip install -e .) that is the ordinary environment; otherwise a
    minimal dist-info declaring the same entry point is put on PYTHONPATH with the checkout.
    """
    env = dict(os.environ)
    env.pop("TENSORBOARD_LOGGING_DIR", None)
    if _entry_point_installed():
        return env
    site = os.path.join(str(tmp_dir), "entry_point_site")
    dist = os.path.join(site, "tb_attention-0.0.0.dist-info")
    os.makedirs(dist, exist_ok=True)
    with open(os.path.join(dist, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: tb-attention\nVersion: 0.0.0\n")
    with open(os.path.join(dist, "entry_points.txt"), "w") as f:
        f.write(
            textwrap.dedent("""\
            [tensorboard_plugins]
            attention = tb_attention_plugin.plugin_entry:AttentionLoader
            """)
        )
    env["PYTHONPATH"] = os.pathsep.join([site, REPO] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


class TensorBoardProcess:
    """`python -m tensorboard.main` (what the `tensorboard` command runs) on 127.0.0.1, a free port."""

    _URL = re.compile(r"TensorBoard \S+ at (http://\S+?)/? \(Press CTRL\+C")

    def __init__(self, logdir, *args, env=None):
        self.cmd = [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--reload_interval",
            "1",
            *args,
        ]
        self.env = env
        self.proc = None
        self.url = None
        self.stderr = []

    def start(self, timeout=90):
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.env,
            start_new_session=True,
            text=True,
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
                raise AssertionError("tensorboard did not start:\n" + "".join(self.stderr[-40:]))
        return self

    def get(self, path, timeout=30):
        """-> (status, content type, body bytes); HTTP errors are answers, not exceptions."""
        try:
            with urllib.request.urlopen(self.url + "/" + path.lstrip("/"), timeout=timeout) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def json(self, path):
        status, _, body = self.get(path)
        assert status == 200, (status, body[:300])
        return json.loads(body)

    def poll(self, predicate, timeout=90, interval=0.5):
        """Call predicate() until it returns a truthy value (bounded); return that value."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
            except (AssertionError, OSError, ValueError, KeyError) as e:
                last = e
            else:
                if last:
                    return last
            time.sleep(interval)
        raise AssertionError(
            f"condition not met within {timeout}s (last: {last!r}); tensorboard said:\n" + "".join(self.stderr[-20:])
        )

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


@pytest.fixture
def tensorboard(tmp_path):
    """Factory: tensorboard(logdir, *flags) starts a TensorBoard process, killed at teardown."""
    started = []
    env = tensorboard_env(tmp_path)

    def start(logdir, *args):
        tb = TensorBoardProcess(logdir, *args, env=env)
        started.append(tb)
        return tb.start()

    yield start
    for tb in started:
        tb.stop()
