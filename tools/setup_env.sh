#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with a tested, pinned
# OpenMMLab stack.  Idempotent: a second run checks a stamp and exits in seconds.
#
#   bash tools/setup_env.sh                       # default: the OneDL fork
#   SIPE_STACK=openmmlab bash tools/setup_env.sh  # official mmcv 2.1 + mmseg 1.2
#
# Environment knobs:
#   SIPE_STACK       onedl (default): the maintained OneDL fork of mmengine /
#                    mmcv / mmsegmentation / mmpretrain (same import names),
#                    mmcv without compiled ops -- no compiler, ~1-2 min from an
#                    empty pip cache; pins in requirements/constraints.txt.
#                    openmmlab: the official packages, mmcv 2.1.0 built with
#                    its ops (~9 min on 2 cores the first time, needs a C++
#                    compiler); pins in requirements/constraints-openmmlab.txt.
#   SIPE_VENV        where the venv lives (default: <repo>/.venv)
#   SIPE_TORCH_SPEC  torch requirement (default: torch==2.13.0, the CPU build
#                    on hosts without CUDA).  On a CUDA machine set it to your
#                    own CUDA torch, e.g. SIPE_TORCH_SPEC='torch==2.13.0'
#                    with PIP_INDEX_URL pointing at the CUDA wheels.
#   SIPE_PYTHON      python used to create the venv (default: python3)
#   MAX_JOBS         parallel compile jobs for the official mmcv ops build
#                    (default 2)
#   SIPE_WITH_MMPRETRAIN  1 (default): also install mmpretrain + torchvision
#                    (backbones from mmpretrain by config; the tests use
#                    them); 0: leave them out (their tests are then skipped)
#
# Why each step exists is in docs/get_started.md ("What the set-up does").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${SIPE_STACK:-onedl}"
case "$STACK" in
  onedl) SUFFIX="" ;;
  openmmlab) SUFFIX="-openmmlab" ;;
  *) echo "[setup_env] error: SIPE_STACK=$STACK; use onedl (default) or openmmlab" >&2
     exit 2 ;;
esac
VENV="${SIPE_VENV:-$ROOT/.venv}"
PY="${SIPE_PYTHON:-python3}"
TORCH_SPEC="${SIPE_TORCH_SPEC:-torch==2.13.0}"
CONSTRAINTS="$ROOT/requirements/constraints$SUFFIX.txt"
export MAX_JOBS="${MAX_JOBS:-2}"

# The stamp records every input of the install; if it matches, nothing to do.
WITH_MMPRETRAIN="${SIPE_WITH_MMPRETRAIN:-1}"
TV_HOOK="$ROOT/tools/env/_sipe_tv_cpu_hook.py"
STAMP_KEY="$( (cat "$ROOT/requirements/"*.txt "$ROOT/setup.py" "$TV_HOOK" \
  "$ROOT/mmseg_sipe_scopes.py" "${BASH_SOURCE[0]}"; \
  echo "$STACK $TORCH_SPEC $WITH_MMPRETRAIN") | sha256sum | cut -c1-16)"
STAMP="$VENV/.sipe-env-$STAMP_KEY"
if [[ -f "$STAMP" ]]; then
  echo "[setup_env] environment up to date ($STACK stack): $VENV"
  exit 0
fi

t0=$(date +%s)
step() { echo "[setup_env] $(( $(date +%s) - t0 ))s: $*"; }

if [[ ! -x "$VENV/bin/python" ]]; then
  step "creating venv at $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
PY_VENV="$VENV/bin/python"

# A venv switched between stacks: the other stack's distributions would shadow
# (or be shadowed by) this one's -- same import names.
if [[ "$STACK" == "onedl" ]]; then
  OTHER=(mmengine mmcv mmcv-lite mmsegmentation mmpretrain)
else
  OTHER=(onedl-mmengine onedl-mmcv onedl-mmsegmentation onedl-mmpretrain)
fi
FOUND="$("$PY_VENV" -c '
import sys
from importlib import metadata
def here(n):
    try:
        return bool(metadata.version(n))
    except metadata.PackageNotFoundError:
        return False
print(" ".join(n for n in sys.argv[1:] if here(n)))' "${OTHER[@]}")"
if [[ -n "$FOUND" ]]; then
  step "removing the other stack's packages: $FOUND"
  "$PY_VENV" -m pip uninstall -q -y $FOUND
fi

# 0. Dense CRF: pydensecrf2 has no wheels on PyPI, so pip builds it from its
#    sdist (Cython + C++, ~30 s; the only compiled piece of the default stack).
#    Build it in the background while the rest installs; pip caches the wheel.
if ! "$PY_VENV" -c "import pydensecrf.densecrf" 2>/dev/null; then
  CRF_WHEELS="$(mktemp -d)"
  "$PY_VENV" -m pip wheel -q --disable-pip-version-check --no-deps \
    -c "$CONSTRAINTS" -w "$CRF_WHEELS" pydensecrf2 >"$CRF_WHEELS/log" 2>&1 &
  CRF_PID=$!
fi

# 1. torch first: the CPU wheel here, or the user's own CUDA build.  Without
#    this pin an unconstrained resolver pulls a multi-GB CUDA torch.
step "torch ($TORCH_SPEC)"
"${PIP[@]}" "$TORCH_SPEC"

if [[ "$STACK" == "onedl" ]]; then
  # 2. The fork: onedl-mmcv built without ops (MMCV_WITH_OPS=0: pure Python,
  #    seconds, no compiler; onedl-mmsegmentation>=1.3 does not need them),
  #    numpy 2, and the rest in one resolver call.
  step "OneDL fork (mmengine, mmcv without ops, mmsegmentation), numpy 2, test tools"
  MMCV_WITH_OPS=0 "${PIP[@]}" -c "$CONSTRAINTS" -r "$ROOT/requirements/onedl.txt" \
    $(grep -v pydensecrf2 "$ROOT/requirements/runtime.txt" | sed 's/#.*//') \
    -r "$ROOT/requirements/tests.txt"
else
  # 2. setuptools<81 *after* torch (torch pulls a newer one): mmcv's setup.py
  #    and the official mmengine's `mmseg::` config scopes import pkg_resources.
  step "setuptools / numpy / opencv"
  "${PIP[@]}" -c "$CONSTRAINTS" setuptools numpy opencv-python
  step "mmengine"
  "${PIP[@]}" -c "$CONSTRAINTS" mmengine
  # 3. mmcv 2.1.0 with compiled ops.  mmseg 1.2.2 imports mmcv.ops
  #    unconditionally and rejects mmcv>=2.2.  No prebuilt wheel matches a
  #    modern torch, so pip builds the sdist against the installed torch
  #    (--no-build-isolation: its setup.py imports torch and pkg_resources).
  #    ~8 min on 2 cores the first time; pip caches the built wheel afterwards.
  if ! "$PY_VENV" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
    step "mmcv 2.1.0 with ops (compiles once, ~8 min on 2 cores; cached afterwards)"
    MMCV_WITH_OPS=1 "${PIP[@]}" --no-build-isolation -c "$CONSTRAINTS" mmcv
  fi
  # 4. mmsegmentation + its undeclared run-time needs (ftfy, regex), dense CRF
  #    (pydensecrf2 builds from its sdist in ~30 s), and the test tools.
  step "mmsegmentation, ftfy, regex, pydensecrf2, test tools"
  "${PIP[@]}" -c "$CONSTRAINTS" -r "$ROOT/requirements/openmmlab.txt" \
    $(grep -v pydensecrf2 "$ROOT/requirements/runtime.txt" | sed 's/#.*//') \
    -r "$ROOT/requirements/tests.txt"
fi

if [[ -n "${CRF_PID:-}" ]]; then
  step "pydensecrf2 (built in the background)"
  wait "$CRF_PID" || { cat "$CRF_WHEELS/log" >&2; exit 1; }
  "${PIP[@]}" --no-deps "$CRF_WHEELS"/pydensecrf2-*.whl
  rm -rf "$CRF_WHEELS"
fi

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
  "${PIP[@]}" -c "$CONSTRAINTS" -r "$ROOT/requirements/mmpretrain$SUFFIX.txt"
  step "torchvision start-up hook (only on a CPU torch)"
  "$PY_VENV" "$TV_HOOK" --install
  "$PY_VENV" -c "import torchvision.transforms, mmpretrain.models" \
    || { echo "[setup_env] error: torchvision/mmpretrain do not import" >&2; exit 1; }
else
  # a torchvision left without its hook would break mmengine's Runner
  step "SIPE_WITH_MMPRETRAIN=0: removing mmpretrain, torchvision and the hook"
  "$PY_VENV" -m pip uninstall -q -y mmpretrain onedl-mmpretrain torchvision 2>/dev/null || true
  "$PY_VENV" "$TV_HOOK" --uninstall
fi

# 6. this package, editable, without touching the pinned dependencies; the
#    config-scope aliases (`mmseg::` on the fork) at start-up, as a wheel of
#    this package installs them (mmseg_sipe_scopes.py says why).
step "mmseg_sipe (editable)"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"
"$PY_VENV" "$ROOT/mmseg_sipe_scopes.py" --install >/dev/null

"$PY_VENV" -m pip check
"$PY_VENV" -c "import mmseg_sipe; print('[setup_env] mmseg_sipe', mmseg_sipe.__version__, 'imports OK on the', mmseg_sipe.STACK, 'stack')"
rm -f "$VENV"/.sipe-env-*
touch "$STAMP"
step "done: $VENV"
