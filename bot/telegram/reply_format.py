"""Texts the chat handlers send (HTML, every dynamic value escaped).

`/status` always carries the four contract lines of DESIGN §4.7:
`Paused: yes|no`, `Dry-run: on|off`, `Max leverage: N`, `Symbols: A, B`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from bot.telegram.context_format import context_lines
from core.config import RiskLimits
from core.models import AuditEntry, Position, RuntimeState, TradeEvent, iso_z
from core.protocols import CycleRecord

if TYPE_CHECKING:
    from core.services.control import Confirmation, PositionView, StatsReport, StatusReport

PUBLIC_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "what this bot is"),
    ("help", "the commands"),
    ("chart", "SYM [tf] — a price chart, e.g. /chart BTC/USDT:USDT 4h"),
    ("stats", "[7d|30d|all] — the track record with an equity chart"),
    ("why", "ID — the reasoning and risk checks behind a signal"),
)
# /help groups the admin commands by what they are for; the flat list feeds Telegram's command menu
ADMIN_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Trading", (
        ("status", "state, equity, positions and guard counts"),
        ("positions", "open positions"),
        ("count", "how many positions are open, of the maximum"),
        ("pause", "[reason] — no new entries; open positions stay managed"),
        ("stopentry", "the same as /pause, by freqtrade's name"),
        ("resume", "allow new entries again"),
        ("open", "SYM long|short [risk%] — a manual trade through the guard (asks to confirm)"),
        ("close", "SYM — close one position at market"),
        ("closeall", "close every position (asks to confirm)"),
        ("cycle", "run a trading cycle now"),
        ("pulse", "post a Market Pulse now"),
    )),
    ("Results", (
        ("balance", "equity, free margin and margin in use"),
        ("profit", "[days] — P&L, win rate and profit factor"),
        ("performance", "P&L per symbol"),
        ("daily", "[n] — P&L of the last n days"),
        ("weekly", "[n] — P&L of the last n weeks"),
        ("monthly", "[n] — P&L of the last n months"),
        ("trades", "[n] — the last closed positions"),
        ("leaderboard", "strategy versions ranked by Sharpe"),
        ("arena", "the arena: every contestant's paper book, standings and equity chart"),
    )),
    ("Settings", (
        ("risk", "the risk limits"),
        ("set", "KEY VALUE — risk, min_confidence, max_positions, min_reward_risk; leverage SYM N|off"),
        ("leverage", "[N] — show or set the leverage cap"),
        ("symbols", "[add|remove SYM…] — show or edit the symbols"),
        ("scan", "[N] — markets worth adding: volume, spread, volatility, momentum"),
        ("dryrun", "[on|off] — paper trading, or go live (asks to confirm)"),
    )),
    ("The bot", (
        ("health", "is it running: last cycle, scheduler, outbox"),
        ("version", "the version running"),
        ("logs", "[n] — the last log lines"),
        ("show_config", "the settings, secrets masked"),
        ("reload_config", "re-read the settings; apply what needs no restart"),
        ("audit", "[N] — recent changes: who, when, old → new"),
    )),
)
ADMIN_COMMANDS: tuple[tuple[str, str], ...] = tuple(item for _, items in ADMIN_GROUPS for item in items)
ADMIN_COMMAND_NAMES = tuple(name for name, _ in ADMIN_COMMANDS)
PUBLIC_COMMAND_NAMES = tuple(name for name, _ in PUBLIC_COMMANDS)

NOT_ADMIN = "Sorry, that command is for the bot's admins only. Nothing was changed. Try /help."


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _price(value: float) -> str:
    return f"{value:,.6g}" if abs(value) < 1 else f"{value:,.2f}"


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def on_off(flag: bool) -> str:
    return "on" if flag else "off"


def state_lines(state: RuntimeState) -> list[str]:
    """The four lines `/status` must contain (DESIGN §4.7), verbatim."""
    return [
        f"Paused: {yes_no(state.paused)}",
        f"Dry-run: {on_off(state.dry_run)}",
        f"Max leverage: {state.max_leverage}",
        f"Symbols: {escape(', '.join(state.symbols))}",
    ]


def _help_line(name: str, text: str) -> str:
    """`/chart SYM [tf] — a price chart`: the arguments beside the command, then what it does."""
    args, _, what = text.partition(" — ")
    return f"/{name} {escape(args)} — {escape(what)}" if what else f"/{name} — {escape(text)}"


def help_text(is_admin: bool) -> str:
    lines = ["<b>Commands</b>"]
    lines += [_help_line(name, text) for name, text in PUBLIC_COMMANDS]
    if is_admin:
        for title, items in ADMIN_GROUPS:
            lines.append("")
            lines.append(f"<b>{escape(title)}</b>")
            lines += [_help_line(name, text) for name, text in items]
    return "\n".join(lines)


def start_text(is_admin: bool) -> str:
    return (
        "👋 <b>AI Trader</b> posts crypto perpetual-futures signals to its channel: entries with a chart, "
        "exits as replies, a Market Pulse, daily and weekly summaries and a pinned track record.\n"
        "Not financial advice.\n\n" + help_text(is_admin)
    )


def unknown_command_text(is_admin: bool) -> str:
    return "I don't know that command.\n\n" + help_text(is_admin)


def position_line(p: Position) -> str:
    targets = ", ".join(_price(t) for t in p.take_profit) or "—"
    return (
        f"• <b>{escape(p.symbol)}</b> {p.side} {p.qty:g} @ {_price(p.entry_price)} ×{p.leverage} "
        f"stop {_price(p.stop_loss)} targets {targets} liq {_price(p.liquidation_price)}"
    )


def status_text(report: StatusReport) -> str:
    lines = ["<b>Status</b>", *state_lines(report.state)]
    if report.state.paused and report.state.pause_reason:
        lines.append(f"Pause reason: {escape(report.state.pause_reason)}")
    lines.append(f"Engine: {escape(report.engine)}")
    if report.engine_memory:
        lines.append(f"Engine memory: {escape(report.engine_memory)}")
    lines.append(f"Equity: {_money(report.equity)} (available {_money(report.available)})")
    lines.append(f"Day P&L: {report.day_pnl:+,.2f}")
    last = iso_z(report.last_cycle_at) if report.last_cycle_at else "never"
    lines.append(f"Last cycle: {last}")
    if report.data_warning:
        lines.append(f"⚠️ No entries: {escape(report.data_warning)[:600]}")
    lines.append(f"Open positions: {len(report.positions)}")
    lines += [position_line(p) for p in report.positions]
    if report.guard_counts:
        counts = ", ".join(f"{escape(k)} {v}" for k, v in sorted(report.guard_counts.items(), key=lambda kv: -kv[1]))
        lines.append(f"Guard: {counts}")
    if report.state.dry_run and report.live_blocker:
        lines.append(f"Live trading: unavailable ({escape(report.live_blocker)})")
    return "\n".join(lines)


def state_changed_text(title: str, state: RuntimeState) -> str:
    return f"✅ {escape(title)}\n" + "\n".join(state_lines(state))


def leverage_text(state: RuntimeState, hard_cap: int) -> str:
    return f"Max leverage: {state.max_leverage}\nSet it with /leverage N (a whole number from 1 to {hard_cap})."


def symbols_text(state: RuntimeState) -> str:
    return (
        f"Symbols: {escape(', '.join(state.symbols))}\n"
        "Edit with /symbols add SYM… or /symbols remove SYM… (ccxt symbols like BTC/USDT:USDT)."
    )


def dry_run_text(state: RuntimeState) -> str:
    return f"Dry-run: {on_off(state.dry_run)}\nUse /dryrun on (paper trading) or /dryrun off (live, confirmed)."


def confirmation_prompt(confirmation: Confirmation) -> str:
    what = {
        "live": "switch OFF dry-run: real orders will go to the exchange",
        "closeall": "close EVERY open position at market",
    }.get(confirmation.action, confirmation.detail or confirmation.action)
    return (
        f"⚠️ Confirm: {escape(what)}.\n"
        f"Only you can press the button; it expires at {iso_z(confirmation.expires_at)}."
    )


def positions_text(views: Sequence[PositionView]) -> str:
    """Each open position: side, entry, the last price and unrealised P&L (USDT and R), age, stop,
    targets, leverage and liquidation, and the signal id for /why."""
    if not views:
        return "No open positions."
    lines = ["<b>Open positions</b>"]
    for v in views:
        p = v.position
        targets = ", ".join(_price(t) for t in p.take_profit) or "—"
        lines.append(f"<b>{escape(p.symbol)}</b> {p.side.upper()} ×{p.leverage} · opened {_age(v.age_s)} ago")
        if v.mark is not None and v.unrealised is not None:
            r = f" · {v.r_multiple:+.2f}R" if v.r_multiple is not None else ""
            lines.append(f"  entry {_price(p.entry_price)} → now {_price(v.mark)}: {v.unrealised:+,.2f} USDT{r}")
        else:
            lines.append(f"  entry {_price(p.entry_price)} (no current price)")
        lines.append(f"  stop {_price(p.stop_loss)} · targets {targets} · liq {_price(p.liquidation_price)}")
        if p.targets_hit >= 1:
            lines.append(f"  {trailing_line(p)}")
        if p.signal_id:
            lines.append(f"  signal <code>{escape(p.signal_id)}</code>")
    return "\n".join(lines)


def trailing_line(p: Position) -> str:
    """How the rest trails after TP1 (#19): on the exchange, or by the bot moving the stop."""
    if p.trailing_on_exchange_pct is not None:
        return f"trailing stop resting on the exchange, {p.trailing_on_exchange_pct:g} % behind the best price"
    now = f", now at {_price(p.trailing_stop)}" if p.trailing_stop is not None else ""
    return f"trailing by the bot: it moves the stop behind the best price{now}"


def _age(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days} d {hours} h" if days else (f"{hours} h {mins} min" if hours else f"{mins} min")


def events_text(title: str, events: Sequence[TradeEvent]) -> str:
    exits = [e for e in events if e.kind == "exit"]
    if not exits:
        return f"{escape(title)}: nothing to report."
    lines = [f"✅ {escape(title)}"]
    lines += [
        f"• {escape(e.symbol)} {e.side} {e.qty:g} @ {_price(e.price)} net {e.net_pnl:+,.2f}" for e in exits
    ]
    return "\n".join(lines)


ACTION_WORDS = {"long": "a long", "short": "a short", "hold": "no trade", "close": "close", "paused": "paused",
                "skipped": "already decided this hour", "error": "failed"}


def cycle_text(summary: object) -> str:
    """A cycle in words: per symbol what was decided and what became of it. Anything that is not a
    CycleSummary is rendered from its fields."""
    decisions = getattr(summary, "decisions", None)
    if isinstance(decisions, dict):
        as_of = getattr(summary, "as_of", None)
        when = f" as of {as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if isinstance(as_of, datetime) else ""
        lines = [f"✅ Cycle done{when} in {getattr(summary, 'duration_ms', 0.0):,.0f} ms"]
        approved = set(getattr(summary, "approved", ()))
        rejected: dict[str, str] = getattr(summary, "rejected", {})
        errors: dict[str, str] = getattr(summary, "errors", {})
        for symbol, action in decisions.items():
            words = ACTION_WORDS.get(action, action)
            if symbol in approved:
                words += " → approved, order sent (fills at the next open on paper)"
            elif symbol in rejected and action in ("long", "short"):
                words += f" → refused by the risk guard ({rejected[symbol]})"
            elif symbol in errors:
                words += f": {errors[symbol][:160]}"
            lines.append(f"• {escape(symbol.split(':')[0])}: {escape(words)}")
        events = getattr(summary, "events", ())
        if events:
            lines.append(f"Broker events: {len(events)} (fills, exits, stop moves), posted to the channel")
        return "\n".join(lines)
    lines = ["✅ Cycle done"]
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        for field in dataclasses.fields(summary):
            value = getattr(summary, field.name)
            lines.append(f"{escape(field.name.replace('_', ' '))}: {escape(_short(value))}")
    else:
        lines.append(escape(_short(summary)))
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_short(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        if len(value) > 6:
            return f"{len(value)} items"
        return ", ".join(_short(v) for v in value) or "—"
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "…"


def risk_text(limits: RiskLimits, state: RuntimeState) -> str:
    groups = "; ".join(", ".join(g) for g in limits.correlation_groups) or "none"
    return "\n".join(
        [
            "<b>Risk limits</b>",
            f"Risk per trade: {limits.risk_per_trade_pct:g}% of equity at the stop",
            f"Max open positions: {limits.max_open_positions}",
            f"Max leverage: {state.max_leverage} (hard cap {limits.hard_max_leverage})",
            f"Min reward/risk: {limits.min_reward_risk:g}",
            f"Min confidence: {limits.min_confidence:g}",
            f"Stops: {limits.min_stop_pct:g}%–{limits.max_stop_pct:g}% (ATR × {limits.atr_stop_multiple:g} when none)",
            f"Max spread: {limits.max_spread_bps:g} bps; min 24 h volume: {limits.min_quote_volume_24h:,.0f}",
            f"Extreme funding veto: {limits.extreme_funding_rate:g} per 8 h",
            f"Daily loss breaker: −{limits.daily_loss_limit_pct:g}%; drawdown kill-switch: −{limits.max_drawdown_pct:g}%",
            f"Cooldown after a stop: {limits.cooldown_after_stop_h:g} h; stale exit: {limits.stale_exit_h:g} h",
            f"Correlation groups: {escape(groups)}",
            "Per-symbol leverage caps: "
            + (escape(", ".join(f"{s} {c}x" for s, c in limits.symbol_leverage)) or "none (/set leverage SYM N)"),
        ]
    )


def audit_text(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return "Audit log is empty."
    lines = ["<b>Audit</b> (newest first)"]
    for e in entries:
        change = f"{e.old} → {e.new}" if (e.old or e.new) else ""
        when = e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"{when} · {escape(e.actor)} · {escape(e.action.replace('_', ' '))} {escape(change)}".rstrip())
    return "\n".join(lines)


def stats_text(report: StatsReport) -> str:
    pf = "—" if report.profit_factor is None else f"{report.profit_factor:.2f}"
    return "\n".join(
        [
            f"<b>Track record ({escape(report.period)})</b>",
            f"Trades: {report.trades} ({report.wins} won, {report.losses} lost; {report.legs} legs)",
            f"Win rate: {report.win_rate * 100:.1f}%",
            f"Net P&L: {report.net_pnl:+,.2f} (fees {_money(report.fees)}, funding {report.funding:+,.2f})",
            f"Profit factor: {pf}",
            f"Best: {report.best:+,.2f}; worst: {report.worst:+,.2f}",
            "Not financial advice.",
        ]
    )


def why_text(entry: CycleRecord) -> str:
    lines = [f"<b>Signal {escape(entry.signal_id)}</b>", f"{escape(entry.symbol)} at {iso_z(entry.as_of)}"]
    record = entry.record
    if record is not None:
        model = f"{record.engine}" + (f" / {record.model}" if record.model else "")
        lines.append(f"Engine: {escape(model)} — status {escape(record.status)}")
        decision = record.decision
        if decision is not None:
            lines.append(f"Decision: {escape(str(decision.action))}, confidence {decision.confidence:.2f}")
            if decision.stop_loss is not None:
                targets = ", ".join(_price(t) for t in decision.take_profit) or "—"
                lines.append(f"Stop {_price(decision.stop_loss)}; targets {targets}; leverage {decision.leverage}")
            if decision.invalidation:
                lines.append(f"Invalidation: {escape(decision.invalidation)}")
            if decision.reasoning:
                lines.append(f"Reasoning: {escape(decision.reasoning)}")
        elif record.error:
            lines.append(f"Error: {escape(record.error)}")
    if entry.snapshot is not None:  # what the decision saw beyond candles (#17)
        lines.extend(context_lines(entry.snapshot))
    verdict = entry.verdict
    if verdict is not None:
        if verdict.approved:
            lines.append("Guard: approved")
        else:
            detail = f" — {verdict.detail}" if verdict.detail else ""
            lines.append(f"Guard: rejected ({escape(str(verdict.reason))}{escape(detail)})")
        if verdict.checks:
            lines.append(f"Checks passed: {escape(', '.join(verdict.checks))}")
    if entry.error:
        lines.append(f"Error: {escape(entry.error)}")
    return "\n".join(lines)


QUOTE_LIMIT = 64  # quoted user input is cut: a 10 kB /why argument came back whole, over Telegram's limit
ERROR_LIMIT = 600


def quote_input(text: str, limit: int = QUOTE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def why_missing_text(signal_id: str) -> str:
    return f"No signal with id {escape(quote_input(signal_id))}. Use the id shown under a channel post."


def escape_text(text: str) -> str:
    return escape(text)


def input_error_text(error: Exception) -> str:
    """An error message quotes what the user typed (`got '...'`): bounded, whatever they typed."""
    return f"❌ {escape(quote_input(str(error), ERROR_LIMIT))}"
