#!/usr/bin/env bash
# The main job on the shipped examples: `saferl verify` on every policy × spec pair.
# Exit status 0 when every verdict is the expected one.
set -uo pipefail
SAFERL=${1:-saferl}
cd "$(dirname "$0")/.."
status=0
check() {  # check EXPECTED_EXIT POLICY SPEC
  local want=$1 policy=$2 spec=$3
  echo "== saferl verify $policy --spec $spec"
  "$SAFERL" verify "$policy" --spec "$spec" --cross-check
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "!! expected exit $want, got $got"; status=1
  fi
  echo
}
check 1 policies/cartpole/worst.pol        specs/cartpole/pole_follow.yaml
check 1 policies/cartpole/intermediate.pol specs/cartpole/pole_follow.yaml
check 0 policies/cartpole/near_optimal.pol specs/cartpole/pole_follow.yaml
check 0 policies/torcs/propel_prog.pol     specs/torcs/smooth.yaml
check 0 policies/pendulum/swing_up.pol     specs/pendulum/upright.yaml
check 0 policies/mountaincar/bang_bang.pol specs/mountaincar/momentum.yaml
# the loop's next step: repair the UNSAFE tree automatically, then prove the repair
mkdir -p out
echo "== saferl repair policies/cartpole/worst.pol --spec specs/cartpole/pole_follow.yaml -o out/worst_repaired.pol"
"$SAFERL" repair policies/cartpole/worst.pol --spec specs/cartpole/pole_follow.yaml -o out/worst_repaired.pol || status=1
echo
check 0 out/worst_repaired.pol             specs/cartpole/pole_follow.yaml
if [ "$status" -eq 0 ]; then echo "demo: every verdict as expected"; else echo "demo: unexpected verdicts"; fi
exit $status
