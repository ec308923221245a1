import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.post_format import (
    CAPTION_LIMIT,
    DailySummary,
    ExitResult,
    PulseItem,
    daily_summary_text,
    disclaimer,
    entry_caption,
    exit_text,
    fmt_price,
    fmt_qty,
    fmt_signed,
    pulse_text,
    split_html,
    truncate_html,
    update_text,
)
from core.models import (
    Action,
    ClosedTrade,
    Decision,
    DecisionRecord,
    DomainError,
    Position,
    Regime,
    Snapshot,
    TradeEvent,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def position(**kw: object) -> Position:
    fields: dict = (
        dict(
            id="p1",
            symbol="BTC/USDT:USDT",
            side="long",
            qty=0.1,
            entry_price=60_000.0,
            entry_time=T0,
            leverage=5,
            stop_loss=58_800.0,
            initial_stop=58_800.0,
            take_profit=(61_800.0, 63_000.0),
            liquidation_price=48_300.0,
            margin=1_200.0,
            signal_id="c2024030112-BTC",
            confidence=0.72,
        )
        | kw
    )
    return Position(**fields)


def entry_event(reasoning: str = "Breakout above the 4h range with rising volume & RSI < 70.") -> tuple:
    pos = position()
    event = TradeEvent("entry", "p1", pos.symbol, "long", T0, 60_000.0, 0.1, signal_id=pos.signal_id, position=pos)
    decision = Decision(Action.LONG, 0.72, 58_800.0, (61_800.0, 63_000.0), 5, "1h close below 59k", reasoning)
    record = DecisionRecord("ok", "llm", "gpt-4o-mini", 1, decision)
    return event, record


def exit_event(reason: str, price: float, net: float, qty: float = 0.05) -> TradeEvent:
    trade = ClosedTrade(
        "p1",
        "BTC/USDT:USDT",
        "long",
        T0,
        60_000.0,
        T0,
        price,
        qty,
        5,
        58_800.0,
        reason,
        net + 3.0,
        3.0,
        0.0,
        net,
        "c2024030112-BTC",
        0.72,
    )
    return TradeEvent("exit", "p1", "BTC/USDT:USDT", "long", T0, price, qty, "c2024030112-BTC", reason, net, trade)


def balanced(html: str) -> bool:
    stack: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z]+)[^>]*>", html):
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def test_entry_caption_has_every_field_and_escapes() -> None:
    event, record = entry_event()
    snap = Snapshot("BTC/USDT:USDT", T0, 60_000.0, {}, 0.0001, Regime.TRENDING_UP)
    caption = entry_caption(event, record, snap, dry_run=True, equity=8_000.0)
    for needle in (
        "LONG BTC/USDT",
        "Entry: <code>60,000.00",
        "Stop: <code>58,800.00",
        "TP1: <code>61,800.00",
        "TP2: <code>63,000.00",
        "Leverage: 5x",
        "Liq: <code>48,300.00",
        "Confidence: 72%",
        "rising volume &amp; RSI &lt; 70",
        "c2024030112-BTC",
        "Not financial advice. Dry-run: paper trading.",
        "trending up",
        "(market, 2024-03-01 12:00 UTC)",
        "TP1: <code>61,800.00</code> (+3.00%) · reward/risk 1.5",
        "TP2: <code>63,000.00</code> (+5.00%) · reward/risk 2.5",
        "Risk: 1.50% of equity if the stop is hit",  # 0.1 × 1,200 = 120 USDT of 8,000
        "Late entry: void if price reaches <code>58,800.00</code> or <code>61,800.00</code> first",
        "Invalidation: 1h close below 59k",
    ):
        assert needle in caption
    assert balanced(caption) and "Qty" not in caption


def test_entry_caption_shortens_a_long_reason_to_fit_1024() -> None:
    event, record = entry_event(reasoning=("<b>evil</b> & " * 60)[:600])
    caption = entry_caption(event, record, None, dry_run=False, limit=CAPTION_LIMIT)
    assert len(caption) <= CAPTION_LIMIT and balanced(caption)
    assert "<b>evil</b>" not in caption and "&lt;b&gt;evil" in caption
    assert caption.rstrip().endswith("<i>Not financial advice.</i>")
    tight = entry_caption(event, record, None, limit=420)  # the levels, R/R and risk lines are kept whole
    assert len(tight) <= 420 and balanced(tight) and "c2024030112-BTC" in tight


@pytest.mark.parametrize(
    ("reason", "price", "net", "label", "r"),
    [
        ("tp1", 61_800.0, 87.0, "Target 1 hit", "+1.45R"),
        ("stop", 58_800.0, -63.0, "Stopped out", "-1.05R"),
        ("trailing", 62_500.0, 122.0, "Trailing stop", "+2.03R"),
        ("liquidation", 48_300.0, -600.0, "Liquidated", ""),
    ],
)
def test_exit_text_names_reason_price_pnl_and_r(reason: str, price: float, net: float, label: str, r: str) -> None:
    text = exit_text(exit_event(reason, price, net))
    assert label in text and fmt_price(price) in text and f"{net:+,.2f}" in text
    assert r in text and "P&amp;L" in text and balanced(text)


def test_exit_result_figures() -> None:
    result = ExitResult.of(exit_event("tp1", 61_800.0, 87.0))
    assert result.pnl_pct == pytest.approx(3.0)
    assert result.r_multiple == pytest.approx(87.0 / (1_200.0 * 0.05))
    assert result.margin_pct == pytest.approx(87.0 / (60_000 * 0.05 / 5) * 100)


def test_update_text_for_a_stop_move() -> None:
    event = TradeEvent("stop_moved", "p1", "BTC/USDT:USDT", "long", T0, 60_000.0, 0.05, reason="break-even")
    assert "stop moved to <code>60,000.00</code> (break-even)" in update_text(event)


def test_pulse_and_daily_texts() -> None:
    items = [
        PulseItem("BTC/USDT:USDT", 61_234.5, 2.345, 0.0001, "trending_up", "rules: long bias (65%) — <up>"),
        PulseItem("ETH/USDT:USDT", 3_050.1, None, None, "ranging", "rules: no trade (0%)"),
    ]
    text = pulse_text(items, T0)
    assert "Market Pulse" in text and "2024-03-01 12:00 UTC" in text and "+2.35%" in text and "+0.0100%" in text
    assert "&lt;up&gt;" in text and "n/a" in text and "ranging" in text
    summary = DailySummary(date(2024, 3, 1), 10_150.0, 150.0, 4, 3, (position(),), 10_000.0)
    daily = daily_summary_text(summary, dry_run=False)
    assert "10,150.00" in daily and "+150.00 USDT (+1.50%)" in daily
    assert "Positions closed: 4 (3 won, 1 lost) · win rate 75%" in daily
    assert "Open positions: 1" in daily and "BTC/USDT long" in daily
    with pytest.raises(DomainError):
        DailySummary(date(2024, 3, 1), 1.0, 0.0, 1, 2)


def test_disclaimer() -> None:
    assert "Dry-run" in disclaimer(True) and "Dry-run" not in disclaimer(False)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["<b>", "</b>", "a", "é", "&amp;", " ", "\n", "\n", "<i>x</i>", "word", "<pre>", "</pre>"]),
        max_size=400,
    ),
    st.integers(min_value=20, max_value=200),
)
def test_truncate_and_split_never_break_tags_or_lose_text(pieces: list[str], limit: int) -> None:
    html = "".join(pieces)
    # keep the input itself balanced so the property is about the cutting
    if not balanced(html):
        return
    cut = truncate_html(html, limit)
    assert len(cut) <= limit and balanced(cut) and not re.search(r"&[a-z]*$", cut)
    chunks = split_html(html, limit)
    assert all(len(c) <= limit and balanced(c) for c in chunks)  # tags spanning lines are closed and reopened
    assert all(re.sub(r"<[^>]+>", "", c).strip() for c in chunks)  # Telegram refuses an empty message
    strip = lambda s: re.sub(r"<[^>]+>|\s", "", s)  # noqa: E731
    assert strip("".join(chunks)) == strip(html)


def test_only_the_tp1_partial_reports_what_remains() -> None:
    from dataclasses import replace

    remaining = position(qty=0.05, stop_loss=60_000.0, targets_hit=1, initial_qty=0.1)
    tp1 = replace(exit_event("tp1", 61_800.0, 88.0), position=remaining)
    tp2 = replace(exit_event("tp2", 63_000.0, 148.0), position=position(qty=0.05, targets_hit=2))
    assert "50% of the position closed; the rest runs with the stop at <code>60,000.00" in exit_text(tp1)
    assert "P&amp;L of this leg" in exit_text(tp1) and "Held:" not in exit_text(tp1)
    assert "rest runs" not in exit_text(tp2) and "Held: 0 min" in exit_text(tp2)


def test_figures_that_round_to_zero_or_are_not_numbers_read_cleanly() -> None:
    # a break-even stop after costs: cents either side of zero must never read "-0.00" or "nan"
    text = exit_text(exit_event("breakeven", 60_000.0, -0.001))
    assert "-0.00" not in text and "-0.0%" not in text and not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert "P&amp;L: <b>0.00</b> USDT after costs · 0.00R" in text and "➖" in text
    assert fmt_signed(-0.0, "%") == "0.00%" and fmt_signed(0.004) == "0.00"
    assert fmt_signed(-1.5) == "-1.50" and fmt_signed(1_234.5) == "+1,234.50"
    assert fmt_signed(float("nan"), "%") == "n/a" and fmt_signed(float("inf")) == "n/a"
    item = PulseItem("BTC/USDT:USDT", 61_234.5, float("nan"), float("nan"), "ranging", "rules: no trade")
    pulse = pulse_text([item], T0)
    assert not re.search(r"\bnan\b", pulse, re.IGNORECASE) and "n/a 24h" in pulse and "Funding n/a" in pulse


def test_tiny_prices_keep_their_significant_digits() -> None:
    assert fmt_price(0.00001234) == "0.00001234"
    assert fmt_price(1.234e-13) not in ("0.000000000000", "0") and float(fmt_price(1.234e-13)) == pytest.approx(
        1.234e-13
    )


def test_quantities_of_cheap_and_dear_coins_are_plain_numbers() -> None:
    # 12 million PEPE-like units, or a few satoshis' worth: followers must not read "1.23457e+07"
    assert fmt_qty(12_345_678.0) == "12,345,678" and fmt_qty(1_000_000.0) == "1,000,000"
    assert fmt_qty(0.00005) == "0.00005" and fmt_qty(0.05) == "0.05" and fmt_qty(1_500.5) == "1,500.5"
    text = exit_text(exit_event("stop", 58_800.0, -63.0, qty=12_345_678.0))
    assert "12,345,678" not in text and "Qty" not in text and "e+" not in text  # no bare quantities


@pytest.mark.parametrize("html", ["<pre></pre><pre></pre>", "<pre><pre></pre></pre>"])
def test_a_line_of_tags_alone_longer_than_the_limit_sends_nothing(html: str) -> None:
    """Found by the property test above: such a line was cut into chunks without text (Telegram refuses
    them) or left whole over the limit."""
    assert split_html(html, 20) == []


def test_the_exit_that_ends_a_position_states_all_its_legs_duration_and_r() -> None:
    from dataclasses import replace

    from bot.telegram.post_format import closes_position, position_outcome

    tp1 = exit_event("tp1", 61_800.0, 87.0)
    stop = replace(exit_event("breakeven", 60_000.0, -3.0), time=T0 + timedelta(hours=28))
    stop = replace(stop, trade=replace(stop.trade, exit_time=stop.time), position=position(qty=0.05, targets_hit=1,
                   stop_loss=60_000.0, initial_qty=0.1))
    assert closes_position(stop) and not closes_position(replace(tp1, position=position(qty=0.05)))
    outcome = position_outcome(stop, [tp1.trade])
    assert outcome.legs == 2 and outcome.net_pnl == pytest.approx(84.0)
    assert outcome.r_multiple == pytest.approx(84.0 / (1_200.0 * 0.1))
    text = exit_text(stop, outcome=outcome)
    assert "P&amp;L (whole position): <b>+84.00</b> USDT after costs · +0.70R" in text
    assert "Legs: TP1 +87.00, breakeven -3.00" in text and "✅" in text and "Held: 1 d 4 h" in text


def test_no_positions_reads_none_never_a_zero_win_rate() -> None:
    summary = DailySummary(date(2024, 3, 1), 10_000.0, 0.0, 0, 0, (), 10_000.0, days=7)
    text = daily_summary_text(summary)
    assert "Positions closed: none" in text and "win rate" not in text
    assert "Weekly summary — 2024-03-01 to 2024-03-07" in text and "Week P&amp;L" in text


def test_entry_caption_shows_the_followers_note_instead_of_the_reasoning() -> None:
    # #15: a plain-language note for followers; the engine's internal reasoning stays in /why.
    from dataclasses import replace

    event, record = entry_event(reasoning="4h EMA50 reclaim, MACD hist +12, funding 0.00064 crowded")
    assert record.decision is not None
    noted = replace(record, decision=replace(record.decision, note="Buying the breakout; out below 58.8k <3"))
    caption = entry_caption(event, noted, None, dry_run=True)
    assert "Buying the breakout; out below 58.8k &lt;3" in caption and "MACD hist" not in caption
    assert "MACD hist" in entry_caption(event, record, None, dry_run=True)  # no note: the reasoning as before
