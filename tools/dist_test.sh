#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Same environment knobs as mmseg (see tools/dist_run.sh).
TOOLS="$(cd "$(dirname "$0")" && pwd)"
exec bash "$TOOLS/dist_run.sh" "$TOOLS/test.py" "$3" "$1" "$2" "${@:4}"
