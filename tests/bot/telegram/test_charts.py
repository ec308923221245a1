import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from bot.telegram.charts import arena_chart, entry_chart, equity_chart, pulse_chart, symbol_chart
from core.models import DomainError

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader"
MAX_BYTES = 150 * 1024


def candles() -> pd.DataFrame:
    path = DATA / "BTCUSDT_perp_1h.csv"
    if path.exists():
        frame = pd.read_csv(path, nrows=400)
        frame.index = pd.to_datetime(frame.pop("timestamp_ms"), unit="ms", utc=True)
        return frame
    # without ../shared: a seeded random walk with the same shape
    rng = np.random.default_rng(7)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.004, 400)))
    index = pd.date_range("2024-01-01", periods=400, freq="1h", tz="UTC")
    return pd.DataFrame(
        {
            "open": np.r_[close[0], close[:-1]],
            "high": close * 1.003,
            "low": close * 0.997,
            "close": close,
            "volume": rng.uniform(100, 900, 400),
        },
        index=index,
    )


def shape(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(io.BytesIO(png), format="png")
    return image.shape[1], image.shape[0]


def test_entry_chart_is_a_small_1200x900_png() -> None:
    frame = candles()
    last = float(frame["close"].iloc[-1])
    png = entry_chart(
        frame,
        entry=last,
        stop=last * 0.98,
        targets=[last * 1.03, last * 1.05],
        side="long",
        liquidation=last * 0.83,
        title="BTC/USDT:USDT · 1h",
    )
    assert shape(png) == (1200, 900) and len(png) < MAX_BYTES


def test_entry_chart_draws_a_near_liquidation_line_and_short_side() -> None:
    frame = candles().iloc[:80]
    last = float(frame["close"].iloc[-1])
    png = entry_chart(frame, entry=last, stop=last * 1.01, targets=[last * 0.98], side="short", liquidation=last * 1.03)
    assert shape(png) == (1200, 900) and len(png) < MAX_BYTES


def test_symbol_pulse_and_equity_charts() -> None:
    frame = candles()
    assert shape(symbol_chart(frame, "1h", symbol="BTC/USDT:USDT"))[0] == 1200
    closes = {f"S{i}/USDT:USDT": frame["close"].iloc[-48:] * (1 + i / 10) for i in range(10)}
    pulse = pulse_chart(closes)
    assert shape(pulse)[0] == 1200 and len(pulse) < MAX_BYTES
    start = datetime(2024, 1, 1, tzinfo=UTC)
    points = [(start + timedelta(hours=i), 10_000 + 50 * np.sin(i / 9) + i) for i in range(300)]
    assert shape(equity_chart(points)) == (1200, 900)


def test_charts_refuse_what_they_cannot_draw() -> None:
    with pytest.raises(DomainError, match="lacks columns"):
        symbol_chart(pd.DataFrame({"close": [1.0]}), "1h")
    with pytest.raises(DomainError, match="empty"):
        entry_chart(candles().iloc[:0], entry=1, stop=0.9, targets=[1.2], side="long")
    with pytest.raises(DomainError, match="two points"):
        equity_chart([(datetime(2024, 1, 1, tzinfo=UTC), 1.0)])
    with pytest.raises(DomainError, match="at least one series"):
        pulse_chart({"BTC/USDT:USDT": pd.Series([1.0])})


def test_a_rendered_chart_leaves_no_figure_for_the_collector() -> None:
    """A Figure's reference cycles would hold its pixel buffers until some later collection; every chart
    function collects them itself, so nothing is left even with automatic collection off."""
    import gc

    from matplotlib.figure import Figure

    points = [(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i), 10_000.0 + i) for i in range(30)]
    gc.collect()
    gc.disable()
    try:
        symbol_chart(candles(), "1h", symbol="BTC/USDT:USDT")
        equity_chart(points)
        pulse_chart({"BTC/USDT:USDT": candles()["close"]})
        left = [o for o in gc.get_objects() if isinstance(o, Figure)]
    finally:
        gc.enable()
    assert left == []


PHONE_PT = 390  # a phone's width in points: the picture is shown that wide


def _drawn_text_heights(render, monkeypatch) -> tuple[int, list[tuple[str, float]]]:
    """Render through the real chart function, then measure every visible label as drawn: its height in
    points when the picture is shown 390 pt wide."""
    from matplotlib.text import Text

    from bot.telegram import charts as module

    figures = []
    real_png = module._png

    def keep(fig):
        figures.append(fig)
        return real_png(fig)

    monkeypatch.setattr(module, "_png", keep)
    render()
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    width_px = fig.get_size_inches()[0] * fig.dpi
    heights = [
        (t.get_text(), t.get_window_extent(renderer).height * PHONE_PT / width_px)
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]
    return int(width_px), heights


@pytest.mark.parametrize("which", ["entry", "symbol", "pulse", "equity", "arena"])
def test_every_label_reads_at_least_10_pt_tall_on_a_phone(which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was ~4 px for the TP/STOP labels of a 1000 px picture at 390 pt wide."""
    frame = candles()
    last = float(frame["close"].iloc[-1])
    renders = {
        "entry": lambda: entry_chart(frame, entry=last, stop=last * 0.98, targets=[last * 1.03, last * 1.05],
                                     side="long", liquidation=last * 0.83, title="BTC/USDT · 1h"),
        "symbol": lambda: symbol_chart(frame, "1h", symbol="BTC/USDT:USDT"),
        "pulse": lambda: pulse_chart({"BTC/USDT:USDT": frame["close"].iloc[-25:], "ETH/USDT:USDT": frame["close"].iloc[-25:] / 20}),
        "equity": lambda: equity_chart([(t, 10_000 + i) for i, t in enumerate(frame.index[-50:])]),
        "arena": lambda: arena_chart({name: [(t, 10_000 + k * i) for i, t in enumerate(frame.index[-50:])]
                                      for k, name in ((1, "rules"), (-2, "llm:model-a"), (3, "llm:model-b"))},
                                     initial_equity=10_000),
    }
    width, heights = _drawn_text_heights(renders[which], monkeypatch)
    assert width >= 1200
    assert heights and min(h for _, h in heights) >= 10.0, sorted(heights, key=lambda th: th[1])[:3]
    if which == "entry":
        labels = {text.split()[0] for text, _ in heights}
        assert {"ENTRY", "STOP", "TP1", "TP2", "LIQ"} <= labels


def test_the_pulse_is_near_square_and_the_light_theme_is_light() -> None:
    from bot.telegram import charts as module

    frame = candles()
    closes = {"BTC/USDT:USDT": frame["close"].iloc[-25:], "ETH/USDT:USDT": frame["close"].iloc[-25:] / 20}
    w, h = shape(pulse_chart(closes))
    assert 0.8 <= h / w <= 1.25
    module.use_theme("light")
    try:
        image = imread(io.BytesIO(entry_chart(frame, entry=float(frame["close"].iloc[-1]),
                                             stop=float(frame["close"].iloc[-1]) * 0.98,
                                             targets=[float(frame["close"].iloc[-1]) * 1.03], side="long")))
        assert image[5, 5, :3].mean() > 0.9  # the corner is the light background
    finally:
        module.use_theme("dark")
    with pytest.raises(DomainError):
        module.use_theme("neon")


def test_the_arena_chart_draws_every_contestant_on_one_time_axis() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    curves = {"rules": [(t0 + timedelta(hours=i), 10_000.0 + 5 * i) for i in range(48)],
              "llm:m1": [(t0 + timedelta(hours=i), 10_000.0 - 3 * i) for i in range(10, 48)],  # joined later
              "llm:m2": [(t0, 10_000.0)]}  # one mark: nothing to draw yet, the others still are
    png = arena_chart(curves, initial_equity=10_000.0)
    assert png.startswith(b"\x89PNG") and 20_000 < len(png) < 400_000
    with pytest.raises(DomainError, match="at least two equity marks"):
        arena_chart({"rules": curves["llm:m2"]}, initial_equity=10_000.0)
