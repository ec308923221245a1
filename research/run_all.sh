#!/usr/bin/env bash
# Every figure in docs/strategy.md, regenerated: nice research/run_all.sh (about 10 minutes on 2 shared cores).
set -euo pipefail
cd "$(dirname "$0")/.."
py=".venv/bin/python"
out=research/results
mkdir -p "$out"
run() { local name=$1; shift; echo "### $name: $*"; nice "$py" research/walk_forward.py "$@" --out "$out/$name.json"; }
run trend_default --engine trend
run trend_select --engine trend --select atr_stop_multiple=2,3 --select min_spread_atr=0.25,0.5,1.0
run trend_long_short --engine trend --set allow_shorts=true
run trend_no_groups --engine trend --limit correlation_groups= --no-costx2
run trend_4h_stop --engine trend --set stop_timeframe=4h --set atr_stop_multiple=2.5 --set max_stop_pct=5 --limit max_stop_pct=5 --limit stale_exit_h=48 --no-costx2
run trend_slow --engine trend --set slow_trend=true --set exit_ema=200 --no-costx2
run trend_crowded_funding --engine trend --set crowded_funding=0.0003 --no-costx2
run trend_ema200_filter --engine trend --set long_term_filter=true --no-costx2
run rules_old_defaults --engine rules --limit risk_per_trade_pct=1.5 --limit stale_exit_h=48 --limit max_stop_pct=5
run rules_new_limits --engine rules --no-costx2
for b in tsmom ema_cross buy_and_hold; do run "baseline_$b" --engine "baseline:$b"; done
echo "### continuous"
nice "$py" research/continuous.py --risk 1.0,0.75,0.5 --kill 20 | tee "$out/continuous.txt"
