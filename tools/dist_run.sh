#!/usr/bin/env bash
# Launch any mmseg_sipe tool on N processes (GPUs, or gloo CPU processes):
#   tools/dist_run.sh tools/make_cam.py 4 CONFIG CKPT --out-dir DIR
# Same environment knobs as mmseg: NNODES, NODE_RANK, PORT, MASTER_ADDR;
# PYTHON picks the interpreter.  The launcher replaces this shell (exec), and
# its workers die with it, so killing this command stops the whole run.
SCRIPT=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}

PYTHONPATH="$ROOT":$PYTHONPATH \
exec "$PYTHON" "$ROOT/tools/launch.py" \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$SCRIPT" "${@:3}" --launcher pytorch
