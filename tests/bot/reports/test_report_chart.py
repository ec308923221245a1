"""report.png renders from a synthetic replay result and is a real PNG of a sensible size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.reports.report_chart import render_report_chart
from tests.core.evaluation.test_report import TRADES, make_result


def test_chart_is_written(tmp_path: Path) -> None:
    result = make_result(TRADES)
    prices = {"BTC/USDT:USDT": (result.step_ms, 42000 + np.sin(np.arange(len(result.step_ms))) * 50)}
    path = render_report_chart(result, tmp_path / "report.png", prices)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000


def test_the_picture_shows_every_curve_and_every_kind_of_exit(tmp_path: Path) -> None:
    """Pixels of each colour where the panel puts them: strategy and buy-and-hold in the equity panel, the
    drawdown fill below, and in the price panel the entries and the exit markers of every reason traded."""
    from PIL import Image

    from bot.reports.raster import rgba
    from bot.reports.report_chart import EXIT_STYLE

    result = make_result(TRADES)
    prices = {"BTC/USDT:USDT": (result.step_ms, 42000 + np.sin(np.arange(len(result.step_ms))) * 50)}
    image = np.asarray(Image.open(render_report_chart(result, tmp_path / "report.png", prices)).convert("RGB"))
    assert image.shape == (420 + 240 * 3, 1300, 3)

    def share(colour: str, rows: slice, within: int = 24) -> float:
        want = np.array(rgba(colour)[:3])
        return float((np.abs(image[rows].astype(int) - want).sum(axis=2) < within).mean())

    equity, drawdown, price = slice(0, 520), slice(540, 740), slice(760, None)
    assert share("#1f77b4", equity) > 0.001 and share("#ff7f0e", equity, within=90) > 0.0005  # thin, antialiased
    assert share("#b3cde3", drawdown) > 0.0005  # the strategy's drawdown: blue at 35 % on white
    for reason in {t.exit_reason for t in TRADES} | {"long entry"}:
        colour = "#2ca02c" if reason == "long entry" else EXIT_STYLE[reason][0]
        assert share(colour, price) > 0.00002, reason
