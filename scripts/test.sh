#!/usr/bin/env bash
# The test command behind `make test` (and so behind .ci/run): installs what the tests
# need beyond pip (real TORCS, when the TORCS robot exists) and runs pytest.
set -euo pipefail
BIN=${1:-.venv/bin}
cd "$(dirname "$0")/.."
if [ -f torcs-robot/install.sh ]; then
  bash torcs-robot/install.sh
fi
# the slowest tests are listed at the end, so CI logs show where the suite's time goes
"$BIN/python" -m pytest -q -p no:cacheprovider --durations=30 tests
