"""`aitrader snapshot`: the Done-when values on real data, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.market.offline import sample_data_dir
from tests.core.market.test_indicators import reference

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
AT = "2024-03-01T12:00:00Z"


def run(*args: str):
    return CliRunner().invoke(app, ["snapshot", *args])


@pytest.fixture(scope="module")
def real() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} absent")
    return SHARED


def test_real_snapshot_bar_times_and_indicators(real: Path) -> None:
    result = run("--data", str(real), "--symbol", "BTC/USDT:USDT", "--at", AT)
    assert result.exit_code == 0, result.output
    snap = json.loads(result.stdout)
    assert snap["as_of"] == AT and snap["symbol"] == "BTC/USDT:USDT"
    tfs = snap["timeframes"]
    assert tfs["1h"]["bar_time"] == "2024-03-01T11:00:00Z"
    assert tfs["4h"]["bar_time"] == "2024-03-01T08:00:00Z"
    assert tfs["1d"]["bar_time"] == "2024-02-29T00:00:00Z"
    assert snap["regime"] in ("trending_up", "trending_down", "ranging", "volatile")

    # Independent computation: read the feather file ourselves, resample with pandas, run the
    # hand-written Wilder/EMA recursions over the same last 500 closed bars.
    raw = pd.read_feather(real / "BTC_USDT_USDT-1h-futures.feather").set_index("date")
    as_of = pd.Timestamp(AT)
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    frames = {
        "1h": (raw, pd.Timedelta(hours=1)),
        "4h": (raw.resample("4h").agg(agg), pd.Timedelta(hours=4)),
        "1d": (raw.resample("1D").agg(agg), pd.Timedelta(days=1)),
    }
    for tf, (frame, length) in frames.items():
        closed = frame[frame.index + length <= as_of].iloc[-500:]
        view = tfs[tf]
        assert view["close"] == pytest.approx(closed.close.iloc[-1], rel=1e-6)
        for key, value in reference(closed).items():
            assert view[key] == pytest.approx(value, rel=2e-5, abs=1e-9), (tf, key)
    assert snap["price"] == raw.close.loc["2024-03-01T11:00Z"]
    funding = pd.read_feather(real / "BTC_USDT_USDT-8h-funding_rate.feather")
    assert snap["funding_rate"] == pytest.approx(funding[funding.date <= as_of].open.iloc[-1])
    last24 = raw[(raw.index < as_of) & (raw.index >= as_of - pd.Timedelta("24h"))]
    assert snap["quote_volume_24h"] == pytest.approx(float((last24.close * last24.volume).sum()), rel=1e-5)


def test_sample_snapshot_works_without_shared_data() -> None:
    result = run("--data", str(sample_data_dir()), "--symbol", "ETH/USDT:USDT", "--at", "2024-05-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    snap = json.loads(result.stdout)
    assert snap["timeframes"]["1d"]["bar_time"] == "2024-04-30T00:00:00Z"
    assert snap["timeframes"]["1d"]["ema_200"] is None  # 120 days of sample: not warm yet


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--symbol", "NOPE/USDT:USDT", "--at", AT),
         "error: --symbol: no data for NOPE/USDT:USDT in {data} (have: BTC/USDT:USDT, ETH/USDT:USDT)"),
        (("--symbol", "BTC/USDT:USDT", "--at", "2020-01-01T00:00:00Z"),
         "error: --at: 2020-01-01T00:00:00Z is before the data of BTC/USDT:USDT (its first bar closes "
         "2024-01-15T01:00:00Z)"),
        (("--symbol", "BTC/USDT:USDT", "--at", "2030-01-01T00:00:00Z"),  # was a snapshot of days-old bars
         "error: --at: 2030-01-01T00:00:00Z is after the data of BTC/USDT:USDT (its last bar closes "
         "{end}); use a time up to {limit}"),
        (("--symbol", "BTC/USDT:USDT", "--at", "next tuesday"),
         "error: --at: cannot parse 'next tuesday' as an ISO-8601 time (e.g. 2024-03-01T12:00:00Z)"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: tuple[str, ...], message: str) -> None:
    from datetime import timedelta

    from core.market.offline import OfflineMarketData
    from core.models import iso_z

    data = str(sample_data_dir())
    end = OfflineMarketData(sample_data_dir()).data_end("BTC/USDT:USDT")
    result = run("--data", data, *args)
    assert result.exit_code == 2
    assert result.stderr.strip() == message.format(data=data, end=iso_z(end), limit=iso_z(end + timedelta(days=1)))
    assert "Traceback" not in result.output and result.stdout == ""


def test_missing_folder(tmp_path: Path) -> None:
    result = run("--data", str(tmp_path / "nowhere"), "--symbol", "BTC/USDT:USDT", "--at", AT)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --data: data folder {tmp_path / 'nowhere'} does not exist"


def test_folder_without_candles(tmp_path: Path) -> None:
    result = run("--data", str(tmp_path), "--symbol", "BTC/USDT:USDT", "--at", AT)
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("(have: no candle files)")
