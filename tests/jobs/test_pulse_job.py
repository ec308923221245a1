from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from bot.telegram.notifier import ChannelNotifier
from core.clock import SimulatedClock
from core.decide.rules import RulesEngine
from core.market.offline import OfflineMarketData
from core.market.snapshot import LiveSnapshotSource
from core.models import Action, Decision, DecisionRecord
from core.services.outbox import MemoryOutbox
from jobs.pulse_job import change_24h_pct, one_line_view, run_pulse

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
AS_OF = datetime(2024, 3, 1, 12, tzinfo=UTC)


def notifier(outbox: MemoryOutbox) -> ChannelNotifier:
    return ChannelNotifier(outbox, channel_id="-100777", admin_ids=(11,), clock=SimulatedClock(AS_OF))


@pytest.fixture
def market() -> OfflineMarketData:
    if not DATA.is_dir():
        pytest.skip(f"real data not present at {DATA} (needs ../shared next to the repo)")
    return OfflineMarketData(DATA)


async def test_pulse_on_real_data_posts_every_symbol_and_reports_the_missing_one(market: OfflineMarketData) -> None:
    outbox = MemoryOutbox()
    ok = await run_pulse(
        as_of=AS_OF,
        symbols=["BTC/USDT:USDT", "ETH/USDT:USDT", "NOPE/USDT:USDT"],
        snapshots=LiveSnapshotSource(market),
        market=market,
        engine=RulesEngine(),
        notifier=notifier(outbox),
    )
    assert ok
    alert, pulse = sorted(await outbox.posts(), key=lambda p: p.kind)
    assert alert.kind == "alert" and "NOPE/USDT:USDT" in alert.text
    assert pulse.kind == "pulse" and pulse.image is not None and pulse.dedupe_key == "pulse:2024-03-01T12:00:00Z"
    candles = await market.candles("BTC/USDT:USDT", "1h", until=AS_OF, limit=30)
    expected = (candles["close"].iloc[-1] / candles["close"].iloc[-25] - 1) * 100
    assert f"{expected:+.2f}%" in pulse.text
    for needle in ("BTC/USDT", "ETH/USDT", "Funding", "rules:"):
        assert needle in pulse.text


async def test_pulse_failure_is_reported_not_raised(market: OfflineMarketData) -> None:
    outbox = MemoryOutbox()

    class Broken(ChannelNotifier):
        async def pulse(self, *args: object, **kwargs: object) -> bool:
            raise RuntimeError("disk full")

    ok = await run_pulse(
        as_of=AS_OF,
        symbols=["BTC/USDT:USDT"],
        snapshots=LiveSnapshotSource(market),
        market=market,
        engine=RulesEngine(),
        notifier=Broken(outbox, channel_id="-100777", admin_ids=(11,), clock=SimulatedClock(AS_OF)),
    )
    assert not ok
    (alert,) = await outbox.posts()
    assert "Market Pulse failed: RuntimeError: disk full" in alert.text


def test_one_line_view_and_change() -> None:
    record = DecisionRecord(
        "ok",
        "rules",
        "rules-v1",
        1,
        Decision(Action.LONG, 0.66, 99.0, (105.0,), 3, "", "EMA stack bullish on 4h. RSI 61."),
    )
    assert one_line_view(record) == "rules: long bias, 66% confidence — EMA stack bullish on 4h"
    assert one_line_view(DecisionRecord("failed", "llm", "m", 2, None, "timeout")) == "llm: no view (failed)"
    index = pd.date_range("2024-03-01", periods=30, freq="1h", tz="UTC")
    frame = pd.DataFrame({"close": [100.0] * 6 + [110.0] * 24}, index=index)
    assert change_24h_pct(frame, AS_OF) == pytest.approx(10.0)
    assert change_24h_pct(frame.iloc[-10:], AS_OF) is None


def test_no_trade_has_no_confidence_figure_and_a_refusal_names_the_guard() -> None:
    from core.models import GuardVerdict
    from core.protocols import CycleRecord
    from jobs.pulse_job import what_the_bot_does

    hold = DecisionRecord("ok", "rules", "rules-v1", 1, Decision(Action.HOLD, 0.98, None, (), 1, "", "score +0.98"))
    assert one_line_view(hold) == "rules: no trade — score +0.98"  # was "no trade (98%)"
    refused = GuardVerdict(False, None, "correlated_exposure", "ETH long with BTC long open")
    entry = CycleRecord("c", "ETH/USDT:USDT", AS_OF, None, hold, refused, "s")
    assert what_the_bot_does(entry) == "refused by the risk guard (correlated_exposure: ETH long with BTC long open)"
    assert what_the_bot_does(None) == ""


async def test_text_and_picture_use_one_24h_window(market: OfflineMarketData) -> None:
    """The chart said BTC +0.32 % (48 bars) while the text said -6.66 % 24h: one window now."""
    from jobs.pulse_job import window_closes

    candles = await market.candles("BTC/USDT:USDT", "1h", until=AS_OF, limit=60)
    window = window_closes(candles)
    assert len(window) == 25 and window.index[-1] - window.index[0] == pd.Timedelta(hours=24)
    assert (window.iloc[-1] / window.iloc[0] - 1) * 100 == pytest.approx(change_24h_pct(candles, AS_OF))


async def test_pulse_never_presents_old_prices_as_now() -> None:
    # the bundled sample ends 2024-05-14: a pulse at a later wall time must not post its last prices
    from core.market.offline import sample_data_dir

    late = datetime(2026, 12, 1, 12, tzinfo=UTC)
    market = OfflineMarketData(sample_data_dir())
    outbox = MemoryOutbox()
    ok = await run_pulse(as_of=late, symbols=["BTC/USDT:USDT", "ETH/USDT:USDT"], snapshots=LiveSnapshotSource(market),
                         market=market, engine=RulesEngine(), notifier=notifier(outbox))
    assert not ok
    assert [p for p in await outbox.posts() if p.kind == "pulse"] == []


async def test_pulse_shows_the_sentiment_reading_and_the_top_headline_with_its_source() -> None:
    """#17: Fear & Greed once per pulse; per symbol the news score and its top headline and source; a symbol
    without news shows no news line. Point-in-time: the headline first seen after as_of is not there."""
    from datetime import timedelta

    from core.market.news import FearGreed, FetchedHeadline, MemoryNewsStore
    from core.market.news_keywords import KeywordScorer
    from core.market.offline import sample_data_dir
    from core.market.sentiment import SentimentReader, SentimentSnapshots

    sample = OfflineMarketData(sample_data_dir())
    store = MemoryNewsStore(fear_greed=[FearGreed(AS_OF.date(), 23, "Extreme Fear")])
    await store.record([FetchedHeadline("h1", "cointelegraph.com", "Exchange halts withdrawals after bitcoin hack")],
                       AS_OF - timedelta(hours=3))
    await store.record([FetchedHeadline("h2", "coindesk.com", "Bitcoin soars to a record high")],
                       AS_OF + timedelta(minutes=5))
    snapshots = SentimentSnapshots(LiveSnapshotSource(sample), SentimentReader(store, KeywordScorer(), fear_greed=True))
    outbox = MemoryOutbox()
    assert await run_pulse(as_of=AS_OF, symbols=["BTC/USDT:USDT", "ETH/USDT:USDT"], snapshots=snapshots, market=sample,
                           engine=RulesEngine(), notifier=notifier(outbox))
    [pulse] = await outbox.posts()
    text = pulse.text
    assert text.count("Fear &amp; Greed: <b>23</b> (extreme fear)") == 1
    assert "📰 News -1.8 · “Exchange halts withdrawals after bitcoin hack” (cointelegraph.com)" in text
    assert "record high" not in text
    eth = text.split("ETH/USDT", 1)[1]
    assert "📰" not in eth  # the hack names bitcoin: nothing about ETH
