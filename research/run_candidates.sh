#!/usr/bin/env bash
# The second round of candidates (docs/strategy.md, "Round 2"), each on both splits (the harness's five folds and
# the lab's four), costs ×2 beside: nice research/run_candidates.sh (about 15 minutes on 2 shared cores). The TSMOM
# candidates are in research/run_combos.sh (on the snapshot's change_30d_pct).
set -euo pipefail
cd "$(dirname "$0")/.."
py=".venv/bin/python"
out=research/results
mkdir -p "$out"
run() {
  local name=$1; shift
  for split in harness lab; do
    echo "### $name ($split): $*"
    nice "$py" research/walk_forward.py "$@" --split "$split" --out "$out/r2_${name}_${split}.json"
  done
}
only=${1:-}
want() { [[ -z "$only" || " $only " == *" $1 "* ]]; }
if [[ "$only" == "--functions-only" ]]; then only=${2:-}; return 0; fi  # sourced by run_combos.sh
want base && run trend_default --engine trend
want trail && run two_phase_trail --engine trend --limit lock_profit_trigger_pct=2.5 --limit trail_after_tp1_pct=2
want trail && run lock_only --engine trend --limit lock_profit_trigger_pct=2.5
want trail && run trail2_only --engine trend --limit trail_after_tp1_pct=2
want funding && run funding_decile --engine trend --set funding_veto_quantile=0.9
want regime && run regime_filter --engine trend --set regime_filter=true
want vol && run trend_vol10 --engine trend --vol-target 10
for b in tsmom ema_cross buy_and_hold; do want baselines && run "baseline_$b" --engine "baseline:$b"; done
want baselines && run baseline_tsmom_vol10 --engine baseline:tsmom --vol-target 10
echo done
