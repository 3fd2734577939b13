#!/usr/bin/env bash
# The main job on the built-in demo dataset, from a fresh clone: set up the
# environment (idempotent), generate the demo dataset (seeded, < 1 min), run
# the whole SIPE pipeline and print where the outputs are.
#   bash tools/run_demo.sh [--work-dir DIR] [run_pipeline.py args...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/use_env.sh"
if [[ ! -f data/demo/ImageSets/Segmentation/train_aug.txt ]]; then
  python tools/dataset_converters/make_demo_dataset.py data/demo
fi
python tools/run_pipeline.py configs/pipeline/demo.py --work-dir work_dirs/demo "$@"
