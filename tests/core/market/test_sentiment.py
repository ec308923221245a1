"""The snapshot's `sentiment` (#17): point-in-time from the store (hypothesis: headlines first seen after as_of
and later Fear & Greed days change nothing), the 24 h half-life decay checked against an independent
computation, key events, the prompt form, and every failure as "no context"."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.market.news import FearGreed, FetchedHeadline, Headline, MemoryNewsStore
from core.market.news_keywords import KeywordScorer
from core.market.sentiment import (
    HeadlineScore,
    SentimentReader,
    SentimentSnapshots,
    build_sentiment,
    news_regime,
)
from core.market.snapshot import SeriesSnapshotSource
from core.market.timeframes import tf_ms, to_ms
from core.models import Sentiment
from tests.core.market.test_snapshot import (  # noqa: F401  (fixtures)
    BTC,
    as_of_strategy,
    frames_from,
    funding,
    hourly,
    sample,
    utc,
)

TITLES = (
    "Exchange hacked, $120M in bitcoin stolen", "Bitcoin rallies as ETF inflows jump", "Ethereum upgrade delayed",
    "Fed holds rates", "Solana surges to record high", "SEC sues crypto lender", "XRP jumps on partnership",
)


def archive(start: datetime, hours: int, seed: int) -> tuple[list[Headline], list[FearGreed]]:
    rng = random.Random(seed)
    heads = [
        Headline(f"g{seed}-{k}", rng.choice(("coindesk.com", "decrypt.co")), rng.choice(TITLES), "", None,
                 start + timedelta(minutes=rng.randrange(hours * 60)))
        for k in range(rng.randrange(5, 60))
    ]
    days = [FearGreed(start.date() + timedelta(days=d), rng.randrange(101)) for d in range(hours // 24 + 2)]
    return heads, days


def scrambled_after(heads: list[Headline], days: list[FearGreed], as_of: datetime, seed: int):
    """Everything first seen after as_of replaced by other headlines and other values; days after as_of's too."""
    rng = random.Random(seed ^ 0x5EED)
    kept = [h for h in heads if h.first_seen <= as_of]
    later = [Headline(f"x{k}", "evil.example", rng.choice(TITLES), "", as_of - timedelta(days=30),  # backdated
                      as_of + timedelta(seconds=rng.randrange(1, 5 * 86400))) for k in range(rng.randrange(1, 40))]
    fg = [d if d.day <= as_of.date() else FearGreed(d.day, rng.randrange(101)) for d in days]
    return kept + later, fg


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(as_of=as_of_strategy, seed=st.integers(0, 2**32 - 1))
async def test_news_first_seen_after_as_of_changes_nothing(hourly: pd.DataFrame, funding: pd.Series,  # noqa: F811
                                                           as_of: datetime, seed: int) -> None:
    source = SeriesSnapshotSource({BTC: frames_from(hourly)}, {BTC: funding})
    heads, days = archive(as_of - timedelta(days=4), 24 * 8, seed)
    bad_heads, bad_days = scrambled_after(heads, days, as_of, seed)
    clean = SentimentSnapshots(source, SentimentReader(MemoryNewsStore(heads, days), KeywordScorer(), fear_greed=True))
    dirty = SentimentSnapshots(source, SentimentReader(MemoryNewsStore(bad_heads, bad_days), KeywordScorer(),
                                                       fear_greed=True))
    a, b = await clean.snapshot(BTC, as_of), await dirty.snapshot(BTC, as_of)
    assert a == b and a.to_json_dict() == b.to_json_dict()
    assert a.sentiment is not None and all(e.time <= as_of for e in a.sentiment.key_events)
    assert a.sentiment.fear_greed == next(d.value for d in days if d.day == as_of.date())


def test_news_score_is_the_decayed_mean_with_a_24h_half_life() -> None:
    as_of = datetime(2024, 3, 1, 12, tzinfo=UTC)
    heads = [
        Headline("a", "s1", "hack", "", None, as_of - timedelta(hours=0)),
        Headline("b", "s2", "rally", "", None, as_of - timedelta(hours=24)),
        Headline("c", "s3", "eth only", "", None, as_of - timedelta(hours=1)),
        Headline("d", "s4", "future", "", None, as_of + timedelta(seconds=1)),
    ]
    scores = {"a": HeadlineScore(-2), "b": HeadlineScore(2, ("BTC",)), "c": HeadlineScore(-2, ("ETH",)),
              "d": HeadlineScore(2)}
    btc = build_sentiment(BTC, as_of, heads, scores, 40)
    weights = {"a": 1.0, "b": 0.5}  # ETH's headline is not about BTC; d is after as_of
    expected = (-2 * weights["a"] + 2 * weights["b"]) / max(1.0, sum(weights.values()))
    assert btc.news_score == pytest.approx(expected) and btc.fear_greed == 40
    assert [(e.title, e.impact) for e in btc.key_events] == [("hack", -2), ("rally", 2)]  # strongest first
    assert btc.top_source == "s1"
    lone = build_sentiment(BTC, as_of, [heads[1]], scores, None)
    assert lone.news_score == pytest.approx(2 * 0.5)  # one headline a day old: half its impact
    eth = build_sentiment("ETH/USDT:USDT", as_of, heads, scores, None)
    assert [e.title for e in eth.key_events] == ["hack", "eth only"]
    assert build_sentiment(BTC, as_of, [], {}, None) == Sentiment(None, None, (), "")


async def test_failures_are_no_context() -> None:
    as_of = datetime(2024, 3, 1, 12, tzinfo=UTC)

    class Broken:
        name = "broken"

        async def score(self, headlines):
            raise RuntimeError("analyst down")

    store = MemoryNewsStore()
    await store.record([FetchedHeadline("a", "s", "Exchange hacked")], as_of - timedelta(hours=1))
    reading = await SentimentReader(store, Broken(), fear_greed=True).at(BTC, as_of)
    assert reading == Sentiment(None, None, (), "")  # no score, no Fear & Greed stored: nulls, no crash

    class BrokenStore(MemoryNewsStore):
        async def seen_between(self, since, until):
            raise OSError("disk gone")

    class Inner:
        async def snapshot(self, symbol, as_of):
            from tests.core.risk.test_guard import snap

            return snap()

    wrapped = SentimentSnapshots(Inner(), SentimentReader(BrokenStore(), KeywordScorer(), fear_greed=False))
    assert (await wrapped.snapshot(BTC, as_of)).sentiment is None


def test_the_prompt_form_leaves_out_empty_parts_and_the_full_form_keeps_the_shape() -> None:
    from tests.core.risk.test_guard import snap

    base = snap()
    assert base.to_json_dict()["sentiment"] is None and "sentiment" not in base.to_json_dict(prompt=True)
    from dataclasses import replace

    empty = replace(base, sentiment=Sentiment())
    assert empty.to_json_dict()["sentiment"] == {"fear_greed": None, "news_score": None, "key_events": []}
    assert "sentiment" not in empty.to_json_dict(prompt=True)
    some = replace(base, sentiment=Sentiment(22, -0.4321, ()))
    assert some.to_json_dict(prompt=True)["sentiment"] == {"fear_greed": 22, "news_score": -0.4}
    from core.models import KeyEvent

    events = tuple(KeyEvent(base.as_of - timedelta(hours=h), t, i) for h, t, i in (
        (2, "Exchange halts withdrawals after $200M hack drains hot wallets; funds safe", -2),
        (7, "SEC sues lender", -2), (9, "third", 1)))
    busy = replace(base, sentiment=Sentiment(22, -1.37, events))
    assert busy.to_json_dict(prompt=True)["sentiment"]["key_events"] == [
        "-2 2h ago: Exchange halts withdrawals after $200M hack drains hot…", "-2 7h ago: SEC sues lender",
    ]
    assert len(busy.to_json_dict()["sentiment"]["key_events"]) == 3  # the snapshot JSON keeps them all


def test_the_prompt_views_leave_out_only_what_as_of_and_macd_hist_imply(hourly, funding) -> None:  # noqa: F811
    as_of = utc(2024, 4, 20, 12)
    snap = SeriesSnapshotSource({BTC: frames_from(hourly)}, {BTC: funding}).snapshot_sync(BTC, as_of)
    full, prompt = snap.to_json_dict(), snap.to_json_dict(prompt=True)
    for tf, view in full["timeframes"].items():
        assert set(view) - set(prompt["timeframes"][tf]) == {"bar_time", "macd_signal"}
        # each view is the last bar closed at as_of, and the signal is macd − hist
        step = tf_ms(tf)
        assert to_ms(snap.timeframes[tf].bar_time) + step == to_ms(as_of) // step * step
        assert view["macd_signal"] == pytest.approx(view["macd"] - view["macd_hist"], rel=1e-4, abs=1e-6)


def test_regimes() -> None:
    from core.models import KeyEvent

    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    event = lambda hours, impact: KeyEvent(now - timedelta(hours=hours), "x", impact)  # noqa: E731
    assert news_regime(None, now) is None
    assert news_regime(Sentiment(None, -1.5, ()), now) == "panic"
    assert news_regime(Sentiment(None, 0.0, (event(3, -2),)), now) == "panic"
    assert news_regime(Sentiment(None, 0.0, (event(5, -2),)), now) == "digesting"
    assert news_regime(Sentiment(None, 0.0, (event(25, -2), event(1, -1), event(1, 2))), now) is None
