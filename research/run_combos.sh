#!/usr/bin/env bash
# Round 2b (docs/strategy.md): TSMOM on the snapshot's change_30d_pct (no warm-up inside a fold), the round-2 inputs
# that helped it, combined, and #17's inputs with and without — each on both splits, costs ×2 beside:
# nice research/run_combos.sh [GROUPS] (about 30 minutes on 2 shared cores under load).
set -euo pipefail
cd "$(dirname "$0")/.."
source research/run_candidates.sh --functions-only "${1:-}"
want tsmom && run tsmom_stop --engine trend --set signal=tsmom --set allow_shorts=true
want tsmom && run tsmom_regime_filter --engine trend --set signal=tsmom --set allow_shorts=true --set regime_filter=true
want tsmom && run tsmom_regime_funding --engine trend --set signal=tsmom --set allow_shorts=true --set regime_filter=true --set funding_veto_quantile=0.9
want inputs && run tsmom_regime_btc_filter_off --engine trend --set signal=tsmom --set allow_shorts=true --set regime_filter=true --limit btc_filter_drop_pct=0 --no-costx2
want inputs && run trend_btc_filter_off --engine trend --limit btc_filter_drop_pct=0 --no-costx2
want tsmom && run tsmom_funding_decile --engine trend --set signal=tsmom --set allow_shorts=true --set funding_veto_quantile=0.9 --no-costx2
want tsmom && run tsmom_regime_long --engine trend --set signal=tsmom --set regime_filter=true --no-costx2
want tsmom && run tsmom_stop_long --engine trend --set signal=tsmom --no-costx2
want tsmom && run tsmom_regime_trail2 --engine trend --set signal=tsmom --set allow_shorts=true --set regime_filter=true --limit trail_after_tp1_pct=2 --no-costx2
echo done
