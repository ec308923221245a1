"""report.json / trades.csv / equity.csv: contract keys, exact identity on the written values, determinism."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from core.config import CostModel
from core.evaluation.baselines import buy_and_hold, flat
from core.evaluation.feed import MS_PER_HOUR, Bars, SymbolBars
from core.evaluation.report import AccountingError, ReplayResult, build_report, write_report
from core.models import ClosedTrade

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def trade(pid: str, net: float, start_h: int, hours: int, reason: str) -> ClosedTrade:
    return ClosedTrade(
        position_id=pid, symbol="BTC/USDT:USDT", side="long", entry_time=T0 + timedelta(hours=start_h),
        entry_price=42000.123456789, exit_time=T0 + timedelta(hours=start_h + hours), exit_price=42100.5,
        qty=0.0123456789, leverage=3, stop_loss=41000.0, exit_reason=reason, gross_pnl=net + 0.3333333,
        fees=0.2222222, funding=0.1111111, net_pnl=net, confidence=0.72,
    )


def make_result(trades: list[ClosedTrade], *, drift: float = 0.0, initial: float = 10_000.0) -> ReplayResult:
    n = 48
    steps = T0_MS + np.arange(n, dtype=np.int64) * MS_PER_HOUR
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
    assert report["metrics"]["trades"] == 3 and report["metrics"]["legs"] == 4 and report["metrics"]["positions"] == 3


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


def _read_equity(path: Path) -> tuple[list[datetime], np.ndarray]:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    times = [datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) for r in rows]
    return times, np.array([float(r["equity"]) for r in rows])


def test_metrics_match_an_independent_computation_on_the_written_files(tmp_path: Path) -> None:
    files = write_report(make_result(TRADES), tmp_path)
    report = json.loads(files.report_json.read_text())
    times, equity = _read_equity(files.equity_csv)
    # one row per base bar: no duplicate, no gap, first and last at the report's start and end
    assert len(set(times)) == len(times) == 48
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(times))
    assert report["start"] == times[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert report["end"] == times[-1].strftime("%Y-%m-%dT%H:%M:%SZ")
    m, initial = report["metrics"], report["initial_equity"]
    r = equity[1:] / equity[:-1] - 1
    years = (times[-1] - times[0]).total_seconds() / (365 * 24 * 3600)  # the calendar span: 47 hours
    assert m["cagr_pct"] == pytest.approx(((equity[-1] / initial) ** (1 / years) - 1) * 100, rel=1e-6)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(8760), rel=1e-6)
    assert m["sortino"] == pytest.approx(r.mean() / np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * np.sqrt(8760), rel=1e-6)
    assert m["total_return_pct"] == pytest.approx((equity[-1] / initial - 1) * 100, abs=1e-8)
    peak = np.maximum.accumulate(np.r_[initial, equity])
    assert m["max_drawdown_pct"] == pytest.approx(np.max(1 - np.r_[initial, equity] / peak) * 100, rel=1e-6)
    with files.trades_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    per_position: dict[str, float] = {}
    for row in rows:
        per_position[row["position_id"]] = per_position.get(row["position_id"], 0.0) + float(row["net_pnl"])
    wins = [v for v in per_position.values() if v > 0]
    losses = [v for v in per_position.values() if v <= 0]
    assert m["win_rate"] == pytest.approx(len(wins) / len(per_position))
    assert m["profit_factor"] == pytest.approx(sum(wins) / -sum(losses), rel=1e-6)
    assert m["fees_paid"] == pytest.approx(sum(float(r["fees"]) for r in rows), abs=1e-5)
    # trades.csv funding is cash received; the report's funding_paid is what was paid (the opposite sign)
    assert m["funding_paid"] == pytest.approx(-sum(float(r["funding"]) for r in rows), abs=1e-5)


def test_buy_and_hold_is_fully_exposed(tmp_path: Path) -> None:
    report = json.loads(write_report(make_result(TRADES), tmp_path).report_json.read_text())
    assert report["baselines"]["buy_and_hold"]["exposure_pct"] == 100.0
    assert report["baselines"]["flat"]["exposure_pct"] == 0.0


def test_a_one_cent_leak_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AccountingError):
        write_report(make_result(TRADES, drift=0.001), tmp_path)


def test_identity_holds_with_an_initial_equity_finer_than_cents(tmp_path: Path) -> None:
    files = write_report(make_result(TRADES, initial=1000.1234567), tmp_path)
    report = json.loads(files.report_json.read_text(), parse_float=Decimal)
    with files.trades_csv.open() as handle:
        total = sum((Decimal(r["net_pnl"]) for r in csv.DictReader(handle)), Decimal(0))
    assert report["metrics"]["final_equity"] == report["initial_equity"] + total


def test_report_json_is_strict_json(tmp_path: Path) -> None:
    result = make_result([])
    result = ReplayResult(**{**{f: getattr(result, f) for f in result.__slots__},  # type: ignore[attr-defined]
                             "settings": {"x": float("inf"), "y": float("nan")}})
    text = write_report(result, tmp_path).report_json.read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in report.json"))


def test_baselines_have_no_confidence_to_calibrate(tmp_path: Path) -> None:
    """Buy-and-hold decides nothing with a confidence: its legs must not fill a '0.0-0.1' bucket."""
    report = json.loads(write_report(make_result(TRADES), tmp_path).report_json.read_text())
    assert report["baselines"]["buy_and_hold"]["calibration"] == {}
    assert report["metrics"]["calibration"] == {"0.7-0.8": {"avg_net_pnl": pytest.approx((12.3456789123 - 4e-7 - 7.1234567891 + 1 / 3) / 3), "trades": 3, "win_rate": pytest.approx(2 / 3)}}


def test_legs_closed_in_the_same_bar_are_written_in_the_order_they_happened(tmp_path: Path) -> None:
    """A TP1 partial and the break-even stop of the rest in one bar: the partial came first."""
    legs = [trade("p9", 5.0, 2, 4, "breakeven"), trade("p9", 9.0, 2, 4, "tp1"), trade("p9", 1.0, 2, 4, "tp2")]
    files = write_report(make_result(legs), tmp_path)
    with files.trades_csv.open() as handle:
        assert [r["exit_reason"] for r in csv.DictReader(handle)] == ["tp1", "tp2", "breakeven"]
