"""`aitrader snapshot --data DIR --symbol SYM --at ISO`: print the point-in-time snapshot JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import typer

from core.errors import UserInputError
from core.market.offline import MissingDataError, OfflineMarketData
from core.market.snapshot import LiveSnapshotSource, SnapshotUnavailable
from core.models import Snapshot, iso_z

STALE_AFTER = timedelta(days=1)


async def print_snapshot(data: Path, symbol: str, at: datetime, news_db: Path | None = None) -> int:
    try:
        market = OfflineMarketData(data)
    except MissingDataError as error:
        raise UserInputError(f"--data: {error}") from None
    symbol = symbol.strip()
    known = market.symbol_list()
    if symbol not in known:
        have = ", ".join(known) or "no candle files"
        raise UserInputError(f"--symbol: no data for {symbol} in {data} (have: {have})")
    try:
        start = market.data_start(symbol)
        if at < start:
            raise UserInputError(
                f"--at: {iso_z(at)} is before the data of {symbol} (its first bar closes {iso_z(start)})"
            )
        end = market.data_end(symbol)
        if at > end + STALE_AFTER:  # every bar would be days old: a snapshot of nothing
            raise UserInputError(
                f"--at: {iso_z(at)} is after the data of {symbol} (its last bar closes {iso_z(end)}); "
                f"use a time up to {iso_z(end + STALE_AFTER)}"
            )
        snapshot = await _snapshot(LiveSnapshotSource(market), symbol, at, news_db)
    except (MissingDataError, SnapshotUnavailable) as error:
        raise UserInputError(f"--at: {error}") from None
    finally:
        await market.close()
    typer.echo(json.dumps(snapshot.to_json_dict(), indent=2))
    return 0


async def _snapshot(source: LiveSnapshotSource, symbol: str, at: datetime, news_db: Path | None) -> Snapshot:
    """With `--news-db`, the sentiment of what that bot had seen by `at` (#17)."""
    if news_db is None:
        return await source.snapshot(symbol, at)
    from bot.commands.news_db import news_reader
    from bot.settings import load_settings
    from core.clock import SimulatedClock
    from core.market.sentiment import SentimentSnapshots

    async with news_reader(news_db, load_settings(), SimulatedClock(at)) as reader:
        return await SentimentSnapshots(source, reader).snapshot(symbol, at)
