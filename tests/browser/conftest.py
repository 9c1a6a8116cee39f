"""Fixtures of the browser tests: logs written by the real writer from the shared synthetic generator
(`tb_attention_plugin.synthetic`), a real `tensorboard` process serving them (with the real plugin
backend and the built bundle), and headless Debian Chromium.

Skipped, with the reason, when /usr/bin/chromium is missing. The bundle is built with `npm run build`
in frontend/ when tb_attention_plugin/static/index.js is missing.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tb_attention_plugin import synthetic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("TBA_CHROMIUM", "/usr/bin/chromium")
BUNDLE = ROOT / "tb_attention_plugin" / "static" / "index.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    if not os.path.exists(CHROMIUM):
        skip = pytest.mark.skip(reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        for item in items:
            if HERE in Path(str(item.fspath)).parents:
                item.add_marker(skip)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_bundle():
    if BUNDLE.exists():
        return
    npm = shutil.which("npm")
    if not npm:
        pytest.fail("tb_attention_plugin/static/index.js is missing and npm is not installed to build it")
    fe = ROOT / "frontend"
    if not (fe / "node_modules").exists():
        subprocess.run([npm, "ci"], cwd=fe, check=True)
    subprocess.run([npm, "run", "build"], cwd=fe, check=True)


class TensorBoard:
    """`tensorboard --logdir DIR` on a free port; the URL is read from its stderr."""

    def __init__(self, logdir, extra_args=()):
        self.logdir = str(logdir)
        port = free_port()
        self.log = open(Path(self.logdir).parent / f"tensorboard-{port}.log", "w+")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                self.logdir,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--reload_interval",
                "1",
                *extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            text=True,
        )
        self.url = None
        deadline = time.time() + 90
        while time.time() < deadline and self.url is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited:\n{self.output()}")
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", self.output())
            if m:
                self.url = m.group(1)
            else:
                time.sleep(0.2)
        if self.url is None:
            self.close()
            raise RuntimeError(f"tensorboard did not print its URL:\n{self.output()}")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def get(self, route):
        with urllib.request.urlopen(self.url + "data/plugin/attention/" + route, timeout=30) as r:
            return r.read()

    def wait_for_runs(self, n, timeout=90):
        """Wait until the plugin's index lists `n` runs (TensorBoard loads logs in the background)."""
        import json

        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = json.loads(self.get("index"))
                if len(last["runs"]) >= n and all(
                    k["steps"] for r in last["runs"] for p in r["probes"] for k in p["kinds"]
                ):
                    return last
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the index never listed {n} runs: {last}\n{self.output()}")

    @property
    def plugin_page(self):
        """The page TensorBoard puts in the tab's iframe."""
        return self.url + "data/plugin_entry.html?name=attention"

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def logdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    synthetic.write_run(d / "induction", seed=0, best_checkpoint=400)
    synthetic.write_run(d / "induction-b", seed=5, pair_probe=True)
    synthetic.write_encoder_decoder_run(d / "t5")
    return d


@pytest.fixture(scope="session")
def tensorboard(logdir):
    ensure_bundle()
    tb = TensorBoard(logdir)
    try:
        tb.wait_for_runs(3)
        yield tb
    finally:
        tb.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class PageWatch:
    """Records dialogs (alert/confirm), uncaught errors and every request of a page."""

    def __init__(self, page):
        self.page = page
        self.dialogs, self.errors, self.requests = [], [], []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def _dialog(self, d):
        self.dialogs.append(d.message)
        d.dismiss()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    pg = ctx.new_page()
    pg.watch = PageWatch(pg)
    try:
        yield pg
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        ctx.close()
    assert not pg.watch.errors, f"uncaught errors in the page: {pg.watch.errors}"
    assert not pg.watch.dialogs, f"the page opened dialogs: {pg.watch.dialogs}"
