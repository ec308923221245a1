"""#18: the intrabar resolution is chosen per symbol (5m where that symbol has it, 1h otherwise) and stated in
the report — one symbol without 5m bars no longer sends every symbol back to 1h without a word."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.commands.replay_cmd import resolution_line
from core.config import RiskLimits
from core.decide.rules import RulesEngine
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.evaluation.report import write_report
from core.market.offline import OfflineMarketData

CYFT = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"

pytestmark = pytest.mark.skipif(not CYFT.is_dir(), reason=f"real data not found at {CYFT}")


def folder(tmp_path: Path, files: dict[str, tuple[str, ...]]) -> Path:
    """Links to the real files: `files[stem]` the kinds kept (e.g. 1h-futures, 5m-futures, 8h-funding_rate)."""
    out = tmp_path / "data"
    out.mkdir()
    for stem, kinds in files.items():
        for kind in kinds:
            (out / f"{stem}-{kind}.feather").symlink_to(CYFT / f"{stem}-{kind}.feather")
    return out


async def test_one_symbol_with_5m_and_one_without(tmp_path: Path) -> None:
    data = folder(tmp_path, {"BTC_USDT_USDT": ("1h-futures", "5m-futures", "8h-funding_rate"),
                             "ETH_USDT_USDT": ("1h-futures", "8h-funding_rate")})
    spec = ReplaySpec(symbols=(BTC, ETH), start=datetime(2023, 6, 1, tzinfo=UTC), end=datetime(2023, 7, 1, tzinfo=UTC),
                      engine="rules", limits=RiskLimits(correlation_groups=()))
    mixed = await run_replay_cycle(OfflineMarketData(data), spec, RulesEngine())
    assert mixed.intrabar_ms == {BTC: 300_000, ETH: 3_600_000}
    report = json.loads(write_report(mixed, tmp_path / "out").report_json.read_text())
    assert report["intrabar_resolution"] == {BTC: "5m", ETH: "1h"}
    assert resolution_line({BTC: "5m", ETH: "1h"}) == (
        "stops and targets resolved on 5m bars (BTC/USDT:USDT), 1h bars (ETH/USDT:USDT: no finer bars covering the window)"
    )

    # BTC's stops and targets fill inside the hour (5m bars), ETH's only at hour marks (1h bars)
    assert any(t.exit_time.minute for t in mixed.trades if t.symbol == BTC)
    assert [t for t in mixed.trades if t.symbol == ETH] and not any(t.exit_time.minute for t in mixed.trades if t.symbol == ETH)


def test_uniform_resolution_is_one_short_line() -> None:
    assert resolution_line({BTC: "5m", ETH: "5m"}) == "stops and targets resolved on 5m bars"

