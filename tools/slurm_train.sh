#!/usr/bin/env bash
# Usage: [GPUS=8 GPUS_PER_NODE=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args...]
# Environment knobs: see tools/slurm_run.sh.
TOOLS="$(cd "$(dirname "$0")" && pwd)"
exec bash "$TOOLS/slurm_run.sh" "$1" "$2" "$TOOLS/train.py" "$3" \
    --launcher="slurm" "${@:4}"
