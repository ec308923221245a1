"""Bench for the Telegram app (issue #6): resident memory with 10 symbols after many simulated hourly
cycles, and the decision→post time excluding Telegram latency (chart rendering included).

Run: `.venv/bin/python bench/bot.py [--cycles N] [--with-ccxt]` (needs ../shared/data; falls back to the
bundled sample with 2 symbols copied to 10). Targets: RSS < 300 MB; entry → hand-over to the sender < 1 s.
RSS is printed after the imports, after start, after a warm-up of `WARMUP_CYCLES` (every code path and
lazy import has run by then) and after the last cycle; growth per 100 cycles is measured from the warm-up
on, so it shows what accumulates rather than what loads once.

The app is the real `bot.app.App` (SQLite, paper broker, rules engine, notifier, outbox, publisher, aiogram
Bot and Dispatcher with long polling); only the Bot API server is a stand-in (`InstantTelegram`): an aiogram
session that answers every request at once with real-shaped JSON, parsed by aiogram's own response path, so
Telegram's latency is excluded and everything of ours and aiogram's is included. Once per simulated day an
admin and a member send commands (/status, /positions, /stats, /chart, /risk, /audit, /help) through it, so
the memory of the command path is in the figure too.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

RSS_AT_LAUNCH = psutil.Process().memory_info().rss
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bot.aiogram_types  # noqa: E402, F401  (as bot.app imports aiogram)

from aiogram import Bot  # noqa: E402
from aiogram.client.session.base import BaseSession  # noqa: E402
from aiogram.methods import TelegramMethod  # noqa: E402

from bot.app import App  # noqa: E402
from bot.commands.demo_cmd import DEFAULT_START  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from core.clock import SimulatedClock  # noqa: E402
from core.market.offline import OfflineMarketData, sample_data_dir  # noqa: E402

LIVE_CLIENTS: list[Any] = []
if "--with-ccxt" in sys.argv:
    # What a live run holds besides the files: the market-data client and the live broker's client of the
    # configured exchange (EXCHANGE_ID, binanceusdm here), built as bot.app builds them; no request is sent.
    from core.execution.exchange_broker import ExchangeBroker  # noqa: F401
    from core.execution.exchange_client import ExchangeCredentials, make_exchange
    from core.market.ccxt_source import CcxtMarketData

    LIVE_CLIENTS += [CcxtMarketData.from_id("binanceusdm").exchange,
                     make_exchange(ExchangeCredentials("binanceusdm", "key", "secret"))]

RSS_AFTER_IMPORTS = psutil.Process().memory_info().rss
WARMUP_CYCLES = 24
SHARED_DATA = REPO / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"


ADMIN_ID = 1001
MEMBER_ID = 2002
CHANNEL = "@aitrader_bench"


class InstantTelegram(BaseSession):
    """Bench stand-in for the Bot API server: every request is answered at once with the JSON Telegram would
    send, and long polling hands out the updates queued with `say`."""

    def __init__(self) -> None:
        super().__init__()
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.calls: Counter[str] = Counter()
        self.answered = 0  # messages sent to a private chat (command replies)
        self.progress = asyncio.Event()

    def say(self, user_id: int, text: str) -> None:
        command = text.split()[0]
        self._updates.put_nowait({
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids), "date": int(datetime.now(UTC).timestamp()),
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                "text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
            },
        })

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        yield b""

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109
        name = type(method).__name__
        self.calls[name] += 1
        result = await self._result(name, method)
        return self.check_response(bot, method, 200, json.dumps({"ok": True, "result": result})).result

    async def _result(self, name: str, method: Any) -> Any:
        if name == "GetUpdates":
            try:
                updates = [await asyncio.wait_for(self._updates.get(), timeout=0.2)]
            except TimeoutError:
                return []
            while not self._updates.empty():
                updates.append(self._updates.get_nowait())
            return updates
        if name == "GetMe":
            return {"id": 999, "is_bot": True, "first_name": "AI Trader", "username": "aitrader_bench_bot"}
        if name not in ("SendMessage", "SendPhoto", "EditMessageText"):
            return True
        chat_id = method.chat_id
        private = isinstance(chat_id, int) and chat_id > 0
        self.answered += private
        self.progress.set()
        message = {
            "message_id": next(self._message_ids), "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": chat_id, "type": "private"} if private else {"id": -100123, "type": "channel"},
        }
        if name == "SendPhoto":
            message["photo"] = [{"file_id": "f", "file_unique_id": "u", "width": 1200, "height": 800}]
            message["caption"] = method.caption or ""
        else:
            message["text"] = method.text
        return message


async def commands_answered(telegram: InstantTelegram, commands: list[tuple[int, str]]) -> None:
    before = telegram.answered
    for user_id, text in commands:
        telegram.say(user_id, text)
    async with asyncio.timeout(30):
        while telegram.answered < before + len(commands):
            await telegram.progress.wait()
            telegram.progress.clear()


def ten_symbol_folder(target: Path) -> tuple[Path, list[str]]:
    """Ten symbols of real 1h candles + funding: the real series, then renamed copies of them."""
    source = SHARED_DATA if SHARED_DATA.is_dir() else sample_data_dir()
    candles = sorted(p for p in source.iterdir() if "-1h-futures." in p.name)
    stems = [p.name.split("-1h-futures.")[0] for p in candles]
    symbols: list[str] = []
    for n in range(10):
        src = candles[n % len(candles)]
        stem = stems[n % len(stems)]
        base, quote, settle = stem.split("_")
        new_base = base if n < len(candles) else f"{base}{n}"
        new_stem = f"{new_base}_{quote}_{settle}"
        (target / src.name.replace(stem, new_stem)).symlink_to(src.resolve())
        for funding in source.glob(f"{stem}-8h-funding_rate.*"):
            (target / funding.name.replace(stem, new_stem)).symlink_to(funding.resolve())
        symbols.append(f"{new_base}/{quote}:{settle}")
    return target, symbols


def mb(rss: int) -> str:
    return f"{rss / 2**20:.0f} MB"


def rss_split() -> str:
    """Linux only: how much of the resident set is anonymous memory and how much is mapped files (mostly the
    shared libraries' pages: numpy, pandas, pyarrow, llvmlite…), which the kernel can drop and re-read."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    except OSError:
        return ""
    anon, files = (int(fields[k].split()[0]) * 1024 for k in ("RssAnon", "RssFile"))
    return f" (anonymous {mb(anon)}, mapped files {mb(files)})"


async def main(cycles: int) -> None:
    process = psutil.Process()
    rss_warm = warm_at = None
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").mkdir()
        folder, symbols = ten_symbol_folder(Path(tmp) / "data")
        settings = load_settings(
            env_file=None, market_data_dir=folder, database_path=Path(tmp) / "bench.sqlite",
            symbols=tuple(symbols), max_open_positions=10, correlation_groups="",
            telegram_bot_token="123456:bench-token", telegram_channel_id=CHANNEL, telegram_admin_ids=str(ADMIN_ID),
        )
        clock = SimulatedClock(DEFAULT_START)
        app = App(settings, clock=clock, demo=True, console_out=Path(tmp) / "out",
                  market_data=OfflineMarketData(folder, clock=clock))
        await app.build()
        assert app.bot is not None
        await app.bot.session.close()
        telegram = app.bot.session = InstantTelegram()  # bench stand-in for the Bot API: no network latency
        await app.start()
        def commands(day: int) -> list[tuple[int, str]]:  # a new member each day: public commands are rate-limited
            member = MEMBER_ID + day
            return [
                (ADMIN_ID, "/status"), (ADMIN_ID, "/positions"), (ADMIN_ID, "/risk"), (ADMIN_ID, "/audit"),
                (member, "/help"), (member, f"/chart {symbols[n % 10]} 4h"), (member, "/stats"),
            ]
        rss_start = process.memory_info().rss
        started = time.perf_counter()
        cycle_ms: list[float] = []
        try:
            for n in range(cycles):
                summary = await app.tick(clock.advance(timedelta(hours=1)))
                cycle_ms.append(summary.duration_ms)
                if (n + 1) % 24 == 0:
                    await app.pulse_now()
                    await commands_answered(telegram, commands((n + 1) // 24))
                if n + 1 == min(WARMUP_CYCLES, cycles):
                    await app.publisher.wait_idle()
                    rss_warm, warm_at = process.memory_info().rss, n + 1
            await app.publisher.wait_idle()
            await app.drain()
            rss_end = process.memory_info().rss
            split_end = rss_split()
            wall = time.perf_counter() - started
            posts = await app.outbox.posts()
        finally:
            await app.stop()
            for client in LIVE_CLIENTS:
                await client.close()
    latencies = sorted(p.handover_latency_s for p in posts if p.kind == "entry" and p.handover_latency_s is not None)
    kinds = {k: sum(1 for p in posts if p.kind == k) for k in ("entry", "exit", "pulse")}
    print(f"symbols: {len(symbols)} ({', '.join(symbols)})")
    print(f"simulated hourly cycles: {cycles} ({cycles / 24:.1f} simulated days) in {wall:.1f} s wall")
    print(f"cycle time: median {statistics.median(cycle_ms):.0f} ms, max {max(cycle_ms):.0f} ms (10 symbols, offline)")
    print(f"posts: {kinds}; Bot API requests: {dict(sorted(telegram.calls.items()))}")
    print(f"resident memory (target < 300 MB): {mb(RSS_AT_LAUNCH)} at launch, {mb(RSS_AFTER_IMPORTS)} after "
          f"importing the app, {mb(rss_start)} after start, {mb(rss_warm or 0)} after {warm_at} cycles (warm), "
          f"{mb(rss_end)} after {cycles} cycles")
    if rss_warm is not None and cycles > (warm_at or 0):
        per_100 = (rss_end - rss_warm) / (cycles - warm_at) * 100
        print(f"growth after warm-up: {mb(rss_end - rss_warm)} over {cycles - warm_at} cycles = "
              f"{per_100 / 2**20:+.1f} MB per 100 cycles")
    verdict = "met" if rss_end < 300 * 2**20 else "NOT met"
    print(f"RSS target < 300 MB after {cycles} cycles: {verdict} ({mb(rss_end)}{split_end})")
    if latencies:
        p50 = latencies[len(latencies) // 2]
        print(f"decision→post (entry announced → handed to the sender, chart included, Telegram excluded): "
              f"median {p50 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms over {len(latencies)} entries "
              f"(target < 1 s)")
    else:
        print("decision→post: no entries in this window")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=168, help="simulated hourly cycles (default: one week)")
    parser.add_argument("--with-ccxt", action="store_true",
                        help="also import ccxt as a run on live exchange data does (the cycles still read files)")
    args = parser.parse_args()
    asyncio.run(main(args.cycles))
