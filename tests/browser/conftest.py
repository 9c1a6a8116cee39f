"""Fixtures of the browser tests: logs written by the real writer from the shared synthetic generator
(`tb_attention_plugin.devtools.synthetic`), a real `tensorboard` process serving them (with the real plugin
backend and the built bundle), and headless Debian Chromium.

Skipped, with the reason, when /usr/bin/chromium is missing. The bundle is built with `npm run build`
in frontend/ when tb_attention_plugin/static/index.js or export.js is missing.
"""

import os
import time
import shutil
import subprocess
from pathlib import Path

import pytest

from tb_attention_plugin.devtools import synthetic
from tb_attention_plugin.devtools.tensorboard_process import TensorBoardProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("TBA_CHROMIUM", "/usr/bin/chromium")
BUNDLE = ROOT / "tb_attention_plugin" / "static" / "index.js"
EXPORT_BUNDLE = BUNDLE.with_name("export.js")  # what `tb-attention export` inlines
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


def ensure_bundle():
    if BUNDLE.exists() and EXPORT_BUNDLE.exists():
        return
    npm = shutil.which("npm")
    if not npm:
        pytest.fail("tb_attention_plugin/static/index.js is missing and npm is not installed to build it")
    fe = ROOT / "frontend"
    if not (fe / "node_modules").exists():
        subprocess.run([npm, "ci"], cwd=fe, check=True)
    subprocess.run([npm, "run", "build"], cwd=fe, check=True)


def wait_until(target, predicate, arg=None, timeout=30.0):
    """Poll `predicate`, a JS function of one argument, in a page or frame through `evaluate` until it
    returns true. For pages under a CSP without 'unsafe-eval' (the exported report): playwright 1.40, the
    lowest we allow, re-runs `wait_for_function`'s predicate with `eval` inside the page at every poll
    after the first, which that CSP refuses, so a wait not already true at once fails there."""
    deadline = time.monotonic() + timeout
    while not target.evaluate(predicate, arg):
        assert time.monotonic() < deadline, f"not true after {timeout} s: {predicate} ({arg!r})"
        time.sleep(0.05)


def open_exported_report(browser, run_dir, out, height=1000):
    """`tb-attention export RUN_DIR -o OUT --steps all` opened in a page of an offline context, once the
    grid is painted -> (page, errors of the page's scripts); close page.context when done."""
    exe = shutil.which("tb-attention")
    assert exe, "the tb-attention console script is not installed (pip install -e .)"
    done = subprocess.run(
        [exe, "export", run_dir, "-o", out, "--steps", "all"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    page = browser.new_context(viewport={"width": 1400, "height": height}, offline=True).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    wait_until(page, "() => window.tbAttention && window.tbAttention.paints.length > 0")
    return page, errors


def tab_frame(page, tb):
    """The Attention tab inside TensorBoard's own page (its iframe, looked up again as the shell may
    re-create it), once the grid is painted."""
    page.goto(tb.url + "/#attention")
    deadline = time.time() + 60
    frame = None
    while time.time() < deadline and frame is None:
        frame = next((f for f in page.frames if "plugin_entry.html?name=attention" in f.url), None)
        page.wait_for_timeout(200)
    assert frame is not None, "TensorBoard did not open the Attention tab's iframe"
    frame.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    return frame


class TensorBoard(TensorBoardProcess):
    """The package's launcher (`tensorboard --logdir DIR` on 127.0.0.1 and a free port), started at
    once, with what the browser tests ask of it."""

    def __init__(self, logdir, extra_args=()):
        super().__init__(logdir, *extra_args)
        self.start(timeout=90)

    def get(self, route):
        """The body of one of the plugin's routes (`index`, `stats?...`); an HTTP error raises OSError."""
        status, _, body = super().get("data/plugin/attention/" + route)
        if status != 200:
            raise OSError(f"{route} answered {status}: {body[:200]!r}")
        return body

    def wait_for_runs(self, n, timeout=90):
        """Wait until the plugin's index lists `n` runs, each with steps (TensorBoard loads logs in the
        background); returns the index."""
        import json

        def listed():
            index = json.loads(self.get("index"))
            runs = index["runs"]
            done = len(runs) >= n and all(k["steps"] for r in runs for p in r["probes"] for k in p["kinds"])
            return index if done else None

        return self.poll(listed, timeout=timeout)

    @property
    def plugin_page(self):
        """The page TensorBoard puts in the tab's iframe."""
        return self.url + "/data/plugin_entry.html?name=attention"

    def close(self):
        self.stop()


def tensorboard_fixture(runs, logdir_of=lambda logs: logs[0]):
    """A module's `tb` fixture: a `TensorBoard` over the directory `logdir_of(logs)` of the module's own
    `logs` fixture, once the plugin lists `runs` runs; closed after the module's tests. In a module:
    `tb = tensorboard_fixture(2)`."""

    @pytest.fixture(scope="module")
    def tb(logs):
        ensure_bundle()
        server = TensorBoard(logdir_of(logs))
        try:
            server.wait_for_runs(runs)
            yield server
        finally:
            server.close()

    return tb


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
