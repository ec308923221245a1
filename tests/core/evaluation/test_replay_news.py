"""A replay with news (#17) over a recorded headline archive: deterministic, and each decision's snapshot holds only
headlines first seen by its as_of — headlines recorded after the window (or after a bar) change nothing before
them. Runs on the bundled real sample (BTC/ETH perps, 2024)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import RiskLimits
from core.decide.rules import RulesEngine
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.evaluation.report import write_report
from core.market.news import FearGreed, Headline, MemoryNewsStore
from core.market.news_keywords import KeywordScorer, score_text
from core.market.offline import OfflineMarketData, sample_data_dir
from core.market.sentiment import SentimentReader
from core.services.memory_log import MemoryDecisionLog

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
START, END = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 15, tzinfo=UTC)
TITLES = ("Exchange hacked, bitcoin stolen", "Bitcoin rallies on ETF inflows", "Ethereum upgrade delayed",
          "SEC sues crypto lender", "Fed holds rates", "Ether surges to record high")


def recorded(seed: int = 3) -> tuple[list[Headline], list[FearGreed]]:
    rng = random.Random(seed)
    heads = [Headline(f"h{k}", rng.choice(("coindesk.com", "cointelegraph.com")), rng.choice(TITLES), "", None,
                      START - timedelta(days=2) + timedelta(minutes=rng.randrange(16 * 24 * 60)))
             for k in range(120)]
    days = [FearGreed((START + timedelta(days=d)).date(), rng.randrange(101)) for d in range(-3, 16)]
    return heads, days


def reader(heads, days) -> SentimentReader:
    return SentimentReader(MemoryNewsStore(heads, days), KeywordScorer(), fear_greed=True)


@pytest.fixture(scope="module")
def market() -> OfflineMarketData:
    return OfflineMarketData(sample_data_dir())


def spec() -> ReplaySpec:
    limits = RiskLimits(correlation_groups=(SYMBOLS,), news_veto_hours=6, news_regime=True, max_stop_pct=15)
    return ReplaySpec(symbols=SYMBOLS, start=START, end=END, engine="rules", limits=limits)


async def test_a_replay_with_news_is_deterministic_and_point_in_time(market: OfflineMarketData, tmp_path: Path):
    heads, days = recorded()
    runs = []
    for name in ("a", "b"):
        log = MemoryDecisionLog(keep_snapshots=True)
        result = await run_replay_cycle(market, spec(), RulesEngine(), decision_log=log, sentiment=reader(heads, days))
        write_report(result, tmp_path / name)
        runs.append((result, log))
    for file in ("report.json", "trades.csv", "equity.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    result, log = runs[0]
    snapshots = [r.snapshot for r in log.records() if r.snapshot is not None]
    assert len(snapshots) == len(log.records()) > 0
    with_events = 0
    for snap in snapshots:
        assert snap.sentiment is not None
        assert all(e.time <= snap.as_of for e in snap.sentiment.key_events)
        seen = [h for h in heads if snap.as_of - timedelta(hours=72) < h.first_seen <= snap.as_of]
        assert {e.title for e in snap.sentiment.key_events} <= {h.title for h in seen}
        assert snap.sentiment.fear_greed == next(d.value for d in days if d.day == snap.as_of.date())
        with_events += bool(snap.sentiment.key_events)
    assert with_events > len(snapshots) // 2
    assert result.guard_reasons.get("news_veto", 0) > 0  # the archive's hacks did veto entries


async def test_headlines_recorded_later_change_nothing_before_them(market: OfflineMarketData, tmp_path: Path):
    heads, days = recorded()
    cut = START + timedelta(days=7)
    before = [h for h in heads if h.first_seen <= cut]
    # the same archive up to `cut`, then different headlines (many critical) and different Fear & Greed after it
    later = [Headline(f"z{k}", "evil.example", "Exchange hacked, funds stolen", "", START - timedelta(days=30),
                      cut + timedelta(minutes=1 + 37 * k)) for k in range(200)]
    other_days = [d if d.day <= cut.date() else FearGreed(d.day, 3) for d in days]
    a, b = MemoryDecisionLog(keep_snapshots=True), MemoryDecisionLog(keep_snapshots=True)
    await run_replay_cycle(market, spec(), RulesEngine(), decision_log=a, sentiment=reader(heads, days))
    await run_replay_cycle(market, spec(), RulesEngine(), decision_log=b, sentiment=reader(before + later, other_days))
    early = lambda log: [(r.symbol, r.as_of, r.snapshot, r.verdict) for r in log.records() if r.as_of <= cut]  # noqa: E731
    assert early(a) == early(b) and len(early(a)) > 100
    assert [r.snapshot for r in a.records() if r.as_of > cut + timedelta(hours=1)] != [
        r.snapshot for r in b.records() if r.as_of > cut + timedelta(hours=1)]


async def test_news_veto_close_closes_open_longs_on_a_fresh_critical_headline(market: OfflineMarketData) -> None:
    heads, days = recorded()
    base = spec()
    closing = ReplaySpec(symbols=SYMBOLS, start=START, end=END, engine="rules",
                         limits=RiskLimits(correlation_groups=(SYMBOLS,), news_veto_hours=6, news_veto_close=True,
                                           max_stop_pct=15))
    without = await run_replay_cycle(market, base, RulesEngine(), sentiment=reader(heads, days))
    closed = await run_replay_cycle(market, closing, RulesEngine(), sentiment=reader(heads, days))
    assert not any(t.exit_reason == "news" for t in without.trades)
    news_exits = [t for t in closed.trades if t.exit_reason == "news"]
    assert news_exits, [t.exit_reason for t in closed.trades]
    critical = [h.first_seen for h in heads if score_text(h.title).impact == -2]
    for trade in news_exits:
        assert trade.side == "long"
        # closed at the open of the bar after a cycle that saw a critical headline of the last 6 h
        assert any(timedelta(0) <= trade.exit_time - seen <= timedelta(hours=7) for seen in critical), trade
