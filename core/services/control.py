"""ControlService: the operations admins reach from chat and the CLI (like freqtrade's rpc layer).

Every change of runtime state goes through here (or `change_state` for the system actor) and appends an
AuditEntry. Bad input raises UserInputError saying what is wrong and what is allowed; nothing changes then.
Anything that can lose money (going live, closing everything) needs a confirmation token that only the
same actor can redeem before it expires.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from core.config import RiskLimits
from core.errors import UserInputError
from core.models import HARD_MAX_LEVERAGE, AuditEntry, ClosedTrade, Position, RuntimeState, TradeEvent
from core.protocols import Broker, Clock, CycleRecord, DecisionLog, MarketData, Notifier, StateStore, TradeHistory
from core.services import risk_settings
from core.services.state_change import DATA_WARNING_KEY, LAST_CYCLE_KEY, change_state
from core.trade_stats import legs_of_positions_closed, trade_stats

if TYPE_CHECKING:
    from core.risk.guard import RiskGuard
    from core.services.cycle import CycleSummary, TradingCycle

log = logging.getLogger(__name__)

SYMBOL_LEVERAGE_KEY = "risk.symbol_leverage"

ConfirmAction = Literal["live", "closeall", "set", "open"]
StatsPeriod = Literal["7d", "30d", "all"]
MAX_SYMBOLS = 20


@dataclass(frozen=True, slots=True)
class Confirmation:
    token: str
    action: ConfirmAction
    actor: str
    expires_at: datetime
    setting: tuple[str, float] | None = None  # for "set": the key and the value it raises the risk to
    detail: str = ""  # what pressing confirm will do, in words
    order: tuple[str, str, float | None] | None = None  # for "open": symbol, side, risk % (None: the limit)


@dataclass(frozen=True, slots=True)
class StatusReport:
    state: RuntimeState
    equity: float
    available: float
    positions: tuple[Position, ...]
    guard_counts: dict[str, int]
    last_cycle_at: datetime | None
    engine: str
    day_pnl: float
    live_blocker: str | None = None  # why going live is refused right now (None: allowed)
    data_warning: str | None = None  # why the last cycle entered nothing on its market data (None: data fit)
    engine_memory: str | None = None  # what the engine remembers (funding samples, veto active), None: keeps nothing


@dataclass(frozen=True, slots=True)
class PositionView:
    """An open position as `/positions` shows it: marked at the last price when there is one."""

    position: Position
    mark: float | None
    unrealised: float | None  # USDT, before the exit's costs
    r_multiple: float | None  # unrealised P&L over the initial risk
    age_s: float


@dataclass(frozen=True, slots=True)
class StatsReport:
    """The positions that finished in the period (`core.trade_stats`): a trade is a position, its partial
    exits are `legs`; wins, win rate, profit factor, expectancy, best and worst are per position."""

    period: StatsPeriod
    trades: int
    wins: int
    losses: int
    win_rate: float  # 0..1, 0 when no trades
    net_pnl: float
    fees: float
    funding: float
    profit_factor: float | None  # None when there is no losing position
    best: float
    worst: float
    equity_points: tuple[tuple[datetime, float], ...] = field(default_factory=tuple)
    legs: int = 0
    expectancy: float | None = None  # mean net P&L per position


def _normalise_symbol(raw: str) -> str:
    return raw.strip().upper()


class ControlService:
    def __init__(
        self,
        *,
        state_store: StateStore,
        defaults: RuntimeState,
        limits: RiskLimits,
        broker: Broker,
        market_data: MarketData,
        cycle: TradingCycle | None,
        clock: Clock,
        decision_log: DecisionLog,
        history: TradeHistory,
        guard: RiskGuard,
        engine_name: str = "rules",
        live_allowed: Callable[[], str | None] = lambda: None,
        engine_memory: Callable[[], str | None] = lambda: None,
        confirmation_ttl_s: float = 120,
        notifier: Notifier | None = None,
        confirmation_clock: Clock | None = None,
    ) -> None:
        """`notifier`: where closes made here (/close, /closeall) are announced, so that every position the
        channel announced gets its closing reply whatever closed it."""
        self._store = state_store
        self._defaults = defaults
        self._limits = limits
        self._broker = broker
        self._market_data = market_data
        self._cycle = cycle
        self._clock = clock
        self._log = decision_log
        self._history = history
        self._guard = guard
        self._engine_name = engine_name
        self._live_allowed = live_allowed
        self._engine_memory = engine_memory
        self._ttl = timedelta(seconds=confirmation_ttl_s)
        # a person has confirmation_ttl_s of real time to press: wall time, also in the demo, whose simulated
        # clock ran past any expiry between two ticks (/closeall could never be confirmed there)
        self._confirm_clock = confirmation_clock or clock
        self._pending: dict[str, Confirmation] = {}
        self._notifier = notifier

    # ---- reading --------------------------------------------------------------------------------

    async def state(self) -> RuntimeState:
        return await self._store.load_state(self._defaults)

    async def status(self) -> StatusReport:
        state = await self.state()
        account = await self._broker.account()
        raw_last = await self._store.get_value(LAST_CYCLE_KEY)
        last = datetime.fromisoformat(raw_last) if raw_last else None
        counts = dict(await self._log.guard_counts())
        if account.day_start_equity > 0:
            day_pnl = account.equity - account.day_start_equity
        else:
            midnight = self._clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            day_pnl = sum(t.net_pnl for t in await self._history.closed_trades(since=midnight))
        return StatusReport(
            state=state,
            equity=account.equity,
            available=account.available,
            positions=tuple(account.positions),
            guard_counts=counts,
            last_cycle_at=last,
            engine=self._engine_name,
            day_pnl=day_pnl,
            live_blocker=self._live_blocker() if state.dry_run else None,
            data_warning=await self._store.get_value(DATA_WARNING_KEY) or None,
            engine_memory=self._engine_memory(),
        )

    async def positions(self) -> list[Position]:
        return list(await self._broker.positions())

    async def position_views(self) -> list[PositionView]:
        now = self._clock.now()
        views = []
        for p in await self._broker.positions():
            try:
                mark: float | None = (await self._market_data.ticker(p.symbol)).last
            except Exception:  # no price now: the position is still shown, unmarked
                mark = None
            unrealised = p.unrealized_pnl(mark) if mark is not None else None
            risk = abs(p.entry_price - p.initial_stop) * p.qty
            r = unrealised / risk if unrealised is not None and risk > 0 else None
            views.append(PositionView(p, mark, unrealised, r, (now - p.entry_time).total_seconds()))
        return views

    async def risk(self) -> RiskLimits:
        return self._limits

    async def audit(self, limit: int = 20) -> list[AuditEntry]:
        if limit < 1:
            raise UserInputError(f"audit limit must be a positive whole number, got {limit}")
        return await self._store.audit(min(limit, 200))

    async def why(self, signal_id: str) -> CycleRecord | None:
        signal_id = signal_id.strip()
        if not signal_id:
            raise UserInputError("signal id is empty; use the id shown under a signal, e.g. 2024-03-01T12-BTC")
        return await self._log.signal(signal_id)

    async def stats(self, period: StatsPeriod) -> StatsReport:
        days = {"7d": 7, "30d": 30, "all": None}
        if period not in days:
            raise UserInputError(f"period must be one of 7d, 30d, all; got {period!r}")
        span = days[period]
        since = None if span is None else self._clock.now() - timedelta(days=span)
        open_ids = {p.id for p in await self._broker.positions()}
        # all legs: a position that finished in the period counts with its earlier legs too
        legs = legs_of_positions_closed(await self._history.closed_trades(), since=since, open_ids=open_ids)
        curve = await self._history.equity_curve(since=since)
        return _stats(period, legs, curve)

    # ---- changing runtime state -----------------------------------------------------------------

    async def pause(self, actor: str, reason: str = "") -> RuntimeState:
        reason = reason.strip()[:200] or f"paused by {actor}"
        return await change_state(
            self._store, self._defaults, self._clock, actor, "pause", paused=True, pause_reason=reason
        )

    async def resume(self, actor: str) -> RuntimeState:
        return await change_state(
            self._store, self._defaults, self._clock, actor, "resume", paused=False, pause_reason=""
        )

    async def set_leverage(self, actor: str, value: str) -> RuntimeState:
        cap = min(self._limits.hard_max_leverage, HARD_MAX_LEVERAGE)
        text = str(value).strip()
        # isdigit() admits "²", which int() refuses; int() refuses over 4,300 digits, hence the length first
        if not text.isdecimal() or len(text) > 3 or not (1 <= int(text) <= cap):
            raise UserInputError(f"leverage must be a whole number from 1 to {cap}, got {value!r}")
        return await change_state(
            self._store, self._defaults, self._clock, actor, "set_leverage", max_leverage=int(text)
        )

    async def add_symbols(self, actor: str, symbols: Sequence[str]) -> RuntimeState:
        wanted = [_normalise_symbol(s) for s in symbols if s.strip()]
        if not wanted:
            raise UserInputError("name at least one symbol to add, e.g. BTC/USDT:USDT")
        available = set(await self._market_data.symbols())
        unknown = [s for s in wanted if s not in available]
        if unknown:
            sample = ", ".join(sorted(available)[:8]) or "none"
            raise UserInputError(
                f"unknown symbol {', '.join(unknown)}: use the exchange's ccxt symbols, e.g. {sample}"
            )

        def added(state: RuntimeState) -> dict[str, object]:
            merged = tuple(dict.fromkeys((*state.symbols, *wanted)))
            if merged == state.symbols:
                raise UserInputError(
                    f"{', '.join(wanted)} already traded, nothing changed; symbols: {', '.join(merged)}"
                )
            if len(merged) > MAX_SYMBOLS:
                raise UserInputError(f"at most {MAX_SYMBOLS} symbols are allowed, this would make {len(merged)}")
            return {"symbols": merged}

        return await change_state(self._store, self._defaults, self._clock, actor, "add_symbols", derive=added)

    async def remove_symbols(self, actor: str, symbols: Sequence[str]) -> RuntimeState:
        wanted = [_normalise_symbol(s) for s in symbols if s.strip()]
        if not wanted:
            raise UserInputError("name at least one symbol to remove, e.g. ETH/USDT:USDT")

        def removed(state: RuntimeState) -> dict[str, object]:
            missing = [s for s in wanted if s not in state.symbols]
            if missing:
                raise UserInputError(
                    f"{', '.join(missing)} is not traded; current symbols: {', '.join(state.symbols)}"
                )
            remaining = tuple(s for s in state.symbols if s not in wanted)
            if not remaining:
                raise UserInputError("at least one symbol must remain; add another before removing the last")
            return {"symbols": remaining}

        return await change_state(self._store, self._defaults, self._clock, actor, "remove_symbols", derive=removed)

    async def set_dry_run(self, actor: str, on: bool) -> RuntimeState:
        if not on:
            raise UserInputError("going live needs a confirmation: request one with /dryrun off and press confirm")
        return await change_state(self._store, self._defaults, self._clock, actor, "dry_run_on", dry_run=True)

    # ---- confirmations --------------------------------------------------------------------------

    def _live_blocker(self) -> str | None:
        try:
            return self._live_allowed()
        except Exception as error:  # a failing check is a reason to refuse, never a crash
            return f"live check failed: {type(error).__name__}"

    async def request_confirmation(
        self, actor: str, action: ConfirmAction, setting: tuple[str, float] | None = None, detail: str = "",
        order: tuple[str, str, float | None] | None = None,
    ) -> Confirmation:
        if action not in ("live", "closeall", "set", "open"):
            raise UserInputError(f"confirmation is for 'live', 'closeall', 'set' or 'open', got {action!r}")
        if action == "live":
            if not (await self.state()).dry_run:
                raise UserInputError("already live: dry-run is off")
            blocker = self._live_blocker()
            if blocker:
                raise UserInputError(f"cannot go live: {blocker}")
        now = self._confirm_clock.now()
        self._pending = {t: c for t, c in self._pending.items() if c.expires_at > now}
        confirmation = Confirmation(secrets.token_urlsafe(12), action, actor, now + self._ttl, setting, detail, order)
        self._pending[confirmation.token] = confirmation
        return confirmation

    async def confirm(self, actor: str, token: str) -> str:
        pending = self._pending.get(token)
        if pending is None:
            raise UserInputError("unknown or already used confirmation; ask again")
        if pending.actor != actor:
            raise UserInputError("only the admin who asked can confirm this")
        if pending.expires_at <= self._confirm_clock.now():
            del self._pending[token]
            raise UserInputError("confirmation expired; ask again")
        del self._pending[token]
        if pending.action == "live":
            blocker = self._live_blocker()
            if blocker:
                raise UserInputError(f"cannot go live: {blocker}")
            await change_state(self._store, self._defaults, self._clock, actor, "dry_run_off", dry_run=False)
            return "dry-run is off: orders now go to the exchange"
        if pending.action == "open" and pending.order is not None:
            return await self._open(actor, *pending.order)
        if pending.action == "set" and pending.setting is not None and pending.setting[0].startswith("leverage:"):
            cap = int(pending.setting[1]) or None
            return await self._apply_symbol_leverage(actor, pending.setting[0].split(":", 1)[1], cap)
        if pending.action == "set" and pending.setting is not None:
            key, value = pending.setting
            return await self._apply_risk(actor, risk_settings.SETTINGS[key], value)
        events = await self._close_all(actor)
        exits = [e for e in events if e.kind == "exit"]
        total = sum(e.net_pnl for e in exits)
        return f"closed {len(exits)} position leg(s), net {total:+.2f}"

    async def cancel_confirmation(self, actor: str, token: str) -> None:
        """End a pending confirmation for good (Cancel used to leave it redeemable until it expired)."""
        pending = self._pending.get(token)
        if pending is None:
            raise UserInputError("unknown or already used confirmation; nothing to cancel")
        if pending.actor != actor:
            raise UserInputError("Only the admin who asked can cancel this.")
        del self._pending[token]

    # ---- risk limits from chat (/set) -------------------------------------------------------------

    async def set_risk(self, actor: str, key: str, raw: str) -> str | Confirmation:
        """Validate and apply `/set KEY VALUE`; a change that raises the risk returns a confirmation to
        press first (like going live). Applied changes are audited and persisted (see `restore_risk`)."""
        setting, value = risk_settings.parse(key, raw)
        old = risk_settings.current(self._limits, setting)
        if value == old:
            raise UserInputError(f"{setting.label} is already {setting.show(old)}; nothing changed")
        if risk_settings.raises_risk(setting, old, value):
            detail = f"raise the risk: {setting.label} {setting.show(old)} → {setting.show(value)}"
            return await self.request_confirmation(actor, "set", (setting.key, value), detail)
        return await self._apply_risk(actor, setting, value)

    async def _apply_risk(self, actor: str, setting: risk_settings.RiskSetting, value: float) -> str:
        old = risk_settings.current(self._limits, setting)
        self._limits = replace(self._limits, **{setting.field: value})  # type: ignore[arg-type]
        self._guard.limits = self._limits
        await self._store.set_value(risk_settings.STORE_PREFIX + setting.field, repr(value))
        await self._store.append_audit(
            AuditEntry(self._clock.now(), actor, f"set_{setting.key}", f"{setting.key}={setting.show(old)}",
                       f"{setting.key}={setting.show(value)}")
        )
        return f"{setting.label} set to {setting.show(value)} (was {setting.show(old)})"

    async def set_symbol_leverage(self, actor: str, symbol: str, raw: str) -> str | Confirmation:
        """`/set leverage SYM N`: a leverage cap for one symbol under the global one (`off` removes it).
        Raising or removing a cap raises the risk: confirmed first, like going live."""
        wanted = _normalise_symbol(symbol)
        state = await self.state()
        if wanted not in state.symbols:
            raise UserInputError(f"{symbol!r} is not traded; symbols: {', '.join(state.symbols)}")
        caps = dict(self._limits.symbol_leverage)
        old = caps.get(wanted)
        text = raw.strip().lower()
        if text in ("off", "none"):
            if old is None:
                raise UserInputError(f"{wanted} has no leverage cap of its own; nothing changed")
            new: int | None = None
        elif text.isdecimal() and 1 <= int(text) <= HARD_MAX_LEVERAGE:
            new = int(text)
        else:
            raise UserInputError(f"leverage for {wanted} must be a whole number from 1 to {HARD_MAX_LEVERAGE} or off, got {raw!r}")
        if new == old:
            raise UserInputError(f"{wanted} is already capped at {old}x; nothing changed")
        if new is None or (old is not None and new > old):  # a first cap only lowers the risk
            shown = "no cap" if new is None else f"{new}x"
            detail = f"raise the risk: {wanted} leverage cap {old or 'none'} → {shown}"
            return await self.request_confirmation(actor, "set", (f"leverage:{wanted}", float(new or 0)), detail)
        return await self._apply_symbol_leverage(actor, wanted, new)

    async def _apply_symbol_leverage(self, actor: str, symbol: str, cap: int | None) -> str:
        caps = dict(self._limits.symbol_leverage)
        old = caps.pop(symbol, None)
        if cap is not None:
            caps[symbol] = cap
        self._limits = replace(self._limits, symbol_leverage=tuple(sorted(caps.items())))
        self._guard.limits = self._limits
        await self._store.set_value(SYMBOL_LEVERAGE_KEY, ",".join(f"{s}={c}" for s, c in sorted(caps.items())))
        shown = lambda c: "none" if c is None else f"{c}x"  # noqa: E731
        await self._store.append_audit(
            AuditEntry(self._clock.now(), actor, "set_symbol_leverage", f"{symbol}={shown(old)}", f"{symbol}={shown(cap)}")
        )
        return f"{symbol} leverage cap set to {shown(cap)} (was {shown(old)})"

    async def reload_limits(self, actor: str, limits: RiskLimits, also: Sequence[str] = ()) -> list[str]:
        """`/reload_config`: the limits re-read from the settings, then the ones set from chat (/set) over
        them again. Returns what changed, as `name old → new`, audited as one entry with `also` (the
        reload's other changes, secrets masked by the caller)."""
        old = self._limits
        self._limits = limits
        self._guard.limits = limits
        new = await self.restore_risk()
        changed = [f"{f} {getattr(old, f)} → {getattr(new, f)}" for f in old.__dataclass_fields__
                   if getattr(old, f) != getattr(new, f)]
        described = "; ".join([*also, *(f"limit {c}" for c in changed)])
        await self._store.append_audit(
            AuditEntry(self._clock.now(), actor, "reload_config", described or "nothing changed", "reloaded")
        )
        return changed

    async def reload_defaults(self, actor: str, old_defaults: RuntimeState, *, symbols: Sequence[str],
                              max_leverage: int) -> dict[str, object]:
        """`/reload_config` with new SYMBOLS / MAX_LEVERAGE defaults: the live value follows its default unless
        an admin changed it from chat, then it stays (returned by name). Unknown symbols change nothing."""
        wanted = tuple(_normalise_symbol(s) for s in symbols)
        if wanted != old_defaults.symbols:
            available = set(await self._market_data.symbols())
            unknown = [s for s in wanted if s not in available]
            if unknown:
                raise UserInputError(f"{', '.join(unknown)} not offered by the market data; nothing changed")
        kept: dict[str, object] = {}

        def follow(state: RuntimeState) -> dict[str, object]:
            changes: dict[str, object] = {}
            for name, new in (("symbols", wanted), ("max_leverage", max_leverage)):
                default = getattr(old_defaults, name)
                if new == default:
                    continue
                if getattr(state, name) == default:
                    changes[name] = new
                else:
                    kept[name] = getattr(state, name)
            return changes

        await change_state(self._store, self._defaults, self._clock, actor, "reload_config", derive=follow)
        return kept

    async def restore_risk(self) -> RiskLimits:
        """At start-up: the limits admins set from chat, over the settings' defaults."""
        changes: dict[str, object] = {}
        for setting in risk_settings.SETTINGS.values():
            raw = await self._store.get_value(risk_settings.STORE_PREFIX + setting.field)
            if raw is None:
                continue
            try:
                changes[setting.field] = risk_settings.parse(setting.key, raw)[1]
            except UserInputError:
                log.warning("stored %s=%r is out of range now; the setting's value is used", setting.key, raw)
        stored_caps = await self._store.get_value(SYMBOL_LEVERAGE_KEY)
        if stored_caps:
            caps = []
            for item in stored_caps.split(","):
                name, _, cap = item.partition("=")
                if cap.isdecimal() and 1 <= int(cap) <= HARD_MAX_LEVERAGE:
                    caps.append((name, int(cap)))
            changes["symbol_leverage"] = tuple(caps)
        if changes:
            self._limits = replace(self._limits, **changes)  # type: ignore[arg-type]
            self._guard.limits = self._limits
        return self._limits

    # ---- manual trades (/open) -------------------------------------------------------------------

    async def request_open(self, actor: str, symbol: str, side: str, risk: str | None = None) -> Confirmation:
        """`/open SYM long|short [risk%]`: checked here, confirmed by the same admin, then reviewed by the
        guard like any signal (stop required, sized by risk)."""
        if self._cycle is None:
            raise UserInputError("no trading cycle is configured in this process")
        wanted = _normalise_symbol(symbol)
        available = set(await self._market_data.symbols())
        if wanted not in available:
            sample = ", ".join(sorted(available)[:8]) or "none"
            raise UserInputError(f"unknown symbol {symbol!r}: use the exchange's ccxt symbols, e.g. {sample}")
        direction = side.strip().lower()
        if direction not in ("long", "short"):
            raise UserInputError(f"/open takes long or short after the symbol, got {side!r}")
        risk_pct = risk_settings.parse("risk", risk)[1] if risk is not None else None
        if any(p.symbol == wanted for p in await self._broker.positions()):
            raise UserInputError(f"a {wanted} position is already open; one position per symbol")
        share = f"{risk_pct:g}%" if risk_pct is not None else f"{self._limits.risk_per_trade_pct:g}% (the limit)"
        detail = f"open a {direction.upper()} {wanted} at market, risking {share} of equity at an ATR stop"
        return await self.request_confirmation(actor, "open", detail=detail, order=(wanted, direction, risk_pct))

    async def _open(self, actor: str, symbol: str, side: str, risk_pct: float | None) -> str:
        assert self._cycle is not None
        now = self._clock.now()
        verdict, events = await self._cycle.open_manual(symbol, side, now, actor=actor, risk_pct=risk_pct)
        await self._store.append_audit(
            AuditEntry(now, actor, "open_manual", f"{symbol} {side}", "approved" if verdict.approved else
                       f"refused: {verdict.reason}")
        )
        if not verdict.approved or verdict.intent is None:
            return f"refused by the risk guard ({verdict.reason}): {verdict.detail}"
        intent = verdict.intent
        filled = "filled" if any(e.kind == "entry" for e in events) else "fills at the next bar's open"
        return (
            f"{side} {symbol} approved and {filled}: stop {intent.stop_loss:.6g}, targets "
            f"{', '.join(f'{t:.6g}' for t in intent.take_profit)}, risking {intent.risk_amount:,.2f} USDT; "
            f"signal {intent.signal_id}"
        )

    # ---- positions and cycles -------------------------------------------------------------------

    async def close_position(self, actor: str, symbol: str) -> list[TradeEvent]:
        wanted = _normalise_symbol(symbol)
        open_symbols = [p.symbol for p in await self._broker.positions()]
        if wanted not in open_symbols:
            listing = ", ".join(open_symbols) or "none"
            raise UserInputError(f"no open position in {symbol!r}; open positions: {listing}")
        events = await self._broker.close_position(wanted, reason="manual")
        await self._store.append_audit(AuditEntry(self._clock.now(), actor, "close_position", wanted, "closed"))
        await self.announce(events)
        return events

    async def close_all(self, actor: str) -> list[TradeEvent]:
        raise UserInputError("closing every position needs a confirmation: request one with /closeall")

    async def _close_all(self, actor: str) -> list[TradeEvent]:
        open_symbols = [p.symbol for p in await self._broker.positions()]
        events = await self._broker.close_all(reason="manual")
        await self._store.append_audit(
            AuditEntry(self._clock.now(), actor, "close_all", ",".join(open_symbols) or "none", "closed")
        )
        await self.announce(events)
        return events

    async def announce(self, events: Sequence[TradeEvent]) -> None:
        """Exits (and updates) as replies to their entry post; a failed post never undoes the close."""
        if self._notifier is None:
            return
        for event in events:
            if event.kind == "entry":
                continue
            try:
                await self._notifier.exit(event)
            except Exception as error:
                log.warning("announcing the %s close of %s failed: %s", event.kind, event.symbol, error)

    async def run_cycle_now(self, actor: str) -> CycleSummary:
        if self._cycle is None:
            raise UserInputError("no trading cycle is configured in this process")
        now = self._clock.now()
        await self._store.append_audit(AuditEntry(now, actor, "run_cycle", "", f"as of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"))
        return await self._cycle.run(now)


def _stats(
    period: StatsPeriod, legs: Sequence[ClosedTrade], curve: Sequence[tuple[datetime, float]]
) -> StatsReport:
    figures = trade_stats(legs)
    return StatsReport(
        period=period,
        trades=figures.positions,
        wins=figures.wins,
        losses=figures.losses,
        win_rate=figures.win_rate or 0.0,
        net_pnl=figures.net_pnl,
        fees=sum(t.fees for t in legs),
        funding=sum(t.funding for t in legs),
        profit_factor=figures.profit_factor,
        best=figures.best or 0.0,
        worst=figures.worst or 0.0,
        equity_points=tuple(curve),
        legs=figures.legs,
        expectancy=figures.expectancy,
    )
