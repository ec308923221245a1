"""ReplayBarFeed: serves only bars closed by `until`, funding in (after, until], and each symbol's finer bars
when that symbol has them over the window."""

from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.feed import MS_PER_HOUR, Bars, ReplayBarFeed, SymbolBars
from core.models import DomainError

H = MS_PER_HOUR
M5 = 5 * 60_000


def bars(step: int, n: int, start: int = 0) -> Bars:
    t = start + np.arange(n, dtype=np.int64) * step
    price = 100 + np.arange(n, dtype=np.float64)
    return Bars(step, t, price, price + 1, price - 1, price + 0.5)


def test_base_bars_closed_only_and_funding_window() -> None:
    sym = SymbolBars("A/USDT:USDT", bars(H, 10), funding_ms=np.array([0, 8 * H], dtype=np.int64),
                     funding_rate=np.array([0.1, 0.2]))
    feed = ReplayBarFeed([sym], base_timeframe_ms=H, window_ms=(H, 9 * H))
    assert feed.timeframe_ms == H
    got = _run(feed.bars("A/USDT:USDT", 2 * H, 5 * H + H - 1))  # the bar opening at 5h closes at 6h: not yet
    assert [b[0] for b in got] == [2 * H, 3 * H, 4 * H]
    assert _run(feed.bars("A/USDT:USDT", 9 * H, 10 * H)) == [(9 * H, 109.0, 110.0, 108.0, 109.5)]
    assert _run(feed.funding("A/USDT:USDT", 0, 8 * H)) == [(8 * H, 0.2)]
    assert _run(feed.funding("A/USDT:USDT", -1, 7 * H)) == [(0, 0.1)]


def test_finer_bars_used_when_they_cover_every_symbol() -> None:
    a = SymbolBars("A/USDT:USDT", bars(H, 10), {"5m": bars(M5, 120)})
    b = SymbolBars("B/USDT:USDT", bars(H, 10), {"5m": bars(M5, 120)})
    feed = ReplayBarFeed([a, b], base_timeframe_ms=H, window_ms=(H, 9 * H))
    assert feed.timeframe_ms == M5
    assert len(_run(feed.bars("B/USDT:USDT", 2 * H, 3 * H))) == 12
    # one symbol without 5m bars resolves on its base bars; the others keep their 5m (#18: it was 1h for all)
    c = SymbolBars("C/USDT:USDT", bars(H, 10))
    mixed = ReplayBarFeed([a, c], base_timeframe_ms=H, window_ms=(H, 9 * H))
    assert mixed.resolution == {"A/USDT:USDT": M5, "C/USDT:USDT": H}
    assert mixed.timeframe_ms_for("A/USDT:USDT") == M5 and mixed.timeframe_ms == H  # the protocol's: the coarsest
    assert len(_run(mixed.bars("A/USDT:USDT", 2 * H, 3 * H))) == 12
    assert [b[0] for b in _run(mixed.bars("C/USDT:USDT", 2 * H, 4 * H))] == [2 * H, 3 * H]
    # 5m bars stopping short of the window: base bars
    short = SymbolBars("A/USDT:USDT", bars(H, 10), {"5m": bars(M5, 60)})
    assert ReplayBarFeed([short], base_timeframe_ms=H, window_ms=(H, 9 * H)).timeframe_ms == H


def test_bars_refuse_unsorted_times() -> None:
    with pytest.raises(DomainError):
        Bars(H, np.array([0, 2 * H, H]), *(np.ones(3),) * 4)


def _run(coro):  # type: ignore[no-untyped-def]
    import asyncio

    return asyncio.run(coro)
