"""Texts of the admins' freqtrade-style commands (/balance, /profit, /performance, /daily, /weekly,
/monthly, /trades, /count, /version, /health, /logs, /show_config). HTML, every dynamic value escaped;
a trade is a position (its partial exits are legs), and "win rate" never shows without positions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from bot.telegram.post_format import fmt_duration, fmt_signed, positions_line
from core.models import AccountView, iso_z
from core.services.ledger import Period, PeriodRow, ProfitReport, SymbolRow
from core.trade_stats import PositionResult


def _short(symbol: str) -> str:
    return escape(symbol.split(":")[0])


def balance_text(account: AccountView) -> str:
    margin = sum(p.margin for p in account.positions)
    lines = [
        "<b>Balance</b>",
        f"Equity: <code>{account.equity:,.2f}</code> USDT",
        f"Available: <code>{account.available:,.2f}</code> USDT",
        f"In margin: <code>{margin:,.2f}</code> USDT across {len(account.positions)} position(s)",
    ]
    if account.day_start_equity > 0:
        day = account.equity - account.day_start_equity
        lines.append(f"Today: {fmt_signed(day)} USDT ({fmt_signed(day / account.day_start_equity * 100, '%')})")
    if account.peak_equity > 0:
        lines.append(f"Below the peak: {max(0.0, (1 - account.equity / account.peak_equity) * 100):.2f}%")
    return "\n".join(lines)


def profit_text(report: ProfitReport) -> str:
    window = f"last {report.days} day(s)" if report.days is not None else "since the start"
    s = report.stats
    lines = [f"<b>Profit — {window}</b>", positions_line(s.positions, s.wins)]
    lines.append(f"Realised P&amp;L: <b>{fmt_signed(report.realised)}</b> USDT after costs (fees {report.fees:,.2f})")
    if s.positions:
        pf = f"{s.profit_factor:.2f}" if s.profit_factor is not None else "n/a (no losing position)"
        lines.append(f"Profit factor: {pf} · expectancy {fmt_signed(s.expectancy or 0.0)} USDT per position")
        lines.append(f"Best: {fmt_signed(s.best or 0.0)} · worst: {fmt_signed(s.worst or 0.0)} USDT")
    lines.append(f"Equity now: <code>{report.equity:,.2f}</code> USDT")
    if report.first_entry is not None:
        lines.append(f"First trade: {report.first_entry.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    return "\n".join(lines)


def performance_text(rows: Sequence[SymbolRow]) -> str:
    if not rows:
        return "<b>Performance</b>\nNo closed positions yet."
    lines = ["<b>Performance by symbol</b> (closed positions, after costs)"]
    for r in rows:
        lines.append(f"• {_short(r.symbol)}: {fmt_signed(r.net_pnl)} USDT · {r.positions} position(s), {r.wins} won")
    return "\n".join(lines)


def periods_text(period: Period, rows: Sequence[PeriodRow]) -> str:
    title = {"daily": "Daily", "weekly": "Weekly (from Monday)", "monthly": "Monthly"}[period]
    lines = [f"<b>{title} P&amp;L</b> (realised, after costs)"]
    for r in rows:
        label = r.start.strftime("%Y-%m") if period == "monthly" else r.start.isoformat()
        won = f", {r.wins} won" if r.positions else ""
        lines.append(f"{label}: {fmt_signed(r.net_pnl)} USDT · {r.positions} position(s){won}")
    return "\n".join(lines)


def trades_text(positions: Sequence[PositionResult]) -> str:
    if not positions:
        return "<b>Last trades</b>\nNo closed positions yet."
    lines = ["<b>Last trades</b> (positions, all legs, after costs)"]
    for p in positions:
        held = fmt_duration((p.exit_time - p.entry_time).total_seconds())
        lines.append(
            f"• {iso_z(p.exit_time)[:16].replace('T', ' ')} {_short(p.symbol)} {p.side}: "
            f"{fmt_signed(p.net_pnl)} USDT · held {held}"
        )
    return "\n".join(lines)


def count_text(open_count: int, symbols: Sequence[str], max_positions: int) -> str:
    listing = ", ".join(_short(s) for s in symbols) or "none"
    return f"<b>Open positions</b>: {open_count} of at most {max_positions}\n{listing}"


def version_text(version: str, commit: str | None, dirty: bool | None) -> str:
    text = f"AI Trader {escape(version)}"
    if commit:
        text += f" · commit <code>{escape(commit[:12])}</code>" + (" (modified)" if dirty else "")
    return text


def health_text(now: datetime, last_cycle: datetime | None, checks: Mapping[str, str]) -> str:
    lines = ["<b>Health</b>"]
    if last_cycle is None:
        lines.append("Last cycle: never")
    else:
        age = fmt_duration(max(0.0, (now - last_cycle).total_seconds()))
        lines.append(f"Last cycle: {iso_z(last_cycle)} ({age} ago)")
    lines += [f"{escape(name)}: {escape(value)}" for name, value in checks.items()]
    return "\n".join(lines)


def logs_text(lines: Sequence[str]) -> str:
    if not lines:
        return "No log lines yet."
    body = escape("\n".join(lines))
    if len(body) > 3800:  # one Telegram message; the newest lines matter most
        body = "…" + body[-3800:]
    return f"<b>Last {len(lines)} log line(s)</b>\n<pre>{body}</pre>"


def config_text(values: Mapping[str, str]) -> str:
    lines = ["<b>Configuration</b> (secrets masked)"]
    lines += [f"{escape(k)}: <code>{escape(v)}</code>" for k, v in values.items()]
    return "\n".join(lines)
