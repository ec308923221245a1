"""compare.png (DESIGN §4.8): every entry's equity curve on one axis, their drawdowns below.

matplotlib through its Figure API only (no pyplot state), Agg, as report.png.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from core.evaluation.metrics import drawdown_series_pct
from core.evaluation.report import ReplayResult


def render_compare_chart(entries: Sequence[tuple[str, ReplayResult]], path: Path, title: str) -> Path:
    fig = Figure(figsize=(13, 8), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=[3.0, 1.4])
    ax_eq = fig.add_subplot(grid[0])
    ax_dd = fig.add_subplot(grid[1], sharex=ax_eq)
    for name, result in entries:
        times = np.asarray(result.step_ms, dtype="datetime64[ms]")
        (line,) = ax_eq.plot(times, result.equity, linewidth=1.2, label=name)
        ax_dd.plot(times, drawdown_series_pct(result.initial_equity, result.equity), linewidth=0.9,
                   color=line.get_color())
    if entries:
        ax_eq.axhline(entries[0][1].initial_equity, color="#999999", linewidth=0.8, linestyle=":")
    ax_eq.set_title(title)
    ax_eq.set_ylabel("equity")
    ax_eq.legend(loc="upper left", fontsize=9, ncols=min(4, max(1, len(entries))))
    ax_eq.grid(alpha=0.3)
    ax_dd.set_ylabel("drawdown %")
    ax_dd.grid(alpha=0.3)
    locator = AutoDateLocator()
    ax_dd.xaxis.set_major_locator(locator)
    ax_dd.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    fig.savefig(path)
    return path
