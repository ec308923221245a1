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
