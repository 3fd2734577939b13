#!/usr/bin/env bash
# GPU readiness check: every CUDA path of mmseg-sipe in one run (<= 8 min on
# one H100/H200-class GPU); see docs/benchmarks.md, "GPU check".
#   bash tools/gpu_check.sh OUT_DIR [benchmarks/gpu_check.py options]
#   bash tools/gpu_check.sh OUT_DIR --device cpu --tiny    # CPU rehearsal
# Writes OUT_DIR/gpu_check.json, OUT_DIR/gpu_check.md and OUT_DIR/launch/.
# Python: $PYTHON if set, else the project's virtualenv ($SIPE_VENV, default
# .venv) if it has one, else `python` on PATH.
set -euo pipefail
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: bash tools/gpu_check.sh OUT_DIR [options]" >&2
    exit 2
fi
OUT_DIR=$1
shift
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIPE_VENV:-$ROOT/.venv}"
if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif [ -x "$VENV/bin/python" ]; then
    PY="$VENV/bin/python"
else
    PY=python
fi
exec "$PY" "$ROOT/benchmarks/gpu_check.py" --out-dir "$OUT_DIR" "$@"
