#!/usr/bin/env bash
# The full test suite, from a fresh clone: sets up the environment (idempotent,
# seconds when already done) and runs pytest.  Extra args go to pytest.
#   bash tools/run_tests.sh            # everything
#   bash tools/run_tests.sh -k crf     # a subset
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/use_env.sh"
t0=$(date +%s)
set +e
python -m pytest -n "${SIPE_TEST_WORKERS:-2}" --dist loadfile "$@"
rc=$?
set -e
echo "[run_tests] pytest exit code $rc after $(( $(date +%s) - t0 )) s"
exit $rc
