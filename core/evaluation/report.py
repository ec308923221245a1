"""The replay's written report (DESIGN §4.6): report.json, trades.csv, equity.csv.

Deterministic by construction: sorted keys, fixed float formatting, rows in a fixed order, and nothing
about the run itself (wall time, host, duration) in report.json, so two runs with the same inputs give
byte-identical files. The accounting identity is made to hold on the *written* values: each net_pnl is
written with MONEY_DECIMALS decimals and final_equity is the exact decimal sum of the initial equity and
those written legs.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from core.evaluation.baselines import BaselineRun
from core.evaluation.breakdowns import compute_breakdowns
from core.evaluation.metrics import PARTIAL_EXIT_ORDER, compute_metrics
from core.models import ClosedTrade, iso_z

MONEY_DECIMALS = 6
JSON_DECIMALS = 8
TRADE_COLUMNS = (
    "symbol",
    "side",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "qty",
    "leverage",
    "stop_loss",
    "exit_reason",
    "gross_pnl",
    "fees",
    "funding",
    "net_pnl",
    "position_id",
    "confidence",
)


class AccountingError(RuntimeError):
    """The broker's equity disagrees with the sum of its own closed trades: a bug, never rounded away."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """Everything a replay produced, in memory; the writers below turn it into files."""

    engine: str
    symbols: tuple[str, ...]
    start: datetime
    end: datetime
    initial_equity: float
    bar_seconds: int
    step_ms: np.ndarray  # as_of of each step (close of the base bar just finished), UTC ms
    equity: np.ndarray  # marked equity after each step; the last one after closing everything
    exposure: np.ndarray  # bool per step: at least one position open
    trades: tuple[ClosedTrade, ...]
    baselines: tuple[BaselineRun, ...]
    guard_approved: int = 0
    guard_rejected: int = 0
    guard_reasons: Mapping[str, int] = field(default_factory=dict)
    engine_stats: Mapping[str, int | float] = field(default_factory=dict)
    settings: Mapping[str, object] = field(default_factory=dict)  # limits and costs used, for reproduction
    run_stats: Mapping[str, int | float] = field(default_factory=dict)  # LLM tokens, cache hits: not in report.json
    alerts: tuple[str, ...] = ()  # what admins would have been told (kill-switch, daily breaker)
    markers: tuple[tuple[int, str], ...] = ()  # (as_of ms, label): moments worth a line on the chart
    entry_regimes: Mapping[str, str] = field(default_factory=dict)  # position/signal id -> regime at its decision
    kill_switch: Mapping[str, object] = field(default_factory=dict)  # what the drawdown kill-switch did
    walk_forward: Mapping[str, object] = field(default_factory=dict)  # with --folds: folds and oos (§4.6)
    intrabar_ms: Mapping[str, int] = field(default_factory=dict)  # symbol -> timeframe its stops resolved on

    @property
    def step_times(self) -> list[datetime]:
        return [datetime.fromtimestamp(int(ms) / 1000, tz=UTC) for ms in self.step_ms]


@dataclass(frozen=True, slots=True)
class ReportFiles:
    report_json: Path
    trades_csv: Path
    equity_csv: Path


def money(value: float) -> str:
    text = f"{value:.{MONEY_DECIMALS}f}"
    return "0.000000" if text == "-0.000000" else text


def number(value: float) -> str:
    """Prices and quantities: 12 significant digits, no exponent surprises for ordinary values."""
    return f"{value:.12g}"




def sorted_trades(trades: Sequence[ClosedTrade]) -> list[ClosedTrade]:
    return sorted(
        trades,
        key=lambda t: (t.exit_time, t.entry_time, t.symbol, t.position_id, PARTIAL_EXIT_ORDER.get(t.exit_reason, 3),
                       t.exit_reason),
    )


def written_final_equity(initial_equity: float, trades: Sequence[ClosedTrade]) -> Decimal:
    """initial + Σ net_pnl on the values as written to trades.csv: the identity holds exactly."""
    return Decimal(money(initial_equity)) + sum((Decimal(money(t.net_pnl)) for t in trades), Decimal(0))


def _clean(value: object) -> object:
    """JSON-ready with fixed rounding: floats to JSON_DECIMALS places, NaN/inf to null, keys as strings."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return None
        v = round(v, JSON_DECIMALS)
        return 0.0 if v == 0 else v
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    raise TypeError(f"cannot write {type(value).__name__} to report.json")


def check_identity(result: ReplayResult, tolerance: float = 1e-9) -> None:
    """The broker's last equity must equal initial + Σ net_pnl before any rounding (relative tolerance: float
    noise is ~1e-12 of equity; a 1e-6 tolerance let a cent per 10,000 leak into the rounded files unseen)."""
    if not len(result.equity):
        return
    expected = result.initial_equity + math.fsum(t.net_pnl for t in result.trades)
    actual = float(result.equity[-1])
    if abs(actual - expected) > tolerance * max(1.0, abs(result.initial_equity)):
        raise AccountingError(
            f"final equity {actual:.8f} != initial {result.initial_equity} + Σ net_pnl = {expected:.8f} "
            f"(difference {actual - expected:.8f})"
        )


def build_report(result: ReplayResult) -> dict[str, object]:
    final = written_final_equity(result.initial_equity, result.trades)
    metrics = compute_metrics(
        initial_equity=result.initial_equity,
        equity=result.equity,
        trades=result.trades,
        bar_seconds=result.bar_seconds,
        exposure=result.exposure,
        final_equity=float(final),
        step_ms=result.step_ms,
    )
    metrics["final_equity"] = final
    metrics["net_pnl"] = final - Decimal(money(result.initial_equity))
    baselines: dict[str, object] = {}
    for run in result.baselines:
        baselines[run.name] = compute_metrics(
            initial_equity=result.initial_equity,
            equity=run.equity,
            trades=run.trades,
            bar_seconds=result.bar_seconds,
            exposure=run.exposure,
            step_ms=result.step_ms,
            calibrate=False,
        )
    reasons = dict(sorted(result.guard_reasons.items()))
    report = {
        "engine": result.engine,
        "symbols": list(result.symbols),
        "start": iso_z(result.start),
        "end": iso_z(result.end),
        "bar_seconds": result.bar_seconds,
        # as the identity counts it: the money-rounded initial equity, so initial + Σ net_pnl = final exactly
        "initial_equity": Decimal(money(result.initial_equity)),
        "metrics": metrics,
        "baselines": baselines,
        "guard": {"approved": result.guard_approved, "rejected": result.guard_rejected, "reasons": reasons},
        "engine_stats": dict(sorted(result.engine_stats.items())),
        "settings": dict(result.settings),
        "breakdowns": breakdowns_of(result),
    }
    if result.kill_switch:
        report["kill_switch"] = dict(result.kill_switch)
    if len(set(result.intrabar_ms.values())) > 1:  # uniform: engine_stats.intrabar_timeframe_ms says it all
        report["intrabar_resolution"] = {s: timeframe_label(ms) for s, ms in sorted(result.intrabar_ms.items())}
    if result.walk_forward:
        report["walk_forward"] = dict(result.walk_forward)
    return _clean(report)  # type: ignore[return-value]


def timeframe_label(ms: int) -> str:
    return f"{ms // 3_600_000}h" if ms % 3_600_000 == 0 else f"{ms // 60_000}m"


def breakdowns_of(result: ReplayResult) -> dict[str, object]:
    bh = next((b.equity for b in result.baselines if b.name == "buy_and_hold"), None)
    return compute_breakdowns(
        trades=result.trades,
        regimes=result.entry_regimes,
        step_ms=result.step_ms,
        equity=result.equity,
        exposure=result.exposure,
        initial_equity=result.initial_equity,
        bar_seconds=result.bar_seconds,
        benchmark_equity=bh,
    )


def write_report(result: ReplayResult, out_dir: Path, report: dict[str, object] | None = None) -> ReportFiles:
    """report.json, trades.csv and equity.csv; `report`: build_report(result) when the caller has it already."""
    check_identity(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out_dir / "report.json", out_dir / "trades.csv", out_dir / "equity.csv")

    report = build_report(result) if report is None else report
    files.report_json.write_text(json.dumps(report, sort_keys=True, indent=2, allow_nan=False) + "\n", encoding="utf-8")

    with files.trades_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRADE_COLUMNS)
        for t in sorted_trades(result.trades):
            writer.writerow(
                (
                    t.symbol,
                    t.side,
                    iso_z(t.entry_time),
                    number(t.entry_price),
                    iso_z(t.exit_time),
                    number(t.exit_price),
                    number(t.qty),
                    t.leverage,
                    number(t.stop_loss),
                    t.exit_reason,
                    money(t.gross_pnl),
                    money(t.fees),
                    money(t.funding),
                    money(t.net_pnl),
                    t.position_id,
                    f"{t.confidence:.4f}",
                )
            )

    final = written_final_equity(result.initial_equity, result.trades)
    # timestamps formatted by numpy in one pass (as iso_z would, whole seconds); no field ever needs CSV quoting
    stamps = np.datetime_as_string(np.asarray(result.step_ms, dtype="datetime64[ms]").astype("datetime64[s]"), unit="s")
    values = [money(v) for v in np.asarray(result.equity, dtype=float).tolist()]
    if values:  # the last row is the written final equity, so the files agree with each other exactly
        values[-1] = f"{final:.{MONEY_DECIMALS}f}"
    rows = "".join(f"{stamp}Z,{value}\n" for stamp, value in zip(stamps.tolist(), values, strict=True))
    files.equity_csv.write_text("timestamp,equity\n" + rows, encoding="utf-8", newline="")
    return files
