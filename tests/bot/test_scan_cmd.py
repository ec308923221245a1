"""`aitrader scan`: ranks a data folder's symbols at a time (table and JSON); bad arguments are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

TRAIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance-perps-train"
runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["scan", "--top", "0"], "--top"),
        (["scan", "--at", "2023-07-20"], "--at"),
        (["scan", "--data", ".", "--exchange", "binanceusdm"], "--exchange"),
        (["scan", "--exchange", "nonsense"], "--exchange"),
        (["scan", "--data", "/no/such/folder"], "/no/such/folder"),
    ],
)
def test_scan_bad_arguments_exit_2_with_one_line(args: list[str], needle: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.output


@pytest.mark.skipif(not TRAIN.is_dir(), reason="needs ../shared/data/binance-perps-train")
def test_scan_a_folder_at_a_time_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYMBOLS", "DOGE/USDT:USDT")
    monkeypatch.setenv("SCAN_MIN_VOLUME_USD", "50000000")
    folder = TRAIN / "sources" / "Alpergulsen_freqtrade"
    result = runner.invoke(app, ["scan", "--data", str(folder), "--at", "2023-07-20T00:00:00Z", "--top", "5", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["markets"] > 40 and len(body["rows"]) == 5 and body["filters"]["min_volume_usd"] == 50e6
    assert all(row["quote_volume_24h"] >= 50e6 for row in body["rows"])
    assert body["excluded"]["volume below the minimum"] > 0
    scores = [row["score"] for row in body["rows"]]
    assert scores == sorted(scores, reverse=True)
    doge = [row for row in body["rows"] if row["symbol"] == "DOGE/USDT:USDT"]
    assert doge and doge[0]["watched"] and "DOGE/USDT:USDT" not in body["proposals"]
    table = runner.invoke(app, ["scan", "--data", str(folder), "--at", "2023-07-20T00:00:00Z", "--top", "3"])
    assert table.exit_code == 0 and "Coin hunter" in table.output and "Proposed:" in table.output
