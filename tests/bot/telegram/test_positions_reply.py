"""/positions says how the rest of a position trails after TP1 (#19): on the exchange, or by the bot."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.telegram.reply_format import positions_text
from core.models import Position
from core.services.control import PositionView

T0 = datetime(2024, 6, 10, 6, tzinfo=UTC)


def _view(**fields: object) -> PositionView:
    pos = Position("k", "BTC/USDT:USDT", "long", 0.017, 60_000.0, T0, 5, 60_000.0, 58_800.0, (61_800.0, 70_000.0),
                   48_600.0, 204.0, targets_hit=1, **fields)  # type: ignore[arg-type]
    return PositionView(pos, 62_000.0, 34.0, 0.8, 3_600.0)


def test_positions_names_a_trailing_stop_resting_on_the_exchange() -> None:
    text = positions_text([_view(trailing_on_exchange_pct=1.9)])
    assert "trailing stop resting on the exchange, 1.9 % behind the best price" in text


def test_positions_says_when_the_bot_trails_by_moving_the_stop() -> None:
    assert "trailing by the bot: it moves the stop behind the best price" in positions_text([_view()])
    moved = positions_text([_view(trailing_stop=62_800.0)])
    assert "trailing by the bot" in moved and "now at 62,800" in moved


def test_positions_before_tp1_says_nothing_of_trailing() -> None:
    view = _view()
    view.position.targets_hit = 0
    assert "trailing" not in positions_text([view])
