#!/usr/bin/env bash
# The second round of candidates (docs/strategy.md, "Round 2"), each on both splits (the harness's five folds and
# the lab's four), costs ×2 beside: nice research/run_candidates.sh (about 15 minutes on 2 shared cores).
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
want base && run trend_default --engine trend
want tsmom && run tsmom_stop --engine trend --set signal=tsmom --set allow_shorts=true
want tsmom && run tsmom_stop_long --engine trend --set signal=tsmom
want tsmom && run tsmom_stop_3atr --engine trend --set signal=tsmom --set allow_shorts=true --set atr_stop_multiple=3
want tsmom && run tsmom_stop_select --engine trend --set signal=tsmom --set allow_shorts=true --select lookback_days=14,30,90
want trail && run two_phase_trail --engine trend --limit lock_profit_trigger_pct=2.5 --limit trail_after_tp1_pct=2
want trail && run lock_only --engine trend --limit lock_profit_trigger_pct=2.5
want trail && run trail2_only --engine trend --limit trail_after_tp1_pct=2
want funding && run funding_decile --engine trend --set funding_veto_quantile=0.9
want funding && run tsmom_funding_decile --engine trend --set signal=tsmom --set allow_shorts=true --set funding_veto_quantile=0.9
want regime && run regime_filter --engine trend --set regime_filter=true
want regime && run tsmom_regime_filter --engine trend --set signal=tsmom --set allow_shorts=true --set regime_filter=true
want vol && run trend_vol10 --engine trend --vol-target 10
want vol && run tsmom_stop_vol10 --engine trend --set signal=tsmom --set allow_shorts=true --vol-target 10
for b in tsmom ema_cross buy_and_hold; do want baselines && run "baseline_$b" --engine "baseline:$b"; done
want baselines && run baseline_tsmom_vol10 --engine baseline:tsmom --vol-target 10
echo done
