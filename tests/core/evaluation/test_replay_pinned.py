"""The faster replay paths (#18: columnar feed, per-symbol intrabar bars, counting decision log, paused bars
without snapshots) give the same decisions and byte-identical reports as the replay before them.

The sha256 values were written by the replay at commit 5856f0c (before #18) on the same windows. One
deliberate difference: in the kill-switch window, report.json's `engine_stats.alerts` is 23 where it was
37 — paused hours no longer build snapshots, so the "market data is unfit" warning is not re-raised while
nothing can be entered anyway; its trades.csv and equity.csv are still the old bytes. A change that alters
decisions on purpose (an engine's defaults) re-pins these with the new values and says so in its commit.
report.json was re-pinned once since, when the merges of #14 (lock_profit_*, trail_after_tp1_pct) and #17
(news_veto_hours, news_regime; later news_veto_close) added their off-by-default limits to its settings block —
trades.csv and equity.csv kept the bytes of 5856f0c (checked: without news_veto_close the report is main's pin).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import RiskLimits
from core.decide.rules import RulesEngine
from core.decide.trend import TrendEngine
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.evaluation.report import write_report
from core.market.offline import OfflineMarketData

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
CYFT = SHARED / "freqtrade-userdata-cyft_trader" / "original"
TRAIN = SHARED / "binance-perps-train" / "main"
MAJORS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT", "LTC/USDT:USDT")

CASES = {
    "rules, BTC+ETH on 5m bars": (
        CYFT, MAJORS[:2], (2023, 6, 1), (2023, 7, 1), "rules", RiskLimits(), {
            "report.json": "0111093e11a1ce8fbe05daa128324928495b5502189ae28c72113b0b89b5eb7e",
            "trades.csv": "d84427a5feb568a97406cbfd4cf77c2c16d760de4b2ff29c3b721877b77efb0e",
            "equity.csv": "bd844bd1081a6d73fc020d534406effe683532086e7c3c4b89952618d876eca2",
        }),
    "trend, four majors on 1h bars": (
        TRAIN, MAJORS, (2023, 10, 1), (2023, 11, 15), "trend", RiskLimits(), {
            "report.json": "5d113b6d859b039d4992811f0c51c9db1e2ce13e63acfc38276bfe9dedac3680",
            "trades.csv": "f37e1009b111d9ae3caf91dfce2fe841cee78b07cca47966b6d46229a142215b",
            "equity.csv": "cf2b8181763d39adab3b164e8b1444bca7b71d86ab13c7b46bcffae94e74fbc9",
        }),
    "rules, five symbols, kill-switch fires in 2020": (
        TRAIN, (*MAJORS, "ADA/USDT:USDT"), (2020, 8, 1), (2020, 11, 1), "rules", RiskLimits(risk_per_trade_pct=1.5), {
            "report.json": "d37bb869939a003c8fa0550de09fe831422aed70e5d01fc97bcbe5c5dd449579",  # alerts 37 → 23
            "trades.csv": "69dad88a3683bba2b90b172d52e6d810a5fa8cebc03a8809f3a1b3969366d518",
            "equity.csv": "8c49696f7654e3773ba674cd2105ee445dd4bb02bf88e44f84badcd8e9bc9f82",
        }),
}


@pytest.mark.skipif(not (CYFT.is_dir() and TRAIN.is_dir()), reason=f"real data not found under {SHARED}")
@pytest.mark.parametrize("case", list(CASES))
async def test_reports_are_the_bytes_of_the_replay_before_18(case: str, tmp_path: Path) -> None:
    data, symbols, start, end, engine, limits, pinned = CASES[case]
    spec = ReplaySpec(symbols=symbols, start=datetime(*start, tzinfo=UTC), end=datetime(*end, tzinfo=UTC),
                      engine=engine, limits=limits)
    result = await run_replay_cycle(OfflineMarketData(data), spec, RulesEngine() if engine == "rules" else TrendEngine())
    write_report(result, tmp_path)
    got = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in pinned}
    assert got == pinned
