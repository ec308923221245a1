"""`aitrader snapshot --data DIR --symbol SYM --at ISO`: print the point-in-time snapshot JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import typer

from core.errors import UserInputError
from core.market.offline import MissingDataError, OfflineMarketData
from core.market.snapshot import LiveSnapshotSource, SnapshotUnavailable
from core.models import iso_z

STALE_AFTER = timedelta(days=1)


async def print_snapshot(data: Path, symbol: str, at: datetime) -> int:
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
        snapshot = await LiveSnapshotSource(market).snapshot(symbol, at)
    except (MissingDataError, SnapshotUnavailable) as error:
        raise UserInputError(f"--at: {error}") from None
    finally:
        await market.close()
    typer.echo(json.dumps(snapshot.to_json_dict(), indent=2))
    return 0
