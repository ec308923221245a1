"""Replays on the shared data give byte-identical reports whether the indicators come from the numpy/kernel
code or from the pandas-level reference (pandas-ta's code paths, tests/core/market/reference/pandas_steps.py,
itself checked against recorded pandas-ta output): the speed-up changed no decision and no output byte."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

import core.market.snapshot as snapshot_module
from bot.commands.replay_cmd import run_replay
from core.market.indicators import IndicatorFrame, compute_indicators
from tests.core.market.reference.cases import DATA
from tests.core.market.reference.pandas_steps import indicator_columns

TRAIN = DATA / "binance-perps-train" / "main"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not TRAIN.is_dir(), reason=f"needs the shared real data at {TRAIN}")]
OUTPUTS = ("report.json", "trades.csv", "equity.csv")


def with_reference_indicators(frame: pd.DataFrame, timeframe: str) -> IndicatorFrame:
    computed = compute_indicators(frame, timeframe)
    return replace(computed, columns={**computed.columns, **indicator_columns(frame)})


@pytest.mark.parametrize(
    ("engine", "symbols", "start", "end"),
    [
        ("rules", ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT"), datetime(2023, 3, 1, tzinfo=UTC),
         datetime(2023, 5, 1, tzinfo=UTC)),
        ("trend", ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT", "ADA/USDT:USDT"),
         datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 6, 1, tzinfo=UTC)),
    ],
)
async def test_reports_are_byte_identical_to_the_reference_indicators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, symbols: tuple[str, ...], start: datetime,
    end: datetime,
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("LLM_API_KEY", "LLM_BASE_URL", "ENGINE", "SYMBOLS"):
        monkeypatch.delenv(name, raising=False)
    assert await run_replay(TRAIN, symbols, start, end, engine, tmp_path / "fast", 10_000.0) == 0
    monkeypatch.setattr(snapshot_module, "compute_indicators", with_reference_indicators)
    assert await run_replay(TRAIN, symbols, start, end, engine, tmp_path / "reference", 10_000.0) == 0
    trades = (tmp_path / "fast" / "trades.csv").read_text().count("\n") - 1
    assert trades > 3, "a window with trades, so decisions are compared"
    for name in OUTPUTS:
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name
