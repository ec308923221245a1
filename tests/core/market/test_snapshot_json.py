from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.market.snapshot_json import SnapshotJsonError, snapshot_from_json

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "snapshots" / "btc_2024-03-01T12.json"


def test_round_trip_keeps_every_key() -> None:
    data = json.loads(FIXTURE.read_text())
    data["quote_volume_24h"] = 1.5e9
    data["quality"] = ["gap_1h"]
    snapshot = snapshot_from_json(data)
    assert snapshot.to_json_dict() == data
    assert snapshot.timeframes["4h"].bar_time.isoformat() == "2024-03-01T08:00:00+00:00"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"as_of": "soon"}, "as_of"),
        ({"price": "61000"}, "price must be a number"),
        ({"price": None}, "price is required"),
        ({"regime": "sideways"}, "regime must be one of"),
        ({"timeframes": {"1h": {"bar_time": "2024-03-01T11:00:00Z"}}}, "timeframes.1h.open is required"),
        ({"timeframes": []}, "timeframes"),
        ({"funding_rate": True}, "funding_rate"),
    ],
)
def test_errors_name_the_key(change: dict[str, object], message: str) -> None:
    data = {**json.loads(FIXTURE.read_text()), **change}
    with pytest.raises(SnapshotJsonError, match=message):
        snapshot_from_json(data)


def test_look_ahead_bar_is_refused() -> None:
    data = json.loads(FIXTURE.read_text())
    data["timeframes"]["1h"]["bar_time"] = "2024-03-01T13:00:00Z"
    with pytest.raises(ValueError, match="look-ahead"):
        snapshot_from_json(data)
