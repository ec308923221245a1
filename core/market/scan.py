"""The coin hunter's ranking: an exchange's perpetual markets by 24 h quote volume, spread, volatility and momentum.

Pure: a `MarketStatsSource` (ccxt's tickers, or the offline files at the clock's now) gives one `MarketStats` per
market; `rank_markets` drops those below the volume floor or above the spread ceiling and orders the rest by a
score, the mean of four percentile ranks among the markets that passed: volume (more is better: fills and
slippage), spread (tighter is better), the 24 h range as a share of price (more movement to trade) and the size of
the 24 h change (momentum either way, as both sides trade). A market with no known spread (offline files have no
book) is not refused for it and scores mid-field on that rank. Nothing here changes the symbol list: the result
proposes, an admin adds with `/symbols add`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class MarketStats:
    """One market's last 24 h. `None` where the source does not know (e.g. no book offline)."""

    symbol: str
    last: float
    quote_volume_24h: float | None
    bid: float | None = None
    ask: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    change_24h_pct: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.last) and self.last > 0):
            raise ValueError(f"{self.symbol}: last price must be a positive number, got {self.last}")

    @property
    def spread_pct(self) -> float | None:
        if self.bid is None or self.ask is None or self.bid <= 0 or self.ask < self.bid:
            return None
        return (self.ask - self.bid) / ((self.ask + self.bid) / 2) * 100

    @property
    def range_pct(self) -> float | None:
        if self.high_24h is None or self.low_24h is None or self.high_24h < self.low_24h:
            return None
        return (self.high_24h - self.low_24h) / self.last * 100


class MarketStatsSource(Protocol):
    async def market_stats(self) -> Sequence[MarketStats]: ...


@dataclass(frozen=True, slots=True)
class ScanFilters:
    min_volume_usd: float = 10_000_000.0
    max_spread_pct: float = 0.2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_volume_usd) and self.min_volume_usd >= 0):
            raise ValueError(f"min volume must be a number >= 0, got {self.min_volume_usd}")
        if not (math.isfinite(self.max_spread_pct) and self.max_spread_pct > 0):
            raise ValueError(f"max spread must be a number above 0, got {self.max_spread_pct}")


@dataclass(frozen=True, slots=True)
class ScanRow:
    rank: int
    symbol: str
    quote_volume_24h: float
    spread_pct: float | None
    range_pct: float | None
    change_24h_pct: float | None
    score: float
    watched: bool


@dataclass(frozen=True, slots=True)
class ScanResult:
    rows: tuple[ScanRow, ...]
    markets: int
    excluded: dict[str, int] = field(default_factory=dict)  # reason → how many markets it removed

    @property
    def proposals(self) -> tuple[str, ...]:
        """The ranked markets not yet on the symbol list, best first."""
        return tuple(row.symbol for row in self.rows if not row.watched)


def _percentiles(values: Sequence[float | None], *, higher_is_better: bool) -> list[float]:
    """Each value's share of the known others it beats (ties half), 0–1; unknown values score 0.5."""
    known = [v for v in values if v is not None]
    out = []
    for value in values:
        if value is None or len(known) < 2:
            out.append(0.5)
            continue
        below = sum(1 for v in known if v < value)
        equal = sum(1 for v in known if v == value) - 1
        share = (below + equal / 2) / (len(known) - 1)
        out.append(share if higher_is_better else 1.0 - share)
    return out


def rank_markets(
    stats: Sequence[MarketStats], filters: ScanFilters, *, watched: Collection[str] = (), top: int = 10
) -> ScanResult:
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    excluded: dict[str, int] = {}
    passed: list[MarketStats] = []
    for item in stats:
        volume = item.quote_volume_24h
        spread = item.spread_pct
        if volume is None:
            reason = "no 24h volume"
        elif volume < filters.min_volume_usd:
            reason = "volume below the minimum"
        elif spread is not None and spread > filters.max_spread_pct:
            reason = "spread above the maximum"
        else:
            passed.append(item)
            continue
        excluded[reason] = excluded.get(reason, 0) + 1
    parts = [
        _percentiles([s.quote_volume_24h for s in passed], higher_is_better=True),
        _percentiles([s.spread_pct for s in passed], higher_is_better=False),
        _percentiles([s.range_pct for s in passed], higher_is_better=True),
        _percentiles([None if s.change_24h_pct is None else abs(s.change_24h_pct) for s in passed],
                     higher_is_better=True),
    ]
    scores = [sum(part[i] for part in parts) / len(parts) for i in range(len(passed))]
    order = sorted(range(len(passed)), key=lambda i: (-scores[i], -(passed[i].quote_volume_24h or 0.0),
                                                      passed[i].symbol))
    rows = tuple(
        ScanRow(
            rank=n + 1,
            symbol=passed[i].symbol,
            quote_volume_24h=float(passed[i].quote_volume_24h or 0.0),
            spread_pct=passed[i].spread_pct,
            range_pct=passed[i].range_pct,
            change_24h_pct=passed[i].change_24h_pct,
            score=round(scores[i], 6),
            watched=passed[i].symbol in watched,
        )
        for n, i in enumerate(order[:top])
    )
    return ScanResult(rows=rows, markets=len(stats), excluded=excluded)
