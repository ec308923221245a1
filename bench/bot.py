"""Bench for the Telegram app (issue #6): resident memory with 10 symbols after many simulated hourly
cycles, and the decision→post time excluding Telegram latency (chart rendering included).

Run: `.venv/bin/python bench/bot.py [--cycles N]` (needs ../shared/data; falls back to the
bundled sample with 2 symbols copied to 10). Targets: RSS < 300 MB; entry → hand-over to the sender < 1 s.
RSS is printed after the imports, after start, after a warm-up of `WARMUP_CYCLES` (every code path and
lazy import has run by then) and after the last cycle; growth per 100 cycles is measured from the warm-up
on, so it shows what accumulates rather than what loads once.

The app is the real `bot.app.App` (SQLite, paper broker, rules engine, notifier, outbox, publisher);
only the post sender is a stand-in that accepts every post at once (so Telegram's latency is excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psutil

RSS_AT_LAUNCH = psutil.Process().memory_info().rss
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.app import App  # noqa: E402
from bot.commands.demo_cmd import DEFAULT_START  # noqa: E402
from bot.outbox import OutboxPost  # noqa: E402
from bot.publisher import PostPart  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from core.clock import SimulatedClock  # noqa: E402
from core.offline_data import OfflineMarketData, sample_data_dir  # noqa: E402

RSS_AFTER_IMPORTS = psutil.Process().memory_info().rss
WARMUP_CYCLES = 24
SHARED_DATA = REPO / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"


class InstantSender:
    """Bench stand-in for Telegram: accepts every part at once (no network latency measured)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def send(self, post: OutboxPost, part: PostPart, reply_to: int | None) -> int:
        return next(self._ids)

    def redact(self, text: str) -> str:
        return text


def ten_symbol_folder(target: Path) -> tuple[Path, list[str]]:
    """Ten symbols of real 1h candles + funding: the real series, then renamed copies of them."""
    source = SHARED_DATA if SHARED_DATA.is_dir() else sample_data_dir()
    candles = sorted(p for p in source.iterdir() if "-1h-futures." in p.name)
    stems = [p.name.split("-1h-futures.")[0] for p in candles]
    symbols: list[str] = []
    for n in range(10):
        src = candles[n % len(candles)]
        stem = stems[n % len(stems)]
        base, quote, settle = stem.split("_")
        new_base = base if n < len(candles) else f"{base}{n}"
        new_stem = f"{new_base}_{quote}_{settle}"
        (target / src.name.replace(stem, new_stem)).symlink_to(src.resolve())
        for funding in source.glob(f"{stem}-8h-funding_rate.*"):
            (target / funding.name.replace(stem, new_stem)).symlink_to(funding.resolve())
        symbols.append(f"{new_base}/{quote}:{settle}")
    return target, symbols


def mb(rss: int) -> str:
    return f"{rss / 2**20:.0f} MB"


async def main(cycles: int) -> None:
    process = psutil.Process()
    rss_warm = warm_at = None
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").mkdir()
        folder, symbols = ten_symbol_folder(Path(tmp) / "data")
        settings = load_settings(
            env_file=None, market_data_dir=folder, database_path=Path(tmp) / "bench.sqlite",
            symbols=tuple(symbols), max_open_positions=10, correlation_groups="",
        )
        clock = SimulatedClock(DEFAULT_START)
        app = App(settings, clock=clock, demo=True, console_out=Path(tmp) / "out",
                  market_data=OfflineMarketData(folder, clock=clock))
        await app.build()
        app.publisher._sender = InstantSender()  # bench stand-in: exclude Telegram's latency
        await app.start()
        rss_start = process.memory_info().rss
        started = time.perf_counter()
        cycle_ms: list[float] = []
        try:
            for n in range(cycles):
                summary = await app.tick(clock.advance(timedelta(hours=1)))
                cycle_ms.append(summary.duration_ms)
                if (n + 1) % 24 == 0:
                    await app.pulse_now()
                if n + 1 == min(WARMUP_CYCLES, cycles):
                    await app.publisher.wait_idle()
                    rss_warm, warm_at = process.memory_info().rss, n + 1
            await app.publisher.wait_idle()
            await app.drain()
            rss_end = process.memory_info().rss
            wall = time.perf_counter() - started
            posts = await app.outbox.posts()
        finally:
            await app.stop()
    latencies = sorted(p.handover_latency_s for p in posts if p.kind == "entry" and p.handover_latency_s is not None)
    kinds = {k: sum(1 for p in posts if p.kind == k) for k in ("entry", "exit", "pulse")}
    print(f"symbols: {len(symbols)} ({', '.join(symbols)})")
    print(f"simulated hourly cycles: {cycles} ({cycles / 24:.1f} simulated days) in {wall:.1f} s wall")
    print(f"cycle time: median {statistics.median(cycle_ms):.0f} ms, max {max(cycle_ms):.0f} ms (10 symbols, offline)")
    print(f"posts: {kinds}")
    print(f"resident memory (target < 300 MB): {mb(RSS_AT_LAUNCH)} at launch, {mb(RSS_AFTER_IMPORTS)} after "
          f"importing the app, {mb(rss_start)} after start, {mb(rss_warm or 0)} after {warm_at} cycles (warm), "
          f"{mb(rss_end)} after {cycles} cycles")
    if rss_warm is not None and cycles > (warm_at or 0):
        per_100 = (rss_end - rss_warm) / (cycles - warm_at) * 100
        print(f"growth after warm-up: {mb(rss_end - rss_warm)} over {cycles - warm_at} cycles = "
              f"{per_100 / 2**20:+.1f} MB per 100 cycles")
    verdict = "met" if rss_end < 300 * 2**20 else "NOT met"
    print(f"RSS target < 300 MB after {cycles} cycles: {verdict} ({mb(rss_end)})")
    if latencies:
        p50 = latencies[len(latencies) // 2]
        print(f"decision→post (entry announced → handed to the sender, chart included, Telegram excluded): "
              f"median {p50 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms over {len(latencies)} entries "
              f"(target < 1 s)")
    else:
        print("decision→post: no entries in this window")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=168, help="simulated hourly cycles (default: one week)")
    args = parser.parse_args()
    asyncio.run(main(args.cycles))
