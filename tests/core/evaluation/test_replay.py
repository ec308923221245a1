"""The replay on real Binance perp data (../shared/data): accounting identity, stops, next-open fills,
determinism, and no look-ahead. Skipped when the shared data is not next to the repository."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import RiskLimits
from core.decide.rules import RulesEngine
from core.errors import UserInputError
from core.evaluation.replay import ReplaySpec, plan_steps, run_replay_cycle
from core.evaluation.report import write_report
from core.execution.perp_math import BPS, slipped_price
from core.market.offline import OfflineMarketData
from core.models import side_sign
from core.services.memory_log import MemoryDecisionLog

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
LIMITS = RiskLimits(correlation_groups=(SYMBOLS,))

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def market() -> OfflineMarketData:
    return OfflineMarketData(DATA)


def spec(start: datetime, end: datetime, **kw: object) -> ReplaySpec:
    return ReplaySpec(symbols=SYMBOLS, start=start, end=end, engine="rules", limits=LIMITS, **kw)  # type: ignore[arg-type]


async def test_two_months_identity_stops_and_next_open_fills(market: OfflineMarketData, tmp_path: Path) -> None:
    log = MemoryDecisionLog(keep_snapshots=True)
    result = await run_replay_cycle(market, spec(utc(2023, 3, 1), utc(2023, 5, 1)), RulesEngine(), decision_log=log)
    assert len(result.step_ms) == 61 * 24 + 1
    assert len(result.trades) > 5, "the rules engine should trade in two months of 2023"

    # every trade has an initial stop on the losing side of its entry
    for t in result.trades:
        assert t.stop_loss > 0 and side_sign(t.side) * (t.entry_price - t.stop_loss) > 0, t

    # entries fill at the open of the bar after the decision (the bar opening at the decision's as_of)
    decided_at = {r.signal_id: r.as_of for r in log.records() if r.verdict is not None and r.verdict.approved}
    base = {s: market.frame(s, "1h") for s in SYMBOLS}
    for t in result.trades:
        as_of = decided_at[t.position_id]
        assert t.entry_time == as_of
        bar_open = float(base[t.symbol].loc[pd.Timestamp(as_of), "open"])
        assert t.entry_price == pytest.approx(slipped_price(bar_open, side_sign(t.side), 2.0 * BPS, opening=True))

    # the identity, in memory and on the written files
    assert float(result.equity[-1]) == pytest.approx(10_000 + sum(t.net_pnl for t in result.trades), abs=1e-6)
    files = write_report(result, tmp_path)
    report = json.loads(files.report_json.read_text(), parse_float=Decimal)
    with files.trades_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result.trades)
    assert report["metrics"]["final_equity"] == report["initial_equity"] + sum(Decimal(r["net_pnl"]) for r in rows)
    assert report["guard"]["approved"] >= len({t.position_id for t in result.trades})
    assert set(report["baselines"]) == {"buy_and_hold", "buy_and_hold_spot", "flat"}


async def test_same_inputs_give_byte_identical_reports(market: OfflineMarketData, tmp_path: Path) -> None:
    window = spec(utc(2023, 6, 1), utc(2023, 6, 20))
    for name in ("a", "b"):
        write_report(await run_replay_cycle(market, window, RulesEngine()), tmp_path / name)
    for file in ("report.json", "trades.csv", "equity.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def _write_altered_copy(source: OfflineMarketData, folder: Path, cut: datetime, alter: bool) -> None:
    """CSV copies of BTC/ETH 1h, 5m, 15m and funding for 2023-01-01 → 2023-04-01; with `alter`, every
    bar opening at or after `cut` and every settlement after it is changed."""
    folder.mkdir()
    stop = utc(2023, 4, 1)
    rng = np.random.default_rng(7)
    for symbol in SYMBOLS:
        stem = symbol.replace("/", "_").replace(":", "_")
        for tf in ("1h", "5m", "15m"):
            frame = source.frame(symbol, tf)
            frame = frame[frame.index < stop].copy()
            if alter:
                later = frame.index >= cut
                factor = rng.uniform(0.7, 1.3, size=int(later.sum()))
                for column in ("open", "high", "low", "close"):
                    frame.loc[later, column] = frame.loc[later, column].to_numpy() * factor
                frame.loc[later, "volume"] = frame.loc[later, "volume"].to_numpy() * 3
            out = pd.DataFrame({"timestamp_ms": frame.index.as_unit("ms").asi8, **{c: frame[c] for c in frame}})
            out.to_csv(folder / f"{stem}-{tf}-futures.csv", index=False)
        funding = source.funding_series(symbol)
        funding = funding[funding.index < stop].copy()
        if alter:
            funding[funding.index > cut] = 0.003
        pd.DataFrame({"timestamp_ms": funding.index.as_unit("ms").asi8, "open": funding.to_numpy()}).to_csv(
            folder / f"{stem}-8h-funding_rate.csv", index=False
        )


@pytest.mark.slow
async def test_no_look_ahead(market: OfflineMarketData, tmp_path: Path) -> None:
    """Decisions (and the snapshots and guard verdicts behind them) up to t do not change when every bar
    after t — base, 5m/15m and funding — is altered; later ones do."""
    cut = utc(2023, 3, 1, 5)
    window = spec(utc(2023, 2, 1), utc(2023, 3, 31))
    runs = {}
    for name, alter in (("original", False), ("altered", True)):
        _write_altered_copy(market, tmp_path / name, cut, alter)
        log = MemoryDecisionLog(keep_snapshots=True)
        result = await run_replay_cycle(OfflineMarketData(tmp_path / name), window, RulesEngine(), decision_log=log)
        runs[name] = (result, log)

    def upto(log: MemoryDecisionLog, before: bool) -> list[tuple[object, ...]]:
        out = []
        for r in log.records():
            if (r.as_of <= cut) != before:
                continue
            out.append((
                r.cycle_id, r.symbol,
                None if r.snapshot is None else json.dumps(r.snapshot.to_json_dict(), sort_keys=True),
                None if r.record is None else json.dumps(r.record.to_json_dict(), sort_keys=True),
                None if r.verdict is None else (r.verdict.approved, r.verdict.reason, r.verdict.intent),
            ))
        return out

    (res_a, log_a), (res_b, log_b) = runs["original"], runs["altered"]
    before_a, before_b = upto(log_a, True), upto(log_b, True)
    assert len(before_a) == 2 * (28 * 24 + 6) and before_a == before_b
    steps_to_cut = int(np.searchsorted(res_a.step_ms, int(cut.timestamp() * 1000), side="right"))
    assert np.array_equal(res_a.equity[:steps_to_cut], res_b.equity[:steps_to_cut])
    assert upto(log_a, False) != upto(log_b, False), "the alteration should change later decisions"


def test_window_outside_the_data_is_a_user_error(market: OfflineMarketData) -> None:
    with pytest.raises(UserInputError, match="outside"):
        plan_steps(market, spec(utc(2020, 1, 1), utc(2020, 2, 1)))
    with pytest.raises(UserInputError, match="no data for NOPE"):
        plan_steps(market, ReplaySpec(symbols=("NOPE/USDT:USDT",), start=utc(2023, 2, 1), end=utc(2023, 3, 1),
                                      engine="rules"))
    steps = plan_steps(market, spec(utc(2022, 12, 1), utc(2023, 1, 2)))
    assert steps[0] == int(utc(2023, 1, 1, 1).timestamp() * 1000)  # clipped to the first hourly close


@pytest.mark.slow
async def test_whole_span_writes_all_files(market: OfflineMarketData, tmp_path: Path) -> None:
    from bot.reports.report_chart import render_report_chart
    from core.evaluation.replay import close_prices

    window = spec(utc(2023, 1, 1), utc(2024, 5, 15))
    result = await run_replay_cycle(market, window, RulesEngine())
    assert len(result.step_ms) == 11_991
    files = write_report(result, tmp_path)
    render_report_chart(result, tmp_path / "report.png", close_prices(market, window))
    for name in ("report.json", "trades.csv", "equity.csv", "report.png"):
        assert (tmp_path / name).stat().st_size > 0
    report = json.loads(files.report_json.read_text(), parse_float=Decimal)
    with files.trades_csv.open() as handle:
        total = sum(Decimal(r["net_pnl"]) for r in csv.DictReader(handle))
    assert report["metrics"]["final_equity"] == report["initial_equity"] + total
    bh = result.baselines[0]
    assert bh.name == "buy_and_hold" and bh.equity[-1] > 20_000  # BTC and ETH rallied 2023 → 2024-05
    assert timedelta(hours=len(result.step_ms) - 1) == result.end - result.start


async def test_late_symbol_short_window_end_exits_and_metrics_from_the_files(
    market: OfflineMarketData, tmp_path: Path
) -> None:
    """SUI's data starts 2023-05-03 16:00, after the asked start and with no indicator warm-up behind it:
    the window is clipped to its first close; positions still open are closed at the last close with
    exit_reason=end in the last bar; the written metrics agree with a computation from the written files."""
    symbols = ("BTC/USDT:USDT", "SUI/USDT:USDT")
    window = ReplaySpec(symbols=symbols, start=utc(2023, 5, 1), end=utc(2023, 5, 20), engine="rules",
                        limits=RiskLimits(correlation_groups=()))
    result = await run_replay_cycle(market, window, RulesEngine())
    assert result.start == utc(2023, 5, 3, 17) and result.end == utc(2023, 5, 20)
    files = write_report(result, tmp_path)
    report = json.loads(files.report_json.read_text(), parse_float=Decimal)
    with files.trades_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    with files.equity_csv.open() as handle:
        equity_rows = list(csv.DictReader(handle))
    times = [datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) for r in equity_rows]
    assert times[0] == result.start and times[-1] == result.end
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(times))
    assert report["metrics"]["final_equity"] == report["initial_equity"] + sum(Decimal(r["net_pnl"]) for r in rows)
    assert Decimal(equity_rows[-1]["equity"]) == report["metrics"]["final_equity"]

    ends = [r for r in rows if r["exit_reason"] == "end"]
    assert ends, "this window leaves positions open at its end"
    # each symbol on its own bars: BTC on 5m, SUI (no 5m data) on 1h — never everyone on 1h because of SUI
    assert result.intrabar_ms == {"BTC/USDT:USDT": 300_000, "SUI/USDT:USDT": 3_600_000}
    last_bar = result.end - timedelta(hours=1)
    for r in ends:
        resolution = timedelta(milliseconds=result.intrabar_ms[r["symbol"]])
        assert r["exit_time"] == iso(result.end - resolution)  # the last bar of the symbol's resolution
        close = float(market.frame(r["symbol"], "1h").loc[pd.Timestamp(last_bar), "close"])
        assert float(r["exit_price"]) == pytest.approx(close)
    assert report["baselines"]["buy_and_hold"]["exposure_pct"] == 100.0

    equity = np.array([float(r["equity"]) for r in equity_rows])
    r_ = equity[1:] / equity[:-1] - 1
    years = (times[-1] - times[0]).total_seconds() / (365 * 24 * 3600)
    m = {k: float(v) if isinstance(v, Decimal) else v for k, v in report["metrics"].items()}
    assert m["sharpe"] == pytest.approx(r_.mean() / r_.std(ddof=1) * np.sqrt(8760), rel=1e-5)
    assert m["cagr_pct"] == pytest.approx(((equity[-1] / 10_000) ** (1 / years) - 1) * 100, rel=1e-5)


async def test_a_window_without_trades_writes_valid_empty_files(market: OfflineMarketData, tmp_path: Path) -> None:
    one = ReplaySpec(symbols=("ETH/USDT:USDT",), start=utc(2023, 3, 1), end=utc(2023, 3, 1, 1), engine="rules")
    result = await run_replay_cycle(market, one, RulesEngine())
    assert len(result.step_ms) == 2 and result.trades == ()
    files = write_report(result, tmp_path)
    report = json.loads(files.report_json.read_text(), parse_constant=lambda c: pytest.fail(c))
    m = report["metrics"]
    assert m["trades"] == 0 and m["win_rate"] is None and m["profit_factor"] is None and m["sharpe"] is None
    assert m["final_equity"] == 10_000.0 and m["total_return_pct"] == 0.0 and m["exposure_pct"] == 0.0
    assert files.trades_csv.read_text().count("\n") == 1  # the header alone
    assert files.equity_csv.read_text().splitlines()[1:] == [
        "2023-03-01T00:00:00Z,10000.000000", "2023-03-01T01:00:00Z,10000.000000",
    ]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
