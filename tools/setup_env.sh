#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with the tested, pinned
# OpenMMLab stack.  Idempotent: a second run checks a stamp and exits in seconds.
#
#   bash tools/setup_env.sh            # -> .venv/ (override with SIPE_VENV=/path)
#
# Environment knobs:
#   SIPE_VENV        where the venv lives (default: <repo>/.venv)
#   SIPE_TORCH_SPEC  torch requirement (default: torch==2.13.0, the CPU build
#                    on this machine kind).  On a CUDA machine set it to your
#                    own CUDA torch, e.g. SIPE_TORCH_SPEC='torch==2.13.0'
#                    with PIP_INDEX_URL pointing at the CUDA wheels.
#   SIPE_PYTHON      python used to create the venv (default: python3)
#   MAX_JOBS         parallel compile jobs for the mmcv ops build (default 2)
#   SIPE_WITH_MMPRETRAIN  1 (default): also install mmpretrain + torchvision
#                    (backbones from mmpretrain by config; the tests use
#                    them); 0: leave them out (their tests are then skipped)
#
# Why each step exists is in docs/get_started.md ("What the set-up does").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIPE_VENV:-$ROOT/.venv}"
PY="${SIPE_PYTHON:-python3}"
TORCH_SPEC="${SIPE_TORCH_SPEC:-torch==2.13.0}"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
export MAX_JOBS="${MAX_JOBS:-2}"

# The stamp records every input of the install; if it matches, nothing to do.
WITH_MMPRETRAIN="${SIPE_WITH_MMPRETRAIN:-1}"
TV_HOOK="$ROOT/tools/env/_sipe_tv_cpu_hook.py"
STAMP_KEY="$( (cat "$CONSTRAINTS" "$ROOT/requirements/"*.txt "$ROOT/setup.py" \
  "$TV_HOOK"; echo "$TORCH_SPEC $WITH_MMPRETRAIN") | sha256sum | cut -c1-16)"
STAMP="$VENV/.sipe-env-$STAMP_KEY"
if [[ -f "$STAMP" ]]; then
  echo "[setup_env] environment up to date: $VENV"
  exit 0
fi

t0=$(date +%s)
step() { echo "[setup_env] $(( $(date +%s) - t0 ))s: $*"; }

if [[ ! -x "$VENV/bin/python" ]]; then
  step "creating venv at $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)

# 1. torch first: the CPU wheel here, or the user's own CUDA build.  Without
#    this pin an unconstrained resolver pulls a multi-GB CUDA torch.
step "torch ($TORCH_SPEC)"
"${PIP[@]}" "$TORCH_SPEC"

# 2. setuptools<81 *after* torch (torch pulls a newer one): mmcv's setup.py
#    and mmengine's `mmseg::` config scopes import pkg_resources.
step "setuptools / numpy / opencv"
"${PIP[@]}" -c "$CONSTRAINTS" setuptools numpy opencv-python

step "mmengine"
"${PIP[@]}" -c "$CONSTRAINTS" mmengine

# 3. mmcv 2.1.0 with compiled ops.  mmseg 1.2.2 imports mmcv.ops
#    unconditionally and rejects mmcv>=2.2.  No prebuilt wheel matches a
#    modern torch, so pip builds the sdist against the installed torch
#    (--no-build-isolation: its setup.py imports torch and pkg_resources).
#    ~8 min on 2 cores the first time; pip caches the built wheel afterwards.
if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  step "mmcv 2.1.0 with ops (compiles once, ~8 min on 2 cores; cached afterwards)"
  MMCV_WITH_OPS=1 "${PIP[@]}" --no-build-isolation -c "$CONSTRAINTS" mmcv
fi

# 4. mmsegmentation + its undeclared run-time needs (ftfy, regex), dense CRF
#    (pydensecrf2 builds from its sdist in ~30 s), and the test tools.
step "mmsegmentation, ftfy, regex, pydensecrf2, test tools"
"${PIP[@]}" -c "$CONSTRAINTS" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

# 5. mmpretrain backbones (optional, on by default).  mmpretrain imports
#    torchvision at module level; the only torchvision wheel for torch 2.13 on
#    PyPI is a CUDA build, which installs next to the CPU torch but cannot
#    load its C++ ops there (`import torchvision` -> RuntimeError: operator
#    torchvision::nms does not exist -- which also breaks mmengine's Runner,
#    whose collect_env imports torchvision).  On a CPU torch a start-up hook
#    (tools/env/_sipe_tv_cpu_hook.py + a .pth line) defines the two missing
#    op schemas on the first `import torchvision`; it does not import torch
#    at start-up and does nothing where torchvision's own ops load.
if [[ "$WITH_MMPRETRAIN" == "1" ]]; then
  step "mmpretrain + torchvision"
  "${PIP[@]}" -c "$CONSTRAINTS" -r "$ROOT/requirements/mmpretrain.txt"
  step "torchvision start-up hook (only on a CPU torch)"
  "$VENV/bin/python" "$TV_HOOK" --install
  "$VENV/bin/python" -c "import torchvision.transforms, mmpretrain.models" \
    || { echo "[setup_env] error: torchvision/mmpretrain do not import" >&2; exit 1; }
else
  # a torchvision left without its hook would break mmengine's Runner
  step "SIPE_WITH_MMPRETRAIN=0: removing mmpretrain, torchvision and the hook"
  "$VENV/bin/python" -m pip uninstall -q -y mmpretrain torchvision 2>/dev/null || true
  "$VENV/bin/python" "$TV_HOOK" --uninstall
fi

# 6. this package, editable, without touching the pinned dependencies.
step "mmseg_sipe (editable)"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"

"$VENV/bin/python" -m pip check
"$VENV/bin/python" -c "import mmseg_sipe; print('[setup_env] mmseg_sipe', mmseg_sipe.__version__, 'imports OK')"
rm -f "$VENV"/.sipe-env-*
touch "$STAMP"
step "done: $VENV"
