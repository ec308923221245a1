"""Download into the offline layout through ccxt's binanceusdm code path (recorded pages), and resume."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import ccxt
import ccxt.async_support as ccxt_async
import pandas as pd
import pytest
from tenacity import wait_none
from typer.testing import CliRunner

from bot.cli import app
from bot.commands.download_cmd import run_download
from core.errors import UserInputError
from core.market.ccxt_source import CcxtMarketData
from core.market.download import download_history
from core.market.offline import OfflineMarketData
from tests.core.market.test_ccxt_source import RecordedBinance

BTC = "BTC/USDT:USDT"


def wired() -> tuple[CcxtMarketData, RecordedBinance]:
    exchange = ccxt_async.binanceusdm({"enableRateLimit": True})
    fake = RecordedBinance()
    exchange.fetch = fake.fetch
    return CcxtMarketData(exchange, attempts=2, wait=wait_none()), fake


def starts(fake: RecordedBinance, endpoint: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(int(q["startTime"]), unit="ms", tz="UTC") for p, q in fake.calls if p.endswith(endpoint)]


async def test_download_then_resume_requests_only_new_bars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.market.download.PAGE", 50)  # several pages per file
    market, fake = wired()
    try:
        first_now = datetime(2024, 2, 25, 0, 30, tzinfo=UTC)  # the 00:00 bar is still open
        await download_history(market, [BTC], ["1h"], days=3, out=tmp_path, now=first_now)
        path = tmp_path / "BTC_USDT_USDT-1h-futures.feather"
        stored = pd.read_feather(path)
        assert list(stored.columns) == ["date", "open", "high", "low", "close", "volume"]
        assert str(stored["date"].dt.tz) == "UTC"
        assert stored["date"].iloc[0] == pd.Timestamp("2024-02-22T00:00Z")
        assert stored["date"].iloc[-1] == pd.Timestamp("2024-02-24T23:00Z")
        assert len(stored) == 72
        assert len(starts(fake, "/klines")) >= 2

        fake.calls.clear()
        progress: list[tuple[str, int, int]] = []
        second_now = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
        results = await download_history(
            market, [BTC], ["1h"], days=3, out=tmp_path, now=second_now, progress=lambda *a: progress.append(a)
        )
        assert starts(fake, "/klines")[0] == pd.Timestamp("2024-02-25T00:00Z")  # resumes after the last bar
        assert min(starts(fake, "/klines")) == pd.Timestamp("2024-02-25T00:00Z")
        added = 5 * 24 + 12  # 2024-02-25 00:00 → 2024-03-01 11:00 (a leap February)
        assert results[0].added == added and results[0].total == 72 + added
        assert ("BTC/USDT:USDT 1h", added, added) in progress and progress[-1][0] == "BTC/USDT:USDT funding"

        merged = OfflineMarketData(tmp_path).frame(BTC, "1h")
        assert merged.index.is_unique and merged.index.is_monotonic_increasing
        assert merged.index[-1] == pd.Timestamp("2024-03-01T11:00Z")
        assert merged.close.iloc[-1] == 61927.7
        assert (merged.index[1:] - merged.index[:-1] == pd.Timedelta(hours=1)).all()

        funding = OfflineMarketData(tmp_path).funding_series(BTC)
        assert funding.index[-1] == pd.Timestamp("2024-03-01T08:00Z")
        assert funding.iloc[-1] == pytest.approx(0.00064824)
        assert funding.index.is_unique

        fake.calls.clear()  # a third run with nothing new asks from the end and adds nothing
        again = await download_history(market, [BTC], ["1h"], days=3, out=tmp_path, now=second_now)
        assert [r.added for r in again] == [0, 0]
        assert all(s >= pd.Timestamp("2024-03-01T08:00Z") for s in starts(fake, "/klines") + starts(fake, "/fundingRate"))
    finally:
        await market.close()


async def test_command_writes_the_layout(tmp_path: Path) -> None:
    market, _ = wired()
    code = await run_download(
        "binanceusdm", [BTC], ["1h"], 2, tmp_path / "data",
        market_factory=lambda _id: market, now=datetime(2024, 2, 28, tzinfo=UTC),
    )
    assert code == 0
    frame = OfflineMarketData(tmp_path / "data").frame(BTC, "1h")
    assert len(frame) == 48 and frame.index[-1] == pd.Timestamp("2024-02-27T23:00Z")


async def test_command_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="--timeframes: timeframe '1x'"):
        await run_download("binanceusdm", [BTC], ["1x"], 2, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserInputError, match=r"--out: .* is not a folder"):
        await run_download("binanceusdm", [BTC], ["1h"], 2, tmp_path / "file")
    market, _ = wired()
    with pytest.raises(UserInputError, match="--symbols: binanceusdm has no market NOPE/USDT:USDT"):
        await run_download("binanceusdm", ["NOPE/USDT:USDT"], ["1h"], 2, tmp_path / "d",
                           market_factory=lambda _id: market)


def test_cli_unknown_exchange(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["download", "--exchange", "nosuch", "--symbols", BTC, "--days", "1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --exchange: 'nosuch' is not a ccxt exchange id")


async def test_download_by_exchange_id_opens_and_closes_its_market(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    market, _ = wired()
    closed: list[bool] = []
    original_close = market.close

    async def close() -> None:
        closed.append(True)
        await original_close()

    monkeypatch.setattr(market, "close", close)
    monkeypatch.setattr(CcxtMarketData, "from_id", classmethod(lambda cls, exchange_id, **kw: market))
    results = await download_history(
        exchange_id="binanceusdm", symbols=(BTC,), timeframes=("1h",), days=1, out=tmp_path,
        now=datetime(2024, 2, 29, tzinfo=UTC),
    )
    assert [r.added for r in results] == [24, 4] and closed == [True]  # funding: 28th 00/08/16h, 29th 00h


async def test_command_network_failure_is_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    market, fake = wired()
    fake.failures = [ccxt.ExchangeNotAvailable("binanceusdm GET\nhttps://fapi.binance.com/fapi/v1/exchangeInfo")] * 5
    code = await run_download("binanceusdm", [BTC], ["1h"], 1, tmp_path, market_factory=lambda _id: market)
    assert code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: binanceusdm markets: ExchangeNotAvailable after 2 attempts: binanceusdm GET "
        "https://fapi.binance.com/fapi/v1/exchangeInfo"
    ]
