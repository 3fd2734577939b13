#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args...]
# GPUS is the number of processes: GPUs on a CUDA machine, CPU processes
# (gloo) on a machine without CUDA.  Same environment knobs as mmseg (see
# tools/dist_run.sh).
TOOLS="$(cd "$(dirname "$0")" && pwd)"
exec bash "$TOOLS/dist_run.sh" "$TOOLS/train.py" "$2" "$1" "${@:3}"
