"""Pure functions that build the HTML texts of channel posts (Telegram HTML parse mode).

Every value from outside (symbols, reasoning, errors) is escaped with `html.escape`. Captions fit in
1024 characters and texts are split into ≤ 4096-character messages on line boundaries; cutting never
breaks a tag or an entity (`truncate_html`, `split_html`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from bot.telegram.context_format import pulse_fear_greed_line, pulse_news_line
from core.models import ClosedTrade, DecisionRecord, DomainError, Snapshot, TradeEvent, iso_z
from core.services.summaries import DailySummary, PulseItem, TrackRecordCard

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
ELLIPSIS = "…"

_TOKEN = re.compile(r"<[^>]*>|&#?\w+;|[^<&]+|[<&]")
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)")
_WHOLE_TAG = re.compile(r"<[^>]*>")

EXIT_LABELS = {
    "tp1": "🎯 Target 1 hit",
    "tp2": "🎯 Target 2 hit",
    "tp3": "🎯 Target 3 hit",
    "stop": "🛑 Stopped out",
    "breakeven": "⚖️ Break-even stop",
    "trailing": "📉 Trailing stop",
    "stale": "⏳ Stale exit",
    "liquidation": "💥 Liquidated",
    "manual": "✋ Closed manually",
    "end": "⏹ Closed at the end of the run",
    "signal": "🔁 Closed on signal",
    "news": "📰 Closed on critical news",
    "external": "🔄 Closed on the exchange",
}


# ---------------------------------------------------------------------------------------------
# HTML-safe cutting
# ---------------------------------------------------------------------------------------------


def _tokens(html: str) -> list[str]:
    """Tags, entities and plain-text runs; plain runs are split to characters lazily by the callers."""
    return _TOKEN.findall(html)


def _closing(stack: list[str]) -> str:
    return "".join(f"</{name}>" for name in reversed(stack))


def _track(token: str, stack: list[str]) -> None:
    match = _TAG.match(token)
    if not match or token.endswith("/>"):
        return
    closing, name = match.group(1), match.group(2).lower()
    if not closing:
        stack.append(name)
    elif name in stack:
        del stack[len(stack) - 1 - stack[::-1].index(name)]


def truncate_html(html: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`html` if it fits, else the longest prefix that fits with `ellipsis` and every open tag closed."""
    if len(html) <= limit:
        return html
    out: list[str] = []
    size = 0
    stack: list[str] = []
    for token in _tokens(html):
        is_text = not token.startswith(("<", "&")) or token in ("<", "&")
        pieces = list(token) if is_text else [token]
        for piece in pieces:
            trial_stack = list(stack)
            _track(piece, trial_stack)
            if size + len(piece) + len(ellipsis) + len(_closing(trial_stack)) > limit:
                return "".join(out).rstrip() + ellipsis + _closing(stack)
            out.append(piece)
            size += len(piece)
            stack = trial_stack
    return "".join(out)


def split_html(html: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split into chunks ≤ limit, on line boundaries where possible. Tags may span lines (a <b> block, a
    <pre>): each cut closes the tags open there and the next chunk reopens them, because Telegram refuses
    a message whose HTML does not balance."""
    chunks: list[str] = []
    body = ""
    open_tags: list[tuple[str, str]] = []  # open at the end of `body`
    for line in html.split("\n"):
        after = open_tags
        for token in _tokens(line):
            after = _apply_tag(token, after)
        candidate = f"{body}\n{line}" if body else line
        if len(candidate) + len(_closers(after)) <= limit:
            body, open_tags = candidate, after
            continue
        if _has_text(body):
            chunks.append(body + _closers(open_tags))
        start = _opening(open_tags) + line
        if len(start) + len(_closers(after)) <= limit:
            body, open_tags = start, after
            continue
        *done, body = _hard_split(start, limit) or [""]
        chunks.extend(chunk for chunk in done if _has_text(chunk))  # tags alone are nothing to send
        open_tags = after
    if _has_text(body):
        chunks.append(body + _closers(open_tags))
    return chunks


def _has_text(html: str) -> bool:
    """Whether anything but tags and whitespace is left: Telegram refuses an empty message."""
    return bool(_WHOLE_TAG.sub("", html).strip())


def _apply_tag(piece: str, open_tags: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The open-tag stack after `piece` (name, opening tag as written)."""
    match = _TAG.match(piece)
    if not match or piece.endswith("/>"):
        return open_tags
    name = match.group(2).lower()
    if not match.group(1):
        return [*open_tags, (name, piece)]
    for i in range(len(open_tags) - 1, -1, -1):
        if open_tags[i][0] == name:
            return open_tags[:i] + open_tags[i + 1 :]
    return open_tags


def _closers(open_tags: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(open_tags))


def _opening(open_tags: list[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in open_tags)


def _hard_split(line: str, limit: int) -> list[str]:
    """Cut one line into pieces ≤ limit, closing open tags at each cut and reopening them after it."""
    pieces: list[str] = []
    out: list[str] = []
    size = 0
    open_tags: list[tuple[str, str]] = []  # (name, the opening tag as written)
    for token in _tokens(line):
        is_text = not token.startswith(("<", "&")) or token in ("<", "&")
        for piece in list(token) if is_text else [token]:
            after = _apply_tag(piece, open_tags)
            if size + len(piece) + len(_closers(after)) > limit and size > len(_opening(open_tags)):
                pieces.append("".join(out) + _closers(open_tags))
                out, size = [_opening(open_tags)], len(_opening(open_tags))
                after = _apply_tag(piece, open_tags)
            open_tags = after
            out.append(piece)
            size += len(piece)
    if size:
        pieces.append("".join(out))
    return pieces


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def fmt_price(value: float) -> str:
    """Enough significant digits for any coin: 61,234.50 · 3,050.12 · 0.5231 · 0.00001234."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.2f}"
    if magnitude >= 1:
        return f"{value:,.4f}".rstrip("0").rstrip(".") if magnitude < 100 else f"{value:,.3f}"
    if magnitude == 0:
        return "0"
    decimals = 3 - math.floor(math.log10(magnitude))
    if decimals > 12:  # fixed point would print it as zero
        return f"{value:.4g}"
    return f"{value:.{decimals}f}"


def fmt_signed(value: float, suffix: str = "", digits: int = 2) -> str:
    """`+1.50` / `-1.50`; a value that rounds to zero has no sign (never `-0.00`), a non-number is `n/a`."""
    if not math.isfinite(value):
        return "n/a"
    if round(value, digits) == 0:
        return f"{0.0:,.{digits}f}{suffix}"
    return f"{value:+,.{digits}f}{suffix}"


def fmt_qty(value: float) -> str:
    """Six significant digits, never in exponent notation (`,.6g` would print 1.23457e+07 or 5e-05)."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 999_999.5:  # where `.6g` turns to exponents
        return f"{value:,.0f}"
    if 0 < magnitude < 1e-4:
        return f"{value:.{5 - math.floor(math.log10(magnitude))}f}".rstrip("0")
    return f"{value:,.6g}"


def disclaimer(dry_run: bool) -> str:
    text = "Not financial advice."
    if dry_run:
        text += " Dry-run: paper trading."
    return f"<i>{text}</i>"


def _short_symbol(symbol: str) -> str:
    return symbol.split(":")[0]


# ---------------------------------------------------------------------------------------------
# Entry and exit
# ---------------------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return escape(iso_z(moment).replace("T", " ").removesuffix("Z").removesuffix(":00")) + " UTC"


def entry_caption(
    event: TradeEvent,
    record: DecisionRecord | None = None,
    snapshot: Snapshot | None = None,
    *,
    dry_run: bool = True,
    limit: int = CAPTION_LIMIT,
    equity: float | None = None,
) -> str:
    """The caption of an entry post, enough to act on from the post alone: side, symbol, entry (when, at
    market), stop, targets with their reward/risk, the risk taken (% of `equity` at the stop), leverage and
    liquidation, when a late entry is void, the invalidation, confidence, a short reason, the signal id and
    the disclaimer — the reason is shortened first when space runs out."""
    pos = event.position
    decision = record.decision if record is not None else None
    side_icon = "🟢 LONG" if event.side == "long" else "🔴 SHORT"
    head = [
        f"<b>{side_icon} {escape(_short_symbol(event.symbol))}</b>",
        f"Entry: <code>{fmt_price(event.price)}</code> (market, {_when(event.time)})",
    ]
    if snapshot is not None and snapshot.as_of != event.time:
        head.append(f"Signal at {_when(snapshot.as_of)}, filled at the next open")
    if pos is not None:
        risk = abs(pos.entry_price - pos.stop_loss)
        risk_pct = risk / pos.entry_price * 100
        head.append(f"Stop: <code>{fmt_price(pos.stop_loss)}</code> ({risk_pct:.2f}%)")
        for n, target in enumerate(pos.take_profit, start=1):
            move = (target - pos.entry_price) / pos.entry_price * 100
            rr = f" · reward/risk {abs(target - pos.entry_price) / risk:.1f}" if risk > 0 else ""
            head.append(f"TP{n}: <code>{fmt_price(target)}</code> ({move:+.2f}%){rr}")
        if equity is not None and equity > 0:
            at_stop = risk * pos.qty / equity * 100
            head.append(f"Risk: {at_stop:.2f}% of equity if the stop is hit")
        head.append(f"Leverage: {pos.leverage}x · Liq: <code>{fmt_price(pos.liquidation_price)}</code>")
        if pos.take_profit:
            head.append(
                f"Late entry: void if price reaches <code>{fmt_price(pos.stop_loss)}</code> or "
                f"<code>{fmt_price(pos.take_profit[0])}</code> first"
            )
    elif decision is not None and decision.stop_loss is not None:
        head.append(f"Stop: <code>{fmt_price(decision.stop_loss)}</code>")
        head.extend(f"TP{n}: <code>{fmt_price(t)}</code>" for n, t in enumerate(decision.take_profit, 1))
        head.append(f"Leverage: {decision.leverage}x")
    invalidation = (decision.invalidation if decision is not None else "").strip()
    if invalidation:
        head.append(f"Invalidation: {escape(invalidation[:120])}")
    confidence = pos.confidence if pos is not None and pos.confidence else (decision.confidence if decision else 0)
    if confidence:
        head.append(f"Confidence: {confidence:.0%}")
    if snapshot is not None:
        head.append(f"Regime: {escape(str(snapshot.regime).replace('_', ' '))}")
    tail = []
    if event.signal_id:
        tail.append(f"Signal: <code>{escape(event.signal_id)}</code>")
    tail.append(disclaimer(dry_run))
    # Followers read the engine's plain-language note when it wrote one; the reasoning stays in /why.
    reason = ((decision.note or decision.reasoning) if decision is not None else "").strip()
    # under a tight limit the helpful extras go before anything is cut (the signal id must stay)
    optional = ("Regime:", "Invalidation:", "Late entry:", "Signal at ")
    while len("\n".join(head) + "\n\n" + "\n".join(tail)) > limit and any(x.startswith(optional) for x in head):
        head.remove(next(line for line in reversed(head) if line.startswith(optional)))
    fixed = "\n".join(head) + "\n\n" + "\n".join(tail)
    if reason:
        budget = limit - len(fixed) - 2
        reason_html = truncate_html(f"<i>{escape(reason)}</i>", max(budget, 0))
        if budget > 20:
            return "\n".join(head) + "\n\n" + reason_html + "\n\n" + "\n".join(tail)
    return truncate_html(fixed, limit)


@dataclass(frozen=True, slots=True)
class ExitResult:
    """Figures of one exit, derived from the event (and its closed-trade row when the broker gave one)."""

    reason: str
    entry_price: float
    exit_price: float
    qty: float
    net_pnl: float
    pnl_pct: float  # price move in the position's favour, %
    margin_pct: float | None  # on isolated margin, % (price move × leverage, after costs)
    r_multiple: float | None

    @classmethod
    def of(cls, event: TradeEvent) -> ExitResult:
        trade, pos = event.trade, event.position
        reason = (event.reason or (trade.exit_reason if trade else "") or "exit").lower()
        sign = 1 if event.side == "long" else -1
        entry = trade.entry_price if trade else (pos.entry_price if pos else event.price)
        qty = trade.qty if trade else event.qty
        pnl = trade.net_pnl if trade else event.net_pnl
        stop = trade.stop_loss if trade else (pos.initial_stop if pos else None)
        leverage = trade.leverage if trade else (pos.leverage if pos else None)
        if entry <= 0:
            raise DomainError(f"exit of {event.position_id}: entry price must be positive, got {entry}")
        pnl_pct = sign * (event.price - entry) / entry * 100
        notional = entry * qty
        margin_pct = pnl / (notional / leverage) * 100 if leverage and notional > 0 else None
        risk = abs(entry - stop) * qty if stop else 0.0
        r_multiple = pnl / risk if risk > 0 else None
        return cls(reason, entry, event.price, qty, pnl, pnl_pct, margin_pct, r_multiple)


@dataclass(frozen=True, slots=True)
class PositionOutcome:
    """The whole position once its last leg closed: every leg's net P&L summed, R on the initial risk."""

    legs: int
    net_pnl: float
    r_multiple: float | None
    margin_pct: float | None
    held_s: float | None
    leg_pnls: tuple[tuple[str, float], ...] = ()  # (exit reason, net P&L) per leg, in order


def closes_position(event: TradeEvent) -> bool:
    """Whether this exit ends its position (every exit but the TP1 partial of a two-target ladder)."""
    if event.kind != "exit":
        return False
    reason = (event.reason or (event.trade.exit_reason if event.trade else "")).lower()
    return not (reason == "tp1" and event.position is not None and len(event.position.take_profit) >= 2)


def position_outcome(event: TradeEvent, legs: Sequence[ClosedTrade] = ()) -> PositionOutcome:
    """The position's result from its closed legs (the event's own leg included once)."""
    own = [t for t in legs if t.position_id == event.position_id]
    if event.trade is not None and not any(
        t.exit_time == event.trade.exit_time and t.exit_reason == event.trade.exit_reason for t in own
    ):
        own.append(event.trade)
    own.sort(key=lambda t: t.exit_time)
    pos = event.position
    if own:
        net = math.fsum(t.net_pnl for t in own)
        entry, stop = own[0].entry_price, own[0].stop_loss
        qty = math.fsum(t.qty for t in own)
        leverage, opened = own[0].leverage, own[0].entry_time
    else:
        net = event.net_pnl
        entry = pos.entry_price if pos else event.price
        stop = pos.initial_stop if pos else 0.0
        qty = pos.initial_qty if pos else event.qty
        leverage, opened = (pos.leverage, pos.entry_time) if pos else (0, None)
    if pos is not None:
        entry, stop, qty, opened = pos.entry_price, pos.initial_stop, pos.initial_qty or qty, pos.entry_time
    risk = abs(entry - stop) * qty if stop else 0.0
    margin = entry * qty / leverage if leverage else 0.0
    return PositionOutcome(
        legs=max(len(own), 1),
        net_pnl=net,
        r_multiple=net / risk if risk > 0 else None,
        margin_pct=net / margin * 100 if margin > 0 else None,
        held_s=(event.time - opened).total_seconds() if opened is not None else None,
        leg_pnls=tuple((t.exit_reason, t.net_pnl) for t in own),
    )


def fmt_duration(seconds: float) -> str:
    """`3 d 4 h`, `5 h 10 min`, `12 min`: how long a position was held, as a follower reads it."""
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _result_icon(pnl: float) -> str:
    rounded = round(pnl, 2)
    return "✅" if rounded > 0 else ("❌" if rounded < 0 else "➖")


LEG_NAMES = {"tp1": "TP1", "tp2": "TP2", "tp3": "TP3"}


def exit_text(event: TradeEvent, *, dry_run: bool = True, outcome: PositionOutcome | None = None) -> str:
    """A reply to the entry post. The exit that ends a position states the whole position's result (all
    legs), its R on the initial risk and how long it was held; the TP1 partial states its leg and what is
    left running. No quantities: followers size their own positions."""
    result = ExitResult.of(event)
    label = EXIT_LABELS.get(result.reason, f"Exit ({escape(result.reason)})")
    lines = [
        f"<b>{label} — {escape(_short_symbol(event.symbol))} {event.side.upper()}</b>",
        f"Exit: <code>{fmt_price(result.exit_price)}</code> · entry {fmt_price(result.entry_price)}"
        f" ({fmt_signed(result.pnl_pct, '%')})",
    ]
    if not closes_position(event):
        r = f" · {fmt_signed(result.r_multiple, 'R')}" if result.r_multiple is not None else ""
        lines.append(f"{_result_icon(result.net_pnl)} P&amp;L of this leg: <b>{fmt_signed(result.net_pnl)}</b> USDT after costs{r}")
        pos = event.position
        if pos is not None:
            share = result.qty / pos.initial_qty * 100 if pos.initial_qty > 0 else 50.0
            lines.append(
                f"{share:.0f}% of the position closed; the rest runs with the stop at "
                f"<code>{fmt_price(pos.stop_loss)}</code>"
            )
    else:
        o = outcome or position_outcome(event)
        r = f" · {fmt_signed(o.r_multiple, 'R')}" if o.r_multiple is not None else ""
        whole = " (whole position)" if o.legs > 1 else ""
        lines.append(f"{_result_icon(o.net_pnl)} P&amp;L{whole}: <b>{fmt_signed(o.net_pnl)}</b> USDT after costs{r}")
        if o.legs > 1 and o.leg_pnls:
            legs = ", ".join(f"{LEG_NAMES.get(reason, escape(reason))} {fmt_signed(pnl)}" for reason, pnl in o.leg_pnls)
            lines.append(f"Legs: {legs}")
        if o.margin_pct is not None:
            lines.append(f"On margin: {fmt_signed(o.margin_pct, '%', 1)}")
        if o.held_s is not None:
            lines.append(f"Held: {fmt_duration(o.held_s)}")
    if event.signal_id:
        lines.append(f"Signal: <code>{escape(event.signal_id)}</code>")
    lines.append(disclaimer(dry_run))
    return truncate_html("\n".join(lines), TEXT_LIMIT)


def update_text(event: TradeEvent, *, dry_run: bool = True) -> str:
    """A reply to the entry post for position updates that are not exits (stop moved, liquidation risk)."""
    symbol = escape(_short_symbol(event.symbol))
    if event.kind == "stop_moved":
        head = f"🔒 <b>{symbol}</b>: stop moved to <code>{fmt_price(event.price)}</code>"
    else:
        head = f"⚠️ <b>{symbol}</b>: price <code>{fmt_price(event.price)}</code> is near liquidation"
    if event.reason:
        head += f" ({escape(event.reason)})"
    return head + "\n" + disclaimer(dry_run)


# ---------------------------------------------------------------------------------------------
# Market Pulse and the daily summary
# ---------------------------------------------------------------------------------------------


def pulse_text(items: Sequence[PulseItem], as_of: datetime, *, dry_run: bool = True) -> str:
    """Changes are over the last 24 h, the same window the picture draws and labels."""
    lines = [f"<b>📊 Market Pulse</b> — {escape(iso_z(as_of).replace('T', ' ').removesuffix(':00Z'))} UTC"]
    fear_greed = pulse_fear_greed_line([item.sentiment for item in items])
    if fear_greed is not None:
        lines.append(fear_greed)
    lines.append("")
    for item in items:
        change = "n/a" if item.change_24h_pct is None else fmt_signed(item.change_24h_pct, "%")
        funding = "n/a" if item.funding_rate is None else fmt_signed(item.funding_rate * 100, "%", 4)
        lines.append(f"<b>{escape(_short_symbol(item.symbol))}</b> <code>{fmt_price(item.price)}</code> ({change} 24h)")
        lines.append(f"Funding {funding} · {escape(item.regime.replace('_', ' '))}")
        lines.append(f"↳ {escape(item.view)}")
        if item.doing:
            lines.append(f"↳ {escape(item.doing)}")
        news = pulse_news_line(item.sentiment)
        if news is not None:
            lines.append(news)
        lines.append("")
    if not items:
        lines.append("No market data this time.")
    lines.append(disclaimer(dry_run))
    return "\n".join(lines)


def positions_line(positions: int, wins: int) -> str:
    """One definition of a trade in every text: positions (legs summed), never "win rate 0 %" with none."""
    if positions == 0:
        return "Positions closed: none"
    return f"Positions closed: {positions} ({wins} won, {positions - wins} lost) · win rate {wins / positions:.0%}"


def daily_summary_text(summary: DailySummary, *, dry_run: bool = True) -> str:
    pnl_pct = summary.day_pnl / summary.day_start_equity * 100 if summary.day_start_equity > 0 else None
    pnl = f"{fmt_signed(summary.day_pnl)} USDT" + (f" ({fmt_signed(pnl_pct, '%')})" if pnl_pct is not None else "")
    if summary.days == 1:
        title, label = f"🗓 Daily summary — {summary.day.isoformat()}", "Day P&amp;L"
    else:
        last = summary.day + timedelta(days=summary.days - 1)
        title, label = f"🗓 Weekly summary — {summary.day.isoformat()} to {last.isoformat()}", "Week P&amp;L"
    lines = [
        f"<b>{title}</b>",
        f"Equity: <code>{summary.equity:,.2f}</code> USDT",
        f"{label}: <b>{pnl}</b> after costs",
        positions_line(summary.trades, summary.wins)
        + (f" · legs closed: {summary.legs}" if summary.legs > summary.trades else ""),
        f"Open positions: {len(summary.open_positions)}",
    ]
    for pos in summary.open_positions:
        lines.append(
            f"• {escape(_short_symbol(pos.symbol))} {pos.side} @ {fmt_price(pos.entry_price)}"
            f" · stop {fmt_price(pos.stop_loss)}"
        )
    lines.append(disclaimer(dry_run))
    return "\n".join(lines)


def track_record_text(card: TrackRecordCard, *, dry_run: bool = True) -> str:
    stamp = escape(iso_z(card.as_of).replace("T", " ").removesuffix(":00Z").removesuffix("Z"))
    since = f" since {card.since:%Y-%m-%d}" if card.since is not None else ""
    pnl = f"{fmt_signed(card.net_pnl)} USDT" + (f" ({fmt_signed(card.pnl_pct, '%')})" if card.pnl_pct is not None else "")
    lines = [
        f"<b>📌 Track record{since}</b>",
        positions_line(card.positions, card.wins),
        f"P&amp;L: <b>{pnl}</b> after costs",
        f"Max drawdown: {card.max_drawdown_pct:.2f}%" if card.max_drawdown_pct is not None else "Max drawdown: n/a",
        f"Equity: <code>{card.equity:,.2f}</code> USDT · open positions: {card.open_positions}",
        f"Updated {stamp} UTC",
        disclaimer(dry_run),
    ]
    return "\n".join(lines)


def alert_text(text: str) -> str:
    return f"⚠️ <b>AI Trader alert</b>\n{escape(text)}"
