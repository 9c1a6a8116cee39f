"""Helpers and fixtures of the plugin tests (imported by tests/test_plugin*.py, not by conftest).

- `write_run` and `tokens`: runs of synthetic maps drifting slowly over steps, so that the writer
  stores delta layers as it does for real training (`tb_attention_plugin.devtools.synthetic`),
- an in-process TensorBoard app over the Python data provider (werkzeug test client),
- a real `tensorboard` process (RustBoard by default) on a free port, always killed at teardown.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test

from tb_attention_plugin.devtools import synthetic
from tb_attention_plugin.server.http_payload import decode_container
from tb_attention_plugin.server.routes import AttentionPlugin
from tb_attention_plugin.devtools.tensorboard_process import TensorBoardProcess, tensorboard_env  # noqa: F401 (re-export)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "/data/plugin/attention/"
# TensorBoard's two loaders, each asked for by name (auto would fall back to Python without RustBoard)
LOADERS = {"rustboard": ("--load_fast=true",), "python": ("--load_fast=false",)}


# ------------------------------------------------------------------ synthetic logs
# The shared generator (tb_attention_plugin/devtools/synthetic.py): DriftingMaps under write_run, tokens(n) =
# [CLS] t1 .. [SEP]. Under these names because the plugin tests import them from here.
tokens = synthetic.plain_tokens
write_run = synthetic.write_drifting_run


# ------------------------------------------------------------------ in-process app
class App:
    """The plugin inside TensorBoard's WSGI app over the Python multiplexer data provider."""

    def __init__(self, logdir, *, static_dir=None, purge_orphaned_data=True, read_files=None):
        """read_files=False: everything through the data provider, as for a log directory the
        plugin cannot read itself (server/data.py)."""
        self.logdir = str(logdir)
        self.multiplexer = plugin_event_multiplexer.EventMultiplexer(
            size_guidance={"tensors": 0},  # keep every record, as fix_flags makes TensorBoard do
            purge_orphaned_data=purge_orphaned_data,
        )
        self.reload()
        provider = tb_data_provider.MultiplexerDataProvider(self.multiplexer, self.logdir)
        context = base_plugin.TBContext(data_provider=provider, logdir=self.logdir, multiplexer=self.multiplexer)
        kwargs = (
            {"read_files": read_files}
            if static_dir is None
            else {"static_dir": str(static_dir), "read_files": read_files}
        )
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
