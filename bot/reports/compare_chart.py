"""compare.png (DESIGN §4.8): every entry's equity curve on one axis, their drawdowns below.

matplotlib through its Figure API only (no pyplot state), Agg, as report.png: imported when drawn, fixed axes
rectangles, date ticks placed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.reports.report_chart import date_axis, panel_rects
from core.evaluation.metrics import drawdown_series_pct
from core.evaluation.report import ReplayResult


def render_compare_chart(entries: Sequence[tuple[str, ReplayResult]], path: Path, title: str) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 8), dpi=100)
    FigureCanvasAgg(fig)
    rect, dd_rect = panel_rects(8.0, [3.0, 1.4])
    ax_eq = fig.add_axes(rect)
    ax_dd = fig.add_axes(dd_rect, sharex=ax_eq)
    steps = [np.asarray(r.step_ms) for _, r in entries if len(r.step_ms)]
    if steps:
        date_axis(ax_eq, min(int(s[0]) for s in steps), max(int(s[-1]) for s in steps))
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
    fig.savefig(path)
    return path
