"""Packaging (metadata and dependencies: pyproject.toml): the plugin, the reader/writer and (from
./callback) the Trainer callback, one package.

`callback/` is installed as `tb_attention_plugin.callback` (never as a top-level `callback`), and the
tab's JavaScript bundles are built from `frontend/` into `tb_attention_plugin/static/` when the package
is built. The sdist carries the built bundles, so a wheel builds from it on a machine without Node.js.
"""

import os
import shutil
import subprocess

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
FRONTEND = os.path.join(HERE, "frontend")
STATIC = os.path.join(HERE, "tb_attention_plugin", "static")
BUNDLES = [os.path.join(STATIC, name) for name in ("index.js", "export.js")]  # what frontend/build.mjs writes


def _newest_source():
    """The modification time of the newest file the bundles are built from."""
    sources = [os.path.join(FRONTEND, n) for n in ("build.mjs", "package.json", "package-lock.json")]
    for folder, _, files in os.walk(os.path.join(FRONTEND, "src")):
        sources += [os.path.join(folder, f) for f in files]
    return max((os.path.getmtime(p) for p in sources if os.path.exists(p)), default=0.0)


def build_frontend():
    """npm ci + npm run build in frontend/ (offline except the npm registry), unless the bundles are
    newer than their sources (an unpacked sdist, or a checkout built since its last change)."""
    bundled = all(os.path.exists(b) for b in BUNDLES)
    if bundled and min(os.path.getmtime(b) for b in BUNDLES) >= _newest_source():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "tb-attention: building the Attention tab needs Node.js and npm (apt-get install nodejs npm); "
            "the sdist and the wheel carry the built tab and need neither"
        )
    if not os.path.isdir(os.path.join(FRONTEND, "node_modules")):
        subprocess.check_call([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND)
    subprocess.check_call([npm, "run", "build"], cwd=FRONTEND)


class BuildWithFrontend(build_py):
    def run(self):
        build_frontend()
        super().run()


class SdistWithFrontend(sdist):
    """The sdist carries the built bundles (MANIFEST.in names them)."""

    def run(self):
        build_frontend()
        super().run()


setup(
    # every subpackage: tb_attention_plugin/... as it lies, ./callback/... as tb_attention_plugin.callback...
    packages=find_packages(HERE, include=["tb_attention_plugin", "tb_attention_plugin.*"])
    + ["tb_attention_plugin.callback"]
    + ["tb_attention_plugin.callback." + p for p in find_packages(os.path.join(HERE, "callback"))],
    package_dir={"tb_attention_plugin": "tb_attention_plugin", "tb_attention_plugin.callback": "callback"},
    package_data={"tb_attention_plugin": ["static/*"]},
    include_package_data=False,
    cmdclass={"build_py": BuildWithFrontend, "sdist": SdistWithFrontend},
)
