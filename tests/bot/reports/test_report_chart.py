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
    """Pixels of each colour where the panels are, now that they sit in fixed rectangles: strategy and
    buy-and-hold in the equity panel, the drawdown fill below, the entries and every exit reason traded in
    the price panel."""
    from matplotlib.colors import to_rgb
    from PIL import Image

    from bot.reports.report_chart import EXIT_STYLE

    result = make_result(TRADES)
    prices = {"BTC/USDT:USDT": (result.step_ms, 42000 + np.sin(np.arange(len(result.step_ms))) * 50)}
    image = np.asarray(Image.open(render_report_chart(result, tmp_path / "report.png", prices)).convert("RGB"))
    assert image.shape == (420 + 240 * 3, 1300, 3)

    def share(colour: str, rows: slice, within: int = 24) -> float:
        want = np.array(to_rgb(colour)) * 255
        return float((np.abs(image[rows].astype(int) - want).sum(axis=2) < within).mean())

    equity, drawdown, price = slice(0, 520), slice(540, 740), slice(760, None)
    assert share("#1f77b4", equity) > 0.001 and share("#ff7f0e", equity, within=90) > 0.0005
    assert share("#b3cde3", drawdown) > 0.0005  # the strategy's drawdown: blue at 35 % on white
    for reason in {t.exit_reason for t in TRADES} | {"long entry"}:
        colour = "#2ca02c" if reason == "long entry" else EXIT_STYLE[reason][0]
        assert share(colour, price) > 0.00002, reason


def test_the_tearsheet_shows_report_pngs_own_equity_panels(tmp_path: Path) -> None:
    """Drawn once: the tearsheet's equity chart is the top of report.png, pixel for pixel."""
    import base64
    import io
    import re

    from PIL import Image

    from bot.reports.tearsheet import CHARTS, render_tearsheet
    from core.evaluation.report import build_report

    result = make_result(TRADES)
    prices = {"BTC/USDT:USDT": (result.step_ms, 42000 + np.sin(np.arange(len(result.step_ms))) * 50)}
    png = render_report_chart(result, tmp_path / "report.png", prices)
    page = render_tearsheet(result, build_report(result), tmp_path / "t.html", report_png=png).read_text()
    charts = dict(re.findall(r'data-chart="([a-z_]+)"[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page))
    assert list(charts) == list(CHARTS)
    equity = np.asarray(Image.open(io.BytesIO(base64.b64decode(charts["equity"]))).convert("RGB"))
    whole = np.asarray(Image.open(png).convert("RGB"))
    assert equity.shape[1] == whole.shape[1] and 500 < equity.shape[0] < whole.shape[0] - 240
    assert np.array_equal(equity, whole[: equity.shape[0]])


def test_the_report_path_imports_matplotlib_only_when_it_draws() -> None:
    """`aitrader replay`/`compare` import these modules before the replay; matplotlib (0.3 CPU-s) waits for the
    picture (#18)."""
    import subprocess
    import sys

    code = ("import sys, bot.commands.replay_cmd, bot.commands.replay_folder, bot.commands.compare_cmd, "
            "bot.reports.report_chart, bot.reports.tearsheet, bot.reports.compare_chart; "
            "print('matplotlib' in sys.modules)")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
