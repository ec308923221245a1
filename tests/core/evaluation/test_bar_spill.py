"""#18: intrabar OHLC kept in a temporary file and read a chunk at a time serves exactly the bars the arrays
held — across chunk edges, forwards and backwards — and a replay on it (positions open across many chunk
edges) writes the same trades and equity as one holding every bar in memory."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import core.evaluation.replay as replay
from core.decide.rules import RulesEngine
from core.evaluation.bar_spill import BarSpill, SpilledBars
from core.evaluation.feed import MS_PER_HOUR, Bars, ReplayBarFeed, SymbolBars
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.evaluation.report import write_report
from core.market.offline import OfflineMarketData

H = MS_PER_HOUR
M5 = 5 * 60_000
SYMBOL = "A/USDT:USDT"
CYFT = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"


def five_minute_bars(n: int, seed: int = 7) -> Bars:
    """Random-walk 5m bars with a few holes (a missing bar shifts every row after it; under 1 %, so they cover)."""
    rng = np.random.default_rng(seed)
    holes = n // 200
    t = np.delete(np.arange(n + holes, dtype=np.int64) * M5, rng.choice(np.arange(1, n + holes - 1), holes, replace=False))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[100.0, close[:-1]]
    return Bars(M5, t, open_, np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999, close)


def feed(series: Bars | SpilledBars, base: Bars) -> ReplayBarFeed:
    return ReplayBarFeed([SymbolBars(SYMBOL, base, {"5m": series})], base_timeframe_ms=H, window_ms=(H, base.open_ms[-1]))


def hourly(bars: Bars) -> Bars:
    t = np.arange(0, int(bars.open_ms[-1]) + M5, H, dtype=np.int64)
    return Bars(H, t, *(np.full(len(t), 100.0),) * 4)


@pytest.mark.parametrize("chunk_bars", [1, 3, 7, 64, 10_000])
def test_spilled_bars_serve_what_the_arrays_hold(chunk_bars: int) -> None:
    bars = five_minute_bars(600)
    spill = BarSpill(chunk_bars)
    spilled = spill.put(bars)
    assert isinstance(spilled, SpilledBars) and len(spilled) == len(bars)
    base = hourly(bars)
    memory, disk = feed(bars, base), feed(spilled, base)
    assert disk.resolution == memory.resolution == {SYMBOL: M5}
    rng = np.random.default_rng(chunk_bars)
    end = int(bars.open_ms[-1]) + 2 * H
    # forward hour by hour as the broker asks, then requests anywhere (long ones, backwards, empty ones)
    windows = [(k * H + 1, (k + 1) * H) for k in range(end // H)]
    windows += [tuple(sorted(rng.integers(-H, end, size=2).tolist())) for _ in range(200)]
    for start_ms, until_ms in windows:
        got, want = asyncio.run(disk.bars(SYMBOL, start_ms, until_ms)), asyncio.run(memory.bars(SYMBOL, start_ms, until_ms))
        assert got == want, (start_ms, until_ms)
    # bit for bit, not only equal as floats
    lo, hi = 5, len(bars) - 5
    for mine, theirs in zip(spilled.columns(lo, hi), bars.columns(lo, hi), strict=True):
        assert mine.tobytes() == theirs.tobytes()
    spill.close()


def test_only_the_chunks_read_are_held() -> None:
    bars = five_minute_bars(1000)
    spilled = BarSpill(100).put(bars)
    assert isinstance(spilled, SpilledBars)
    t, o, *_ = spilled.columns(250, 260)
    assert t.tolist() == bars.open_ms[250:260].tolist() and o.tolist() == bars.open[250:260].tolist()
    assert held(spilled) == (200, 300, 100)
    spilled.columns(290, 310)  # across the edge: both chunks
    assert held(spilled) == (200, 400, 200)
    assert spilled.rank(int(bars.open_ms[999]), "right") == 1000 and held(spilled) == (900, 1000, 100)
    for k in (0, 99, 100, 101, 555, 999):  # searches agree with the arrays' at, between and around the bars
        for moment in (int(bars.open_ms[k]) - 1, int(bars.open_ms[k]), int(bars.open_ms[k]) + 1):
            for side in ("left", "right"):
                assert spilled.rank(moment, side) == bars.rank(moment, side)  # type: ignore[arg-type]
    assert spilled.rank(-1, "right") == 0 and spilled.rank(10**15, "left") == 1000


def held(spilled: SpilledBars) -> tuple[int, int, int]:
    return spilled._first, spilled._end, len(spilled._columns[0])


def test_no_temporary_file_keeps_the_bars_in_memory(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    spill = BarSpill()
    bars = five_minute_bars(50)
    with caplog.at_level(logging.WARNING, logger="core.evaluation.bar_spill"):
        assert spill.put(bars) is bars and spill.put(bars) is bars
    assert [r.getMessage() for r in caplog.records] == [
        "intrabar bars stay in memory: no temporary file could be written ([Errno 28] No space left on device)"
    ]
    spill.close()


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_bars must be positive"):
        BarSpill(0)


class _InMemory(BarSpill):
    def put(self, bars: Bars) -> Bars:  # type: ignore[override]
        return bars


@pytest.mark.skipif(not CYFT.is_dir(), reason=f"real data not found at {CYFT}")
async def test_replay_across_chunk_edges_fills_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ReplaySpec(symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), start=datetime(2023, 6, 1, tzinfo=UTC),
                      end=datetime(2023, 8, 1, tzinfo=UTC), engine="rules")
    spilled: list[object] = []

    class Recording(BarSpill):
        def put(self, bars: Bars) -> Bars | SpilledBars:
            spilled.append(out := super().put(bars))
            return out

    outputs = {}
    # 7 five-minute bars a chunk: a chunk edge every 35 min, so every position lives across several
    for name, spill in (("memory", _InMemory), ("chunks", lambda: Recording(chunk_bars=7))):
        monkeypatch.setattr(replay, "BarSpill", spill)
        result = await run_replay_cycle(OfflineMarketData(CYFT), spec, RulesEngine())
        assert result.intrabar_ms == {"BTC/USDT:USDT": M5, "ETH/USDT:USDT": M5}
        write_report(result, tmp_path / name)
        outputs[name] = {f: hashlib.sha256((tmp_path / name / f).read_bytes()).hexdigest()
                         for f in ("report.json", "trades.csv", "equity.csv")}
        if name == "chunks":
            chunks = [held(bars) for bars in spilled if isinstance(bars, SpilledBars)]
            assert len(chunks) == 2 and all(first > 0 for first, _, _ in chunks)  # reads moved on through the file
            assert any((t.exit_time - t.entry_time).total_seconds() > 35 * 60 for t in result.trades)
    assert outputs["chunks"] == outputs["memory"]
