"""`aitrader demo`: the whole bot in dry-run on a simulated clock (DESIGN §4.1).

One tick = one 1h base bar: the simulated clock moves to the next bar close, the broker is synced and
the cycle runs at that as_of; a Market Pulse every few bars; at each simulated midnight the daily summary
(and on Mondays the weekly one) and the pinned track record, as the live scheduler posts them. When the
demo ends — after its bars, at the end of the data or on Ctrl-C — the positions still open are closed at
the last price (`end`), each with its reply in the channel, and a summary of the run is printed. Posts go to the console (images to
`--out`) when there is no TELEGRAM_BOT_TOKEN, else to Telegram (or the emulator at TELEGRAM_API_BASE).
The simulated time is stored in the state store, so a restarted demo continues where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from bot.commands.run_cmd import register_secrets
from bot.settings import Settings, load_settings
from core.clock import SimulatedClock
from core.errors import FatalError, UserInputError

log = logging.getLogger(__name__)

BAR = timedelta(hours=1)
CLOCK_KEY = "demo_clock"
PULSE_EVERY_BARS = 24
# A window of the 2023–2024 Binance data where the rules engine enters and exits within the first
# hour-bars of a default demo (measured on both the bundled sample and the full shared data set);
# used when the data covers it, else the start falls back to `FALLBACK_BEFORE_END` before the data end.
DEFAULT_START = datetime(2024, 3, 4, 0, tzinfo=UTC)
FALLBACK_BEFORE_END = timedelta(days=30)
WARMUP = timedelta(days=35)  # 1h and 4h EMA-200 warm (800 h); the 1d EMA-200 may still be None
DOWNLOAD_DAYS = 90
DRAIN_WAIT_S = 60.0


def shared_data_dir() -> Path:
    """The real data beside the repository (`../shared/data/...` from the working directory)."""
    return Path.cwd().parent / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"


async def download_recent(symbols: Sequence[str], settings: Settings, target: Path) -> Path:
    from core.market.download import download_history

    await asyncio.wait_for(
        download_history(
            exchange_id=settings.exchange_id, symbols=tuple(symbols), timeframes=("1h",), days=DOWNLOAD_DAYS,
            out=target,
        ),
        timeout=120,
    )
    return target


SOURCE_FILE = "market-data-source.txt"


async def resolve_data(data: Path | None, symbols: Sequence[str], settings: Settings, out: Path,
                       console: Console) -> Path:
    """`--data`, else the source the previous run in `out` used (a restart must not switch data silently),
    else recent candles through ccxt, else the shared real data, else the bundled sample. Stated once."""
    if data is not None:
        if not await asyncio.to_thread(data.is_dir):
            raise UserInputError(f"--data: {data} is not a folder")
        console.print(f"Market data: {data}")
        return data
    remembered = out / SOURCE_FILE
    if await asyncio.to_thread(remembered.is_file):
        previous = Path((await asyncio.to_thread(remembered.read_text)).strip())
        if await asyncio.to_thread(previous.is_dir):
            console.print(f"Market data: {previous} (as in the previous run; --data DIR to change)")
            return previous
    folder = await _first_source(symbols, settings, out, console)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(remembered.write_text, f"{folder.resolve()}\n")
    return folder


async def _first_source(symbols: Sequence[str], settings: Settings, out: Path, console: Console) -> Path:
    cache = out / "market-data"
    try:
        folder = await download_recent(symbols, settings, cache)
        console.print(f"Market data: recent {settings.exchange_id} candles downloaded into {folder}")
        return folder
    except Exception as error:
        console.print(f"Could not download recent candles ({type(error).__name__}: {str(error)[:120]}).")
    shared = shared_data_dir()
    if await asyncio.to_thread(shared.is_dir):
        console.print(f"Market data: the shared real data in {shared}")
        return shared
    from core.market.offline import sample_data_dir

    console.print(f"Market data: the bundled sample (real BTC/ETH candles) in {sample_data_dir()}")
    return sample_data_dir()


def default_start(data_start: datetime, data_end: datetime, bars: int) -> datetime:
    earliest = data_start + WARMUP
    if earliest <= DEFAULT_START and DEFAULT_START + bars * BAR <= data_end:
        return DEFAULT_START
    start = max(earliest, data_end - max(FALLBACK_BEFORE_END, bars * BAR))
    return start.replace(minute=0, second=0, microsecond=0)


def demo_console() -> Console:
    """Plain text: a contestant `llm:A` or a folder `[x]` is printed as it is, never read as rich emoji or markup."""
    return Console(highlight=False, markup=False, emoji=False)


async def run_demo(
    data: Path | None,
    speed: float,
    start: datetime | None,
    bars: int,
    symbols: Sequence[str] | None,
    out: Path,
    database: Path | None,
) -> int:
    console = demo_console()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise here
    settings = load_settings()
    register_secrets(settings)
    wanted = tuple(symbols) if symbols else tuple(settings.symbols)
    folder = await resolve_data(data, wanted, settings, out, console)

    from core.market.offline import OfflineMarketData

    clock = SimulatedClock(datetime(2000, 1, 1, tzinfo=UTC))  # set below, once the data range is known
    market = OfflineMarketData(folder, clock=clock)
    on_disk = market.symbol_list()
    chosen = tuple(s for s in wanted if s in on_disk)
    if not chosen:
        if symbols:
            raise UserInputError(f"--symbols: none of {', '.join(symbols)} is in {folder} (have: {', '.join(on_disk)})")
        chosen = tuple(on_disk[:2])
    if not chosen:
        raise UserInputError(f"--data: no candles found in {folder}")
    data_start = max(market.data_start(s) for s in chosen)
    data_end = min(market.data_end(s) for s in chosen)

    settings = settings.model_copy(
        update={
            "market_data_dir": folder,
            "database_path": database or out / "demo.sqlite",
            "dry_run": True,
            "symbols": chosen,
        }
    )
    clock.set(start or default_start(data_start, data_end, bars))
    from bot.app import App

    app = App(settings, clock=clock, demo=True, console_out=out, market_data=market)
    await app.build()
    progress = Progress(started=clock.now())
    interrupted = False
    try:
        stored = await app.state_store.get_value(CLOCK_KEY)
        if stored:
            clock.set(datetime.fromisoformat(stored))
            console.print(f"Continuing the simulated clock from {stored}")
        elif start is None and clock.now() < data_start + WARMUP:
            console.print("Note: little history before the start; the daily indicators are still warming up.")
        mode = "Telegram" if settings.telegram_bot_token else f"the console (images in {out}/)"
        state = await app.refresh_state()
        console.print(
            f"Demo: {', '.join(state.symbols)} from {clock.now():%Y-%m-%d %H:%M} UTC, {bars} bars at {speed:g} s/bar, "
            f"engine {app.engine.name}, dry-run, posting to {mode}"
        )
        await app.start()
        if app.web is not None:
            console.print(f"Dashboard: http://127.0.0.1:{app.web.port}/ (read-only, while the demo runs)")
        progress.started = clock.now()
        try:
            await play(app, clock, bars, speed, data_end, console, progress)
        except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task; finish the demo properly
            interrupted = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            console.print("Interrupted: closing the demo's open positions and posting what is left …")
        await finish(app)
        await drain_all(app)
        console.print(await demo_summary(app, progress, interrupted))
    finally:
        await app.stop()
    return 130 if interrupted else 0


@dataclass
class Progress:
    started: datetime
    played: int = 0


async def play(app: object, clock: SimulatedClock, bars: int, speed: float, data_end: datetime,
               console: Console, progress: Progress | None = None) -> int:
    from bot.app import App

    assert isinstance(app, App)
    progress = progress or Progress(started=clock.now())
    played = 0
    for _ in range(bars):
        as_of = (clock.now() + BAR).replace(minute=0, second=0, microsecond=0)
        if as_of > data_end + BAR:
            console.print(f"End of the data at {data_end:%Y-%m-%d %H:%M} UTC.")
            break
        clock.set(as_of)
        summary = await app.tick(as_of)
        await app.state_store.set_value(CLOCK_KEY, as_of.isoformat())
        if app.failed:  # e.g. the database was deleted under the demo: stop, never a second history
            raise FatalError(app.failed)
        played += 1
        progress.played = played
        if played % PULSE_EVERY_BARS == 0:
            await app.pulse_now()
        if as_of.hour == 0:  # a simulated midnight: the daily (Mondays also weekly) summary and track record
            await app.daily_now()
        console.print(tick_line(as_of, summary), style="dim")
        await asyncio.sleep(speed)
    return played


def tick_line(as_of: datetime, summary: object) -> str:
    decisions = getattr(summary, "decisions", {}) or {}
    rejected = getattr(summary, "rejected", {}) or {}
    parts = []
    for symbol, action in sorted(decisions.items()):
        name = symbol.split("/")[0]
        note = f"({rejected[symbol]})" if symbol in rejected and action in ("long", "short") else ""
        parts.append(f"{name} {action}{note}")
    return f"⏱ {as_of:%Y-%m-%d %H:%M} " + " · ".join(parts)


async def drain_all(app: object) -> None:
    """Give the outbox time to deliver what the last ticks enqueued (429s included)."""
    from bot.app import App

    assert isinstance(app, App)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_WAIT_S
    while loop.time() < deadline:
        await app.publisher.wait_idle()
        pending = [p for p in await app.outbox.posts() if p.status == "pending"]
        if not pending:
            return
        await app.drain()
        await asyncio.sleep(0.5)
    log.warning("demo stopped with posts still queued; they go out on the next start")


async def finish(app: object) -> None:
    """Close what is still open at the last price (reason `end`), each close a reply to its entry post,
    then bring the pinned track record up to date."""
    from bot.app import App

    assert isinstance(app, App)
    events = await app.broker.close_all(reason="end")
    await app.control.announce(events)
    await app.close_arena(reason="end")
    await app.record_now()


async def demo_summary(app: object, progress: Progress, interrupted: bool) -> str:
    """What the run posted, its P&L (positions, legs summed) and where the pictures are."""
    from bot.app import App
    from core.trade_stats import legs_of_positions_closed, trade_stats

    assert isinstance(app, App)
    now = app.clock.now()
    posts = await app.outbox.posts()
    kinds = Counter(p.kind for p in posts if p.kind not in ("alert", "notice"))
    legs = await app.history.closed_trades()
    account = await app.broker.account()
    finished = trade_stats(legs_of_positions_closed(legs, open_ids={p.id for p in account.positions}))
    net = sum(t.net_pnl for t in legs)
    initial = app.settings.initial_equity
    names = {"entry": "entries", "exit": "exits", "update": "updates", "pulse": "Market Pulses",
             "daily": "daily summaries", "weekly": "weekly summaries", "record": "pinned track record",
             "record_edit": "track record edits"}
    posted = ", ".join(f"{n} {names.get(k, k)}" for k, n in sorted(kinds.items())) or "nothing"
    pending = sum(1 for p in posts if p.status == "pending")
    failed = sum(1 for p in posts if p.status == "failed")
    wins = f", {finished.wins} won · win rate {finished.win_rate:.0%}" if finished.win_rate is not None else ""
    pct = f" ({net / initial * 100:+.2f}%)" if initial > 0 else ""
    lines = [
        f"Demo {'interrupted' if interrupted else 'finished'} after {progress.played} bars: "
        f"{progress.started:%Y-%m-%d %H:%M} → {now:%Y-%m-%d %H:%M} UTC (simulated).",
        f"Posted: {posted}." + (f" Still queued: {pending}." if pending else "") + (f" Failed: {failed}." if failed else ""),
        f"Positions closed: {finished.positions}{wins}; P&L {net:+,.2f} USDT{pct} after costs; "
        f"equity {account.equity:,.2f} USDT.",
    ]
    lines += await app.arena_lines()
    if app.bot is None:
        lines.append(f"Charts: {app.console_out.resolve()}/ (one PNG per post with a picture).")
    return "\n".join(lines)
