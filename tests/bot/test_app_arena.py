"""ARENA through the composition root: contestants beside the primary engine, each with its own paper book in
SQLite (resumed after a restart), concurrent LLM calls under one budget, a failing one never stopping the
others, `/arena` with standings and a chart, the daily arena post, and only the primary posting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram import Bot

from bot.app import App
from bot.commands.demo_cmd import DEFAULT_START
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.market.offline import OfflineMarketData, sample_data_dir
from tests.fakes.arena_models import arena_reply
from tests.fakes.openai_server import FakeOpenAIServer
from tests.handlers.tg_session import RecordingSession, command_update
from tests.settings_env import isolate_settings

TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ADMIN = 1001
CONTESTANTS = ("rules", "llm:trader-long", "llm:trader-short", "llm:broken")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (
        "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "TELEGRAM_ADMIN_IDS", "LLM_API_KEY", "ENGINE", "ARENA",
        "LLM_BASE_URL", "LLM_MODEL", "MARKET_DATA_DIR", "DATABASE_PATH", "SYMBOLS", "DRY_RUN",
    ))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    fake.script(lambda body: arena_reply(body, delay_s=0.2))
    try:
        yield fake
    finally:
        fake.stop()


def arena_app(tmp_path: Path, server: FakeOpenAIServer, clock: SimulatedClock, **settings: object) -> App:
    s = load_settings(
        env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "app.sqlite",
        symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), telegram_admin_ids=(ADMIN,), engine="rules",
        llm_base_url=server.base_url, llm_max_retries=0, **{"arena": ",".join(CONTESTANTS), **settings},
    )
    return App(s, clock=clock, demo=True, console_out=tmp_path / "out",
               market_data=OfflineMarketData(sample_data_dir(), clock=clock))


async def test_contestants_trade_their_own_books_beside_the_primary_which_alone_posts(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    clock = SimulatedClock(DEFAULT_START)
    app = arena_app(tmp_path, server, clock)
    await app.start()
    try:
        outcomes = [await app.run_arena(clock.now())]  # the arena's first cycle before the hourly ones
        for _ in range(24):
            await app.tick(clock.advance(timedelta(hours=1)))
        outcomes.append(await app.run_arena(clock.now()))  # a re-run of the same hour changes nothing
        await app.publisher.wait_idle()
        await app.drain()
        arena = app.services.arena
        assert arena is not None
        assert all(set(o) == set(CONTESTANTS) and not any(o.values()) for o in outcomes)  # nobody stalled

        # Only the primary posts: one entry post per position of the bot's own book, none for the contestants.
        posts = [p for p in await app.outbox.posts() if p.kind == "entry"]
        primary = {t.position_id for t in await app.history.closed_trades()} | {p.id for p in await app.broker.positions()}
        assert posts and len(posts) == len(primary)
        books = {c.name: c for c in arena.contestants}
        longs = await books["llm:trader-long"].book.closed_trades() + [
            p for p in await books["llm:trader-long"].broker.positions()]  # type: ignore[operator]
        assert longs and all(x.side == "long" for x in longs)
        assert all(t.side == "short" for t in await books["llm:trader-short"].book.closed_trades())
        assert await books["llm:broken"].broker.positions() == [] and await books["llm:broken"].book.closed_trades() == []

        # Concurrent: the two trading models were asked at overlapping times (each answer takes 0.2 s).
        asked = {m: [r.at for r in server.requests if r.model == m] for m in ("trader-long", "trader-short", "broken")}
        assert all(asked.values())
        assert min(abs(a - b) for a in asked["trader-long"] for b in asked["trader-short"]) < 0.15
        # One budget: every contestant's calls in the one usage log the daily token budget reads.
        async with app.db.conn.execute("SELECT DISTINCT model FROM llm_calls") as cursor:
            assert {r[0] for r in await cursor.fetchall()} == {"trader-long", "trader-short", "broken"}

        session = RecordingSession()
        await app.dp.feed_update(Bot(token=TOKEN, session=session), command_update("/arena", ADMIN))
        text = session.texts()[0]
        for name in CONTESTANTS:
            assert name in text
        assert "max DD" in text and "win rate" in text and "the channel posts only rules" in text
        (photo,) = session.named("SendPhoto")
        assert photo.params["caption"].startswith("Arena")
        before = {c.name: (await c.broker.account()).equity for c in arena.contestants}
        open_before = {c.name: len(await c.broker.positions()) for c in arena.contestants}
    finally:
        await app.stop()

    # A restart resumes every contestant's book where it was.
    app = arena_app(tmp_path, server, clock)
    await app.start()
    try:
        arena = app.services.arena
        assert arena is not None
        assert {c.name: (await c.broker.account()).equity for c in arena.contestants} == pytest.approx(before)
        assert {c.name: len(await c.broker.positions()) for c in arena.contestants} == open_before
        for contestant in arena.contestants:  # each book reconciles: final = initial + Σ net
            await contestant.broker.close_all(reason="end")
            legs = await contestant.book.closed_trades()
            final = (await contestant.broker.account()).equity
            assert final == pytest.approx(app.settings.initial_equity + sum(t.net_pnl for t in legs), abs=1e-6)
    finally:
        await app.stop()


async def test_one_budget_for_every_llm_contestant(tmp_path: Path, server: FakeOpenAIServer) -> None:
    """A day's budget of 2,000 tokens is ~2 answers (900 + 80 each) in all: then no contestant asks again."""
    clock = SimulatedClock(DEFAULT_START)
    app = arena_app(tmp_path, server, clock, llm_daily_token_budget=2_000)
    await app.start()
    try:
        for _ in range(3):
            await app.tick(clock.advance(timedelta(hours=1)))
        asked = len(server.requests)
        assert asked <= 6  # one concurrent round at most (3 models × 2 symbols) before the log shows it spent
        for _ in range(3):
            await app.tick(clock.advance(timedelta(hours=1)))
        assert len(server.requests) == asked
    finally:
        await app.stop()


async def test_the_daily_arena_post_goes_through_the_outbox_once_a_day(tmp_path: Path, server: FakeOpenAIServer) -> None:
    clock = SimulatedClock(DEFAULT_START)
    app = arena_app(tmp_path, server, clock, arena_daily_post=True)
    await app.start()
    try:
        for _ in range(3):
            await app.tick(clock.advance(timedelta(hours=1)))
        assert await app.arena_post_now() and not await app.arena_post_now()
        (post,) = [p for p in await app.outbox.posts() if p.kind == "arena"]
        assert post.chat_id == app.notifier.channel_id and "Arena" in post.text and post.image is not None
        assert post.dedupe_key == f"arena:{clock.now():%Y-%m-%d}"
    finally:
        await app.stop()


async def test_without_arena_nothing_runs_and_arena_says_how_to_turn_it_on(tmp_path: Path,
                                                                            server: FakeOpenAIServer) -> None:
    clock = SimulatedClock(DEFAULT_START)
    app = arena_app(tmp_path, server, clock, arena="")
    await app.start()
    try:
        assert app.services.arena is None and await app.run_arena(clock.now()) == {}
        assert not await app.arena_post_now()
        session = RecordingSession()
        await app.dp.feed_update(Bot(token=TOKEN, session=session), command_update("/arena", ADMIN))
        assert "The arena is off" in session.texts()[0] and not session.named("SendPhoto")
        await app.dp.feed_update(Bot(token=TOKEN, session=session), command_update("/arena", 999))
        assert "admins only" in session.texts()[-1]
        async with app.db.conn.execute("SELECT COUNT(*) FROM arena_equity") as cursor:
            assert (await cursor.fetchone())[0] == 0
    finally:
        await app.stop()


async def test_contestants_are_strategy_versions_in_the_leaderboard_marked_daily(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    clock = SimulatedClock(DEFAULT_START)
    app = arena_app(tmp_path, server, clock, arena="rules,trend")
    await app.start()
    try:
        for _ in range(50):  # three UTC days of marks
            await app.tick(clock.advance(timedelta(hours=1)))
        leaderboard = app.dp.workflow_data["leaderboard"]
        rows = [r for r in (await leaderboard.board()).rows if r.source == "arena"]
        assert sorted(r.engine for r in rows) == ["rules", "trend"]
        assert all(r.oos and r.window[0] < r.window[1] for r in rows)
        assert len({r.version for r in rows}) == 2
        await leaderboard.board()  # marked again: one row per contestant, its window grown in place
        assert len([r for r in (await leaderboard.board()).rows if r.source == "arena"]) == 2
    finally:
        await app.stop()
