"""`aitrader scan`: the coin hunter over a ccxt exchange's perpetual markets, or over a data folder at a time."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.settings import load_settings
from bot.telegram.scan_format import excluded_text
from core.clock import SimulatedClock
from core.errors import TemporaryError, UserInputError
from core.market.scan import MarketStatsSource, ScanResult, rank_markets


def _source(exchange: str | None, data: Path | None, at: datetime | None, default_exchange: str) -> MarketStatsSource:
    if data is not None:
        from core.market.offline import OfflineMarketData

        return OfflineMarketData(data, clock=SimulatedClock(at) if at is not None else None)
    from core.market.ccxt_source import CcxtMarketData

    return CcxtMarketData.from_id(exchange or default_exchange, setting="--exchange" if exchange else "EXCHANGE_ID")


def _print(result: ScanResult, min_volume: float, max_spread: float) -> None:
    table = Table(title=f"Coin hunter · {result.markets} perpetual markets · volume ≥ {min_volume:,.0f} USD, "
                        f"spread ≤ {max_spread:g} %")
    for column in ("#", "symbol", "24h volume (USD)", "spread %", "24h range %", "24h change %", "score", ""):
        table.add_column(column, justify="right" if column not in ("symbol", "") else "left")

    def pct(v: float | None, digits: int = 2) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    for r in result.rows:
        table.add_row(str(r.rank), r.symbol, f"{r.quote_volume_24h:,.0f}", pct(r.spread_pct, 3), pct(r.range_pct),
                      pct(r.change_24h_pct), f"{r.score:.2f}", "watching" if r.watched else "")
    console = Console(width=max(Console().width, 120))
    console.print(table if result.rows else "No market passed the filters.")
    if excluded_text(result):
        console.print(excluded_text(result))
    if result.proposals:
        console.print(f"Proposed: {', '.join(result.proposals)} — an admin adds one with /symbols add SYMBOL")


async def run_scan(*, exchange: str | None, data: Path | None, at: datetime | None, top: int, as_json: bool) -> int:
    settings = load_settings()
    filters = settings.scan_filters()
    source = _source(exchange, data, at, settings.exchange_id)
    try:
        stats = await source.market_stats()
    except TemporaryError as error:
        raise UserInputError(f"scan: the exchange did not answer: {error}") from None
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            await close()
    result = rank_markets(stats, filters, watched=set(settings.symbols), top=top)
    if as_json:
        print(json.dumps({"markets": result.markets, "excluded": result.excluded, "proposals": list(result.proposals),
                          "filters": asdict(filters), "rows": [asdict(r) for r in result.rows]}, indent=2))
    else:
        _print(result, filters.min_volume_usd, filters.max_spread_pct)
    return 0
