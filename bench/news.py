"""What news costs a replay (#17): symbol-bars per second of the rules-engine replay without news, and with a
recorded headline archive read point-in-time into every snapshot (keyword analyst, Fear & Greed every day).

The archive is synthetic in volume only — N headlines a day at random minutes, titles drawn from real-style
headlines — because no recorded news history exists offline. Same window, same process, after a warm-up.

Usage: .venv/bin/python bench/news.py [--data DIR] [--days N] [--per-day N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.decide.rules import RulesEngine  # noqa: E402
from core.evaluation.replay import INTRABAR_TIMEFRAMES, WARMUP_BARS, ReplaySpec, run_replay_cycle  # noqa: E402
from core.market.news import FearGreed, Headline, MemoryNewsStore  # noqa: E402
from core.market.news_keywords import KeywordScorer  # noqa: E402
from core.market.offline import OfflineMarketData, sample_data_dir  # noqa: E402
from core.market.sentiment import SentimentReader  # noqa: E402
from core.market.snapshot import SeriesSnapshotSource  # noqa: E402

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
TITLES = (
    "Exchange halts withdrawals after $200M hack drains hot wallets", "Bitcoin surges past $62K as ETF inflows jump",
    "Ether options traders bet on $4K by end of March", "SEC sues crypto lender over unregistered yield product",
    "Solana DEX volume rallies to a 12-month high", "Fed holds rates steady; crypto markets shrug",
    "XRP jumps as Ripple announces new partnership", "Bitcoin miners sell reserves ahead of the halving",
)


def archive(start: datetime, days: int, per_day: int) -> MemoryNewsStore:
    rng = random.Random(17)
    heads = [Headline(f"h{k}", "coindesk.com", rng.choice(TITLES), "", None,
                      start - timedelta(days=3) + timedelta(minutes=rng.randrange((days + 3) * 1440)))
             for k in range((days + 3) * per_day)]
    fg = [FearGreed((start + timedelta(days=d)).date(), rng.randrange(101)) for d in range(-3, days + 1)]
    return MemoryNewsStore(heads, fg)


async def timed(market, spec, source, sentiment) -> tuple[float, int]:
    started = time.perf_counter()
    result = await run_replay_cycle(market, spec, RulesEngine(), source=source, sentiment=sentiment)
    return time.perf_counter() - started, len(result.step_ms) * len(result.symbols)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=sample_data_dir())
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", type=int, default=200)
    args = parser.parse_args()
    market = OfflineMarketData(args.data)
    end = market.data_end(SYMBOLS[0]).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=args.days)
    spec = ReplaySpec(symbols=SYMBOLS, start=start, end=end, engine="rules")
    source = SeriesSnapshotSource.from_offline(market, SYMBOLS, start, end, warmup_bars=WARMUP_BARS,
                                               bar_timeframes=INTRABAR_TIMEFRAMES)
    store = archive(start, args.days, args.per_day)
    reader = lambda: SentimentReader(store, KeywordScorer(), fear_greed=True)  # noqa: E731
    await timed(market, spec, source, None)  # warm-up
    plain_s, bars = await timed(market, spec, source, None)
    news_s, _ = await timed(market, spec, source, reader())
    print(f"{args.data.name}: {', '.join(SYMBOLS)}, {start:%Y-%m-%d} → {end:%Y-%m-%d}, {bars:,} symbol-bars; "
          f"archive {len(store):,} headlines ({args.per_day}/day)")
    print(f"without news: {bars / plain_s:,.0f} symbol-bars/s ({plain_s:.2f} s)")
    print(f"with news:    {bars / news_s:,.0f} symbol-bars/s ({news_s:.2f} s), {news_s / plain_s:.2f}× the time")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
