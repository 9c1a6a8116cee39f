"""What a user pip-installs: the sdist and the wheel that `python -m build` makes.

The sdist carries the built tab, so a wheel builds from it on a machine without Node.js (here: a PATH
with no node or npm); that wheel holds the bundles, the callback and the entry point; and a fresh
virtualenv with the wheel alone (no checkout on the path, no torch) serves the Attention tab through
its own `tensorboard`, where the tab paints.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from tb_attention_plugin.devtools.tensorboard_process import TensorBoardProcess

from conftest import BUNDLE, EXPORT_BUNDLE, ROOT, ensure_bundle, tab_frame

PACKAGE_FILES = [
    "tb_attention_plugin/static/index.js",
    "tb_attention_plugin/static/export.js",
    "tb_attention_plugin/server/entry.py",
    "tb_attention_plugin/callback/attention_callback.py",
]


def _run(cmd, **kwargs):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """(sdist, wheel): the sdist from the checkout, then the wheel from the unpacked sdist without Node.js."""
    ensure_bundle()
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", out, ROOT])
    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(out / "unpacked", filter="data")
    (source,) = (out / "unpacked").iterdir()
    no_node = dict(os.environ, PATH=os.path.dirname(sys.executable))
    assert shutil.which("npm", path=no_node["PATH"]) is None and shutil.which("node", path=no_node["PATH"]) is None
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", out, source], env=no_node)
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def test_the_sdist_and_the_wheel_carry_the_built_tab(dist):
    sdist, wheel = dist
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"tb_attention_plugin/static/index.js", "tb_attention_plugin/static/export.js", "pyproject.toml"} <= in_sdist
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        assert set(PACKAGE_FILES) <= names
        assert whl.read("tb_attention_plugin/static/index.js") == BUNDLE.read_bytes()
        assert whl.read("tb_attention_plugin/static/export.js") == EXPORT_BUNDLE.read_bytes()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = whl.read(entry_points).decode()
    assert "attention = tb_attention_plugin.server.entry:AttentionLoader" in text
    assert "tb-attention = tb_attention_plugin.cli:main" in text
    assert not any(n.startswith(("callback/", "tests/", "frontend/")) for n in names)


def test_a_fresh_virtualenv_with_the_wheel_alone_serves_the_tab(dist, logdir, browser, tmp_path):
    _, wheel = dist
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", wheel])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TENSORBOARD_LOGGING_DIR")}
    where = _run(
        [python, "-c", "import tb_attention_plugin; print(tb_attention_plugin.__file__)"], env=env, cwd=tmp_path
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout  # the installed package, not the checkout
    tb = TensorBoardProcess(logdir, "--load_fast=true", env=env, python=python, cwd=tmp_path).start(timeout=90)
    try:
        tb.poll(lambda: len(tb.json("data/plugin/attention/index")["runs"]) >= 3, timeout=90)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            frame = tab_frame(page, tb)
            assert frame.evaluate("window.tbAttention.paints.length") > 0
            page.screenshot(path=str(tmp_path / "installed-wheel.png"))
        finally:
            page.close()
    finally:
        tb.stop()
