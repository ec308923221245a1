"""The `/scan` reply: the coin hunter's ranking, one compact line per market (Telegram HTML)."""

from __future__ import annotations

from html import escape

from core.market.scan import ScanFilters, ScanResult


def _volume(usd: float) -> str:
    return f"${usd / 1e9:,.2f} B" if usd >= 1e9 else f"${usd / 1e6:,.1f} M"


def _pct(value: float | None, *, signed: bool = False, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f} %" if signed else f"{value:.{digits}f} %"


def excluded_text(result: ScanResult) -> str:
    if not result.excluded:
        return ""
    parts = ", ".join(f"{n} {reason}" for reason, n in sorted(result.excluded.items()))
    return f"Left out: {parts}."


def scan_text(result: ScanResult, filters: ScanFilters) -> str:
    lines = [
        f"<b>Coin hunter</b> · {result.markets} perpetual markets · volume ≥ {_volume(filters.min_volume_usd)}, "
        f"spread ≤ {filters.max_spread_pct:g} %"
    ]
    if not result.rows:
        lines.append("No market passed the filters.")
    for row in result.rows:
        mark = " · watching" if row.watched else ""
        lines.append(
            f"{row.rank}. <code>{escape(row.symbol)}</code>{mark}\n"
            f"   {_volume(row.quote_volume_24h)} 24h · spread {_pct(row.spread_pct, digits=3)} · "
            f"range {_pct(row.range_pct)} · {_pct(row.change_24h_pct, signed=True)} · score {row.score:.2f}"
        )
    if excluded_text(result):
        lines.append(excluded_text(result))
    if result.proposals:
        lines.append(f"To watch one: <code>/symbols add {escape(result.proposals[0])}</code>")
    return "\n".join(lines)
