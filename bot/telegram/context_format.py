"""What the market said beyond candles, in words (#17): the sentiment reading and top headline for the Market
Pulse, and for `/why` the context that was in the snapshot the decision was made on (funding average, open
interest, spread, book, Fear & Greed, news score, key events). Keys with no data at that time are left out."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from core.models import Sentiment, Snapshot

MAX_TITLE = 100


def fear_greed_label(value: int) -> str:
    """alternative.me's bands."""
    if value < 25:
        return "extreme fear"
    if value < 45:
        return "fear"
    if value <= 55:
        return "neutral"
    if value <= 75:
        return "greed"
    return "extreme greed"


def _title(text: str) -> str:
    return escape(text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1].rstrip() + "…")


def pulse_fear_greed_line(readings: Sequence[Sentiment | None]) -> str | None:
    """The market-wide Fear & Greed line, once per pulse."""
    value = next((s.fear_greed for s in readings if s is not None and s.fear_greed is not None), None)
    return None if value is None else f"Fear &amp; Greed: <b>{value}</b> ({fear_greed_label(value)})"


def pulse_news_line(sentiment: Sentiment | None) -> str | None:
    """News score and the top headline with its source, when there is one."""
    if sentiment is None or (sentiment.news_score is None and not sentiment.key_events):
        return None
    parts = []
    if sentiment.news_score is not None:
        parts.append(f"News {sentiment.news_score:+.1f}")
    if sentiment.key_events:
        top = sentiment.key_events[0]
        source = f" ({escape(sentiment.top_source)})" if sentiment.top_source else ""
        parts.append(f"“{_title(top.title)}”{source}")
    return "📰 " + " · ".join(parts)


def _pct(value: float | None, digits: int = 2) -> str | None:
    return None if value is None else f"{value:+.{digits}f} %"


def context_lines(snapshot: Snapshot) -> list[str]:
    """`/why`: the context keys the decision's snapshot carried (null ones left out), then its key events."""
    extra = snapshot.extra
    parts: list[str] = []
    funding = extra.get("funding_avg_24h")
    if funding is not None:
        parts.append(f"funding avg 24h {funding * 100:+.4f} %")
    oi = extra.get("open_interest")
    if oi is not None:
        changes = [f"{label} {p}" for label, p in (("1h", _pct(extra.get("oi_change_1h_pct"))),
                                                    ("24h", _pct(extra.get("oi_change_24h_pct")))) if p]
        parts.append(f"open interest {oi:,.0f}" + (f" ({', '.join(changes)})" if changes else ""))
    spread = extra.get("spread_pct")
    if spread is not None:
        parts.append(f"spread {spread:.3f} %")
    book = extra.get("book_imbalance")
    if book is not None:
        parts.append(f"book {book:.0%} bids")
    sentiment = snapshot.sentiment
    if sentiment is not None and sentiment.fear_greed is not None:
        parts.append(f"Fear &amp; Greed {sentiment.fear_greed} ({fear_greed_label(sentiment.fear_greed)})")
    if sentiment is not None and sentiment.news_score is not None:
        parts.append(f"news score {sentiment.news_score:+.2f}")
    lines = [f"Context: {'; '.join(parts)}" if parts else "Context: candles only (no funding, OI, book or news data)"]
    for event in sentiment.key_events if sentiment is not None else ():
        lines.append(f"• {event.time:%Y-%m-%d %H:%M} UTC {event.impact:+d}: {_title(event.title)}")
    return lines


__all__ = ["context_lines", "fear_greed_label", "pulse_fear_greed_line", "pulse_news_line"]
