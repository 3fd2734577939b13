#!/usr/bin/env bash
# Run a tool on a Slurm cluster, one task per GPU (used by slurm_train.sh and
# slurm_test.sh, which pass the tool's arguments including --launcher=slurm):
#   [GPUS=4] tools/slurm_run.sh PARTITION JOB_NAME SCRIPT [args...]
# Environment knobs as mmseg: GPUS (tasks, default 4), GPUS_PER_NODE (4),
# CPUS_PER_TASK (5), SRUN_ARGS (extra srun options).
set -x
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

PYTHONPATH="$ROOT":$PYTHONPATH \
srun -p "$1" \
    --job-name="$2" \
    --gres=gpu:"${GPUS_PER_NODE:-4}" \
    --ntasks="${GPUS:-4}" \
    --ntasks-per-node="${GPUS_PER_NODE:-4}" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS:-} \
    python -u "${@:3}"
