"""compare.png (DESIGN §4.8): every entry's equity curve on one axis, their drawdowns below.

Drawn with bot.reports.raster (Pillow), as report.png.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.reports.raster import (
    Canvas,
    Entry,
    Panel,
    date_ticks,
    limits,
    number_labels,
    number_ticks,
    pt,
    stack,
    tick_count,
    tick_width,
)
from core.evaluation.metrics import drawdown_series_pct
from core.evaluation.report import ReplayResult

# matplotlib's default colour cycle (tab10), one colour per entry in order
CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def render_compare_chart(entries: Sequence[tuple[str, ReplayResult]], path: Path, title: str) -> Path:
    canvas = Canvas(1300, 800)
    curves = [(name, np.asarray(r.step_ms, dtype=float), np.asarray(r.equity, dtype=float),
               np.asarray(drawdown_series_pct(r.initial_equity, r.equity), dtype=float)) for name, r in entries]
    initial = [entries[0][1].initial_equity] if entries else []
    xlim = limits([t for _, t, _, _ in curves]) if curves else (0.0, 1.0)
    eq_lim = limits([e for _, _, e, _ in curves] + [np.array(initial)])
    dd_lim = limits([d for _, _, _, d in curves] + [np.zeros(1)])
    (top, bottom), (dd_top, dd_bottom) = stack(pt(24), canvas.height - pt(26), [3.0, 1.4], gap=pt(30))
    eq_ticks = number_ticks(*eq_lim, target=tick_count(bottom - top))
    dd_ticks = number_ticks(*dd_lim, target=tick_count(dd_bottom - dd_top))
    eq_labels, dd_labels = number_labels(eq_ticks), number_labels(dd_ticks)
    left = max(tick_width(canvas, eq_labels), tick_width(canvas, dd_labels)) + pt(3.5 + 3.5 + 4 + 10 * 1.3 + 6)
    right = canvas.width - pt(12)
    xticks, xlabels = date_ticks(int(xlim[0]), int(xlim[1]))

    ax = Panel(canvas, (left, top, right, bottom), xlim, eq_lim)
    ax.grid(xticks, eq_ticks)
    if initial:
        ax.hline(initial[0], "#999999", 0.8, dash=(0.8, 1.3))
    for k, (_, times, equity, _) in enumerate(curves):
        ax.plot(times, equity, CYCLE[k % len(CYCLE)], 1.2)
    ax.frame(xticks, xlabels, eq_ticks, eq_labels)
    ax.ylabel("equity", offset=tick_width(canvas, eq_labels))
    ax.title(title, size=12)
    ax.legend([Entry(name, CYCLE[k % len(CYCLE)], width=1.2) for k, (name, *_) in enumerate(curves)], size=9,
              ncol=min(4, max(1, len(curves))))

    ax_dd = Panel(canvas, (left, dd_top, right, dd_bottom), xlim, dd_lim)
    ax_dd.grid(xticks, dd_ticks)
    for k, (_, times, _, dd) in enumerate(curves):
        ax_dd.plot(times, dd, CYCLE[k % len(CYCLE)], 0.9)
    ax_dd.frame(xticks, xlabels, dd_ticks, dd_labels)
    ax_dd.ylabel("drawdown %", offset=tick_width(canvas, dd_labels))
    canvas.save(path)
    return path
