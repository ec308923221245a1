"""Bench for the dashboard (issue #20): response time of `GET /api/track_record` with a year of hourly
equity points (~9,000) and ~1,000 closed trades, over real HTTP on loopback.

Run: `.venv/bin/python bench/web.py [--points N] [--trades N] [--requests N]`.

The app is the real `bot.app.App` in demo mode over the bundled sample data (SQLite book, TrackRecord,
ControlService, the aiohttp server as `aitrader run` starts it); the book is filled through the paper book's
own `BookChange` commits with a seeded random walk of equity and trades (synthetic values: only the sizes
matter here). Printed: median and p95 latency per endpoint and the response size.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.app import App
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.execution.paper_book import BookChange
from core.market.offline import OfflineMarketData, sample_data_dir
from core.models import ClosedTrade

START = datetime(2024, 1, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fill_book(app: App, points: int, trades: int) -> None:
    rng = random.Random(20)
    equity = 10_000.0
    every = max(points // max(trades, 1), 1)
    made = 0
    for i in range(points):
        at = START + timedelta(hours=i)
        change = BookChange(equity=(at, equity))
        if i % every == every - 1 and made < trades:
            pnl = rng.gauss(8, 60)
            entry = 40_000 + rng.uniform(-5_000, 5_000)
            change.trades.append(ClosedTrade(
                position_id=f"p{made}", symbol="BTC/USDT:USDT", side=rng.choice(("long", "short")),
                entry_time=at - timedelta(hours=every), entry_price=entry, exit_time=at,
                exit_price=entry * (1 + pnl / 10_000), qty=0.01, leverage=3, stop_loss=entry * 0.97,
                exit_reason=rng.choice(("tp1", "stop", "trailing")), gross_pnl=pnl + 1, fees=1.0, funding=0.0,
                net_pnl=pnl, signal_id=f"{at:%Y-%m-%dT%H}-BTCUSDT",
            ))
            equity += pnl
            made += 1
        await app.services.book.commit(change)


async def timed(http: aiohttp.ClientSession, url: str, n: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        async with http.get(url) as r:
            body = await r.read()
            assert r.status == 200, (url, r.status)
        times.append((time.perf_counter() - t0) * 1000)
        size = len(body)
    return times, size


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=9_000)
    parser.add_argument("--trades", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = load_settings(env_file=None, market_data_dir=sample_data_dir(), database_path=Path(tmp) / "b.sqlite",
                                 symbols=("BTC/USDT:USDT",), web_port=port)
        clock = SimulatedClock(START)
        app = App(settings, clock=clock, demo=True, console_out=Path(tmp) / "out",
                  market_data=OfflineMarketData(sample_data_dir(), clock=clock))
        await app.start()
        try:
            t0 = time.perf_counter()
            await fill_book(app, args.points, args.trades)
            print(f"book: {len(await app.history.equity_curve())} equity points, "
                  f"{len(await app.history.closed_trades())} trades (filled in {time.perf_counter() - t0:.1f} s)")
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                for path in ("/api/track_record", "/api/trades?limit=500", "/api/positions", "/metrics", "/"):
                    await timed(http, base + path, 2)  # warm-up
                    times, size = await timed(http, base + path, args.requests)
                    p95 = sorted(times)[max(int(len(times) * 0.95) - 1, 0)]
                    print(f"GET {path:24s} median {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  "
                          f"{size / 1024:7.1f} KiB  ({args.requests} requests)")
        finally:
            await app.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
