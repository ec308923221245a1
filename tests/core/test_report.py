"""report.json / trades.csv / equity.csv: contract keys, exact identity on the written values, determinism."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from core.baselines import buy_and_hold, flat
from core.config import CostModel
from core.models import ClosedTrade
from core.replay_feed import MS_PER_HOUR, Bars, SymbolBars
from core.report import AccountingError, ReplayResult, build_report, write_report

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def trade(pid: str, net: float, start_h: int, hours: int, reason: str) -> ClosedTrade:
    return ClosedTrade(
        position_id=pid, symbol="BTC/USDT:USDT", side="long", entry_time=T0 + timedelta(hours=start_h),
        entry_price=42000.123456789, exit_time=T0 + timedelta(hours=start_h + hours), exit_price=42100.5,
        qty=0.0123456789, leverage=3, stop_loss=41000.0, exit_reason=reason, gross_pnl=net + 0.3333333,
        fees=0.2222222, funding=0.1111111, net_pnl=net, confidence=0.72,
    )


def make_result(trades: list[ClosedTrade], *, drift: float = 0.0) -> ReplayResult:
    n = 48
    steps = T0_MS + np.arange(n, dtype=np.int64) * MS_PER_HOUR
    initial = 10_000.0
    equity = np.full(n, initial)
    for t in trades:
        done = steps >= int(t.exit_time.timestamp() * 1000) + MS_PER_HOUR
        equity = equity + np.where(done, t.net_pnl, 0.0)
    equity[-1] = initial + sum(t.net_pnl for t in trades) + drift
    opens = 42000 + np.arange(n + 1, dtype=np.float64)
    base = Bars(MS_PER_HOUR, T0_MS + np.arange(n + 1, dtype=np.int64) * MS_PER_HOUR - MS_PER_HOUR,
                opens, opens + 5, opens - 5, opens + 1)
    bars = SymbolBars("BTC/USDT:USDT", base)
    return ReplayResult(
        engine="rules", symbols=("BTC/USDT:USDT",), start=T0, end=T0 + timedelta(hours=n - 1),
        initial_equity=initial, bar_seconds=3600, step_ms=steps, equity=equity,
        exposure=np.zeros(n, dtype=bool), trades=tuple(trades),
        baselines=(buy_and_hold([bars], steps, initial, CostModel()), flat(steps, initial)),
        guard_approved=2, guard_rejected=5, guard_reasons={"min_confidence": 4, "cooldown": 1},
    )


TRADES = [
    trade("p1", 12.3456789123, 2, 5, "tp1"),
    trade("p1", -0.0000004, 2, 9, "breakeven"),
    trade("p2", -7.1234567891, 20, 3, "stop"),
    trade("p3", 1.0 / 3.0, 40, 7, "end"),
]


def test_report_json_has_the_contract_keys(tmp_path: Path) -> None:
    files = write_report(make_result(TRADES), tmp_path)
    report = json.loads(files.report_json.read_text())
    for key in ("engine", "symbols", "start", "end", "initial_equity", "metrics", "baselines", "guard"):
        assert key in report
    for key in ("final_equity", "total_return_pct", "max_drawdown_pct", "sharpe", "win_rate", "profit_factor",
                "trades", "fees_paid", "funding_paid", "sortino", "cagr_pct", "expectancy", "avg_hold_hours",
                "exposure_pct", "exits_by_reason", "calibration"):
        assert key in report["metrics"], key
    assert set(report["baselines"]) == {"buy_and_hold", "flat"}
    assert report["baselines"]["flat"]["final_equity"] == 10_000.0
    assert report["guard"] == {"approved": 2, "rejected": 5, "reasons": {"cooldown": 1, "min_confidence": 4}}
    assert report["start"] == "2024-01-01T00:00:00Z"
    assert report["metrics"]["trades"] == 4 and report["metrics"]["positions"] == 3


def test_identity_holds_exactly_on_the_written_files(tmp_path: Path) -> None:
    files = write_report(make_result(TRADES), tmp_path)
    report = json.loads(files.report_json.read_text(), parse_float=Decimal)
    with files.trades_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    total = sum((Decimal(r["net_pnl"]) for r in rows), Decimal(0))
    assert report["metrics"]["final_equity"] == report["initial_equity"] + total
    with files.equity_csv.open() as handle:
        equity_rows = list(csv.DictReader(handle))
    assert Decimal(equity_rows[-1]["equity"]) == report["metrics"]["final_equity"]
    assert len(equity_rows) == 48 and equity_rows[0]["timestamp"] == "2024-01-01T00:00:00Z"


def test_trades_csv_columns_and_order(tmp_path: Path) -> None:
    files = write_report(make_result(TRADES), tmp_path)
    with files.trades_csv.open() as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = reader.fieldnames or []
    required = "symbol,side,entry_time,entry_price,exit_time,exit_price,qty,leverage,stop_loss,exit_reason,gross_pnl,fees,funding,net_pnl"
    assert header[:14] == required.split(",")
    assert [r["exit_reason"] for r in rows] == ["tp1", "breakeven", "stop", "end"]
    assert rows[0]["entry_time"] == "2024-01-01T02:00:00Z" and rows[0]["stop_loss"] == "41000"
    assert rows[1]["net_pnl"] == "0.000000"  # -4e-7 rounds to zero without a minus sign


def test_two_writes_are_byte_identical(tmp_path: Path) -> None:
    a = write_report(make_result(TRADES), tmp_path / "a")
    b = write_report(make_result(list(reversed(TRADES))), tmp_path / "b")
    for name in ("report_json", "trades_csv", "equity_csv"):
        assert getattr(a, name).read_bytes() == getattr(b, name).read_bytes(), name


def test_a_broker_that_leaks_money_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AccountingError):
        write_report(make_result(TRADES, drift=0.5), tmp_path)


def test_no_nan_or_infinity_reaches_json() -> None:
    report = build_report(make_result([]))
    text = json.dumps(report)
    assert "NaN" not in text and "Infinity" not in text
    assert report["metrics"]["sharpe"] is None  # type: ignore[index]
