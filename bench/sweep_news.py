"""What `sweep --news-db` costs (#17): reading a recorded archive (read-only, as every cell's worker does) and
its per-window digest, and the wall time of the same 2-cell sweep (NEWS_VETO_HOURS=0,6, rules, BTC + ETH) without
and with the news file. The archive is bench/news.py's synthetic one (N headlines a day), written to SQLite
through the bot's own store, so the file is what a bot's DATABASE_PATH holds.

Usage: .venv/bin/python bench/sweep_news.py [--data DIR] [--days N] [--per-day N] [--workers N] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from bot.commands.news_db import recorded_news  # noqa: E402
from bot.commands.sweep_cmd import run_sweep  # noqa: E402
from core.market.news import FetchedHeadline, MemoryNewsStore  # noqa: E402
from core.market.offline import OfflineMarketData, sample_data_dir  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.news_repo import SqliteNewsStore  # noqa: E402

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


def _bench_news() -> object:
    spec = importlib.util.spec_from_file_location("bench_news", ROOT / "bench" / "news.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def write_archive(path: Path, archive: MemoryNewsStore, start: object, end: object) -> None:
    async with Database(path) as db:
        store = SqliteNewsStore(db)
        for h in await archive.seen_between(start - timedelta(days=30), end):  # type: ignore[operator]
            await store.record([FetchedHeadline(h.guid, h.source, h.title)], h.first_seen)
        days = range((end - start).days + 2)  # type: ignore[operator]
        readings = [await archive.fear_greed_at(start + timedelta(days=d)) for d in days]  # type: ignore[operator]
        await store.record_fear_greed([r for r in readings if r is not None])


def timed_sweep(data: Path, out: Path, start: object, end: object, workers: int, news: Path | None) -> float:
    quiet = Console(file=io.StringIO())
    started = time.perf_counter()
    code = run_sweep(data=data, symbols=(SYMBOLS,), start=start, end=end, engine="rules",  # type: ignore[arg-type]
                     grid={"news_veto_hours": ("0", "6")}, out=out, workers=workers, news_db=news, console=quiet,
                     report=quiet)
    if code != 0:
        raise SystemExit(f"the sweep failed (exit {code})")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=sample_data_dir())
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="best of N sweeps each (fresh folders)")
    args = parser.parse_args()
    market = OfflineMarketData(args.data)
    end = market.data_end(SYMBOLS[0]).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=args.days)
    archive = _bench_news().archive(start, args.days, args.per_day)  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        news = tmp / "bot.sqlite"
        asyncio.run(write_archive(news, archive, start, end))
        load_started = time.perf_counter()
        loaded = asyncio.run(recorded_news(news))
        load_s = time.perf_counter() - load_started
        digest_started = time.perf_counter()
        loaded.fingerprint(end)
        digest_s = time.perf_counter() - digest_started
        timed_sweep(args.data, tmp / "warm-up", start, end, args.workers, None)  # the forkserver starts once
        plain_s = min(timed_sweep(args.data, tmp / f"plain{k}", start, end, args.workers, None)
                      for k in range(args.repeat))
        news_s = min(timed_sweep(args.data, tmp / f"news{k}", start, end, args.workers, news)
                     for k in range(args.repeat))
    print(f"{args.data.name}: {', '.join(SYMBOLS)}, {start:%Y-%m-%d} → {end:%Y-%m-%d}; archive {len(loaded):,} "
          f"headlines ({args.per_day}/day) in SQLite")
    print(f"read-only load {load_s * 1000:.0f} ms, window digest {digest_s * 1000:.1f} ms (once per cell)")
    print(f"sweep of 2 cells on {args.workers} worker(s), best of {args.repeat}: without news {plain_s:.2f} s, with --news-db {news_s:.2f} s "
          f"({news_s / plain_s:.2f}×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
