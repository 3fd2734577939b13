# Sourced (not run) by tools/run_demo.sh and tools/run_tests.sh: go to the
# checkout root ($ROOT), set up the environment (idempotent, seconds when
# already done) and put its venv ($SIPE_VENV, default .venv) first on PATH.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
VENV="${SIPE_VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
