#!/usr/bin/env bash
# Usage: [GPUS=4] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# Environment knobs: see tools/slurm_run.sh.
TOOLS="$(cd "$(dirname "$0")" && pwd)"
exec bash "$TOOLS/slurm_run.sh" "$1" "$2" "$TOOLS/test.py" "$3" "$4" \
    --launcher="slurm" "${@:5}"
